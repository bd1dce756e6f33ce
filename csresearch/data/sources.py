"""Opening a data source through Ibis (DuckDB by default), typed tables, fingerprints.

A data source is a folder with one CSV or Parquet file per table, a DuckDB database
file holding those tables, or an Ibis connection URL (``duckdb://``, ``pyspark://``,
``postgres://`` ...). A URL with credentials is read from an environment variable
(``env:VARIABLE``) so that it never appears in a parameter, a log or a report.

Files are opened as views: nothing is copied or modified, and large tables stay in the
engine. Only :meth:`DataSource.df` brings a table into pandas; a table of at most
:data:`KEEP_ROWS` rows is read once per source and each later call gets a copy (the
accounts table is read by most steps of a report).

Example
-------
>>> src = open_source("data/demo")  # doctest: +SKIP
>>> src.df("accounts").shape  # doctest: +SKIP
(10000, 8)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir
import pandas as pd

from csresearch.data.column_rules import date_bound
from csresearch.data.contract_checks import ValidationReport, validate
from csresearch.data.embedded import duckdb_connect, fetch
from csresearch.data.mapping import load_mapping
from csresearch.data.periods import as_datetime
from csresearch.data.read_errors import check_csv_header, check_table_file, check_utf8, reading
from csresearch.data.schema import CONTRACT, IBIS_TYPES, OPEN_END_FROM
from csresearch.data.validated import record, stamped
from csresearch.errors import ConfigError, DataValidationError
from csresearch.redaction import redact, register_url

FILE_SUFFIXES = (".parquet", ".csv", ".csv.gz")


#: :meth:`DataSource.df` keeps results of at most this many rows (a copy is returned each call)
KEEP_ROWS = 250_000


class DataSource:
    """Contract tables of one data source, as Ibis tables on one backend.

    Use :func:`open_source` or :meth:`from_frames` to make one.
    """

    def __init__(
        self,
        con: Any,
        raw: dict[str, ir.Table],
        location: str,
        files: list[Path] | None = None,
    ) -> None:
        self.con = con
        self._raw = raw
        self.location = location
        self.files = files or []
        self._typed: dict[str, ir.Table] = {}
        self._frames: dict[tuple, pd.DataFrame] = {}  # small tables read into pandas (df)
        self.mapping: Mapping | None = None
        self.folder = False  # a folder of files (open_source), whose run files can be kept

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame], validate: bool = True) -> DataSource:
        """A source held in memory (DuckDB), from pandas frames keyed by contract table name."""
        con = duckdb_connect()
        raw = {name: con.create_table(name, df.copy()) for name, df in frames.items()}
        src = cls(con, raw, "<in-memory frames>")
        if validate:
            src.validate().raise_if_failed()
        return src

    # -- access -------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [n for n in CONTRACT if n in self._raw]

    def has(self, name: str) -> bool:
        return name in self._raw

    def raw(self, name: str) -> ir.Table:
        """The table as stored (after renaming), before types are applied."""
        self._require(name)
        return self._raw[name]

    def table(self, name: str) -> ir.Table:
        """The table with contract columns cast to their contract types; extra columns kept."""
        self._require(name)
        if name not in self._typed:
            t = self._raw[name]
            casts = {}
            for col in CONTRACT[name].columns:
                if col.name in t.columns:
                    target = IBIS_TYPES[col.dtype]
                    x = t[col.name]
                    if x.type().is_string() and col.dtype != "string":
                        x = x.nullif("").try_cast(target)
                    elif str(x.type()) != target:
                        x = x.cast(target)
                    if col.open_end:  # 9999-12-31 and the like: "still active" (schema docs)
                        x = ibis.ifelse(x >= date_bound(x, OPEN_END_FROM), ibis.null(target), x)
                    casts[col.name] = x
                elif not col.required:
                    casts[col.name] = ibis.null(IBIS_TYPES[col.dtype])
            self._typed[name] = t.mutate(**casts)
        return self._typed[name]

    def df(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Execute a (small) table into pandas, dates and timestamps as ``datetime64[ns]``.

        A result of at most :data:`KEEP_ROWS` rows is kept: the next call for the same table
        and columns returns a copy of it (the files and tables are never modified, so it stays
        true for the source's life)."""
        key = (name, tuple(columns) if columns else None)
        if key in self._frames:
            return self._frames[key].copy()
        t = self.table(name)
        if columns:
            t = t.select(*columns)
        out = fetch(t)
        for col in CONTRACT[name].columns:
            if col.name in out.columns and col.dtype in ("date", "timestamp"):
                # a date outside the contract's range is a named error, never an overflow
                out[col.name] = as_datetime(out, name, col.name)
        if len(out) <= KEEP_ROWS:
            self._frames[key] = out.copy()
        return out

    def _require(self, name: str) -> None:
        if name not in self._raw:
            need = "required" if CONTRACT.get(name) and CONTRACT[name].required else "optional"
            raise DataValidationError(
                f"table '{name}' ({need}) is not in the data source {self.location}; "
                f"present: {', '.join(self.names) or 'none'}"
            )

    # -- checks and provenance ----------------------------------------------------------
    def validate(self) -> ValidationReport:
        return validate(self)

    def row_counts(self) -> dict[str, int]:
        return {n: int(self._raw[n].count().execute()) for n in self.names}

    def fingerprint(self) -> str:
        """sha256 over the files (names, sizes, contents) or, for a connection, over row counts.

        Within ``report all`` the files are read once: the later reports take the fingerprint
        the first recorded for the same files (:mod:`csresearch.data.validated`)."""
        from csresearch.data import validated

        h = hashlib.sha256()
        if self.files:
            known = validated.known_fingerprint(self.files)
            if known:
                return known
            for p in sorted(self.files):
                h.update(p.name.encode())
                with open(p, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
            validated.remember_fingerprint(self.files, h.hexdigest()[:16])
        else:
            for name, n in self.row_counts().items():
                h.update(f"{name}:{n};".encode())
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        return f"DataSource({self.location!r}, tables={self.names})"


def resolve_env(value: str | Path, what: str = "data source") -> str:
    """``env:VAR`` -> the value of environment variable VAR (a URL with credentials); else as is."""
    loc = str(value)
    if loc.startswith("env:"):
        var = loc[4:]
        if var not in os.environ:
            raise ConfigError(
                f"{what} '{loc}': environment variable {var} is not set; "
                f"export {var}='duckdb:///path/to.db' (or another Ibis URL) before running"
            )
        register_url(os.environ[var])
        return os.environ[var]
    register_url(loc)
    return loc


def _read_file(con: Any, f: Path, name: str) -> ir.Table:
    """One table file as a DuckDB view; a folder, an empty or unreadable file is a kit error.

    A CSV is checked to be UTF-8 throughout and to have been read with its first line as the
    header; DuckDB reads a Parquet file's footer here, so a truncated file is caught now. The
    validator's first pass over the table catches the rest (ragged rows deep in a CSV).
    """
    check_table_file(f, name)
    if f.suffix == ".parquet":
        with reading(f, name):
            return con.read_parquet(str(f), table_name=f"src_{name}")
    check_utf8(f, name)
    with reading(f, name):
        t = con.read_csv(str(f), table_name=f"src_{name}")
    check_csv_header(f, t.columns, name)
    return t


def _open_duckdb_file(path: Path) -> Any:
    """A read-only connection to a DuckDB database file, or a kit error saying what the file is."""
    try:
        return duckdb_connect(str(path), read_only=True)
    except duckdb.Error as e:
        raise ConfigError(
            f"data source {path} is a file but not a DuckDB database ({_first_line(e)}). Give the "
            "folder that holds one CSV or Parquet file per table (e.g. data/ holding accounts.csv "
            "and subscriptions.csv), or a .duckdb file written by DuckDB."
        ) from e


def _first_line(exc: BaseException) -> str:
    return redact((str(exc).strip().splitlines() or [type(exc).__name__])[0])[:200]


def _file_of(name: str, m: dict, files: list[Path]) -> Path | None:
    """The file a contract table was read from (None for a database table)."""
    stem = m["tables"].get(name, name)
    return next((f for f in files if f.name in {stem + s for s in FILE_SUFFIXES}), None)


def _renamed(name: str, t: ir.Table, m: dict, files: list[Path]) -> ir.Table:
    """Table ``name`` with the mapping's column names applied; a mapping onto a column the
    table does not have raises :class:`ConfigError` naming the mapping line, the file (or
    database table) and the columns present. A column name written twice in a Parquet file
    (DuckDB would quietly call the second ``segment_1``) raises :class:`DataValidationError`;
    a CSV header's twice-written name is refused by the loader before this step.
    """
    f = _file_of(name, m, files)
    where = f"file {f}" if f else f"table '{m['tables'].get(name, name)}'"
    if f is not None and f.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(f).names
        except Exception:  # noqa: BLE001 - an unreadable file is the loader's to report
            names = []
        dups = sorted({c for c in names if names.count(c) > 1})
        if dups:
            said = "; ".join(f"column name '{c}' appears {names.count(c)} times" for c in dups)
            raise DataValidationError(
                f"{where} (table '{name}'): {said}. Rename or remove the duplicate columns in "
                "your export so that every column name is unique"
            )
    cols = m["columns"].get(name, {})
    absent = {ours: theirs for ours, theirs in cols.items() if theirs not in t.columns}
    if absent:
        said = "; ".join(f"columns.{name}.{o} -> '{th}'" for o, th in absent.items())
        raise ConfigError(
            f"mapping: {said}: {where} (table '{name}') has no such column; present columns: "
            f"{', '.join(t.columns)}. Correct the column name in the mapping YAML, or remove the "
            "line if the column already has its contract name"
        )
    return t.rename(cols) if cols else t


def _connect_url(loc: str, shown: str) -> tuple[Any, set[str]]:
    """An Ibis connection to ``loc`` and its table names; a failure is a :class:`ConfigError`
    naming the (masked) URL, the cause and the fix (never the password)."""
    from csresearch.redaction import mask_secrets

    scheme = loc.split("://", 1)[0]
    try:
        con = ibis.connect(loc)
        return con, set(con.list_tables())
    except ImportError as e:
        raise ConfigError(
            f"data source {shown}: the Ibis backend for '{scheme}' is not installed "
            f"({mask_secrets(str(e))}); install it, e.g. pip install 'ibis-framework[{scheme.split('+')[0]}]'"
        ) from None
    except Exception as e:  # noqa: BLE001 - drivers raise their own types; all mean "cannot connect"
        raise ConfigError(
            f"data source {shown}: cannot connect ({type(e).__name__}: {mask_secrets(str(e)).strip()}). "
            "Check the URL's scheme (duckdb://, postgres://, pyspark://...), host, port, database "
            "and credentials; keep the URL in an environment variable and pass env:VARIABLE"
        ) from None


def _read_folder(
    con: Any, path: Path, m: dict, files: list[Path], table_files: dict[str, Path]
) -> dict[str, ir.Table]:
    """The contract tables found as files in folder ``path`` (the first suffix of
    ``FILE_SUFFIXES`` present wins); each file read is appended to ``files`` and
    ``table_files``."""
    stored: dict[str, ir.Table] = {}
    for name in CONTRACT:
        stem = m["tables"].get(name, name)
        for suffix in FILE_SUFFIXES:
            f = path / f"{stem}{suffix}"
            if f.exists():
                stored[name] = _read_file(con, f, name)
                files.append(f)
                table_files[name] = f
                break
    return stored


def _stored_tables(con: Any, present: set[str], m: dict) -> dict[str, ir.Table]:
    """The contract tables among a connection's tables ``present`` (names after mapping)."""
    stored: dict[str, ir.Table] = {}
    for name in CONTRACT:
        stem = m["tables"].get(name, name)
        if stem in present:
            stored[name] = con.table(stem)
    return stored


def open_source(
    location: str | Path,
    mapping: str | Path | Mapping | None = None,
    validate: bool = True,
) -> DataSource:
    """Open a data source and (by default) validate it against the contract.

    Parameters
    ----------
    location
        A folder of ``<table>.parquet`` / ``<table>.csv`` files, a ``.duckdb`` file, an Ibis
        URL, or ``env:VARIABLE`` naming an environment variable that holds the URL.
    mapping
        YAML path or dict renaming your tables and columns onto the contract
        (see :func:`~csresearch.data.mapping.load_mapping`).
    validate
        Run the contract's rules and raise :class:`DataValidationError` on failure.

    Examples
    --------
    >>> src = open_source("data/demo")  # doctest: +SKIP
    >>> src.names[:2]  # doctest: +SKIP
    ['accounts', 'subscriptions']
    """
    m = load_mapping(mapping)
    loc = resolve_env(location)
    shown = redact(loc) if not str(location).startswith("env:") else str(location)
    files: list[Path] = []
    table_files: dict[str, Path] = {}
    path = Path(loc)
    if path.is_dir():
        con = duckdb_connect()
        stored = _read_folder(con, path, m, files, table_files)
    elif path.suffix in (".duckdb", ".db") or (path.exists() and path.is_file()):
        if not path.exists():
            raise ConfigError(f"data source not found: {loc}")
        con = _open_duckdb_file(path)
        stored = _stored_tables(con, set(con.list_tables()), m)
        files.append(path)
    elif "://" in loc:
        con, present = _connect_url(loc, shown)
        stored = _stored_tables(con, present, m)
    else:
        raise ConfigError(
            f"data source not found: {shown}. Give a folder of CSV/Parquet files, a .duckdb "
            "file, or an Ibis URL (run `csresearch demo-data --out data/demo` for an example)"
        )
    raw = {name: _renamed(name, t, m, files) for name, t in stored.items()}
    src = DataSource(con, raw, shown, files)
    src.table_files = table_files  # the validator names the file of a table it cannot read
    src.mapping, src.folder = m, path.is_dir()  # a folder's run files (data.validated.run_file)
    if validate and not (path.is_dir() and stamped(files, m)):  # report all: checked once (data.validated)
        src.validate().raise_if_failed()
        if path.is_dir():
            record(files, m)
    return src
