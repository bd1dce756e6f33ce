"""Trailing-12-month GRR/NRR and annualised logo churn, checked by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csresearch.metrics.annual import annualise, trailing_12m


def _subs(rows):
    return pd.DataFrame(
        [{"subscription_id": f"s{i}", "account_id": a, "start_date": pd.Timestamp(s),
          "end_date": pd.Timestamp(e) if e else pd.NaT, "mrr": m} for i, (a, s, e, m) in enumerate(rows)]
    )


# a: 100 all year, then 150 (expansion) from 2024-07-01
# b: 200, downgraded to 50 from 2024-04-01
# c: 100, churned 2024-03-01
# d: starts 2024-06-01 at 80 (new: not in the cohort of 2024-01-01)
# e: 40 until 2024-02-01, back at 60 from 2024-09-01 (reactivated)
SUBS = _subs([
    ("a", "2024-01-01", "2024-07-01", 100.0), ("a", "2024-07-01", None, 150.0),
    ("b", "2024-01-01", "2024-04-01", 200.0), ("b", "2024-04-01", None, 50.0),
    ("c", "2024-01-01", "2024-03-01", 100.0),
    ("d", "2024-06-01", None, 80.0),
    ("e", "2024-01-01", "2024-02-01", 40.0), ("e", "2024-09-01", None, 60.0),
])


def test_trailing_12m_by_hand():
    t = trailing_12m(SUBS, "2024-12-31")
    last = t.iloc[-1]
    # window 2024-01-01 -> 2025-01-01; cohort a, b, c, e with MRR 100 + 200 + 100 + 40 = 440
    assert last["window_start"] == pd.Timestamp("2024-01-01")
    assert last["accounts_12m_ago"] == 4 and last["mrr_12m_ago"] == pytest.approx(440)
    # kept, capped at the MRR then: a min(150, 100) = 100, b 50, c 0, e min(60, 40) = 40 -> 190 / 440
    assert last["grr_trailing_12m"] == pytest.approx(190 / 440)
    # NRR: a 150 + b 50 + c 0 + e 60 = 260 / 440 (d is new business, left out)
    assert last["nrr_trailing_12m"] == pytest.approx(260 / 440)
    # logos: a, b, e active on 2025-01-01 of 4 -> churn 1/4
    assert last["logo_churn_trailing_12m"] == pytest.approx(0.25)
    # earlier periods have fewer than 12 months of data before their end: NaN with a note
    assert t["grr_trailing_12m"].iloc[:-1].isna().all()
    assert t["note"].iloc[0] == "fewer than 12 months of data before the period end"


def test_input_untouched():
    before = SUBS.copy()
    trailing_12m(SUBS, "2024-12-31")
    pd.testing.assert_frame_equal(SUBS, before)


def test_annualise_by_hand():
    assert annualise(0.025) == pytest.approx(1 - 0.975 ** 12)
    assert annualise(0.025) == pytest.approx(0.262002, abs=1e-6)  # 0.975 ** 12 = 0.737998
    assert annualise(0.1, "quarter") == pytest.approx(1 - 0.9 ** 4)  # 0.3439
    assert annualise(0.0) == 0.0
    with pytest.raises(Exception, match="grain"):
        annualise(0.1, "week")


@settings(max_examples=50, deadline=None)
@given(st.floats(0, 1))
def test_annualised_churn_is_a_share_at_least_the_monthly(m):
    a = annualise(m)
    assert m - 1e-12 <= a <= 1 + 1e-12
    assert math.isclose(1 - a, (1 - m) ** 12, abs_tol=1e-12)


def test_grr_never_above_nrr_nor_one(demo_small):
    t = trailing_12m(demo_small.df("subscriptions"), "2025-12-31").dropna(subset=["grr_trailing_12m"])
    assert len(t) >= 12
    assert (t["grr_trailing_12m"] <= t["nrr_trailing_12m"] + 1e-12).all()
    assert (t["grr_trailing_12m"] <= 1).all()
