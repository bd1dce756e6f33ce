"""The output folder's index: every rendered report, its date and its status.

``DIR/_index.json`` keeps one entry per (as_of, label); ``DIR/index.html`` is rebuilt from it
after every run. Both are written atomically; every text is escaped.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from csresearch.errors import ConfigError
from csresearch.outputs import atomic_write
from csresearch.redaction import mask_secrets
from csresearch.reports.present.tables import esc

MANIFEST = "_index.json"
INDEX = "index.html"
LOCK = ".index.lock"
LOCK_SECONDS = 120
WORK_PREFIX = ".work-"
OWNER = ".owner.json"
_LOCK = threading.Lock()

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f3f5f7}.ok{color:#05723e;font-weight:600}.failed{color:#b3261e;font-weight:600}
.skipped{color:#777}.msg{font-size:.85rem;color:#555;white-space:pre-wrap;max-width:40rem}
"""


def load(out_dir: Path) -> list[dict[str, Any]]:
    p = Path(out_dir) / MANIFEST
    if not p.exists():
        return []
    try:
        return list(json.loads(p.read_text()))
    except (json.JSONDecodeError, TypeError):
        return []


def record(out_dir: Path, entry: Mapping[str, Any]) -> None:
    """Add or replace the entry of (as_of, label) and rewrite the manifest and index.html.

    Read-modify-write under a lock across processes (``DIR/.index.lock``, :mod:`filelock`):
    several runs (cron, ``report all --jobs``, a user) writing at once lose no entry.
    """
    from filelock import FileLock, Timeout

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out_dir / LOCK), timeout=LOCK_SECONDS)
    try:
        with _LOCK, lock:
            _record(out_dir, entry)
    except Timeout:
        raise ConfigError(
            f"the report index {out_dir / MANIFEST} stayed locked for {LOCK_SECONDS} s by another "
            f"csresearch run ({out_dir / LOCK}); wait for it to finish and run again"
        ) from None


def _record(out_dir: Path, entry: Mapping[str, Any]) -> None:
    entries = [e for e in load(out_dir) if (e.get("as_of"), e.get("label")) != (entry["as_of"], entry["label"])]
    entries.append(dict(entry))
    entries.sort(key=lambda e: (str(e.get("as_of")), str(e.get("label"))))
    atomic_write(out_dir / MANIFEST, mask_secrets(json.dumps(entries, indent=2, default=str)))
    atomic_write(out_dir / INDEX, mask_secrets(render_index(entries, out_dir)))


def render_index(entries: list[Mapping[str, Any]], out_dir: Path) -> str:
    """index.html: newest date first; a link when the report file exists."""
    rows = []
    by_label = sorted(entries, key=lambda e: str(e.get("label")))
    for e in sorted(by_label, key=lambda e: str(e.get("as_of")), reverse=True):  # newest date first
        rel = e.get("path")
        exists = bool(rel) and (Path(out_dir) / rel).exists()
        name = esc(e.get("label"))
        link = f'<a href="{esc(rel)}">{name}</a>' if exists else name
        status = str(e.get("status", ""))
        shown = status
        if status == "failed":
            shown = "failed" + (" (previous good report kept)" if exists else "")
        extra = ""
        if exists and e.get("summary_path") and (Path(out_dir) / e["summary_path"]).exists():
            link += f' <a class="json" href="{esc(e["summary_path"])}">(figures, JSON)</a>'
        if e.get("failed_notebook"):
            extra = f' <a href="{esc(e["failed_notebook"])}">executed notebook</a>'
        rows.append(
            f"<tr><td>{link}</td><td>{esc(e.get('report'))}</td><td>{esc(e.get('as_of'))}</td>"
            f'<td class="{esc(status)}">{esc(shown)}</td><td>{esc(e.get("rendered_at", ""))}</td>'
            f"<td>{esc(e.get('seconds', ''))}</td>"
            f'<td class="msg">{esc(e.get("message") or e.get("headline") or "")}{extra}</td></tr>'
        )
    body = "".join(rows) or '<tr><td colspan="7">No report rendered yet.</td></tr>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>csresearch reports</title>"
        f"<style>{STYLE}</style></head><body><h1>csresearch reports</h1>"
        "<table><thead><tr><th>report</th><th>template</th><th>as of</th><th>status</th>"
        "<th>last run</th><th>seconds</th><th>in one sentence (or what failed)</th></tr></thead>"
        f"<tbody>{body}</tbody></table></body></html>"
    )


def work_dir(out_dir: Path, label: str) -> Path:
    """A private folder ``DIR/.work-<label>-XXXX`` for one run, with its owner (host, pid, start)."""
    work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{label}-", dir=out_dir))
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    (work / OWNER).write_text(json.dumps(owner))
    return work


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def is_stale(work: Path, max_age: float, now: float | None = None) -> bool:
    """Whether a work folder was left by a killed run.

    Its owner on this host is gone (no such pid); or, when the owner cannot be checked (another
    host, no owner file: an older run), it is older than ``max_age`` seconds (the time limit).
    A live owner's folder is kept (up to a day, in case the pid was reused).
    """
    now = time.time() if now is None else now
    try:
        owner = json.loads((work / OWNER).read_text())
    except (OSError, ValueError):
        owner = {}
    try:
        started = float(owner.get("started") or work.stat().st_mtime)
    except (OSError, TypeError, ValueError):
        return False
    age = now - started
    pid = owner.get("pid")
    if owner.get("host") == socket.gethostname() and isinstance(pid, int):
        return not _alive(pid) or age > max(max_age, 86_400)
    return age > max_age


def clean_stale_work(out_dir: Path, max_age: float) -> list[Path]:
    """Remove the ``.work-*`` folders of killed runs (see :func:`is_stale`); return them."""
    removed = []
    for work in sorted(Path(out_dir).glob(WORK_PREFIX + "*")):
        if work.is_dir() and is_stale(work, max_age):
            shutil.rmtree(work, ignore_errors=True)
            removed.append(work)
    return removed
