"""Benchmarks of the engine-side steps against the in-memory references (``make bench``).

``python -m bench --out bench/results.md`` (from the repository root) synthesises the data
with DuckDB ``range()`` into Parquet under ``bench/_work/`` (git-ignored; reused when present),
runs every measurement in its own child process, one at a time, and writes a Markdown table:
seconds, peak memory, the ratio to the reference measured in the same run, a check that the results
agree, and how each step's time grows with data size (three sizes).

Peak memory is the child's peak resident set: the largest of (a) the sum of RSS over the
child and all its descendants (the Spark JVM is a grandchild), polled every 20 ms with
psutil, and (b) the child's own ``ru_maxrss`` from ``os.wait4``. Times are wall-clock for the
step only: from Parquet on disk to the result in pandas (imports, data generation and Spark's
start-up are excluded and reported apart).

Report rendering (``render_all``) renders the four reports on a demo set one after the other,
each in its own kernel as ``csresearch report all`` does (kernels are descendants, so their
memory counts), and splits the time with :attr:`csresearch.reports.RenderResult.timings`.
``--only render`` re-measures just that and merges it into the rows of the last full run
(``bench/_work/rows.json``).

Modules: :mod:`bench.config` (sizes, limits, targets), :mod:`bench.data` (synthetic Parquet),
:mod:`bench.cases` (the measurements, run in a child), :mod:`bench.measure` (the parent: a child
per measurement, peak memory, the rows), :mod:`bench.report` (the Markdown report),
:mod:`bench.rendering` (its report-rendering rows), :mod:`bench.splice` (an ``--only render``
run merged into the last full run) and :mod:`bench.cli` (the options).

Example
-------
$ python -m bench --out bench/results.md --quick
"""

from bench.cases import pandas_usage_features, render_all, run_case, where_stopped
from bench.config import FULL, QUICK, RENDER_METHOD, RENDER_METHOD_JOBS, RENDER_STEP, SPLIT
from bench.data import make_events, make_survival, make_validation_source
from bench.measure import demo_dir, measure, run_all, run_render
from bench.report import render
from bench.splice import splice_render

__all__ = [
    "FULL",
    "QUICK",
    "RENDER_METHOD",
    "RENDER_METHOD_JOBS",
    "RENDER_STEP",
    "SPLIT",
    "demo_dir",
    "make_events",
    "make_survival",
    "make_validation_source",
    "measure",
    "pandas_usage_features",
    "render",
    "render_all",
    "run_all",
    "run_case",
    "run_render",
    "splice_render",
    "where_stopped",
]
