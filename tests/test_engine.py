"""Engines (connecting, opening sources); the public revenue steps on a source and on a frame."""

from __future__ import annotations

import pandas as pd
import pytest

from csresearch.data.engine import connect, engine_name, open_on, spark_unavailable_reason
from csresearch.data.sources import DataSource
from csresearch.errors import ConfigError
from csresearch.metrics.cohorts import cohort_table
from csresearch.metrics.revenue import mrr_bridge, mrr_movements


def test_connect_duckdb_and_url(monkeypatch):
    assert engine_name(connect("duckdb")) == "duckdb"
    monkeypatch.setenv("CS_TEST_DB", "duckdb://")
    con = connect("env:CS_TEST_DB")
    assert int(con.sql("select 40 + 2 as x").execute()["x"].iloc[0]) == 42


def test_connect_errors(monkeypatch):
    monkeypatch.delenv("CS_NOT_SET", raising=False)
    with pytest.raises(ConfigError, match="CS_NOT_SET is not set"):
        connect("env:CS_NOT_SET")
    with pytest.raises(ConfigError, match="unknown engine 'oracle-ish'"):
        connect("oracle-ish")


def test_open_on_errors(tmp_path):
    f = tmp_path / "x.duckdb"
    f.write_text("")
    with pytest.raises(ConfigError, match="needs a folder"):
        open_on(f, engine="pyspark")
    with pytest.raises(ConfigError, match="engine must be one of"):
        open_on(tmp_path, engine="polars")


def test_open_on_duckdb_is_open_source(demo_small_dir, demo_small):
    src = open_on(demo_small_dir, engine="duckdb", validate=False)
    assert src.names == demo_small.names
    assert src.row_counts() == demo_small.row_counts()


def test_spark_reason_is_text_or_none():
    reason = spark_unavailable_reason()
    assert reason is None or "install" in reason


SUBS = pd.DataFrame(
    {
        "subscription_id": ["s1", "s2", "s3", "s4"],
        "account_id": ["a", "a", "b", "c"],
        "start_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-15", "2024-02-10"]),
        "end_date": pd.to_datetime(["2024-02-01", None, "2024-03-01", None]),
        "mrr": [100.0, 150.0, 50.0, 80.0],
    }
)


def test_movements_by_hand():
    src = DataSource.from_frames({"subscriptions": SUBS}, validate=False)
    m = mrr_movements(src, "2024-03-31")
    # periods Jan (only full months from 2024-01-01): Jan, Feb, Mar.
    # a: 100 on Jan 1, 150 on Feb 1 and Mar 1 -> Jan expansion (+50), Feb flat, Mar flat
    # b: 0 on Jan 1, 50 on Feb 1, 0 on Mar 1 -> Jan new, Feb churn
    # c: 80 from Feb 10 -> Feb new (0 on Feb 1, 80 on Mar 1), Mar flat
    got = {(r.period_start.strftime("%m"), r.account_id): r.movement for r in m.itertuples()}
    assert got == {
        ("01", "a"): "expansion", ("02", "a"): "flat", ("03", "a"): "flat",
        ("01", "b"): "new", ("02", "b"): "churn",
        ("02", "c"): "new", ("03", "c"): "flat",
    }
    pd.testing.assert_frame_equal(m, mrr_movements(SUBS, "2024-03-31"))
    b = mrr_bridge(src, "2024-03-31")
    # Feb: start 150 (a) + 50 (b) = 200; churned 50; new 80 -> end 230
    feb = b.iloc[1]
    assert (feb.mrr_start, feb.mrr_churned, feb.mrr_new, feb.mrr_end) == (200.0, 50.0, 80.0, 230.0)


def test_a_frame_and_its_source_give_the_same_tables(demo_small):
    # one code path: a pandas frame is wrapped into an in-memory DuckDB source
    subs = demo_small.df("subscriptions")
    pd.testing.assert_frame_equal(mrr_movements(demo_small, "2025-12-31"), mrr_movements(subs, "2025-12-31"))
    pd.testing.assert_frame_equal(
        mrr_bridge(demo_small, "2025-12-31", "quarter"), mrr_bridge(subs, "2025-12-31", "quarter")
    )
    pd.testing.assert_frame_equal(cohort_table(demo_small, "2025-12-31", 12), cohort_table(subs, "2025-12-31", 12))


def test_cohort_month_end_anniversaries():
    # started Jan 31: anniversaries Feb 29 (2024 is a leap year), Mar 31; ended Mar 15
    subs = pd.DataFrame({"subscription_id": ["s"], "account_id": ["a"],
                         "start_date": pd.to_datetime(["2024-01-31"]),
                         "end_date": pd.to_datetime(["2024-03-15"]), "mrr": [10.0]})
    src = DataSource.from_frames({"subscriptions": subs}, validate=False)
    got = cohort_table(src, "2024-12-31", 2)
    assert got["active"].tolist() == [1, 1, 0]
    pd.testing.assert_frame_equal(got, cohort_table(subs, "2024-12-31", 2))
