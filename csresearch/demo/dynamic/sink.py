"""Tables written block by block: one Parquet (or CSV) writer per table, so memory stays bounded.

Each table goes to ``<name>.<fmt>.tmp`` while blocks arrive and is renamed when the sink
closes; a table without rows still gets its file (the header or schema). The same blocks in
the same order give the same bytes.

Example
-------
>>> with TableSink(Path("/tmp/out"), "parquet", SCHEMAS) as sink:  # doctest: +SKIP
...     sink.write("accounts", table)
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


class TableSink:
    """Writers of several tables, appended to block by block.

    Parameters
    ----------
    out
        The output folder (must exist).
    fmt
        ``"parquet"`` or ``"csv"``.
    schemas
        Table name -> Arrow schema; every table is created on entry, in this order.
    parquet_only
        Tables always written as Parquet (``truth_risk``, which the kit reads as Parquet).
    """

    def __init__(self, out: Path, fmt: str, schemas: dict[str, pa.Schema], parquet_only: tuple[str, ...] = ()) -> None:
        self.out, self.fmt, self.schemas, self.parquet_only = out, fmt, schemas, parquet_only
        self.writers: dict[str, object] = {}
        self.paths: dict[str, Path] = {}
        self.rows: dict[str, int] = {}

    def _fmt(self, name: str) -> str:
        return "parquet" if name in self.parquet_only else self.fmt

    def __enter__(self) -> TableSink:
        for name, schema in self.schemas.items():
            for stale in (self.out / f"{name}.parquet", self.out / f"{name}.csv"):
                stale.unlink(missing_ok=True)
            path = self.out / f"{name}.{self._fmt(name)}"
            tmp = path.with_suffix(path.suffix + ".tmp")
            if self._fmt(name) == "parquet":
                self.writers[name] = pq.ParquetWriter(tmp, schema, compression="zstd")
            else:
                self.writers[name] = pacsv.CSVWriter(tmp, schema)
            self.paths[name] = path
            self.rows[name] = 0
        return self

    def write(self, name: str, table: pa.Table) -> None:
        """Append ``table`` (cast to the table's schema) to ``name``."""
        table = table.replace_schema_metadata(None).cast(self.schemas[name])
        if table.num_rows:
            self.writers[name].write_table(table)
        self.rows[name] += table.num_rows

    def __exit__(self, exc_type, exc, tb) -> None:
        for name, w in self.writers.items():
            w.close()
            tmp = self.paths[name].with_suffix(self.paths[name].suffix + ".tmp")
            if exc_type is None:
                tmp.replace(self.paths[name])
            else:
                tmp.unlink(missing_ok=True)
