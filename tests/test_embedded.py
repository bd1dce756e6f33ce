"""The embedded engine: DuckDB connections spill outside the working folder; fetch gives
ibis's own frame through Arrow."""

from __future__ import annotations

import tempfile
from pathlib import Path

import ibis
import pandas as pd

from csresearch.data.embedded import duckdb_connect, fetch


def test_fetch_is_execute_apart_from_nullable_timestamps():
    """The Arrow path of DataSource.df gives ibis's frame: every type, with and without nulls."""
    con = ibis.duckdb.connect()
    t = con.sql(
        "SELECT i::BIGINT AS a, CASE WHEN i % 3 = 0 THEN NULL ELSE i END::BIGINT AS b, "
        "CASE WHEN i % 5 = 0 THEN NULL ELSE 'x' || i END AS s, (i % 2 = 0) AS bo, "
        "CASE WHEN i % 4 = 0 THEN NULL ELSE i % 2 = 0 END AS bn, i * 0.5 AS f, "
        "CASE WHEN i % 4 = 0 THEN NULL ELSE i / 4 END::DOUBLE AS fn, "
        "CASE WHEN i % 4 = 0 THEN NULL ELSE DATE '2020-01-01' + i::INT END AS d, "
        "TIMESTAMP '2020-01-01' + to_days(i::INT) AS ts FROM range(50) r(i)")
    pd.testing.assert_frame_equal(fetch(t), t.execute())


def test_duckdb_spills_under_the_temporary_folder_not_the_working_one(tmp_path, monkeypatch):
    # DuckDB's default spill folder is .tmp in the working folder: in a report's kernel, the
    # package's template folder (a 1M-account report left 46 MB there)
    monkeypatch.chdir(tmp_path)
    con = duckdb_connect()
    spill = con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0]
    assert spill.startswith(tempfile.gettempdir()) and "csresearch-duckdb-" in spill
    assert not str(spill).startswith(str(tmp_path)) and Path(spill).is_dir()
