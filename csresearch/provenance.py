"""Provenance of a report: what ran, on which data, with which code, when, and how long.

The block at the end of every report lists the parameters, the data source and a fingerprint
of its files, row counts, ``as_of``, the package version, the git commit and the run time.
Secrets never appear: a connection URL's password is masked (``postgres://u:***@h/db``) and a
source given as ``env:VAR`` is shown as ``env:VAR``, never resolved.

Example
-------
>>> p = collect({"as_of": "2025-12-31", "data": "postgres://me:pw@db/cs"}, as_of="2025-12-31")
>>> p["parameters"]["data"]
'postgres://me:***@db/cs'
"""

from __future__ import annotations

import hashlib
import platform
import re
import subprocess
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from csresearch import __version__
from csresearch.redaction import mask_secrets
from csresearch.reports.present.tables import Html, esc

SECRET_NAME = re.compile(r"(password|passwd|secret|token|api_?key)", re.I)


def redact(value: Any) -> Any:
    """Mask passwords inside connection URLs (strings, recursively in lists and dicts)."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, Mapping):
        return {k: ("***" if SECRET_NAME.search(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def git_commit(path: str | Path | None = None) -> str:
    """The commit of the code's working tree (``abc1234``, ``+ local changes`` when dirty), or
    ``'unknown'`` outside a git checkout."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=where, capture_output=True,
            text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."], cwd=where,
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" + local changes" if dirty else "")


def file_fingerprint(paths: list[Path]) -> str:
    """sha256 (16 hex digits) over the files' names and contents, in name order."""
    h = hashlib.sha256()
    for p in sorted(Path(x) for x in paths):
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def collect(
    parameters: Mapping[str, Any],
    source: Any = None,
    as_of: str | None = None,
    started: float | None = None,
    table: tuple[str | Path, int] | None = None,
    files: Mapping[str, str | Path] | None = None,
) -> dict[str, Any]:
    """Everything the provenance block shows, as a dict (JSON-friendly).

    Parameters
    ----------
    parameters
        The report's parameters as run (masked here).
    source
        The :class:`~csresearch.data.sources.DataSource` read (location, fingerprint, row counts).
    table
        Instead of a source: (path of a flat table, its number of rows).
    started
        ``time.time()`` when the run began; gives the run time.
    files
        Other input files (configuration, answers) by parameter name: each gets a fingerprint.
    """
    now = time.time()
    out: dict[str, Any] = {
        "parameters": redact(dict(parameters)),
        "as_of": as_of,
        "package": f"csresearch {__version__}",
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "finished_at": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    if started is not None:
        out["started_at"] = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        out["run_seconds"] = round(now - started, 1)
    if source is not None:
        out["data_source"] = redact(str(source.location))
        out["fingerprint"] = source.fingerprint()
        out["row_counts"] = source.row_counts()
    elif table is not None:
        path, rows = table
        out["data_source"] = redact(str(path))
        out["fingerprint"] = file_fingerprint([Path(path)])
        out["row_counts"] = {Path(path).stem: int(rows)}
    if files:
        out["file_fingerprints"] = {name: file_fingerprint([Path(f)]) for name, f in files.items()}
    return out


def to_html(prov: Mapping[str, Any]) -> Html:
    """The provenance block: a two-column table of escaped text."""
    rows: list[tuple[str, str]] = []
    params = prov.get("parameters", {})
    rows.append(("parameters", "; ".join(f"{k} = {v!r}" for k, v in params.items()) or "none"))
    if "data_source" in prov:
        rows.append(("data source", prov["data_source"]))
        rows.append(("fingerprint (sha256 of the files)", prov["fingerprint"]))
        counts = prov.get("row_counts", {})
        rows.append(("row counts", ", ".join(f"{t} {n:,}" for t, n in counts.items())))
    if prov.get("file_fingerprints"):
        rows.append(("other input files (sha256)",
                     ", ".join(f"{k} {v}" for k, v in prov["file_fingerprints"].items())))
    rows.append(("as of", str(prov.get("as_of"))))
    rows.append(("package", prov["package"]))
    rows.append(("git commit", prov["git_commit"]))
    rows.append(("python", prov["python"]))
    if "run_seconds" in prov:
        rows.append(("run", f"{prov['started_at']} to {prov['finished_at']} ({prov['run_seconds']:,} s)"))
    else:
        rows.append(("rendered", prov["finished_at"]))
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return Html(
        '<section class="cs-section cs-provenance"><h2>Provenance</h2>'
        f'<table class="cs-table cs-prov">{body}</table></section>'
    )
