"""Touch tiers, the 9-segment map and transitions, on tiny frames worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csresearch.errors import ConfigError, DataQualityWarning, DataValidationError
from csresearch.health.segments import (
    ABSENT_NOTE,
    NEW,
    nine_segments,
    segment_map,
    segment_transitions,
    touch_tier,
    touch_tiers,
    transition_matrix,
)

JAN, FEB = pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")


def test_touch_tier_cut_points():
    arr = pd.Series([50_000.0, 49_999.0, 10_000.0, 9_999.0, 0.0, np.nan])
    assert touch_tier(arr).tolist() == ["high-touch", "low-touch", "low-touch", "tech-touch",
                                        "inactive", "inactive"]
    assert touch_tier(arr, 20_000, 5_000).tolist()[:4] == ["high-touch"] * 2 + ["low-touch"] * 2
    with pytest.raises(ConfigError, match="low_touch_min"):
        touch_tier(arr, 1_000, 5_000)


def test_touch_tiers_from_subscriptions():
    subs = pd.DataFrame({
        "subscription_id": ["s1", "s2", "s3", "s4", "s5"], "account_id": ["a1", "a1", "a2", "a3", "a4"],
        "start_date": pd.to_datetime(["2025-01-01", "2025-06-01", "2025-01-01", "2025-01-01", "2025-01-01"]),
        "end_date": pd.to_datetime([None, None, None, None, "2025-06-01"]),
        "mrr": [4000.0, 1000.0, 1000.0, 100.0, 9000.0]})
    t = touch_tiers(subs, "2025-12-31")
    # a1: 12 x (4000 + 1000) = 60,000 high; a2: 12,000 low; a3: 1,200 tech; a4 ended: inactive
    assert t["arr"].tolist() == [60_000, 12_000, 1_200, 0]
    assert t["tier"].tolist() == ["high-touch", "low-touch", "tech-touch", "inactive"]


def features() -> pd.DataFrame:
    rows = [  # account, month, active_at_snapshot, usage_per_day, nps_latest
        ("a", JAN, True, 5, 9), ("b", JAN, True, 1, 3), ("c", JAN, True, 3, None), ("d", JAN, False, 0, 8),
        ("f", JAN, True, 5, 9),
        ("a", FEB, True, 0, 9), ("b", FEB, False, 0, 3), ("c", FEB, True, 4, None), ("d", FEB, False, 0, 8),
        ("e", FEB, True, 1, 10), ("f", FEB, True, 2, 9),
    ]
    f = pd.DataFrame(rows, columns=["account_id", "period_start", "active_at_snapshot", "usage_per_day",
                                    "nps_latest"])
    f["segment"] = "smb"
    return f.astype({"nps_latest": "float64"})


def test_nine_segments_by_hand():
    lab = nine_segments(features(), "2025-01-15").set_index("account_id")
    # Jan, active usage 5, 1, 3, 5 -> mid-ranks a 3.5, b 1, c 2, f 3.5 of 4:
    # percentiles 100 (r - 0.5) / 4 = 75, 12.5, 37.5, 75; heavy >= 50 -> a, f loyal
    np.testing.assert_allclose(lab["usage_percentile"], [75, 12.5, 37.5, np.nan, 75])
    assert lab["segment9"].to_dict() == {
        "a": "loyal / prefers", "b": "general / does not prefer", "c": "general / unknown",
        "d": "lapsed / prefers", "f": "loyal / prefers"}
    m = segment_map(lab).set_index(["state", "preference"])
    assert m.loc[("loyal", "prefers"), "n"] == 2 and m.loc[("loyal", "prefers"), "share"] == 2 / 5
    assert m.loc[("general", "prefers"), "n"] == 0
    never = m[m["note"] == ABSENT_NOTE]
    assert len(never) == 3 and never["n"].isna().all()
    assert m["n"].sum() == 5


def test_transitions_counts_and_row_shares():
    # Feb active usage a 0, c 4, e 1, f 2 -> percentiles 12.5, 87.5, 37.5, 62.5: c, f loyal
    t = segment_transitions(features(), "2025-01", "2025-02")
    got = {(r.from_segment, r.to_segment): (r.n, r.share) for r in t.itertuples()}
    assert got == {
        ("loyal / prefers", "general / prefers"): (1, 0.5),  # a
        ("loyal / prefers", "loyal / prefers"): (1, 0.5),  # f
        ("general / does not prefer", "lapsed / does not prefer"): (1, 1.0),  # b churned
        ("general / unknown", "loyal / unknown"): (1, 1.0),  # c
        ("lapsed / prefers", "lapsed / prefers"): (1, 1.0),  # d
        (NEW, "general / prefers"): (1, 1.0),  # e started in Feb
    }
    mat = transition_matrix(t, "n")
    assert mat.loc["loyal / prefers"].sum() == 2
    np.testing.assert_allclose(transition_matrix(t, "share").sum(axis=1), 1.0)


def test_errors():
    with pytest.raises(DataValidationError, match="no row for the month 2025-03-01"):
        nine_segments(features(), "2025-03")
    with pytest.raises(ConfigError, match="must precede"):
        segment_transitions(features(), "2025-02", "2025-01")
    with pytest.raises(DataValidationError, match="nps_latest"):
        nine_segments(features().drop(columns="nps_latest"), "2025-01")


def test_on_demo(demo_small):
    from csresearch.features.account import account_month_features

    f = account_month_features(demo_small, "2025-12-31")
    before = f.copy()
    t = segment_transitions(f, "2025-06", "2025-12")
    pd.testing.assert_frame_equal(f, before)
    n_dec = int((f["period_start"] == "2025-12-01").sum())
    assert t["n"].sum() == n_dec
    assert set(nine_segments(f, "2025-12")["state"]) == {"loyal", "general", "lapsed"}


def test_missing_usage_is_said_not_silently_light():
    f = features().assign(usage_per_day=np.nan)
    with pytest.warns(DataQualityWarning, match="usage_per_day"):
        lab = nine_segments(f, "2025-01")
    assert set(lab.loc[lab.state != "lapsed", "state"]) == {"general"}
