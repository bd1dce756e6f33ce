"""Engine-side usage features and MRR snapshots on tiny hand-made tables."""

from __future__ import annotations

import math
from pathlib import Path

import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pytest

from csresearch.data.sources import DataSource
from csresearch.errors import DataValidationError
from csresearch.features.usage import (
    event_types_table,
    mrr_snapshots_table,
    usage_features,
    usage_features_table,
)
from csresearch.metrics.revenue import mrr_snapshots

T = pd.Timestamp


def frames() -> dict[str, pd.DataFrame]:
    accounts = pd.DataFrame({"account_id": ["a", "b", "c"], "name": ["A", "B", "C"],
                             "segment": ["smb", "ent", "smb"],
                             "created_at": pd.to_datetime(["2023-12-01"] * 3)})
    subs = pd.DataFrame({"subscription_id": ["s1", "s2", "s3"], "account_id": ["a", "b", "c"],
                         "start_date": pd.to_datetime(["2024-01-01", "2024-02-10", "2024-01-01"]),
                         "end_date": pd.to_datetime([None, "2024-04-01", "2024-03-01"]),
                         "mrr": [10.0, 20.0, 5.0]})
    ev = [
        ("a", "2024-01-05 00:00", "x", "u1", None),
        ("a", "2024-01-05 10:00", "y", "u2", None),
        ("a", "2024-01-20 08:00", "x", "u1", 2.0),
        ("a", "2024-02-01 09:00", "x", None, None),
        ("a", "2024-04-03 09:00", "x", "u1", None),
        ("a", "2024-04-03 11:00", "x", "u1", None),
        ("a", "2024-04-30 23:59", "z", "u3", 1.5),
        ("a", "2024-05-09 12:00", "x", "u1", None),
        ("a", "2024-06-01 00:00", "x", "u1", None),  # after as_of
        ("b", "2024-03-01 12:00", "x", "u9", None),
    ]
    events = pd.DataFrame(ev, columns=["account_id", "occurred_at", "event_type", "user_id", "quantity"])
    events["occurred_at"] = pd.to_datetime(events["occurred_at"])
    return {"accounts": accounts, "subscriptions": subs, "usage_events": events}


@pytest.fixture(scope="module")
def src() -> DataSource:
    return DataSource.from_frames(frames())


def test_returns_an_ibis_expression(src):
    t = usage_features_table(src.table("usage_events"), "2024-05-31")
    assert isinstance(t, ir.Table)
    assert list(t.columns) == ["account_id", "month", "events", "quantity", "active_days",
                               "event_types", "active_users", "prev3_mean", "trend"]


def test_usage_features_by_hand(src):
    f = usage_features(src, "2024-05-31").set_index(["account_id", "month"])
    a = f.loc["a"]
    assert list(a.index) == [T(f"2024-0{m}-01") for m in range(1, 6)]  # Jan..May; June after as_of
    # Jan: 3 events on 2 days, types x y, users u1 u2, quantity 2 (the others have none)
    assert a.loc[T("2024-01-01"), ["events", "active_days", "event_types", "active_users", "quantity"]].tolist() == [3, 2, 2, 2, 2.0]
    # Feb: one event without user_id -> active_users unknown (NaN), not 0
    assert a.loc[T("2024-02-01"), "events"] == 1 and np.isnan(a.loc[T("2024-02-01"), "active_users"])
    # Mar: no event -> a row of zeros
    assert a.loc[T("2024-03-01"), ["events", "active_days", "active_users"]].tolist() == [0, 0, 0]
    # Apr: 3 events on 2 days (Apr 3, Apr 30), types x z, users u1 u3; previous three months
    # 3, 1, 0 -> mean 4/3; trend = ln((3 + 1) / (4/3 + 1)) = ln(12/7) = 0.5390
    apr = a.loc[T("2024-04-01")]
    assert apr[["events", "active_days", "event_types", "active_users"]].tolist() == [3, 2, 2, 2]
    assert apr["prev3_mean"] == pytest.approx(4 / 3)
    assert apr["trend"] == pytest.approx(math.log(12 / 7))
    # May: 1 event; previous 1, 0, 3 -> 4/3; ln(2 / (7/3)) = ln(6/7) = -0.1542
    assert a.loc[T("2024-05-01"), "trend"] == pytest.approx(math.log(6 / 7))
    # fewer than three previous months -> NaN trend (a in Jan..Mar, b always)
    assert a.loc[[T("2024-01-01"), T("2024-02-01"), T("2024-03-01")], "trend"].isna().all()
    b = f.loc["b"]
    assert list(b.index) == [T("2024-03-01"), T("2024-04-01"), T("2024-05-01")]
    assert b["events"].tolist() == [1, 0, 0] and b["trend"].isna().all()
    assert "c" not in f.index.get_level_values(0)  # no events at all -> no rows


def test_partial_month_is_left_out(src):
    f = usage_features(src, "2024-05-30")
    assert f["month"].max() == T("2024-04-01")


def test_missing_columns(src):
    t = src.table("usage_events").drop("event_type")
    with pytest.raises(DataValidationError, match="missing column.*event_type"):
        usage_features_table(t, "2024-05-31")


def test_mrr_snapshots_engine_matches_pandas():
    from tests.test_revenue import subs_frame

    s = subs_frame()
    accounts = pd.DataFrame({"account_id": list("ABCDEFGH"), "name": list("ABCDEFGH"), "segment": "x",
                             "created_at": T("2023-01-01")})
    # A's two subscriptions overlap on purpose (two products): skip the contract's overlap rule
    src = DataSource.from_frames({"accounts": accounts, "subscriptions": s}, validate=False)
    days = ["2024-01-01", "2024-02-01", "2024-02-15", "2024-03-01", "2024-04-01", "2024-05-01"]
    eng = mrr_snapshots_table(src.table("subscriptions"), days).execute()
    eng["snapshot_date"] = pd.to_datetime(eng["snapshot_date"])
    pan = mrr_snapshots(s, days)
    got = eng.sort_values(["account_id", "snapshot_date"], ignore_index=True)
    # the engine lists only covered (account, day) pairs; E's zero-MRR subscription is covered
    exp = pan.merge(got[["account_id", "snapshot_date"]], on=["account_id", "snapshot_date"])
    exp = exp.sort_values(["account_id", "snapshot_date"], ignore_index=True)
    pd.testing.assert_frame_equal(got[["account_id", "snapshot_date", "mrr"]], exp, check_dtype=False)
    assert set(pan.loc[pan.mrr > 0, "account_id"]) <= set(got.account_id)
    # B on Mar 1: s3 ended (exclusive), s4 started -> 120
    assert got.set_index(["account_id", "snapshot_date"]).loc[("B", T("2024-03-01")), "mrr"] == 120


@pytest.mark.parametrize("n_types", [5, 70])  # bit masks up to 62 types, COUNT DISTINCT above
def test_distinct_counts_match_pandas_on_random_events(n_types):
    rng = np.random.default_rng(7)
    n = 4000
    accounts = pd.DataFrame({
        "account_id": [f"a{i}" for i in range(30)], "name": "x", "segment": "smb",
        "created_at": pd.Timestamp("2024-01-01"),
    })
    subs = pd.DataFrame({
        "subscription_id": [f"s{i}" for i in range(30)], "account_id": accounts.account_id,
        "start_date": pd.Timestamp("2024-01-01"), "end_date": pd.NaT, "mrr": 10.0,
    })
    ev = pd.DataFrame({
        "account_id": rng.choice(accounts.account_id, n),
        "occurred_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 366 * 86400, n), "s"),
        "event_type": [f"t{k}" for k in rng.integers(0, n_types, n)],
        "user_id": np.where(rng.random(n) < 0.1, None, [f"u{k}" for k in rng.integers(0, 12, n)]),
    })
    src = DataSource.from_frames({"accounts": accounts, "subscriptions": subs, "usage_events": ev})
    got = usage_features(src, "2024-12-31").set_index(["account_id", "month"])
    e = ev.assign(month=ev.occurred_at.dt.to_period("M").dt.to_timestamp(), day=ev.occurred_at.dt.date)
    want = e.groupby(["account_id", "month"]).agg(
        events=("day", "size"), active_days=("day", "nunique"),
        event_types=("event_type", "nunique"), active_users=("user_id", "nunique"),
    )
    sub = got.loc[want.index]
    for col in ["events", "active_days", "event_types", "active_users"]:
        assert sub[col].to_numpy().tolist() == want[col].to_numpy().tolist(), col
    # months without events are rows of zeros between an account's first event and as_of
    assert (got.drop(want.index).events == 0).all()
    assert len(got) == sum(12 - m.month + 1 for m in e.groupby("account_id").month.min())


def test_event_types_table_is_the_event_types_of_usage_features(src):
    want = usage_features(src, "2024-05-31")[["account_id", "month", "event_types"]]
    got = event_types_table(src.table("usage_events"), "2024-05-31").order_by(["account_id", "month"]).execute()
    got["month"] = pd.to_datetime(got["month"])
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_left_out_aggregates_leave_the_other_columns_the_same(src):
    full = usage_features(src, "2024-05-31")
    for keep in ([], ["event_types"], ["active_days", "quantity"], ["active_users"]):
        t = usage_features_table(src.table("usage_events"), "2024-05-31", keep)
        got = t.order_by(["account_id", "month"]).execute()
        got["month"] = pd.to_datetime(got["month"])
        gone = [c for c in ("quantity", "active_days", "event_types", "active_users") if c not in keep]
        pd.testing.assert_frame_equal(got, full.drop(columns=gone), check_exact=True)


def test_usage_months_are_computed_once_per_run_and_read_back_alike(demo_small_dir, monkeypatch):
    """Within report all, the first report keeps the monthly usage aggregate of a folder source
    as Parquet and the later ones read it back: the same rows, the same usage features."""
    import os

    from csresearch.data import validated
    from csresearch.data.sources import open_source
    from csresearch.features import usage

    monkeypatch.delenv(validated.ENV, raising=False)
    keys = ["account_id", "mi"]
    outside = usage.usage_months(open_source(demo_small_dir), "2025-06-30").order_by(keys).execute()
    plain = usage_features_table(open_source(demo_small_dir).table("usage_events"), "2025-06-30", [])
    plain = plain.order_by(["account_id", "month"]).execute()
    runs = []
    real = usage._monthly
    monkeypatch.setattr(usage, "_monthly", lambda *a: runs.append(1) or real(*a))
    with validated.validated_once():
        folder = os.environ[validated.ENV].removesuffix(".txt") + ".d"
        for _ in range(3):  # three reports, one kernel each: a source opened by each
            src = open_source(demo_small_dir)
            months = usage.usage_months(src, "2025-06-30")
            pd.testing.assert_frame_equal(months.order_by(keys).execute(), outside, check_exact=True)
            got = usage_features_table(src.table("usage_events"), "2025-06-30", [], months)
            pd.testing.assert_frame_equal(got.order_by(["account_id", "month"]).execute(), plain, check_exact=True)
        assert runs == [1]  # aggregated once, by the first
        assert [p.suffix for p in Path(folder).iterdir()] == [".parquet"]
        usage.usage_months(open_source(demo_small_dir), "2025-05-31")  # another month: its own file
        assert runs == [1, 1]
    assert not Path(folder).exists()  # removed with the run's record
