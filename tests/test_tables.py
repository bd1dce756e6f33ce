"""Survival tables from a flat table and from a data source (first active episode)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csresearch.data.sources import DataSource
from csresearch.errors import DataQualityWarning, DataValidationError
from csresearch.survival.tables import (
    event_indicator,
    parse_event,
    read_flat_table,
    survival_frame,
    survival_table,
)

REL = Path(__file__).resolve().parents[2] / "shared" / "data" / "telco" / "Telco-Customer-Churn.csv"
TELCO = REL
needs_telco = pytest.mark.skipif(not TELCO.exists(), reason=f"Telco table not found at {TELCO}")


def test_parse_event():
    assert parse_event("Churn=Yes") == ("Churn", "Yes")
    assert parse_event("churned") == ("churned", None)


def test_event_indicator_codes():
    d = pd.DataFrame({"c": ["Yes", "No"], "b": [True, False], "n": [0, 2]})
    assert event_indicator(d, "c=Yes").tolist() == [1, 0]
    assert event_indicator(d, "b").tolist() == [1, 0]
    with pytest.raises(DataValidationError, match="column 'n': 1 value.*not 0/1.*COLUMN=VALUE"):
        event_indicator(d, "n")
    with pytest.raises(DataValidationError, match="column 'c'.*not 0/1"):
        event_indicator(d, "c")


def test_missing_columns_named():
    with pytest.raises(DataValidationError, match=r"column\(s\) \['nope'\] not found"):
        survival_frame(pd.DataFrame({"t": [1]}), "nope", "t")


def test_negative_duration():
    with pytest.raises(DataValidationError, match="1 negative duration"):
        survival_frame(pd.DataFrame({"t": [1, -2], "e": [1, 0]}), "t", "e")


@needs_telco
def test_telco_blanks_reported_not_dropped():
    raw = read_flat_table(TELCO)
    before = raw.copy()
    with pytest.raises(DataValidationError) as ei:
        survival_frame(raw, "tenure", "Churn=Yes", numeric=["TotalCharges"])
    msg = str(ei.value)
    assert "table 'Telco-Customer-Churn.csv', column 'TotalCharges': 11 value(s) missing" in msg
    assert "row 488: ' '" in msg and "dropna=True" in msg
    with pytest.warns(DataQualityWarning, match=r"dropped 11 of 7,043 rows .*11 in 'TotalCharges'"):
        sv = survival_frame(raw, "tenure", "Churn=Yes", numeric=["TotalCharges"], dropna=True)
    assert len(sv) == 7032 and sv.attrs["dropped"] == 11 and sv["event"].sum() == 1869
    pd.testing.assert_frame_equal(raw, before)


def _source(subs: list[tuple], n_accounts: int = 6, ids: list[str] | None = None) -> DataSource:
    ids = ids or [f"a{i}" for i in range(1, n_accounts + 1)]
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "name": ids,
            "segment": ["smb", "enterprise", "smb", "smb", "mid_market", "smb"][:n_accounts],
            "created_at": pd.Timestamp("2023-12-01"),
        }
    )
    s = pd.DataFrame(subs, columns=["account_id", "start_date", "end_date", "mrr", "product"])
    s.insert(0, "subscription_id", [f"s{i}" for i in range(len(s))])
    s["start_date"] = pd.to_datetime(s.start_date).dt.date
    s["end_date"] = pd.to_datetime(s.end_date)  # NaT = open; the contract casts it to a date
    return DataSource.from_frames({"accounts": accounts, "subscriptions": s})


def test_survival_table_episodes_by_hand():
    src = _source(
        [
            # a1: two contiguous subscriptions then a return -> churned on 2024-05-01, reactivated
            ("a1", "2024-01-01", "2024-03-01", 100.0, "core"),
            ("a1", "2024-03-01", "2024-05-01", 120.0, "core"),
            ("a1", "2024-07-01", None, 90.0, "core"),
            # a2: overlapping products, one open -> censored at as_of
            ("a2", "2024-02-01", None, 500.0, "core"),
            ("a2", "2024-03-01", "2024-04-01", 50.0, "addon"),
            # a3: starts after as_of -> not a customer yet
            ("a3", "2025-03-01", None, 10.0, "core"),
            # a4: ends after as_of -> censored
            ("a4", "2024-06-01", "2025-06-01", 40.0, "core"),
            # a5: ends exactly on as_of -> churned (not active on as_of)
            ("a5", "2024-12-01", "2024-12-31", 70.0, "core"),
            # a6: a gap of one day (ends 03-01, next starts 03-02) -> churned on 03-01
            ("a6", "2024-01-01", "2024-03-01", 30.0, "core"),
            ("a6", "2024-03-02", None, 30.0, "core"),
        ]
    )
    st = survival_table(src, as_of="2024-12-31").set_index("account_id")
    assert "a3" not in st.index and st.attrs["not_started"] == 1
    # a1: 2024-01-01 .. 2024-05-01 = 31 + 29 + 31 + 30 = 121 days
    assert st.loc["a1", ["tenure_days", "churned", "reactivated"]].tolist() == [121, 1, 1]
    assert st.loc["a1", "mrr_start"] == 100.0 and st.loc["a1", "mrr_as_of"] == 0.0
    # a2: 2024-02-01 .. 2024-12-31 = 334 days, censored; MRR on as_of = 500
    assert st.loc["a2", ["tenure_days", "churned", "reactivated"]].tolist() == [334, 0, 0]
    assert st.loc["a2", "mrr_as_of"] == 500.0 and st.loc["a2", "segment"] == "enterprise"
    # a4: 2024-06-01 .. 2024-12-31 = 213 days, censored though an end date is scheduled: the
    # timeline reads everything as of as_of, so the end after it is not known yet (open)
    assert st.loc["a4", ["tenure_days", "churned"]].tolist() == [213, 0]
    assert pd.isna(st.loc["a4", "episode_end"])
    # a5: 30 days, churned on as_of
    assert st.loc["a5", ["tenure_days", "churned"]].tolist() == [30, 1]
    # a6: 60 days (2024 is a leap year), churned, reactivated the next day
    assert st.loc["a6", ["tenure_days", "churned", "reactivated"]].tolist() == [60, 1, 1]
    assert st.loc["a1", "cohort"] == "2024-01"
    assert st.loc["a2", "tenure_months"] == pytest.approx(334 / 30.4375)


def test_survival_table_reads_the_timeline_paid_to_free_and_free_then_paid():
    src = _source(
        [
            # p1: paid, then a free plan from 2024-04-01 -> churned on 2024-04-01 (91 days)
            ("p1", "2024-01-01", "2024-04-01", 100.0, "core"),
            ("p1", "2024-04-01", None, 0.0, "free"),
            # p2: free trial, paid from 2024-03-01 -> tenure from the paid day: 305 days to as_of
            ("p2", "2024-01-01", "2024-03-01", 0.0, "free"),
            ("p2", "2024-03-01", None, 50.0, "core"),
            # p3: free only -> not a customer, not in the table, counted
            ("p3", "2024-01-01", None, 0.0, "free"),
        ],
        n_accounts=3,
        ids=["p1", "p2", "p3"],
    )
    st = survival_table(src, as_of="2024-12-31").set_index("account_id")
    # 2024-01-01 .. 2024-04-01 = 31 + 29 + 31 = 91 days
    assert st.loc["p1", ["tenure_days", "churned"]].tolist() == [91, 1]
    # 2024-03-01 .. 2024-12-31 = 366 - 31 - 29 = 305 days
    assert st.loc["p2", ["tenure_days", "churned"]].tolist() == [305, 0]
    assert pd.Timestamp(st.loc["p2", "start_date"]) == pd.Timestamp("2024-03-01")
    assert "p3" not in st.index and st.attrs["free_only"] == 1 and st.attrs["not_started"] == 0


def test_survival_table_as_of_earlier_hides_future():
    src = _source([("a1", "2024-01-01", "2024-03-01", 100.0, "core"),
                   ("a1", "2024-03-05", None, 100.0, "core")], n_accounts=1)
    st = survival_table(src, as_of="2024-02-01")
    # as of Feb 1 the end on Mar 1 is in the future: censored after 31 days, no reactivation
    assert st[["tenure_days", "churned", "reactivated"]].iloc[0].tolist() == [31, 0, 0]


def test_survival_table_as_of_must_be_iso():
    src = _source([("a1", "2024-01-01", None, 1.0, "core")], n_accounts=1)
    with pytest.raises(DataValidationError, match="ISO date"):
        survival_table(src, as_of="yesterday")


def test_survival_table_on_demo(demo_small):
    st = survival_table(demo_small, as_of="2025-12-31")
    assert st["account_id"].is_unique
    assert (st["tenure_days"] >= 0).all() and set(st["churned"]) <= {0, 1}
    # the generator has no churn before day 90 and churn = first inactive day
    assert (st.loc[st.churned == 1, "tenure_days"] > 90).all()
    assert np.isfinite(st["mrr_start"]).all()


# -- covariates of the first 90 days (the demo data's truth.json) --------------------------
def test_start_window_covariates_match_pandas(demo_small):
    from csresearch.survival.tables import start_window_covariates

    cov = start_window_covariates(demo_small, "2025-12-31").set_index("account_id")
    st = survival_table(demo_small, "2025-12-31").set_index("account_id")
    # population: active at day 90 and window closed
    alive = st[(st.tenure_days > 90) | ((st.churned == 0) & (st.tenure_days >= 90))]
    assert sorted(cov.index) == sorted(alive.index)
    start = alive["start_date"]
    u = demo_small.df("usage_events", ["account_id", "occurred_at"])
    u = u[u.account_id.isin(alive.index)]
    day = (u.occurred_at.dt.normalize() - u.account_id.map(start)).dt.days
    first = u[day.between(0, 29)].groupby("account_id").size().reindex(alive.index, fill_value=0)
    last = u[day.between(60, 89)].groupby("account_id").size().reindex(alive.index, fill_value=0)
    trend = np.log2((last + 1) / (first + 1))
    assert cov.loc[alive.index, "usage_trend"].to_numpy() == pytest.approx(trend.to_numpy())
    tk = demo_small.df("support_tickets", ["account_id", "opened_at"])
    tk = tk[tk.account_id.isin(alive.index)]
    tday = (tk.opened_at.dt.normalize() - tk.account_id.map(start)).dt.days
    n_tk = tk[tday.between(0, 89)].groupby("account_id").size().reindex(alive.index, fill_value=0)
    assert cov.loc[alive.index, "tickets_90d"].tolist() == n_tk.astype(float).tolist()
    nps = demo_small.df("nps_responses").sort_values("responded_at")
    nps = nps[nps.account_id.isin(alive.index)]
    nday = (nps.responded_at.dt.normalize() - nps.account_id.map(start)).dt.days
    first_nps = nps[nday.between(0, 89)].groupby("account_id")["score"].first()
    assert cov.loc[first_nps.index, "nps_first"].tolist() == first_nps.astype(float).tolist()
    ms = demo_small.df("onboarding_milestones")
    ms = ms[ms.account_id.isin(alive.index)]
    mday = (ms.completed_at.dt.normalize() - ms.account_id.map(start)).dt.days
    done = (ms.completed_at.notna() & (mday < 90)).groupby(ms.account_id).all().astype(float)
    assert cov.loc[done.index, "onboarding_complete"].tolist() == done.tolist()
    assert (cov["days_after_window"] == cov["tenure_days"] - 90).all()


def test_truth_recovery_10k(demo_10k_dir):
    """At 10,000 accounts the Cox model on the first-90-day covariates recovers every true
    coefficient of truth.json. Six intervals at once: simultaneous 95 % (Bonferroni,
    alpha = 0.05 / 6 each; seed 42's tickets_90d lies just outside its marginal 95 % interval)."""
    import json

    from csresearch.data.sources import open_source
    from csresearch.survival.drivers import CoxModel
    from csresearch.survival.tables import start_window_covariates

    truth = json.loads((demo_10k_dir / "truth.json").read_text())
    cov = start_window_covariates(open_source(demo_10k_dir), truth["period"]["as_of"],
                          window_days=truth["landmark_days"])
    terms = list(truth["coefficients"])
    m = CoxModel(["segment", "usage_trend", "nps_first", "tickets_90d", "onboarding_complete"],
                 reference={"segment": "smb"}, alpha=0.05 / len(terms)).fit(cov, "days_after_window", "churned")
    s = m.summary.set_index("term")
    assert sorted(s.index) == sorted(terms)
    for term in terms:
        true = truth["coefficients"][term]["coef"]
        lo, hi = np.log(s.loc[term, "hr_lower"]), np.log(s.loc[term, "hr_upper"])
        assert lo < true < hi, f"{term}: truth {true} outside [{lo:.4f}, {hi:.4f}]"


def test_text_in_numeric_column_reported():
    d = pd.DataFrame({"t": ["1", "2", "three", "4"], "e": [1, 0, 1, 1]})
    d.attrs["table"] = "custom.csv"
    with pytest.raises(DataValidationError, match=r"table 'custom.csv', column 't': 1 value\(s\) missing or not numbers \(row 2: 'three'\)"):
        survival_frame(d, "t", "e")


def test_start_window_usage_counts_at_day_boundaries():
    """Usage on day d of the window counts by the date of its timestamp: the last instant of day
    29 is in the first 30 days, midnight of day 30 is not; day -1 and day 90 are outside."""
    from csresearch.data.sources import DataSource
    from csresearch.survival.tables import start_window_covariates

    acc = pd.DataFrame({"account_id": ["A1", "A2"], "name": ["a", "b"], "segment": ["smb", "smb"],
                        "created_at": pd.to_datetime(["2024-12-01", "2024-12-01"])})
    subs = pd.DataFrame({"subscription_id": ["S1", "S2"], "account_id": ["A1", "A2"],
                         "start_date": pd.to_datetime(["2025-01-01", "2025-01-01"]).date,
                         "end_date": pd.to_datetime([pd.NaT, pd.NaT]).date, "mrr": [100.0, 100.0]})
    day0 = pd.Timestamp("2025-01-01")
    at = [day0 - pd.Timedelta(seconds=1), day0, day0 + pd.Timedelta(days=30) - pd.Timedelta(microseconds=1),
          day0 + pd.Timedelta(days=30), day0 + pd.Timedelta(days=60),
          day0 + pd.Timedelta(days=90) - pd.Timedelta(seconds=1), day0 + pd.Timedelta(days=90)]
    usage = pd.DataFrame({"account_id": ["A1"] * len(at), "occurred_at": at, "event_type": "login"})
    src = DataSource.from_frames({"accounts": acc, "subscriptions": subs, "usage_events": usage})
    cov = start_window_covariates(src, "2025-12-31").set_index("account_id")
    # A1: 2 events on days 0..29, 2 on days 60..89; A2: none
    assert cov.loc["A1", "usage_trend"] == pytest.approx(np.log2(3 / 3))
    assert cov.loc["A2", "usage_trend"] == 0.0
    usage2 = usage.iloc[[2, 5, 5]]  # 1 early, 2 late
    src2 = DataSource.from_frames({"accounts": acc, "subscriptions": subs, "usage_events": usage2})
    cov2 = start_window_covariates(src2, "2025-12-31").set_index("account_id")
    assert cov2.loc["A1", "usage_trend"] == pytest.approx(np.log2(3 / 2))
