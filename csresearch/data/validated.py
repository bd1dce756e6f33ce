"""A folder source validated once for a run of several reports (``report all``).

Every report validates its data source when it opens it
(:func:`csresearch.data.sources.open_source`). ``report all`` renders each report in a kernel of
its own, so the same files were checked once per report: at 100,000 demo accounts (46M usage
events) about 3 s each, at a million accounts twice that. Within :func:`validated_once` the
environment variable :data:`ENV` names a file that the kernels started there inherit: the first
report that validates a folder source records a stamp of its files there (:func:`record`), and
the later ones skip the rules for a folder whose stamp is recorded (:func:`stamped`: the same
table files, sizes, modification times and mapping; files changed since are checked again). A
failed validation records nothing, so each report validates and shows the failure itself.
The same record keeps the files' data fingerprint (:func:`known_fingerprint`,
:func:`remember_fingerprint`: sha256 over their contents, in every report's provenance), read
once per run instead of once per report (480 MB at 100,000 demo accounts: about 2 s each).
Beside the record, :func:`run_file` names files that a step computes once per run for the same
files and mapping and the later reports read back (the monthly usage aggregate:
:func:`csresearch.features.usage.usage_months`; the active customers on as_of: :func:`run_value`);
they are removed with the record.

Example
-------
>>> with validated_once():  # doctest: +SKIP
...     render the reports  # the first checks data/demo, the others open it without checking
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
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


def _log() -> Path | None:
    path = os.environ.get(ENV)
    return Path(path) if path and Path(path).is_file() else None


def stamped(files: Iterable[Path], mapping: Mapping | None) -> bool:
    """True when these files (as they are now) with this mapping were validated in this run."""
    log = _log()
    return log is not None and stamp(files, mapping) in log.read_text().split()


def record(files: Iterable[Path], mapping: Mapping | None) -> None:
    """Record that these files with this mapping passed validation (only within a run)."""
    log = _log()
    if log is not None:
        with open(log, "a") as f:
            f.write(stamp(files, mapping) + "\n")


def _fingerprint_key(files: Iterable[Path]) -> str:
    return f"fingerprint:{stamp(files, None)}:"


def known_fingerprint(files: Iterable[Path]) -> str | None:
    """The fingerprint recorded in this run for these files as they are now, else None."""
    log = _log()
    if log is None:
        return None
    key = _fingerprint_key(files)
    return next((t[len(key):] for t in log.read_text().split() if t.startswith(key)), None)


def remember_fingerprint(files: Iterable[Path], fingerprint: str) -> None:
    """Record the fingerprint of these files for the later reports of this run (only within one)."""
    log = _log()
    if log is not None:
        with open(log, "a") as f:
            f.write(_fingerprint_key(files) + fingerprint + "\n")


def run_file(files: Iterable[Path], mapping: Mapping | None, name: str) -> Path | None:
    """A path for ``name`` computed from these files (as they are now) with this mapping, kept
    for the rest of this run (removed at its end); None outside a run."""
    log = _log()
    if log is None:
        return None
    folder = _run_folder(log)
    folder.mkdir(exist_ok=True)
    return folder / f"{stamp(files, mapping)}-{name}"


def run_value(src, name: str, compute: Callable[[], dict]) -> dict:
    """``compute()`` (a dict of plain numbers and strings) once per run for a folder source
    (:func:`run_file`, JSON): the later reports of the run read it back. Outside a run, or for
    another kind of source, it is computed each time.

    Example
    -------
    >>> run_value(src, "customers_2025-12-31", lambda: {"active_customers": 7114})  # doctest: +SKIP
    """
    path = run_file(src.files, src.mapping, f"{name}.json") if getattr(src, "folder", False) else None
    if path is not None and path.exists():
        return json.loads(path.read_text())
    value = compute()
    if path is not None:
        from csresearch.outputs import atomic_write

        atomic_write(path, json.dumps(value))
    return value


def _run_folder(log: Path) -> Path:
    return log.with_name(log.stem + ".d")


@contextmanager
def validated_once() -> Iterator[None]:
    """Within the block, each folder source is validated by the first report that opens it
    (see the module docstring); the environment is restored and the record removed afterwards."""
    before = os.environ.get(ENV)
    fd, path = tempfile.mkstemp(prefix="csresearch-validated-", suffix=".txt")
    os.close(fd)
    os.environ[ENV] = path
    try:
        yield
    finally:
        Path(path).unlink(missing_ok=True)
        shutil.rmtree(_run_folder(Path(path)), ignore_errors=True)
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
