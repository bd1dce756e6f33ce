"""Health, playbooks, segments and maturity evidence count the timeline's customers.

A hand-made source (as of 2025-12-31) with the cases that tell definitions apart:

* ``p2f``   paid 100 from 2025-01-01, free (MRR 0) from 2025-10-01: churned on 2025-10-01;
* ``f2p``   free from 2025-01-01, paid 200 from 2025-03-01 (open): a customer, first paid day Mar 1;
* ``free``  free only: never a customer;
* ``mid``   paid 150 from 2025-01-01 to 2025-12-17: active in December, churned mid-month;
* ``steady`` paid 300 from 2025-01-01 (open).

Customers on 2025-12-31 (``timeline.active_on``): f2p and steady.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from csresearch.data import timeline
from csresearch.data.sources import DataSource
from csresearch.errors import DataQualityWarning
from csresearch.health.explain import movers
from csresearch.health.playbooks import playbook_ctas, playbook_features, run_playbook
from csresearch.health.score import customers_on, health_history, latest
from csresearch.health.segments import nine_segments, touch_tiers
from csresearch.maturity.evidence import gather_evidence

AS_OF = "2025-12-31"
IDS = ["p2f", "f2p", "free", "mid", "steady"]
CUSTOMERS = {"f2p", "steady"}
NPS_ONLY = {"components": {"nps": {"weight": 1, "method": "thresholds", "cuts": [7, 9],
                                   "points": [0, 50, 100]}},
            "bands": {"red": [0, 50], "green": [50, 100]}}
EVERY_ROW = {"rules": [{"name": "any", "when": [{"feature": "mrr", "op": ">=", "value": 0}],
                        "cta": "Say hello", "owner": "customer success"}]}


@pytest.fixture(scope="module")
def src() -> DataSource:
    accounts = pd.DataFrame({"account_id": IDS, "name": IDS, "segment": "smb", "plan": "pro",
                             "csm_owner": "ann", "created_at": pd.Timestamp("2024-12-01")})
    subs = pd.DataFrame(
        [("p2f", "2025-01-01", "2025-10-01", 100.0), ("p2f", "2025-10-01", None, 0.0),
         ("f2p", "2025-01-01", "2025-03-01", 0.0), ("f2p", "2025-03-01", None, 200.0),
         ("free", "2025-01-01", None, 0.0),
         ("mid", "2025-01-01", "2025-12-17", 150.0),
         ("steady", "2025-01-01", None, 300.0)],
        columns=["account_id", "start_date", "end_date", "mrr"])
    subs.insert(0, "subscription_id", [f"s{i}" for i in range(len(subs))])
    subs["start_date"] = pd.to_datetime(subs["start_date"])
    subs["end_date"] = pd.to_datetime(subs["end_date"])
    # an NPS answer from everyone in November (10) and December (mid drops to 2, the others 10)
    nps = pd.DataFrame({"account_id": IDS * 2,
                        "responded_at": pd.to_datetime(["2025-11-05"] * 5 + ["2025-12-05"] * 5),
                        "score": [10] * 5 + [10, 10, 10, 2, 10]})
    return DataSource.from_frames({"accounts": accounts, "subscriptions": subs, "nps_responses": nps})


@pytest.fixture(scope="module")
def hist(src):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return health_history(src, AS_OF, NPS_ONLY)


def test_the_timeline_says_who_is_a_customer(src):
    assert set(customers_on(src, AS_OF)) == CUSTOMERS
    assert timeline.active_customers(src, AS_OF) == 2 and timeline.free_only_accounts(src, AS_OF) == 1


def test_history_scores_every_active_month_but_the_current_view_only_customers(hist, src):
    dec = hist.loc[hist["period_start"] == "2025-12-01", "account_id"]
    # mid overlaps December (paid to Dec 17): scored; p2f's last paid month is September;
    # free never paid: never scored
    assert set(dec) == {"f2p", "mid", "steady"}
    assert hist.groupby("account_id").size().to_dict() == {"f2p": 10, "mid": 12, "p2f": 9, "steady": 12}
    # f2p's first month is March (first paid day), not January (its free start)
    assert hist.loc[hist.account_id == "f2p", "period_start"].min() == pd.Timestamp("2025-03-01")
    ids = customers_on(src, AS_OF)
    assert set(latest(hist, ids)["account_id"]) == CUSTOMERS
    assert len(latest(hist, ids)) == timeline.active_customers(src, AS_OF)
    # mid's NPS fell 10 -> 2 (100 -> 0 points): the largest drop, but it churned on Dec 17
    assert movers(hist)["account_id"].iloc[0] == "mid"  # the test can fail
    m = movers(hist, customers=ids)
    assert set(m["account_id"]) == CUSTOMERS and (m["change"] == 0).all()


def test_features_follow_the_timeline(src):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        f = playbook_features(src, AS_OF, NPS_ONLY).set_index(["account_id", "period_start"])
    # f2p: tenure from the first paid day, Mar 1 -> Dec 31 = 305 days (not 364 from Jan 1)
    assert f.loc[("f2p", pd.Timestamp("2025-12-01")), "tenure_days"] == 305
    # p2f: a customer on Sep 30 (paid to Oct 1), not on Oct 31 (free plan: MRR 0)
    assert f.loc[("p2f", pd.Timestamp("2025-09-01")), "active_at_snapshot"]
    assert not f.loc[("p2f", pd.Timestamp("2025-10-01")), ["active", "active_at_snapshot"]].any()
    # mid: active in December (overlap), not a customer on its snapshot Dec 31
    assert f.loc[("mid", pd.Timestamp("2025-12-01")), "active"]
    assert not f.loc[("mid", pd.Timestamp("2025-12-01")), "active_at_snapshot"]
    with pytest.warns(DataQualityWarning, match="usage_per_day"):  # no usage table: all general
        lab = nine_segments(f.reset_index(), "2025-12").set_index("account_id")["state"]
    assert lab[lab != "lapsed"].index.tolist() == sorted(CUSTOMERS)
    tiers = touch_tiers(src, AS_OF).set_index("account_id")
    # ARR = 12 x paid MRR on as_of: f2p 2,400, steady 3,600; p2f, free and mid inactive
    assert tiers["arr"].to_dict() == {"f2p": 2400.0, "free": 0.0, "mid": 0.0, "p2f": 0.0, "steady": 3600.0}
    assert set(tiers.index[tiers["tier"] != "inactive"]) == CUSTOMERS


def test_playbooks_only_for_customers_on_as_of(src):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        ctas = playbook_ctas(src, AS_OF, EVERY_ROW, NPS_ONLY, months=3)
        f = playbook_features(src, AS_OF, NPS_ONLY)
    assert set(ctas["account_id"]) == CUSTOMERS and ctas.attrs["active_customers"] == 2
    # without the as_of filter, mid fires on its October and November snapshots (a customer then)
    assert set(run_playbook(f, EVERY_ROW, months=3)["account_id"]) == CUSTOMERS | {"mid"}


def test_maturity_evidence_counts_the_timeline(src):
    ev = gather_evidence(src, AS_OF)
    assert "of 2 active accounts" in ev.loc["customer_master", "evidence"]
    # churned in the year to as_of: p2f (paid-to-free on Oct 1; its free plan is still open)
    # and mid (Dec 17) = 2; f2p's free start is not a churn
    assert "2 accounts churned" in ev.loc["cs_management", "evidence"]
