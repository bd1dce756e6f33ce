"""Engine errors met while reading a table file, turned into kit errors that say how to fix them.

DuckDB, pyarrow and pandas report an unreadable file with their own exceptions and texts
(``InvalidInputException: Invalid unicode ...``, ``No magic bytes found ...``). The kit's
loaders catch those where they read (opening a file, the validator's first pass over a
table) and raise :class:`~csresearch.errors.DataValidationError` (the file's content is
wrong) or :class:`~csresearch.errors.ConfigError` (the path is wrong) instead: one paragraph
naming the file, what is wrong and what to do.

Example
-------
>>> from pathlib import Path
>>> err = read_error(Path("accounts.csv"), UnicodeDecodeError("utf-8", b"\\xe9", 0, 1, "invalid"))
>>> "Re-save it as UTF-8" in str(err)
True
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from csresearch.errors import ConfigError, DataValidationError
from csresearch.redaction import redact

#: exceptions that mean "this file could not be read", from the engines the kit reads with
READ_ERRORS: tuple[type[BaseException], ...] = (
    duckdb.Error,
    pa.ArrowException,
    UnicodeError,
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
    OSError,
)

_UTF8 = (
    "Re-save it as UTF-8 (Excel: Save As > 'CSV UTF-8'; LibreOffice: Character set 'Unicode "
    "(UTF-8)'; or `iconv -f latin1 -t utf-8 old.csv > new.csv`)"
)


def _detail(exc: BaseException) -> str:
    """The engine's first line, passwords masked, short enough for one paragraph."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = redact(lines[0] if lines else type(exc).__name__)
    for ln in lines[1:4]:
        if ln.startswith(("Original Line", "Expected Number", "Invalid unicode")):
            text += f"; {redact(ln)}"
    return text[:300]


def read_error(where: Path | str, exc: BaseException, table: str | None = None) -> DataValidationError:
    """A :class:`DataValidationError` explaining why ``where`` (a table file) could not be read."""
    what = f"table file {where}" + (f" (table '{table}')" if table else "")
    text = str(exc)
    low = text.lower()
    detail = _detail(exc)
    if isinstance(exc, UnicodeError) or "utf-8" in low or "invalid unicode" in low:
        msg = f"{what} is not UTF-8 text ({detail}); it is probably latin-1 or Windows-1252. {_UTF8}."
    elif "magic bytes" in low or ("parquet" in low and ("corrupt" in low or "invalid" in low)):
        msg = (
            f"{what} is not a readable Parquet file ({detail}): it is truncated or corrupt. "
            "Export it again and check the copy completed (compare the file size), or save the "
            "table as CSV instead."
        )
    elif "expected number of columns" in low or "csv error" in low or isinstance(exc, pd.errors.ParserError):
        msg = (
            f"{what} is not a well-formed CSV ({detail}). Every row must have as many fields as "
            "the header: check the delimiter (',' or ';') and that text containing the delimiter, "
            "quotes or line breaks is quoted; then export it again."
        )
    elif "conversion error" in low or "cast" in low:
        msg = (
            f"{what} holds a value of the wrong type ({detail}). Write dates as ISO text "
            "('YYYY-MM-DD') or a DATE column, timestamps as 'YYYY-MM-DD HH:MM:SS' or a TIMESTAMP "
            "column, and numbers as numbers."
        )
    else:
        msg = (
            f"{what} could not be read ({detail}). Check that it is a complete CSV (UTF-8, header "
            "row) or Parquet file and that you can open it; then export it again."
        )
    return DataValidationError(msg)


def check_table_file(path: Path, table: str | None = None) -> None:
    """Refuse a table path that is a folder or an empty (0-byte) file, before an engine sees it."""
    what = f"table file {path}" + (f" (table '{table}')" if table else "")
    if path.is_dir():
        raise ConfigError(
            f"{what} is a folder, not a file. Put the table in one file named {path.name} "
            "(CSV or Parquet), or rename or remove the folder so the kit does not take it for the table."
        )
    if path.stat().st_size == 0:
        raise DataValidationError(
            f"{what} is empty (0 bytes): it has no header row and no rows. Export the table "
            "again with its header row (a table without rows still needs its header line)."
        )


def check_utf8(path: Path, table: str | None = None) -> None:
    """Refuse a CSV that is not UTF-8 text, naming the first bad line.

    Checked here, in one streaming pass, rather than left to DuckDB: it validates text only in
    the columns a query reads and only once it reads them (and one such error can leave its
    connection unusable).
    """
    what = f"table file {path}" + (f" (table '{table}')" if table else "")
    opener = gzip.open if path.suffix == ".gz" else open
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, pos = 1, 0
    try:
        with opener(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as e:
                    at = line + block.count(b"\n", 0, max(e.start, 0))
                    bad = block[e.start:e.start + 4]
                    utf16 = pos == 0 and block[:2] in (b"\xff\xfe", b"\xfe\xff")
                    enc = "UTF-16" if utf16 else "latin-1 or Windows-1252"
                    raise DataValidationError(
                        f"{what} is not UTF-8 text: line {at} holds the bytes {bad!r}, so the file "
                        f"is probably {enc}. {_UTF8}."
                    ) from e
                line += block.count(b"\n")
                pos += len(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as e:  # the file ends inside a character
        raise DataValidationError(f"{what} is not UTF-8 text: it ends in the middle of a character. {_UTF8}.") from e
    except (OSError, EOFError) as e:
        raise read_error(path, e, table) from e


def check_csv_header(path: Path, columns: list[str], table: str | None = None) -> None:
    """Refuse a CSV whose columns (as the engine read them) are not the fields of its first line.

    The engine guesses delimiter, quoting, header and leading lines to skip from a sample; on a
    file whose rows do not agree (one row with an extra field) it can take a data row for the
    header and skip the lines above it. A first line that is not the header is refused too.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
        first = f.readline()
    for delim in (",", ";", "\t", "|"):
        fields = next(csv.reader([first], delimiter=delim), [])
        if [x.strip() for x in fields] == [str(c).strip() for c in columns]:
            return
    what = f"table file {path}" + (f" (table '{table}')" if table else "")
    raise DataValidationError(
        f"{what} could not be read as a CSV with its first line as the header: the first line "
        f"is {first.strip()[:120]!r} but the columns found were {list(columns)[:8]}. Make the "
        "first line the header row and give every row as many fields as the header (check the "
        "delimiter, ',' or ';', and that text containing it is quoted); then export it again."
    )


@contextlib.contextmanager
def reading(where: Path | str, table: str | None = None) -> Iterator[None]:
    """Turn engine read errors inside the block into :func:`read_error` kit errors."""
    try:
        yield
    except READ_ERRORS as e:
        raise read_error(where, e, table) from e
