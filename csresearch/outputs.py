"""Writing output files safely: atomic replacement and one-paragraph errors naming the fix.

Everything the kit writes (reports, the index, table exports, sidecars) goes through
:func:`atomic_write`: a temporary file in the same folder, then :func:`os.replace`, so a full
disk or a killed run never leaves a half-written file where a good one stood. :func:`guard`
turns an ``OSError`` of a write step into a :class:`~csresearch.errors.ConfigError` whose
message names the path, what is wrong and how to fix it.

Example
-------
>>> with guard("reports/index.html", what="--out"):  # doctest: +SKIP
...     atomic_write(Path("reports/index.html"), "<html>...</html>")
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from csresearch.errors import ConfigError

_FIXES = {
    errno.ENOSPC: "the disk is full: free some space or write to another folder",
    errno.EDQUOT: "the disk quota is exceeded: free some space or write to another folder",
    errno.EROFS: "the file system is read-only: write to another folder",
    errno.EACCES: "permission denied: write to a folder you may write to, or fix its permissions",
    errno.EPERM: "permission denied: write to a folder you may write to, or fix its permissions",
    errno.ENOENT: "the folder does not exist: create it first (mkdir -p FOLDER) or choose another path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "the path is a folder: give a file name",
}


def output_error(path: str | Path, e: OSError, what: str = "output") -> str:
    """A one-paragraph message for an ``OSError`` raised while writing ``path``."""
    where = Path(e.filename) if getattr(e, "filename", None) else Path(path)
    reason = e.strerror or str(e) or type(e).__name__
    fix = _FIXES.get(e.errno or -1, "check the path and that the disk has space and may be written to")
    fix = fix.replace("FOLDER", str(Path(path).parent))
    return f"cannot write the {what} {path} ({reason}: {where}); {fix}"


@contextlib.contextmanager
def guard(path: str | Path, what: str = "output") -> Iterator[None]:
    """Turn an ``OSError`` inside the block into a :class:`ConfigError` naming ``path``."""
    try:
        yield
    except OSError as e:
        raise ConfigError(output_error(path, e, what)) from None


def require_folder(path: str | Path, what: str = "--out") -> Path:
    """``path`` when its folder exists; else a :class:`ConfigError` naming the fix."""
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(
            f"cannot write {what} {p}: the folder {folder} does not exist; create it first "
            f"(mkdir -p {folder}) or choose another path"
        )
    if p.is_dir():
        raise ConfigError(f"cannot write {what} {p}: it is a folder; give a file name such as {p / 'table.csv'}")
    return p


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write to a temporary file in the same folder, then move it into place.

    On any failure the temporary file is removed and the previous file (if any) is untouched.
    """
    with replaced_whole(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


@contextlib.contextmanager
def replaced_whole(path: str | Path) -> Iterator[Path]:
    """A temporary file in ``path``'s folder for the block to write (by any writer, e.g. an
    engine's Parquet export), moved onto ``path`` when the block ends: a reader never sees half a
    file. On any failure the temporary file is removed and the previous file is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["atomic_write", "guard", "output_error", "replaced_whole", "require_folder"]
