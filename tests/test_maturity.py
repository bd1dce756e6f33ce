"""Tests of csresearch.maturity: questionnaire, answers, level rule, evidence, gaps, changes, radar."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from csresearch.data.sources import DataSource  # noqa: E402
from csresearch.errors import ConfigError, DataValidationError  # noqa: E402
from csresearch.maturity import (  # noqa: E402
    Answers,
    assess,
    compare,
    gather_evidence,
    load_answers,
    load_questionnaire,
    overall_level,
    radar,
    template,
)

REPO = Path(__file__).resolve().parents[1]
AS_OF = "2025-12-31"
Q = load_questionnaire()
KEYS = Q.keys


def levels(default: int, **overrides: int) -> dict[str, int]:
    return {k: overrides.get(k, default) for k in KEYS}


# -- a small data source, worked out by hand ----------------------------------------------------
# Accounts a1..a4 active on 2025-12-31 (a4 started 2025-06-01, the others 2024-01-01);
# a5 churned on 2025-06-30 (its only subscription ended then).
def frames(usage: bool = True) -> dict[str, pd.DataFrame]:
    ids = ["a1", "a2", "a3", "a4", "a5"]
    accounts = pd.DataFrame({
        "account_id": ids, "name": ids, "segment": ["smb"] * 5,
        "plan": ["pro", "pro", "pro", "pro", None], "csm_owner": ["x", "x", None, None, None],
        "created_at": pd.to_datetime(["2024-01-01"] * 3 + ["2025-06-01", "2024-01-01"]),
    })
    subs = pd.DataFrame({
        "subscription_id": [f"s{i}" for i in range(1, 6)], "account_id": ids,
        "start_date": pd.to_datetime(["2024-01-01"] * 3 + ["2025-06-01", "2024-01-01"]),
        "end_date": pd.to_datetime([None, None, None, None, "2025-06-30"]),
        "mrr": [100.0] * 5,
    })
    out = {"accounts": accounts, "subscriptions": subs}
    if usage:
        # a1, a2 on the last day, a3 on 2025-12-02 (29 days before as_of: inside the 30-day
        # window 2025-12-02..2025-12-31), a4 on 2025-12-01 (outside) -> 3 of 4 active = 75%.
        out["usage_events"] = pd.DataFrame({
            "account_id": ["a1", "a2", "a3", "a4"],
            "occurred_at": pd.to_datetime(["2025-12-31 10:00", "2025-12-31 23:59", "2025-12-02 00:00",
                                           "2025-12-01 23:59"]),
            "event_type": ["login"] * 4,
        })
    return out


@pytest.fixture
def src() -> DataSource:
    return DataSource.from_frames(frames())


# -- questionnaire ----------------------------------------------------------------------------
def test_questionnaire_has_four_levels_and_eleven_capabilities_with_criteria():
    assert [lv.name for lv in Q.levels] == ["Reactive", "Insights & Actions", "Outcomes", "Transform"]
    assert len(KEYS) == 11 and len(set(KEYS)) == 11
    for cap in Q.capabilities:
        assert sorted(cap.criteria) == [1, 2, 3, 4] and all(cap.criteria.values())
        assert cap.name_ja and cap.weight > 0


@pytest.mark.parametrize("value,expected", [
    (1, 1), ("3", 3), (4.0, 4), ("insights_actions", 2), ("Insights & Actions", 2),
    ("OUTCOMES", 3), ("transform", 4), (5, None), (0, None), ("great", None), (True, None),
])
def test_parse_level_spellings(value, expected):
    assert Q.parse_level(value) == expected


def test_bad_questionnaire_is_refused_naming_the_key(tmp_path):
    p = tmp_path / "q.yaml"
    text = (REPO / "csresearch" / "configs" / "maturity.yaml").read_text().replace("weight: 3", "weight: -1", 1)
    p.write_text(text)
    with pytest.raises(ConfigError, match=r"capabilities\.product_usage\.weight"):
        load_questionnaire(p)


# -- the level rule ----------------------------------------------------------------------------
def test_all_reactive_is_reactive():
    a = assess(levels(1), Q)
    assert (a.overall, a.overall_name) == (1, "Reactive")
    # target 2: every capability gets its level-2 criteria, one step each here
    assert a.target == 2
    assert len(a.gaps) == sum(len(c.criteria[2]) for c in Q.capabilities) == 11
    # shortfall 1 for all, so the order is by weight (3 first), then questionnaire order
    assert a.gaps["capability"].tolist()[:3] == ["product_usage", "data_integration", "health_score"]
    assert a.gaps["capability"].tolist()[-2:] == ["customer_community", "knowledge_base"]  # weight 1
    assert a.gaps["weight"].is_monotonic_decreasing
    assert "more than half" in a.rule and "6 of 11" in a.rule


def test_mixed_levels_majority_decides():
    six_at_3 = KEYS[:6]
    # 6 of 11 at 3 (more than half), 5 at 2 (one below): overall 3
    assert assess(levels(2, **dict.fromkeys(six_at_3, 3)), Q).overall == 3
    # 5 of 11 at 3 is not more than half: overall 2
    assert assess(levels(2, **dict.fromkeys(KEYS[:5], 3)), Q).overall == 2


def test_one_capability_far_behind_pulls_overall_down():
    a = assess(levels(3, customer_community=1), Q)
    # 10 of 11 reach 3, but community lies two levels below 3 -> 3 fails; 2 holds
    assert a.overall == 2 and a.target == 3
    # the gap list is community's criteria of levels 2 and 3 (1 + 1 criteria)
    assert a.gaps["to_level"].tolist() == [2, 3]
    assert set(a.gaps["capability"]) == {"customer_community"}


def test_gap_priority_shortfall_then_weight():
    lv = levels(2, product_usage=3, health_score=1, knowledge_base=1)
    a = assess(lv, Q)
    assert a.overall == 2 and a.target == 3
    g = a.gaps
    # shortfall 2 first: health_score (weight 3) levels 2, 3; then knowledge_base (weight 1)
    # 2 and 3 (two level-3 criteria); then shortfall 1: data_integration (weight 3)
    assert g["capability"].tolist()[:6] == ["health_score"] * 2 + ["knowledge_base"] * 3 + ["data_integration"]
    assert g["to_level"].tolist()[:5] == [2, 3, 2, 3, 3]
    assert g["priority"].tolist() == list(range(1, len(g) + 1))
    # product_usage is at the target already: no step
    assert "product_usage" not in set(g["capability"])
    # the steps are the questionnaire's criteria of the next level
    assert g.loc[0, "step"] == Q.capability("health_score").criteria[2][0]


def test_all_transform_has_no_gap():
    a = assess(levels(4), Q)
    assert a.overall == 4 and a.gaps.empty
    assert "no gap" in a.to_text()


@given(st.lists(st.integers(1, 4), min_size=11, max_size=11), st.integers(0, 10))
@settings(max_examples=200, deadline=None, derandomize=True)
def test_overall_lies_between_min_and_min_plus_one_and_is_monotone(vals, i):
    o = overall_level(dict(zip(KEYS, vals, strict=True)))
    assert min(vals) <= o <= min(vals) + 1
    raised = list(vals)
    raised[i] = min(4, raised[i] + 1)
    assert overall_level(dict(zip(KEYS, raised, strict=True))) >= o


# -- answers and refusals ---------------------------------------------------------------------
def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def yaml_answers(d: dict) -> str:
    return "answers:\n" + "".join(f"  {k}: {v}\n" for k, v in d.items())


def test_unknown_capability_is_refused(tmp_path):
    d = levels(2) | {"usage_visibility": 3}
    p = write(tmp_path, "a.yaml", yaml_answers(d))
    with pytest.raises(DataValidationError, match=r"(?s)a\.yaml.*\n- unknown capability 'usage_visibility'; the capabilities are: customer_master, .*Fix: rename"):
        load_answers(p)


def test_unknown_level_is_refused(tmp_path):
    p = write(tmp_path, "a.yaml", yaml_answers(levels(2, health_score="Excellent")))
    with pytest.raises(DataValidationError, match=r"capability 'health_score': unknown level 'Excellent'; allowed: 1\.\.4, or a key \(reactive, insights_actions, outcomes, transform\)"):
        load_answers(p)
    p = write(tmp_path, "b.yaml", yaml_answers(levels(2, health_score=5)))
    with pytest.raises(DataValidationError, match="unknown level 5"):
        load_answers(p)


def test_missing_capability_is_refused(tmp_path):
    d = levels(2)
    del d["roi_visibility"], d["customer_community"]
    p = write(tmp_path, "a.yaml", yaml_answers(d))
    with pytest.raises(DataValidationError, match=r"(?s)a\.yaml.*missing capability answer\(s\): roi_visibility, customer_community.*Fix: add a level"):
        load_answers(p)


def test_all_problems_are_reported_at_once(tmp_path):
    d = levels(2, health_score="x") | {"foo": 1}
    del d["knowledge_base"]
    p = write(tmp_path, "a.yaml", yaml_answers(d))
    with pytest.raises(DataValidationError) as e:
        load_answers(p)
    msg = str(e.value)
    assert "'foo'" in msg and "'health_score'" in msg and "knowledge_base" in msg
    assert "csresearch maturity template" in msg


def test_answers_without_answers_key_and_missing_file(tmp_path):
    with pytest.raises(DataValidationError, match="needs a mapping 'answers:'"):
        load_answers(write(tmp_path, "a.yaml", "health_score: 2\n"))
    with pytest.raises(ConfigError, match="answers file not found"):
        load_answers(tmp_path / "nope.yaml")


def test_csv_answers_and_refusals(tmp_path):
    rows = "".join(f"{k},{2},\n" for k in KEYS)
    a = load_answers(write(tmp_path, "a.csv", "# comment\ncapability,level,note\n" + rows))
    assert a.levels == levels(2)
    with pytest.raises(DataValidationError, match=r"(?s)a2\.csv.*unknown level 'seven'"):
        load_answers(write(tmp_path, "a2.csv", "capability,level\n" + rows.replace("health_score,2", "health_score,seven")))
    with pytest.raises(DataValidationError, match="answered more than once: product_usage"):
        load_answers(write(tmp_path, "a3.csv", "capability,level\n" + rows + "product_usage,3,\n"))


def test_blank_template_is_refused_and_filled_template_loads(tmp_path):
    blank = template()
    for k in KEYS:
        assert f"  {k}:\n" in blank
    assert Q.capability("health_score").criteria[3][0] in blank  # criteria as comments
    with pytest.raises(DataValidationError, match="missing capability answer"):
        load_answers(write(tmp_path, "blank.yaml", blank))
    filled = blank
    for k in KEYS:
        filled = filled.replace(f"  {k}:\n", f"  {k}: outcomes\n")
    assert load_answers(write(tmp_path, "filled.yaml", filled)).levels == levels(3)
    csv = template(fmt="csv")
    with pytest.raises(DataValidationError, match="missing capability answer"):
        load_answers(write(tmp_path, "blank.csv", csv))
    filled_csv = csv
    for k in KEYS:
        filled_csv = filled_csv.replace(f"\n{k},,", f"\n{k},1,")
    assert load_answers(write(tmp_path, "filled.csv", filled_csv)).levels == levels(1)


def test_demo_answers_show_an_improvement():
    cur = load_answers(REPO / "data" / "maturity_answers.yaml")
    prev = load_answers(REPO / "data" / "maturity_answers_previous.yaml")
    a = assess(cur, Q, previous=prev)
    assert a.overall > overall_level(prev.levels)
    assert (a.changes["change"] >= 0).all() and a.changes["change"].sum() > 0
    assert a.organisation.startswith("Example SaaS")


# -- evidence -----------------------------------------------------------------------------------
def test_no_usage_events_caps_an_outcomes_answer(src):
    no_usage = DataSource.from_frames(frames(usage=False))
    ev = gather_evidence(no_usage, AS_OF)
    assert ev.loc["product_usage", "evidence_cap"] == 1
    assert "no usage_events table" in ev.loc["product_usage", "evidence"]
    a = assess(levels(2, product_usage="Outcomes"), Q, evidence=ev)
    row = a.levels.set_index("capability").loc["product_usage"]
    assert (row["answer"], row["level"]) == (3, 1)
    d = a.disagreements.set_index("capability")
    assert "product_usage" in d.index
    assert "allows at most level 1" in d.loc["product_usage", "kind"]
    assert "disagree" in a.to_text() and "no usage_events table" in a.to_text()


def test_usage_events_outside_the_window_cap_too():
    f = frames()
    f["usage_events"]["occurred_at"] = pd.Timestamp("2025-10-01")
    ev = gather_evidence(DataSource.from_frames(f), AS_OF)
    assert ev.loc["product_usage", "evidence_cap"] == 1
    assert "no usage events in the 30 days to 2025-12-31" in ev.loc["product_usage", "evidence"]


def test_usage_coverage_by_hand(src):
    ev = gather_evidence(src, AS_OF)
    # 3 of 4 active accounts (a1, a2, a3; a4's event is a day before the window) = 75% >= 50%
    text = ev.loc["product_usage", "evidence"]
    assert "usage events for 75% of 4 active accounts in the 30 days to 2025-12-31" in text
    assert "latest event on as_of" in text
    assert ev.loc["product_usage", "evidence_level"] == 2
    assert pd.isna(ev.loc["product_usage", "evidence_cap"])
    # customer master: 2 of 4 active have an owner (50%), 4 of 4 a plan -> shows 2 only
    assert "50% have an owner" in ev.loc["customer_master", "evidence"]
    assert ev.loc["customer_master", "evidence_level"] == 2
    # a5 churned 2025-06-30, no churn_reasons table -> CS management capped at 2
    assert ev.loc["cs_management", "evidence_cap"] == 2
    assert "1 accounts churned" in ev.loc["cs_management", "evidence"]
    # only 1 activity table of 9 -> data integration capped at 1
    assert ev.loc["data_integration", "evidence_cap"] == 1
    # ROI, community, knowledge base: not measured
    for k in ("roi_visibility", "customer_community", "knowledge_base"):
        assert pd.isna(ev.loc[k, "evidence_cap"]) and "not measured" in ev.loc[k, "evidence"]


def test_sparse_usage_caps_at_two():
    f = frames()
    f["usage_events"] = f["usage_events"].iloc[[0]]  # only a1: 1 of 4 = 25% < 50%
    ev = gather_evidence(DataSource.from_frames(f), AS_OF)
    assert ev.loc["product_usage", "evidence_cap"] == 2
    assert "25% of 4" in ev.loc["product_usage", "evidence"]


def test_nps_coverage_and_churn_reasons_by_hand():
    f = frames()
    # NPS from a1, a2 in 2025 (2 of 4 active = 50%) and a CES answer -> feedback shows 3
    f["nps_responses"] = pd.DataFrame({"account_id": ["a1", "a2", "a2"], "score": [9, 3, 7],
                                       "responded_at": pd.to_datetime(["2025-03-01", "2025-05-01", "2025-11-01"])})
    f["ces_responses"] = pd.DataFrame({"account_id": ["a3"], "score": [6],
                                       "responded_at": pd.to_datetime(["2025-09-01"])})
    f["churn_reasons"] = pd.DataFrame({"account_id": ["a5"], "churned_at": pd.to_datetime(["2025-06-30"]),
                                       "reason": ["price"]})
    ev = gather_evidence(DataSource.from_frames(f), AS_OF)
    assert "NPS answers from 50% of 4 active accounts (3 answers)" in ev.loc["customer_feedback", "evidence"]
    assert ev.loc["customer_feedback", "evidence_level"] == 3
    assert ev.loc["cs_management", "evidence_level"] == 3  # 1 of 1 churned has a reason
    assert "100% of 1 accounts that churned" in ev.loc["cs_management", "evidence"]
    # answered lower than the data shows: flagged, not raised
    a = assess(levels(2, customer_feedback=1), Q, evidence=ev)
    row = a.levels.set_index("capability").loc["customer_feedback"]
    assert row["level"] == 1
    assert "data shows level 3" in a.disagreements.set_index("capability").loc["customer_feedback", "kind"]


def test_optional_inputs_from_other_modules(src):
    ev = gather_evidence(src, AS_OF, health_concordance=0.55, health_interval_days=7, cta_closed_share=0.3,
                         cta_count=40)
    assert ev.loc["health_score", "evidence_level"] == 3  # weekly
    assert ev.loc["health_score", "evidence_cap"] == 3  # 0.55 < 0.70: not validated
    assert "concordance of the health score with churn 0.55" in ev.loc["health_score", "evidence"]
    assert ev.loc["csm_workflow", "evidence_cap"] == 2  # 30% < 50% CTAs closed
    assert "30% of 40 calls-to-action closed" in ev.loc["csm_workflow", "evidence"]
    a = assess(levels(4), Q, evidence=ev)
    assert a.levels.set_index("capability").loc["health_score", "level"] == 3
    # without those inputs the health score is simply not measured here (no csm_sentiment)
    ev0 = gather_evidence(src, AS_OF)
    assert pd.isna(ev0.loc["health_score", "evidence_cap"])
    assert "not measured" in ev0.loc["health_score", "evidence"]


def test_validated_score_that_drives_ctas_shows_level_four(src):
    ev = gather_evidence(src, AS_OF, health_concordance=0.74, health_interval_days=7, cta_closed_share=0.9)
    assert ev.loc["health_score", "evidence_level"] == 4


def test_evidence_input_errors(src):
    with pytest.raises(ConfigError, match="as_of must be an ISO date"):
        gather_evidence(src, "31/12/2025")
    with pytest.raises(ConfigError, match="health_concordance must lie in"):
        gather_evidence(src, AS_OF, health_concordance=1.5)


def test_assess_leaves_evidence_untouched(src):
    ev = gather_evidence(src, AS_OF)
    before = ev.copy()
    assess(levels(3), Q, evidence=ev)
    pd.testing.assert_frame_equal(ev, before)


# -- comparing assessments ----------------------------------------------------------------------
def test_compare_two_assessments():
    prev = assess(levels(1, product_usage=2), Q)
    cur = assess(levels(2, product_usage=3, customer_community=1), Q, previous=prev)
    ch = cur.changes.set_index("capability")
    assert ch.loc["product_usage", ["previous", "current", "change"]].tolist() == [2, 3, 1]
    assert ch.loc["customer_community", "change"] == 0
    assert ch.loc["health_score", "change"] == 1
    # overall: previous 1 (only 1 of 11 at 2), current 2 (10 of 11 at >= 2, min 1) -> +1
    assert ch.loc["overall", ["previous", "current", "change"]].tolist() == [1, 2, 1]
    assert cur.previous_basis == "as assessed"
    assert list(cur.table().columns[-2:]) == ["previous", "change"]
    # the same with previous answers instead of an assessment
    ans = Answers(levels(1, product_usage=2))
    assert compare(ans.levels, cur.level_map, Q).equals(cur.changes)
    assert assess(levels(2), Q).changes is None


# -- radar ----------------------------------------------------------------------------------------
def test_radar_is_polar_labelled_titled():
    prev = assess(levels(1), Q)
    cur = assess(levels(2, health_score=3), Q, previous=prev)
    ax = radar(cur)
    assert ax.name == "polar"
    assert len(ax.get_xticklabels()) == 11
    assert "Health score" in " ".join(t.get_text() for t in ax.get_xticklabels())
    assert "overall level 2 Insights & Actions" in ax.get_title()
    assert len(ax.get_lines()) == 2  # current and previous (from .changes)
    plt.close(ax.figure)
    _, ax2 = plt.subplots(subplot_kw={"projection": "polar"})
    assert radar(cur, previous=prev, ax=ax2) is ax2
    plt.close(ax2.figure)
    _, flat = plt.subplots()
    with pytest.raises(ValueError, match="polar"):
        radar(cur, ax=flat)
    plt.close(flat.figure)


def test_assess_text_has_no_na_marker_nor_code_plural():
    """`maturity assess` text: a level the data does not measure reads 'n/a', headers are words,
    '1 capability' is singular (issue 13, item 4)."""
    import pandas as pd

    from csresearch.maturity.assess import TEXT_HEADERS, _text_table

    df = pd.DataFrame({"capability": ["a", "b"], "name": ["A", "B"], "answer": [3, 2],
                       "evidence_cap": pd.array([pd.NA, 2], dtype="Int64"), "change": [1, 0]})
    text = _text_table(df, TEXT_HEADERS)
    assert "<NA>" not in text and "n/a" in text and "data allows at most" in text
    assert "+1" in text and "evidence_cap" not in text
