"""KPI tree on a tiny source worked by hand, exact decompositions on the demo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csresearch.data.sources import DataSource
from csresearch.health.kpi import KPI_TREE, REASON_OWNERS, kpi_tree, render_tree

JAN, FEB = pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")


def T(*xs):
    return pd.to_datetime(list(xs))


def frames() -> dict[str, pd.DataFrame]:
    return {
        "accounts": pd.DataFrame({"account_id": list("abcd"), "name": list("ABCD"), "segment": "smb",
                                  "created_at": T(*["2024-12-01"] * 4)}),
        "subscriptions": pd.DataFrame({
            "subscription_id": ["s1", "s2", "s3", "s4", "s5"], "account_id": ["a", "b", "b", "c", "d"],
            "start_date": T("2025-01-01", "2025-01-01", "2025-02-15", "2025-01-01", "2025-01-01"),
            "end_date": T("2025-02-10", None, None, "2025-03-01", "2025-02-20"),
            "mrr": [100.0, 100.0, 50.0, 200.0, 100.0], "product": ["core", "core", "addon", "core", "core"]}),
        "churn_reasons": pd.DataFrame({"account_id": ["a", "c"], "churned_at": T("2025-02-10", "2025-03-01"),
                                       "reason": ["adoption", "expectation"]}),
        "support_tickets": pd.DataFrame({"ticket_id": ["t1", "t2", "t3"], "account_id": ["a", "a", "b"],
                                         "opened_at": T("2025-01-05", "2025-01-20", "2025-02-03"),
                                         "closed_at": T("2025-01-06", "2025-01-21", "2025-02-04"),
                                         "priority": "low"}),
        "ces_responses": pd.DataFrame({"account_id": ["a", "b"], "responded_at": T("2025-01-07", "2025-01-22"),
                                       "score": [6, 4]}),
        "onboarding_milestones": pd.DataFrame({
            "account_id": ["a", "a", "b", "b"], "milestone": ["kickoff", "training"] * 2,
            "due_at": T("2025-01-10", "2025-02-05", "2025-01-10", "2025-02-05"),
            "completed_at": T("2025-01-09", "2025-02-07", "2025-01-12", None)}),
        "usage_events": pd.DataFrame({"account_id": ["a", "a", "b", "c"],
                                      "occurred_at": T("2025-01-03", "2025-01-04", "2025-02-02", "2025-03-02"),
                                      "event_type": ["login", "report", "export", "login"]}),
    }


def wide(k: pd.DataFrame) -> pd.DataFrame:
    return k.pivot(index="period_start", columns="node", values="value")


@pytest.fixture(scope="module")
def tree():
    return kpi_tree(DataSource.from_frames(frames()), "2025-02-28")


def test_top_nodes_and_churn_by_reason(tree):
    w = wide(tree)
    # Jan: a, b, c, d active on Jan 1 and on Feb 1: no churn, NRR 1.
    # Feb: start 4 accounts, MRR 500; a (adoption, Feb 10) and d (no reason, Feb 20) churn; b
    # expands by 50. c ends on Mar 1, after as_of (Feb 28): as of Feb 28 that end is not known yet
    # (the timeline censors it), so c has not churned and its 'expectation' reason is not counted.
    np.testing.assert_allclose(w["churn_rate"], [0, 2 / 4])
    np.testing.assert_allclose(w["churn_adoption"], [0, 1 / 4])
    np.testing.assert_allclose(w["churn_expectation"], [0, 0])
    np.testing.assert_allclose(w["churn_unrecorded"], [0, 1 / 4])
    np.testing.assert_allclose(w["churn_product"], [0, 0])
    # NRR Feb = (500 + 50 - 0 - 200) / 500 = 0.7 = 1 + 0.1 - 0 - 0.4
    np.testing.assert_allclose(w["nrr"], [1, 0.7])
    np.testing.assert_allclose(w["expansion_rate"], [0, 0.1])
    np.testing.assert_allclose(w["mrr_churn_rate"], [0, 0.4])


def test_team_kpis(tree):
    w = wide(tree)
    np.testing.assert_allclose(w["tickets_per_account"], [2 / 4, 1 / 4])
    np.testing.assert_allclose(w["ces_mean"], [5, np.nan])  # (6 + 4) / 2; none in Feb
    # due in Jan: a kickoff on time, b kickoff late -> 1/2; due in Feb: a late, b not done -> 0
    np.testing.assert_allclose(w["onboarding_score"], [0.5, 0])
    np.testing.assert_allclose(w["onboarding_days"], [np.nan, 37])  # a: Jan 1 -> Feb 7
    # 3 event types in use; Jan: a used 2 -> (2/3 + 0 + 0 + 0) / 4; Feb: b used 1 -> (1/3) / 4
    np.testing.assert_allclose(w["adoption_breadth"], [1 / 6, 1 / 12])
    note = tree.loc[(tree.node == "ces_mean") & (tree.period_start == FEB), "note"].iloc[0]
    assert note == "no data in this period"


def test_tree_shape_and_owners(tree):
    assert REASON_OWNERS == {"product": "product development", "adoption": "customer success",
                             "expectation": "sales", "price": "stated (no owning team)",
                             "other": "stated (no owning team)"}
    nodes = {n for n, *_ in KPI_TREE}
    assert all(p is None or p in nodes for _, p, *_ in KPI_TREE)
    assert tree.loc[tree.node == "churn_expectation", "team"].iloc[0] == "sales"
    text = render_tree(tree, FEB)
    assert text.splitlines()[0] == "churn_rate [all teams]: 50.0%"
    assert "  churn_adoption [customer success]: 25.0%" in text
    assert "    onboarding_score [customer success]: 0.0%" in text


def test_absent_tables_noted():
    f = frames()
    del f["support_tickets"], f["churn_reasons"]
    w = kpi_tree(DataSource.from_frames(f), "2025-02-28")
    t = w.loc[w.node == "tickets_per_account"]
    assert t["value"].isna().all() and (t["note"] == "support_tickets absent").all()
    np.testing.assert_allclose(wide(w)["churn_unrecorded"], [0, 2 / 4])  # a and d


def test_decompositions_exact_on_demo(demo_small):
    w = wide(kpi_tree(demo_small, "2025-12-31", grain="quarter"))
    reasons = [f"churn_{r}" for r in [*REASON_OWNERS, "unrecorded"]]
    np.testing.assert_allclose(w[reasons].sum(axis=1), w["churn_rate"], atol=1e-12)
    np.testing.assert_allclose(1 + w["expansion_rate"] - w["contraction_rate"] - w["mrr_churn_rate"],
                               w["nrr"], atol=1e-12)
    assert (w["churn_unrecorded"] < 0.05).all()  # the demo records a reason for every first churn


def test_metric_tables_computed_once_per_memo():
    from csresearch.health.kpi import metric_table
    from csresearch.metrics.revenue import mrr_bridge

    src = DataSource.from_frames(frames())
    memo: dict = {}
    b = metric_table(src, "2025-02-28", "bridge", "month", memo=memo)
    pd.testing.assert_frame_equal(b, mrr_bridge(src.df("subscriptions"), "2025-02-28", "month"))
    assert metric_table(src, "2025-02-28", "bridge", "month", memo=memo) is b
    pd.testing.assert_frame_equal(kpi_tree(src, "2025-02-28", memo=memo), kpi_tree(src, "2025-02-28"))


def test_split_memo_bridges_and_renewals_equal_the_direct_ones(demo_small):
    """With the report's segment in the memo the bridge of all accounts is summed from the split
    one, and so are the renewal counts of every grain: the same frames, to the bit."""
    from csresearch.health.kpi import SPLIT, metric_table
    from csresearch.metrics.renewals import renewal_by_term, renewal_events, renewal_rates
    from csresearch.metrics.revenue import mrr_bridge

    subs, acc = demo_small.df("subscriptions"), demo_small.df("accounts")
    memo: dict = {SPLIT: "segment", ("df", "subscriptions"): subs, ("df", "accounts"): acc}
    for grain in ("quarter", "month"):  # the quarter first: its counts come from the monthly ones
        for by in (None, "segment"):
            got = metric_table(demo_small, "2025-12-31", "bridge", grain, by, memo)
            pd.testing.assert_frame_equal(got, mrr_bridge(subs, "2025-12-31", grain, by=by, accounts=acc),
                                          check_exact=True)
            got = metric_table(demo_small, "2025-12-31", "renewals", grain, by, memo)
            pd.testing.assert_frame_equal(got, renewal_rates(subs, "2025-12-31", grain, by=by, accounts=acc),
                                          check_exact=True)
        for level in ("account", "subscription"):
            pd.testing.assert_frame_equal(renewal_events(subs, "2025-12-31", grain, level, memo),
                                          renewal_events(subs, "2025-12-31", grain, level), check_exact=True)
    pd.testing.assert_frame_equal(renewal_by_term(subs, "2025-12-31", memo=memo),
                                  renewal_by_term(subs, "2025-12-31"), check_exact=True)
