"""Playbook rules: loading and refusals, firing on hand-made features, de-duplication."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csresearch.errors import ConfigError, DataValidationError
from csresearch.health.playbooks import (
    FEATURES,
    Capacity,
    load_playbook,
    playbook_ctas,
    playbook_features,
    run_playbook,
)
from csresearch.health.score import health_history, load_health_config

REPO = Path(__file__).resolve().parents[1]
JAN, FEB = pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")

RULES = {"rules": [
    {"name": "turned_red", "when": [{"feature": "band", "op": "==", "value": "red"},
                                    {"feature": "band_prev", "op": "in", "value": ["yellow", "green"]}],
     "cta": "call", "owner": "customer success", "priority": "high"},
    {"name": "usage_down", "when": [{"feature": "usage_change_pct", "op": "<=", "value": -30}],
     "cta": "check usage", "owner": "customer success", "priority": "medium"},
    {"name": "no_nps", "when": [{"feature": "nps_latest", "op": "is null"},
                                {"feature": "tier", "op": "not in", "value": ["tech-touch"]}],
     "cta": "ask for feedback", "owner": "support", "priority": "low"},
]}


def feats() -> pd.DataFrame:
    rows = [  # account, month, active_at_snapshot, band, band_prev, usage_change_pct, nps, tier
        ("a", JAN, True, "yellow", None, -40.0, 8.0, "tech-touch"),
        ("a", FEB, True, "red", "yellow", -30.0, 8.0, "tech-touch"),
        ("b", FEB, True, "red", "red", -29.9, np.nan, "high-touch"),
        ("c", FEB, True, "red", None, np.nan, np.nan, "tech-touch"),
        ("d", FEB, False, "red", "green", -90.0, np.nan, "inactive"),
    ]
    return pd.DataFrame(rows, columns=["account_id", "period_start", "active_at_snapshot", "band",
                                       "band_prev", "usage_change_pct", "nps_latest", "tier"])


def test_rules_fire_by_hand():
    f = feats()
    before = f.copy()
    c = run_playbook(f, RULES, months=1)
    pd.testing.assert_frame_equal(f, before)
    got = {(r.account_id, r.rule): r.values for r in c.itertuples()}
    # a: red after yellow -> turned_red; usage -30 <= -30 -> usage_down (b's -29.9 does not)
    # b: red after red -> no; nps missing and high-touch -> no_nps
    # c: band_prev missing -> a comparison with a missing value is false
    # d: not a customer at the snapshot -> not evaluated
    assert got == {("a", "turned_red"): "band=red; band_prev=yellow",
                   ("a", "usage_down"): "usage_change_pct=-30",
                   ("b", "no_nps"): "nps_latest=null; tier=high-touch"}
    assert c["rule"].tolist() == ["turned_red", "usage_down", "no_nps"]  # by priority
    assert c.loc[c.rule == "turned_red", ["owner", "priority", "cta"]].iloc[0].tolist() == [
        "customer success", "high", "call"]


def test_dedup_over_months_keeps_latest():
    c = run_playbook(feats(), RULES, months=2)
    row = c.loc[(c.account_id == "a") & (c.rule == "usage_down")]
    # fired in Jan (-40) and Feb (-30): one CTA, the latest values, first fired in Jan
    assert len(row) == 1
    assert row["values"].iloc[0] == "usage_change_pct=-30"
    assert row["first_fired"].iloc[0] == JAN and row["times_fired"].iloc[0] == 2
    assert not c.duplicated(["account_id", "rule"]).any()


def test_nothing_fires_gives_empty_frame():
    f = feats().assign(band="green", usage_change_pct=0.0, nps_latest=9.0)
    c = run_playbook(f, RULES)
    assert c.empty and "values" in c.columns


@pytest.mark.parametrize(("change", "match"), [
    (lambda r: r["rules"][0]["when"][0].update(feature="__import__('os')"), r"rules\[0\]\.when\[0\]\.feature"),
    (lambda r: r["rules"][0]["when"][0].update(op="=~"), r"rules\[0\]\.when\[0\]\.op"),
    (lambda r: r["rules"][1]["when"][0].update(value="low"), r"rules\[1\]\.when\[0\]\.value.*number"),
    (lambda r: r["rules"][0]["when"][1].update(value="yellow"), r"rules\[0\]\.when\[1\]\.value.*list"),
    (lambda r: r["rules"][2]["when"][0].update(value=3), r"rules\[2\]\.when\[0\]\.value.*absent"),
    (lambda r: r["rules"][1].update(priority="urgent"), r"rules\[1\]\.priority"),
    (lambda r: r["rules"][1].update(name="turned_red"), "used twice"),
    (lambda r: r["rules"][1].pop("owner"), r"rules\[1\]\.owner"),
    (lambda r: r["rules"][1].update(when=[]), r"rules\[1\]\.when"),
    (lambda r: r["rules"][1].update(action="x"), r"rules\[1\]\.action"),
    (lambda r: r.update(touch_tiers={"high_touch_min": 5, "low_touch_min": 10}), "touch_tiers.low_touch_min"),
    (lambda r: r.update(extra=1), "extra"),
    (lambda r: r.update(capacity={"per_owner_per_week": -1}), r"capacity\.per_owner_per_week.*whole number >= 0"),
    (lambda r: r.update(capacity={"pooled_per_week": 2.5}), r"capacity\.pooled_per_week"),
    (lambda r: r.update(capacity={"digital_per_week": "all"}), r"capacity\.digital_per_week"),
    (lambda r: r.update(capacity={"horizon_days": 0}), r"capacity\.horizon_days.*>= 1"),
    (lambda r: r.update(capacity={"per_csm": 5}), r"unknown key 'capacity\.per_csm'"),
    (lambda r: r.update(capacity={"horizon_days": 365, "lookback_days": 180}), r"capacity\.lookback_days"),
    (lambda r: r.update(capacity=5), r"'capacity' must be a mapping"),
    (lambda r: r.update(capacity={"min_risk_ratio": -1}), r"capacity\.min_risk_ratio' must be a number >= 0"),
    (lambda r: r.update(capacity={"min_risk_ratio": float("inf")}), r"capacity\.min_risk_ratio"),
    (lambda r: r.update(capacity={"min_risk_ratio": "2"}), r"capacity\.min_risk_ratio"),
    (lambda r: r.update(capacity={"min_risk_ratio": True}), r"capacity\.min_risk_ratio"),
])
def test_bad_playbook_refused(change, match):
    r = copy.deepcopy(RULES)
    change(r)
    with pytest.raises(ConfigError, match=match):
        load_playbook(r)


def test_missing_feature_column_and_months():
    with pytest.raises(DataValidationError, match="usage_change_pct"):
        run_playbook(feats().drop(columns="usage_change_pct"), RULES)
    with pytest.raises(ConfigError, match="months"):
        run_playbook(feats(), RULES, months=0)


def test_capacity_defaults_and_read():
    assert load_playbook(RULES).capacity == Capacity()  # absent: 5 per CSM, 10 pooled, digital not capped
    assert load_playbook({**RULES, "capacity": {"min_risk_ratio": 2.5}}).capacity.min_risk_ratio == 2.5
    cap = load_playbook({**RULES, "capacity": {"per_owner_per_week": 3, "digital_per_week": None}}).capacity
    assert (cap.per_owner_per_week, cap.pooled_per_week, cap.digital_per_week) == (3, 10, None)
    assert load_playbook().capacity.per_owner_per_week == 5  # the packaged default states it


def test_default_playbook_is_the_single_packaged_copy_and_valid():
    assert not (REPO / "data/playbooks.yaml").exists()  # one copy: the packaged default
    pb = load_playbook(REPO / "csresearch/configs/playbooks.yaml")
    assert {"band_turned_red", "early_detractor", "onboarding_overdue", "usage_down_30",
            "renewal_at_risk"} <= {r.name for r in pb.rules}


def test_on_demo(demo_small):
    f = playbook_features(demo_small, "2025-12-31")
    assert set(FEATURES) <= set(f.columns)  # every documented feature exists
    c = playbook_ctas(demo_small, "2025-12-31")
    assert len(c) > 0 and not c.duplicated(["account_id", "rule"]).any()
    assert (c["period_start"] == pd.Timestamp("2025-12-01")).all()
    red = c.loc[c.rule == "band_turned_red"]
    assert (red["band"] == "red").all()
    ren = c.loc[c.rule == "renewal_at_risk"]
    assert ren["values"].str.contains("tier=(?:high|low)-touch").all()


def test_packaged_default_outside_the_repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/playbooks.yaml here
    assert "configs/playbooks.yaml" in load_playbook().source


def test_features_with_segment_by_an_accounts_column(demo_small):
    # health_history takes a segment_by column from accounts; the playbook features must too
    cfg = load_health_config(REPO / "csresearch/configs/health.yaml")
    cfg = replace(cfg, segment_by="plan", weights_by_segment={})
    f = playbook_features(demo_small, "2025-12-31", cfg)
    h = health_history(demo_small, "2025-12-31", cfg)
    last = f.loc[f.period_start == "2025-12-01"].merge(h, on=["account_id", "period_start"], suffixes=("", "_h"))
    assert len(last) > 0
    pd.testing.assert_series_equal(last["score"], last["score_h"], check_names=False)
