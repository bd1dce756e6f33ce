"""A folder source validated once for a run of several reports (``report all``).

Every report validates its data source when it opens it
(:func:`csresearch.data.sources.open_source`). ``report all`` renders each report in a kernel of
its own, so the same files were checked once per report: at 100,000 demo accounts (46M usage
events) about 3 s each, at a million accounts twice that. :func:`validate_once` validates a
folder source in the parent process and records a stamp of its files in the environment
variable :data:`ENV`, which the kernels started afterwards inherit; :func:`stamped` lets
``open_source`` skip the rules for a folder whose stamp is recorded (the same table files,
sizes, modification times and mapping: files changed since are checked again). A failed
validation records nothing, so each report validates and shows the failure itself, as before.

Example
-------
>>> with validated_once(["data/demo"]):  # doctest: +SKIP
...     render the reports  # their kernels open data/demo without checking it again
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ENV = "CSRESEARCH_VALIDATED"


def stamp(files: Iterable[Path], mapping: Mapping | None) -> str:
    """sha256 over each file's absolute path, size and modification time (ns) and the mapping."""
    h = hashlib.sha256()
    for p in sorted(Path(f).resolve() for f in files):
        st = p.stat()
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns};".encode())
    h.update(repr(sorted((mapping or {}).items())).encode())
    return h.hexdigest()[:32]


def stamped(files: Iterable[Path], mapping: Mapping | None) -> bool:
    """True when these files (as they are now) with this mapping were validated in this run."""
    done = os.environ.get(ENV, "")
    return bool(done) and stamp(files, mapping) in done.split(",")


def validate_once(location: str | Path, mapping: str | Path | Mapping | None = None) -> bool:
    """Validate the folder source ``location`` and record its stamp (True); False, recording
    nothing, for another kind of source or when it fails (its reports then show the failure)."""
    from csresearch.data.mapping import load_mapping
    from csresearch.data.sources import open_source
    from csresearch.errors import ConfigError, DataValidationError

    if not Path(location).is_dir():
        return False
    try:
        src = open_source(location, mapping=mapping, validate=True)
        key = stamp(src.files, load_mapping(mapping))
    except (ConfigError, DataValidationError, OSError):
        return False
    done = [s for s in os.environ.get(ENV, "").split(",") if s]
    os.environ[ENV] = ",".join([*done, key])
    return True


@contextmanager
def validated_once(sources: Iterable[tuple[str, str | None]]) -> Iterator[None]:
    """Within the block, the folder sources ``(location, mapping)`` validated once (see the
    module docstring); the environment is restored afterwards."""
    before = os.environ.get(ENV)
    try:
        for location, mapping in dict.fromkeys(sources):
            validate_once(location, mapping or None)
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
