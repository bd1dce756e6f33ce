"""goals.yaml: validation with named errors, actual against goal, the status in words."""

from __future__ import annotations

import pytest

from csresearch.errors import ConfigError
from csresearch.health.goals import Goal, load_goals, parse_goals
from csresearch.health.kpi import goal_actuals, goal_status


def test_packaged_demo_goals_load():
    g = load_goals()
    assert g.goals[0].metric == "churned_mrr" and g.goals[0].kind == "kgi"
    assert {x.metric for x in g.goals} >= {"renewal_rate", "logo_churn", "nrr", "active_usage_share"}


@pytest.mark.parametrize(("goal", "match"), [
    ({"metric": "arr", "at_least": 1}, "goal 1: metric must be one of"),
    ({"metric": "nrr", "at_least": 0.9, "at_most": 1.1}, r"goal 1 \(nrr\): give exactly one of at_least or at_most"),
    ({"metric": "nrr"}, "give exactly one"),
    ({"metric": "renewal_rate", "at_least": 88}, r"at_least is a fraction \(0.88 for 88 %\)"),
    ({"metric": "logo_churn", "at_most": "low"}, "at_most must be a number"),
    ({"metric": "logo_churn", "period": "week", "at_most": 0.02}, "period must be month or quarter"),
    ({"metric": "logo_churn", "at_most": 0.02, "segmnt": "smb"}, r"unknown key\(s\) segmnt"),
    ({"metric": "churned_mrr", "at_most": -5}, "money per period"),
])
def test_bad_goals_are_refused_naming_the_goal_and_key(goal, match):
    with pytest.raises(ConfigError, match=match):
        parse_goals({"goals": [goal]}, "g.yaml")


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="goals file not found"):
        load_goals(tmp_path / "nope.yaml")
    p = tmp_path / "g.yaml"
    p.write_text("goals: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_goals(p)
    with pytest.raises(ConfigError, match="repeats nrr for segment smb per month"):
        parse_goals({"goals": [{"metric": "nrr", "segment": "smb", "at_least": 1},
                               {"metric": "nrr", "segment": "smb", "at_least": 0.9}]})


def test_status_in_words():
    g = Goal("renewal_rate", "smb", "quarter", "at_least", 0.88)
    # 0.84 - 0.88 = -0.04 -> 4.0 points under
    assert goal_status(g, 0.84, "Q4 2025") == "SMB renewal rate 84.0 % in Q4 2025, 4.0 points under its 88.0 % goal: missed"
    c = Goal("logo_churn", "mid_market", "month", "at_most", 0.02)
    assert goal_status(c, 0.015, "December 2025") == ("Mid-market logo churn 1.5 % in December 2025, 0.5 points "
                                                      "under its 2.0 % limit: met")
    k = Goal("churned_mrr", "all", "quarter", "at_most", 750_000, "kgi")
    assert goal_status(k, 853_348, "Q4 2025") == ("All customers: churned MRR $853.3 k in Q4 2025, $103.3 k over "
                                                  "its $750.0 k limit: missed")
    assert "not measurable" in goal_status(g, float("nan"), "Q4 2025")


def test_actuals_match_the_bridge_and_unknown_segment_is_named(demo_small):
    from csresearch.metrics.revenue import mrr_bridge, renewal_rates

    g = parse_goals({"goals": [
        {"metric": "logo_churn", "segment": "smb", "period": "month", "at_most": 0.02},
        {"metric": "renewal_rate", "segment": "all", "period": "quarter", "at_least": 0.9},
        {"metric": "churned_mrr", "segment": "all", "period": "quarter", "at_most": 1e9},
    ]})
    t = goal_actuals(demo_small, "2025-12-31", g)
    subs, acc = demo_small.df("subscriptions"), demo_small.df("accounts")
    b = mrr_bridge(subs, "2025-12-31", "month", by="segment", accounts=acc)
    smb = b[(b["period_start"] == b["period_start"].max()) & (b["segment"] == "smb")].iloc[0]
    assert t.loc[0, "actual"] == pytest.approx(smb["logo_churn_rate"])
    assert t.loc[0, "met"] == (smb["logo_churn_rate"] <= 0.02)
    r = renewal_rates(subs, "2025-12-31", "quarter").iloc[-1]
    assert t.loc[1, "actual"] == pytest.approx(r["renewal_rate"]) and str(t.loc[1, "period"].date()) == "2025-10-01"
    q = mrr_bridge(subs, "2025-12-31", "quarter").iloc[-1]
    assert t.loc[2, "actual"] == pytest.approx(q["mrr_churned"]) and t.loc[2, "met"]
    bad = parse_goals({"goals": [{"metric": "nrr", "segment": "smbb", "at_least": 1}]}, "g.yaml")
    with pytest.raises(ConfigError, match="segment 'smbb' is not a value of accounts.segment; present: "
                                          "enterprise, mid_market, smb"):
        goal_actuals(demo_small, "2025-12-31", bad)
