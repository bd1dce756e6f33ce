"""The worklist's churn probability: term of the contract, outcome rows, band rates, the score curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csresearch.data.sources import DataSource
from csresearch.health.risk import (
    AFTER,
    WITHIN,
    ScoreChurnCurve,
    band_churn_rates,
    outcome_rows,
    term_ends,
)


def test_term_ends_unknown_means_the_contract_may_end():
    rows = pd.DataFrame({"days_to_renewal": [0, 180, 181, np.nan]})
    assert term_ends(rows, 180).tolist() == [WITHIN, WITHIN, AFTER, WITHIN]
    assert term_ends(pd.DataFrame({"x": [1]}), 180).tolist() == [WITHIN]  # no column: no term known


def test_score_curve_is_a_decreasing_isotonic_fit_by_hand():
    # scores 10: 2 of 3 churned, 30: 1 of 1, 50: 0 of 2, 90: 1 of 2 -> raw 0.667, 1, 0, 0.5 is not
    # decreasing: pooling the violators (weights = rows) gives 10,30: 3 of 4 = 0.75; 50,90: 1 of 4 = 0.25
    rows = pd.DataFrame({"score": [10.0, 10, 10, 30, 50, 50, 90, 90],
                         "churned": [True, True, False, True, False, False, True, False],
                         "term_ends": WITHIN, "segment": "smb"})
    before = rows.copy()
    c = ScoreChurnCurve().fit(rows)
    pd.testing.assert_frame_equal(rows, before)
    x, y = c.curves_[(WITHIN, "smb")]
    assert x.tolist() == [10, 30, 50, 90]
    np.testing.assert_allclose(y, [0.75, 0.75, 0.25, 0.25])
    items = pd.DataFrame({"score": [0.0, 40, 100, np.nan, 40], "term_ends": [WITHIN] * 4 + [AFTER],
                          "segment": "smb"})
    # constant beyond the ends, linear between 30 and 50; no score or an unseen cell: NaN
    np.testing.assert_allclose(c.predict(items), [0.75, 0.5, 0.25, np.nan, np.nan])
    assert c.summary[["rows", "churned"]].iloc[0].tolist() == [8, 4]


def test_score_curve_cells_by_segment_and_term():
    rows = pd.DataFrame({"score": [10.0, 90, 10, 90], "churned": [True, False, False, False],
                         "term_ends": WITHIN, "segment": ["smb", "smb", "enterprise", "enterprise"]})
    c = ScoreChurnCurve().fit(rows)
    items = pd.DataFrame({"score": [10.0, 10.0], "term_ends": WITHIN, "segment": ["smb", "enterprise"]})
    np.testing.assert_allclose(c.predict(items), [1.0, 0.0])
    # without a segment column the cells are the terms alone
    c2 = ScoreChurnCurve().fit(rows.drop(columns="segment"))
    assert c2.by_ == ["term_ends"] and c2.predict(items.drop(columns="segment"))[0] == pytest.approx(0.5)


def test_outcome_rows_and_band_rates_by_hand():
    subs = pd.DataFrame({
        "subscription_id": ["s1", "s2", "s3"], "account_id": ["A", "B", "C"],
        "start_date": pd.to_datetime(["2024-01-01"] * 3),
        "end_date": pd.to_datetime([None, "2024-05-01", "2024-12-01"]),
        "mrr": [100.0, 100.0, 100.0], "plan": "pro",
    })
    acc = pd.DataFrame({"account_id": ["A", "B", "C"], "name": ["a", "b", "c"], "segment": "smb",
                        "created_at": pd.to_datetime(["2024-01-01"] * 3)})
    src = DataSource.from_frames({"accounts": acc, "subscriptions": subs}, validate=False)
    hist = pd.DataFrame({"account_id": ["A", "B", "C", "A"], "band": ["red", "red", "green", "red"],
                         "score": [20.0, 30, 80, 25], "days_to_renewal": [300, 10, 10, 10],
                         "snapshot_date": pd.to_datetime(["2024-01-31"] * 3 + ["2024-10-31"])})
    rows = outcome_rows(hist, src, "2024-12-31", horizon_days=180, lookback_days=365)
    # only 2024-01-31 is seen (2024-10-31 + 180 days is after as_of); B ends 2024-05-01 (churned)
    assert rows.attrs["dates"] == ["2024-01-31"]
    assert rows.set_index("account_id")["churned"].to_dict() == {"A": False, "B": True, "C": False}
    assert rows.set_index("account_id")["term_ends"].to_dict() == {"A": AFTER, "B": WITHIN, "C": WITHIN}
    t = band_churn_rates(rows)
    assert t.loc[("red", WITHIN), "p_churn"] == 1 and t.loc[("red", AFTER), "p_churn"] == 0
    assert t.loc[("green", WITHIN), "accounts"] == 1 and t.attrs["base_rate"] == pytest.approx(1 / 3)
    with pytest.warns(UserWarning, match="no scoring date"):
        empty = band_churn_rates(outcome_rows(hist, src, "2024-02-28"), "2024-02-28")
    assert empty.empty
