"""The worklist: ranking by MRR at risk, queues, weekly capacity, new / waiting / called, reasons in words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csresearch.health.playbooks import Capacity, load_playbook, playbook_ctas
from csresearch.health.worklist import describe, rank_worklist

NOV = pd.Timestamp("2025-11-01")
P_CHURN = pd.Series({"red": 0.3, "yellow": 0.1, "green": 0.05})


def small_ctas() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [  # account, rule, priority, band, score
        ("a1", "turned_red", "high", "red", 20.0), ("a1", "usage_down", "medium", "red", 20.0),
        ("a2", "usage_down", "medium", "yellow", 50.0), ("a3", "turned_red", "high", "red", 30.0),
        ("a4", "turned_red", "high", "red", 10.0), ("a5", "usage_down", "medium", "red", 35.0),
        ("a6", "usage_down", "medium", "red", 5.0), ("a7", "no_nps", "low", "green", 80.0),
    ]
    c = pd.DataFrame(rows, columns=["account_id", "rule", "priority", "band", "score"])
    c = c.assign(cta=c["rule"] + " action", owner="customer success", reason=c["rule"] + " reason",
                 values="", period_start=NOV)
    acc = pd.DataFrame({
        "account_id": ["a1", "a2", "a3", "a4", "a5", "a6", "a7"],
        "mrr": [1000.0, 5000.0, 800.0, 500.0, 2000.0, 100.0, 10000.0],
        "csm_owner": ["Ann", "Ann", None, "Ann", "Ann", "Ann", "Bob"],
        "tier": ["low-touch", "high-touch", "low-touch", "tech-touch", "low-touch", "low-touch", "high-touch"],
    })
    return c, acc


def test_rank_by_revenue_at_risk_queues_and_capacity():
    c, acc = small_ctas()
    before = c.copy()
    wl = rank_worklist(c, acc, P_CHURN, Capacity(per_owner_per_week=2, pooled_per_week=0), previous=["a2"],
                       called=["a2"])
    pd.testing.assert_frame_equal(c, before)  # input untouched
    # risk = p(band) x MRR: a5 .3*2000=600, a2 .1*5000=500, a7 .05*10000=500 (tie: lower score
    # first, a2 50 < a7 80), a1 .3*1000=300, a3 .3*800=240, a4 .3*500=150, a6 .3*100=30
    assert wl["account_id"].tolist() == ["a5", "a2", "a7", "a1", "a3", "a4", "a6"]
    np.testing.assert_allclose(wl["revenue_at_risk"], [600, 500, 500, 300, 240, 150, 30])
    assert wl["rank"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    # one call per account: a1's two rules joined, the action of the high-priority one
    a1 = wl.set_index("account_id").loc["a1"]
    assert a1["rule"] == "turned_red, usage_down" and a1["cta"] == "turned_red action"
    assert a1["reason"] == "turned_red reason; usage_down reason"
    # queues: a3 has no CSM -> pooled; a4 is tech-touch -> digital although Ann owns it
    q = wl.set_index("account_id")
    assert q.loc["a3", "queue"] == "pooled" and q.loc["a3", "owner"] == "pooled queue"
    assert q.loc["a4", "queue"] == "digital" and q.loc["a4", "owner"] == "digital campaign"
    assert q.loc["a7", "owner"] == "Bob"
    # a2 was handed out in the weeks before: called, takes no capacity; Ann's others: a5, a1, a6 -> cap 2
    assert q.loc["a2", "status"] == "called" and not q.loc["a2", "within_capacity"]
    assert q["within_capacity"].to_dict() == {"a5": True, "a2": False, "a7": True, "a1": True,
                                              "a3": False, "a4": True, "a6": False}
    assert q.loc["a6", "queue_rank"] == 3
    # person queues within capacity: a5, a7, a1; digital (not capped): a4; capacity 2 CSMs x 2 + 0
    assert wl.attrs["worklist_size"] == 3 and wl.attrs["digital_size"] == 1
    assert wl.attrs["worklist_capacity"] == 4 and wl.attrs["new"] == 6 and wl.attrs["called"] == 1
    assert wl.attrs["waiting"] == 0


def test_a_call_beyond_capacity_waits_its_turn_and_is_served_later():
    # a5 was on last week's list but not handed out (beyond capacity): it is waiting, and still
    # takes this week's capacity in rank order (before, a call carried over was never served)
    c, acc = small_ctas()
    wl = rank_worklist(c, acc, P_CHURN, Capacity(per_owner_per_week=2, pooled_per_week=0), previous=["a5"])
    q = wl.set_index("account_id")
    assert q.loc["a5", "status"] == "waiting" and q.loc["a5", "within_capacity"]
    # Ann's queue: a5 (600), a2 (500) within capacity; a1 (300) next week once they are called
    assert q.loc[q["owner"] == "Ann", "within_capacity"].to_dict() == {"a5": True, "a2": True, "a1": False,
                                                                        "a6": False}
    nxt = rank_worklist(c, acc, P_CHURN, Capacity(per_owner_per_week=2, pooled_per_week=0),
                        previous=list(q.index), called=["a5", "a2", "a7"])
    n = nxt.set_index("account_id")
    assert n.loc[n["owner"] == "Ann", "within_capacity"].to_dict() == {"a5": False, "a2": False, "a1": True,
                                                                        "a6": True}


def test_calls_below_the_risk_floor_are_watched_not_called():
    # base rate 0.1, min_risk_ratio 2: a call needs p_churn >= 0.2; yellow (0.1) and green (0.05)
    # stay on the list as 'watch', take no capacity, and the next red call in the queue moves up
    c, acc = small_ctas()
    p = P_CHURN.copy()
    p.attrs["base_rate"] = 0.1
    wl = rank_worklist(c, acc, p, Capacity(per_owner_per_week=2, pooled_per_week=0, min_risk_ratio=2.0))
    q = wl.set_index("account_id")
    assert q.loc[["a2", "a7"], "status"].eq("watch").all() and not q.loc[["a2", "a7"], "within_capacity"].any()
    assert q.loc[q["owner"] == "Ann", "within_capacity"].to_dict() == {"a5": True, "a2": False, "a1": True,
                                                                        "a6": False}
    assert q.loc["a4", "within_capacity"]  # the digital campaign has no floor
    assert wl.attrs["watch"] == 2 and wl.attrs["risk_floor"] == pytest.approx(0.2)
    assert wl.attrs["worklist_size"] == 2 and wl.attrs["new"] == 5
    # ratio 0: no floor, as without a base rate
    off = rank_worklist(c, acc, p, Capacity(per_owner_per_week=2, pooled_per_week=0, min_risk_ratio=0))
    assert off.attrs["watch"] == 0 and off.attrs["worklist_size"] == 3


def test_rank_by_a_score_curve_and_the_contract_term():
    from csresearch.health.risk import ScoreChurnCurve

    c, acc = small_ctas()
    # a1 (score 20) churns like the curve says within the horizon; a5 (35) too; an account whose
    # term runs past the horizon (a5: renewal in 300 days) gets that cell's probability: 0
    rows = pd.DataFrame({"score": [0.0, 40, 100, 0, 100], "churned": [True, False, False, False, False],
                         "term_ends": ["within horizon"] * 3 + ["after horizon"] * 2})
    curve = ScoreChurnCurve().fit(rows)
    acc = acc.assign(days_to_renewal=[10, 10, 10, 10, 300, 10, 10])
    wl = rank_worklist(c, acc, curve, Capacity()).set_index("account_id")
    # within horizon: p(0) = 1, p(40) = 0, p(100) = 0, linear between: p(20) = 0.5, p(10) = 0.75
    assert wl.loc["a1", "p_churn"] == pytest.approx(0.5) and wl.loc["a4", "p_churn"] == pytest.approx(0.75)
    assert wl.loc["a5", "term_ends"] == "after horizon" and wl.loc["a5", "p_churn"] == 0
    assert wl.index[0] == "a1"  # 0.5 x 1000 = 500, the largest


def test_pooled_capacity_and_capped_digital():
    c, acc = small_ctas()
    acc = acc.assign(csm_owner=None)  # every account without a CSM -> pooled (a4 still digital)
    wl = rank_worklist(c, acc, P_CHURN, Capacity(per_owner_per_week=5, pooled_per_week=2, digital_per_week=0))
    pooled = wl.loc[wl["queue"] == "pooled"]
    assert len(pooled) == 6 and pooled["within_capacity"].sum() == 2
    assert pooled.loc[pooled["within_capacity"], "account_id"].tolist() == ["a5", "a2"]  # the two riskiest
    assert not wl.loc[wl["queue"] == "digital", "within_capacity"].any()
    assert wl.attrs["worklist_capacity"] == 2  # no CSM: 0 x 5 + 2


class _Src:
    """A stand-in source holding only nps_responses (describe reads answer days from it)."""

    def __init__(self, nps: pd.DataFrame):
        self.nps = nps

    def has(self, name: str) -> bool:
        return name == "nps_responses"

    def df(self, name: str) -> pd.DataFrame:
        return self.nps


def test_reasons_in_words_with_numbers_and_dates():
    pb = load_playbook({"rules": [
        {"name": "usage_and_nps", "when": [{"feature": "usage_change_pct", "op": "<=", "value": -30},
                                           {"feature": "nps_latest", "op": "<=", "value": 6}],
         "cta": "call", "owner": "cs"},
        {"name": "renewal", "when": [{"feature": "days_to_renewal", "op": "<=", "value": 60},
                                     {"feature": "band", "op": "==", "value": "red"}], "cta": "plan", "owner": "sales"},
    ]})
    feats = pd.DataFrame({"account_id": ["a"], "period_start": [NOV], "snapshot_date": [pd.Timestamp("2025-11-30")],
                          "usage_change_pct": [-40.2], "nps_latest": [3.0], "days_to_renewal": [45.0],
                          "band": ["red"], "band_prev": ["yellow"], "score": [31.6], "score_prev": [52.0]})
    ctas = pd.DataFrame({"account_id": ["a", "a"], "period_start": [NOV, NOV], "rule": ["usage_and_nps", "renewal"]})
    nps = pd.DataFrame({"account_id": ["a", "a", "a"], "score": [9, 3, 10],
                        "responded_at": pd.to_datetime(["2025-06-01 09:00", "2025-11-02 14:00", "2025-12-05 08:00"])})
    windows = {"baseline_months": 3, "ticket_window_months": 3, "ces_window_months": 6}
    out = describe(ctas, feats, pb, windows, _Src(nps))
    # the answer of 2025-12-05 is after the snapshot (2025-11-30): the latest on or before it is 2025-11-02
    assert out["reason"].tolist() == [
        "usage down 40 % vs the previous 3 months, NPS 3 on 2025-11-02",
        # 2025-11-30 + 45 days = 2026-01-14
        "renewal in 45 days (2026-01-14), health band red (score 32), yellow last month (52)",
    ]
    assert describe(ctas, feats, pb, windows)["reason"].iloc[0].endswith("NPS 3")  # no source: no date


def test_worklist_on_demo_new_from_last_week_capacity_and_first_screen(demo_small):
    from csresearch.reports import sections
    from csresearch.reports.context import ReportContext
    from csresearch.reports.sections.health_worklist import worklist_of

    as_of = "2025-12-31"
    ctx = ReportContext.from_source(demo_small, as_of, report="health")
    html = sections.health_summary(ctx).html
    wl = worklist_of(ctx)  # the same worklist as worklist(demo_small, as_of), memoised by the report
    # the report keeps the columns the worklists read and the months its sections read
    from csresearch.health.playbooks import load_playbook, playbook_features
    from csresearch.health.worklist import columns_read
    from csresearch.reports.sections.health_data import LOOKBACK_MONTHS

    hist, bands, pf = ctx.cache["health_scored"]
    full = playbook_features(demo_small, as_of)
    assert set(pf.columns) <= columns_read(load_playbook()) and len(pf) == len(full)
    pd.testing.assert_frame_equal(pf, full[pf.columns], check_exact=True)
    last = full["period_start"].max()
    assert set(hist["period_start"]) == {last, last - pd.DateOffset(months=1), last - pd.DateOffset(months=LOOKBACK_MONTHS)}
    assert bands["period_start"].nunique() == LOOKBACK_MONTHS + 1 and bands["period_start"].max() == last
    # the first screen: who to call this week, the figures recorded
    assert html.index("Who to call this week") < html.index("Accounts scored")
    assert f"{wl.attrs['worklist_size']} call" in html and "what to do" in html
    assert ">rank<" in html and ">account<" in html and ">account_id<" not in html  # place on the whole list
    assert ctx.summary["worklist_size"] == wl.attrs["worklist_size"]
    assert ctx.summary["worklist_capacity"] == wl.attrs["worklist_capacity"]
    assert 0 <= ctx.summary["band_flip_rate"] <= ctx.summary["band_flip_rate_raw"] <= 1
    cap = wl.attrs["capacity"]
    person = wl.loc[wl["within_capacity"] & wl["queue"].ne("digital")]
    assert (person.loc[person["queue"] == "owner"].groupby("owner").size() <= cap.per_owner_per_week).all()
    assert (person["queue"] == "pooled").sum() <= cap.pooled_per_week
    assert wl.attrs["worklist_size"] == len(person) <= wl.attrs["worklist_capacity"]
    assert not wl.loc[wl["within_capacity"], "status"].eq("called").any()
    assert wl["rank"].tolist() == list(range(1, len(wl) + 1))
    assert wl["revenue_at_risk"].dropna().is_monotonic_decreasing
    # "new": not on the list computed independently as of a week earlier (2025-12-24: November)
    before = set(playbook_ctas(demo_small, "2025-12-24")["account_id"].astype(str))
    called = set(wl.loc[wl["status"] == "called", "account_id"])
    waiting = set(wl.loc[wl["status"] == "waiting", "account_id"])
    watch = wl["status"] == "watch"  # below the risk floor: on the list, no call
    assert waiting == (set(wl["account_id"]) & before) - called - set(wl.loc[watch, "account_id"])
    floor = cap.min_risk_ratio * wl.attrs["curve"].base_rate_
    assert wl.attrs["risk_floor"] == pytest.approx(floor) and floor > 0
    assert (wl.loc[watch, "p_churn"] < floor).all() and not wl.loc[watch, "within_capacity"].any()
    assert (person["p_churn"].dropna() >= floor).all() and wl.attrs["watch"] == watch.sum()
    assert wl.attrs["cooldown_weeks"] == cap.cooldown_weeks
    # tech-touch accounts go to the digital campaign, never to a person
    from csresearch.health.segments import touch_tiers

    tiers = touch_tiers(demo_small, as_of).set_index("account_id")["tier"]
    assert (wl["account_id"].map(tiers).eq("tech-touch") == wl["queue"].eq("digital")).all()
    assert wl["reason"].str.len().gt(0).all()


def test_worklist_and_lift_from_later_features_are_the_same(demo_small):
    # the health report computes the features once as of as_of; the back-test reads its rows
    from csresearch.health.playbooks import playbook_features
    from csresearch.health.worklist import worklist, worklist_lift

    later = playbook_features(demo_small, "2025-12-31")
    for day in ("2025-06-30", "2025-05-20"):
        want, got = worklist(demo_small, day), worklist(demo_small, day, features=later)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert got.attrs["worklist_size"] == want.attrs["worklist_size"]
    r = worklist_lift(demo_small, "2025-06-30")
    # NaN rates (no call on the small demo's day) compare equal
    assert pd.Series(worklist_lift(demo_small, "2025-06-30", features=later)).equals(pd.Series(r))
    # the month's calls: this week's and those handed out in the cooldown weeks before, one per account
    wl = worklist(demo_small, "2025-06-30")
    handed = wl.attrs["handed_out"]
    assert set(handed["day"]) <= {"2025-06-02", "2025-06-09", "2025-06-16", "2025-06-23"}
    assert r["worklist"] <= r["month_calls"] <= r["worklist"] + handed["account_id"].nunique()


def test_reasons_of_several_rules_say_each_phrase_once():
    from csresearch.health.worklist import join_reasons

    got = join_reasons(["health band red (score 18), yellow last month (38)",
                        "renewal in 6 days (2026-01-06), health band red (score 18), yellow last month (38)",
                        "health band red (score 18)", "usage down 39 % vs the previous 3 months"])
    assert got == ("health band red (score 18), yellow last month (38); renewal in 6 days (2026-01-06); "
                   "usage down 39 % vs the previous 3 months")


def test_worklist_without_text_ranks_alike(demo_small):
    # the back-test reads who is called, not why: text=False skips the reasons, not the ranking
    from csresearch.health.worklist import worklist

    full, bare = worklist(demo_small, "2025-06-30"), worklist(demo_small, "2025-06-30", text=False)
    keep = ["rank", "account_id", "owner", "queue", "status", "within_capacity", "p_churn", "revenue_at_risk"]
    pd.testing.assert_frame_equal(bare[keep], full[keep], check_exact=True)
    assert full["reason"].str.len().gt(0).all() and bare["reason"].eq("").all()


def test_replayed_weeks_fire_the_rules_as_one_run_each(demo_small):
    """The weeks before read the rules once per snapshot month: each week's list equals the rules
    run on the snapshots up to its day for its own customers."""
    from csresearch.data.timeline import active_on_days
    from csresearch.health.playbooks import playbook_features, run_playbook
    from csresearch.health.worklist import _lists_before

    pb, as_of = load_playbook(None), "2025-12-31"
    feats = playbook_features(demo_small, as_of)
    got = _lists_before(feats, demo_small, as_of, pb, 1, 4)
    days = [d for d, _ in got]
    assert days == ["2025-12-03", "2025-12-10", "2025-12-17", "2025-12-24"]
    customers = active_on_days(demo_small, days)
    for day, ctas in got:
        want = run_playbook(feats.loc[feats["snapshot_date"] <= pd.Timestamp(day)], pb, 1,
                            customers=customers[day], values=False).assign(reason="", values="")
        assert len(want) > 0
        pd.testing.assert_frame_equal(ctas, want, check_exact=True)
