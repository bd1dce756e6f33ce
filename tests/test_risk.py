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
    # 4 churners are too few for a logistic model (10 per parameter): the cell keeps its isotonic curve
    assert c.models_ == {} and c.summary["model"].tolist() == ["isotonic"]


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


# -- the logistic model: calibrated where the per-cell isotonic curve is over-confident -------
SHIFT = {"smb": 0.0, "mid_market": -0.5, "enterprise": -0.6}
MRR = {"smb": 200.0, "mid_market": 1500.0, "enterprise": 6000.0}
SIZES = {"smb": 12000, "mid_market": 4000, "enterprise": 1500}


def _simulate(seed: int, b_mrr: float = 0.0, sizes=SIZES) -> pd.DataFrame:
    """Rows from a known truth: logit P(churn) = -2.2 - 0.045 (score - 55) + segment shift
    + b_mrr ln(MRR / the segment's typical MRR); p_true is each row's probability."""
    rng = np.random.default_rng(seed)
    parts = []
    for seg, n in sizes.items():
        score = np.clip(rng.normal(55, 17, n), 1, 99).round(1)
        mrr = MRR[seg] * np.exp(rng.normal(0, 0.6, n))
        p = 1 / (1 + np.exp(2.2 + 0.045 * (score - 55) - SHIFT[seg] - b_mrr * np.log(mrr / MRR[seg])))
        parts.append(pd.DataFrame({"score": score, "segment": seg, "mrr": mrr, "term_ends": WITHIN, "p_true": p,
                                   "churned": rng.random(n) < p}))
    return pd.concat(parts, ignore_index=True)


def _isotonic(c: ScoreChurnCurve, items: pd.DataFrame) -> np.ndarray:
    """The per-cell isotonic curves' probability (the curve before the logistic model)."""
    out = np.full(len(items), np.nan)
    for (term, seg), (x, y) in c.curves_.items():
        m = ((items["term_ends"] == term) & (items["segment"] == seg)).to_numpy()
        out[m] = np.interp(items.loc[m, "score"], x, y)
    return out


def test_logistic_is_calibrated_above_the_floor_where_small_cells_isotonic_is_over_confident():
    # the worklist calls accounts whose p is at least 3x the base rate; an isotonic curve per
    # (term, segment) is fitted on 1,500 enterprise rows, its low-score end is noise, and selecting
    # on it picks the noise up (the winner's curse): fresh accounts above the floor churn less than
    # it says. The logistic model pools the segments' score shape and is calibrated there.
    c = ScoreChurnCurve().fit(_simulate(0))
    assert c.summary.set_index("segment")["model"].eq("logistic").all()
    items = _simulate(100)
    floor = 3 * c.base_rate_
    big = items["segment"].ne("smb").to_numpy()

    def ratio(p):  # predicted / true churn probability of the mid-market and enterprise accounts above the floor
        sel = (p >= floor) & big
        return p[sel].mean() / items["p_true"].to_numpy()[sel].mean()

    assert 0.9 < ratio(c.predict(items)) < 1.1
    assert ratio(_isotonic(c, items)) > 1.4
    # at a score of 55 and its typical MRR each segment gets its own level
    at55 = pd.DataFrame({"score": 55.0, "term_ends": WITHIN, "segment": list(MRR), "mrr": list(MRR.values())})
    truth = 1 / (1 + np.exp(2.2 - np.array(list(SHIFT.values()))))
    np.testing.assert_allclose(c.predict(at55), truth, rtol=0.15)


def test_logistic_conditions_on_mrr_so_revenue_weighting_does_not_pick_over_confident_accounts():
    # within a segment, large accounts churn less at the same score (b = -0.5 on ln MRR); ranked by
    # p x MRR, an MRR-blind model's top accounts are the large ones and it over-states their risk
    rows, items = _simulate(0, b_mrr=-0.5), _simulate(100, b_mrr=-0.5)
    c, blind = ScoreChurnCurve().fit(rows), ScoreChurnCurve().fit(rows.drop(columns="mrr"))
    assert c.models_[(WITHIN,)]["b_mrr"] == pytest.approx(-0.5, abs=0.1) and not blind.models_[(WITHIN,)]["uses_mrr"]

    def ratio(p):  # predicted / true of the 200 accounts above the floor with the most MRR at risk
        top = items.assign(p=p, r=p * items["mrr"]).loc[lambda t: t["p"] >= 3 * c.base_rate_].nlargest(200, "r")
        return top["p"].mean() / top["p_true"].mean()

    assert 0.9 < ratio(c.predict(items)) < 1.1
    assert ratio(blind.predict(items.drop(columns="mrr"))) > 1.12


def test_logistic_score_term_decreases_and_missing_values():
    # churn rises again above a score of 80 in the rows: the score term is projected onto decreasing
    # functions, so more points never mean a higher probability
    rows = _simulate(1)
    hi = rows["score"] > 80
    rows.loc[hi, "churned"] = np.random.default_rng(2).random(hi.sum()) < 0.3
    c = ScoreChurnCurve().fit(rows)
    grid = pd.DataFrame({"score": np.arange(0, 101, 0.5), "term_ends": WITHIN, "segment": "smb", "mrr": 200.0})
    assert (np.diff(c.predict(grid)) <= 1e-12).all()
    # no MRR (or 0): the segment's median; an unseen segment or term: NaN; no churner after the horizon
    after = rows.head(200).assign(term_ends=AFTER, churned=False)
    c = ScoreChurnCurve().fit(pd.concat([rows, after], ignore_index=True))
    med = float(np.exp(np.median(np.log(rows.loc[rows["segment"] == "enterprise", "mrr"]))))
    items = pd.DataFrame({"score": 30.0, "term_ends": [WITHIN] * 4 + [AFTER],
                          "segment": ["enterprise", "enterprise", "enterprise", "partner", "smb"],
                          "mrr": [med, np.nan, 0.0, 100.0, 100.0]})
    p = c.predict(items)
    assert p[0] == pytest.approx(p[1], rel=1e-3) and p[1] == p[2] and np.isnan(p[3]) and p[4] == 0
    assert c.summary.set_index(["term_ends", "segment"]).loc[(AFTER, "smb"), "model"] == "isotonic"
