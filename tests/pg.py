"""A throw-away PostgreSQL server on 127.0.0.1 for the tests, and a demo loader.

:func:`server` starts one from the server binaries (Debian's ``postgresql`` package puts
them in ``/usr/lib/postgresql/<version>/bin``; ``$CSRESEARCH_PG_BIN`` or ``pg_ctl`` on the
PATH elsewhere): ``initdb`` into a temporary folder (trust authentication, user
``postgres``), listening only on 127.0.0.1 at a free port, with a database ``cs``. As root
the server runs as the ``postgres`` user (PostgreSQL refuses to run as root). It yields the
URL ``postgres://postgres@127.0.0.1:PORT/cs`` and stops and removes the server afterwards.
:func:`unavailable_reason` says why no server can start here (tests skip with it).

Used by hand too::

    .venv/bin/python tests/pg.py data/demo   # starts a server, loads the demo, waits for Ctrl-C
"""

from __future__ import annotations

import contextlib
import io
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

HOW_TO = "install PostgreSQL to run them: apt-get update && apt-get install -y postgresql"
DB = "cs"
_START_TIMEOUT = 60
#: A throw-away server: no durability; no JIT (its compile time, ~2 s per query at the
#: demo's size, would dominate); sorts of the demo's usage events in memory.
SETTINGS = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c jit=off "
            "-c work_mem=64MB -c TimeZone=UTC")


def pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (newest version first), or None."""
    cands = [os.environ.get("CSRESEARCH_PG_BIN", "")]
    cands += sorted(
        (str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")),
        key=lambda s: int(Path(s).parent.name) if Path(s).parent.name.isdigit() else 0,
        reverse=True,
    )
    which = shutil.which("pg_ctl")
    cands.append(str(Path(which).parent) if which else "")
    for c in cands:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


def _run_as() -> list[str] | None:
    """Command prefix that runs the server as a non-root user ([] when not root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--"] if runuser else None


def unavailable_reason() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None when they can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the PostgreSQL driver is not installed: pip install -e '.[test]' (psycopg)"
    if pg_bin() is None:
        return f"no PostgreSQL server binaries (initdb, pg_ctl) found; {HOW_TO}"
    if _run_as() is None:
        return "running as root without a 'postgres' user and runuser to start the server as"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(bin_dir: Path, home: Path, prefix: list[str]) -> int:
    """initdb and start a server in ``home``; returns its port (raises RuntimeError)."""
    data, log = home / "data", home / "server.log"
    init = [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--no-sync", "--locale=C"]
    out = subprocess.run(prefix + init, capture_output=True, text=True, timeout=120)
    if out.returncode:
        raise RuntimeError(f"initdb failed: {(out.stderr or out.stdout).strip()[-500:]}")
    last = ""
    for _ in range(3):  # another process may take the free port between choosing and binding
        port = _free_port()
        opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {home} {SETTINGS}")
        ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts,
               "-w", "-t", str(_START_TIMEOUT), "start"]
        out = subprocess.run(prefix + ctl, capture_output=True, text=True,
                             timeout=_START_TIMEOUT + 30)
        if out.returncode == 0:
            return port
        last = log.read_text()[-500:] if log.exists() else (out.stderr or out.stdout)[-500:]
    raise RuntimeError(f"pg_ctl start failed: {last.strip()}")


@contextlib.contextmanager
def server() -> Iterator[str]:
    """Start a throw-away server with database ``cs``; yield its URL; stop and remove it.

    Raises RuntimeError (with the server's own message) when it cannot start.
    """
    reason = unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    import psycopg

    bin_dir, prefix = pg_bin(), _run_as()
    home = Path(tempfile.mkdtemp(prefix="csresearch-pg-"))
    if prefix:
        shutil.chown(home, user="postgres")
    started = False
    try:
        port = _start(bin_dir, home, prefix)
        started = True
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             autocommit=True) as con:
            con.execute(f"CREATE DATABASE {DB}")
        yield f"postgres://postgres@127.0.0.1:{port}/{DB}"
    finally:
        if started:
            subprocess.run(prefix + [str(bin_dir / "pg_ctl"), "-D", str(home / "data"),
                                     "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def served(folder: str | Path | None = None) -> Iterator[str]:
    """:func:`server` for a test fixture: skipped (with the reason) when no server can start;
    the ``<table>.parquet`` files of ``folder`` loaded first when given."""
    import pytest

    reason = unavailable_reason()
    if reason:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(server())
        except (RuntimeError, OSError) as e:
            pytest.skip(f"PostgreSQL tests skipped: the server could not start: {e}")
        if folder is not None:
            load_folder(url, folder)
        yield url


def load_folder(url: str, folder: str | Path) -> list[str]:
    """Copy every ``<table>.parquet`` of ``folder`` into the database at ``url``.

    Each table is created with Ibis (column types from the Parquet schema) and filled with
    one ``COPY ... FROM STDIN (FORMAT csv)``: nulls as unquoted empty fields, strings quoted
    (so an empty string stays one). About 1 s for 300k usage events; Ibis' ``create_table``
    from a frame inserts row by row (4x slower). Returns the table names.
    """
    import ibis
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    con = ibis.connect(url)
    names = []
    try:
        for f in sorted(Path(folder).glob("*.parquet")):
            at = pq.read_table(f)
            con.create_table(f.stem, schema=ibis.Schema.from_pyarrow(at.schema), overwrite=True)
            buf = io.BytesIO()
            pacsv.write_csv(at, buf)
            cols = ", ".join(f'"{c}"' for c in at.column_names)
            sql = f'COPY "{f.stem}" ({cols}) FROM STDIN WITH (FORMAT csv, HEADER true)'
            with con.con.cursor() as cur, con.con.transaction(), cur.copy(sql) as cp:
                cp.write(buf.getvalue())
            names.append(f.stem)
    finally:
        con.disconnect()
    return names


if __name__ == "__main__":  # pragma: no cover - by hand
    with server() as url:
        if len(sys.argv) > 1:
            print("loaded:", ", ".join(load_folder(url, sys.argv[1])))
        print(url, "(Ctrl-C stops it)")
        with contextlib.suppress(KeyboardInterrupt):
            subprocess.run(["sleep", "infinity"])
