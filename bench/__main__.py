"""``python -m bench --out bench/results.md``: see :mod:`bench`."""

from bench.cli import main

main()
