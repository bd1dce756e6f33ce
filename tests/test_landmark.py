"""Landmark frames by hand; landmark vs static model on synthetic changing usage."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from csresearch.errors import DataQualityWarning, DataValidationError
from csresearch.survival.landmark import (
    LandmarkModel,
    brier_at,
    compare_static_landmark,
    landmark_frame,
)

matplotlib.use("Agg")

SURV = pd.DataFrame(
    {
        "account_id": ["a1", "a2", "a3", "a4", "a5"],
        "start_date": pd.to_datetime(["2024-01-10", "2024-02-15", "2024-01-01", "2024-03-05", "2024-01-01"]),
        "tenure_days": [100, 300, 30, 10, 90],
        "churned": [1, 0, 1, 0, 1],
        "segment": ["x", "y", "x", "y", "y"],
    }
)
FEATS = pd.DataFrame({"account_id": ["a1", "a5", "a1"], "month": ["2024-02", "2024-02", "2024-01"],
                      "events": [5.0, 0.0, 9.0]})


def test_landmark_frame_by_hand():
    before = SURV.copy()
    with pytest.warns(DataQualityWarning, match=r"1 of 3 active accounts without features for 2024-02"):
        fr = landmark_frame(SURV, FEATS, "2024-03-01", ["events"], static=["segment"], horizon_days=90)
    pd.testing.assert_frame_equal(SURV, before)
    fr = fr.set_index("account_id")
    # active on 2024-03-01: a1 (stops 2024-04-19), a2 (censored, open), a5 (stops 2024-03-31);
    # a3 stopped on 2024-01-31, a4 starts later; a2 has no February features -> left out
    assert list(fr.index) == ["a1", "a5"]
    # a1: tenure 2024-01-10 -> 03-01 = 21 + 29 + 1 = 51 days; churn 2024-04-19 - 03-01 = 49 days
    assert fr.loc["a1", ["tenure_at_landmark", "duration", "event", "events"]].tolist() == [51, 49, 1, 5.0]
    assert fr.loc["a5", ["duration", "event", "events", "segment"]].tolist() == [30, 1, 0.0, "y"]
    fr2 = landmark_frame(SURV, FEATS, "2024-03-01", ["events"], horizon_days=90, fill_value=0).set_index("account_id")
    # a2: 300 - 15 = 285 days left -> censored at the 90-day horizon; features filled with 0
    assert fr2.loc["a2", ["tenure_at_landmark", "duration", "event", "events"]].tolist() == [15, 90, 0, 0.0]
    fr3 = landmark_frame(SURV, FEATS, "2024-03-01", ["events"], fill_value=0, censor_at="2024-03-20")
    # censor_at 2024-03-20: a5's churn on 03-31 is not seen -> censored after 19 days (a2 too)
    assert fr3.set_index("account_id").loc[["a5", "a2"], ["duration", "event"]].to_numpy().tolist() == [[19, 0], [19, 0]]


def test_landmark_frame_errors():
    with pytest.raises(DataValidationError, match="no account is active"):
        landmark_frame(SURV, FEATS, "2020-01-01", ["events"])
    with pytest.raises(DataValidationError, match=r"features: columns not found: \['usage'\]"):
        landmark_frame(SURV, FEATS, "2024-03-01", ["usage"])
    with pytest.raises(DataValidationError, match="censor_at .* must be after"):
        landmark_frame(SURV, FEATS, "2024-03-01", ["events"], censor_at="2024-02-01")


def test_brier_by_hand():
    # no censoring: G = 1. T = 1 (event), 5 (event), 10 (censored after h); h = 4
    # predictions P(churn by 4) = 0.8, 0.3, 0.1 -> (1-0.8)^2 + 0.3^2 + 0.1^2 = 0.04 + 0.09 + 0.01
    b = brier_at(np.array([1, 5, 10]), np.array([1, 1, 0]), np.array([0.8, 0.3, 0.1]), 4)
    assert b == pytest.approx(0.14 / 3)


def test_brier_counts_accounts_censored_at_the_horizon():
    # follow-up capped at h = 4 (landmark_frame / outcomes_after with horizon_days): the three
    # accounts censored exactly at 4 are alive at 4, nobody is censored before 4, so G = 1:
    # (1 - 0.9)^2 + 3 x 0.1^2 = 0.04 over 4 accounts = 0.01
    b = brier_at(np.array([1, 4, 4, 4]), np.array([1, 0, 0, 0]), np.array([0.9, 0.1, 0.1, 0.1]), 4)
    assert b == pytest.approx(0.01)
    # one real censoring at t=2 before the horizon: G(4-) = 1 - 1/3 = 2/3 (3 at risk at t=2,
    # 1 censored); the event at 1 has G(1-) = 1; the account censored at 2 counts 0:
    # ((0.1)^2 / 1 + 2 x (0.1)^2 / (2/3)) / 4 = (0.01 + 0.03) / 4
    b2 = brier_at(np.array([1, 2, 4, 4]), np.array([1, 0, 0, 0]), np.array([0.9, 0.5, 0.1, 0.1]), 4)
    assert b2 == pytest.approx((0.01 + 2 * 0.01 * 1.5) / 4)


def simulate(n: int = 2500, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly usage follows a random walk; churn in a month depends on last month's usage."""
    rng = np.random.default_rng(seed)
    months = pd.period_range("2023-01", "2025-12", freq="M")
    start_m = rng.integers(0, 24, n)
    rows, surv = [], []
    for i in range(n):
        u = rng.normal()
        m = start_m[i]
        start = months[m].start_time + pd.Timedelta(days=int(rng.integers(0, 28)))
        end = None
        while m < len(months) - 1:
            rows.append((f"c{i}", months[m].start_time, u, np.exp(1.5 + u)))
            p = 1 / (1 + np.exp(3.2 + 1.2 * u))
            m += 1
            if rng.random() < p:
                end = months[m].start_time + pd.Timedelta(days=int(rng.integers(0, 28)))
                break
            u += rng.normal(0, 0.6)
        as_of = pd.Timestamp("2025-12-31")
        stop = end if end is not None and end <= as_of else as_of
        surv.append((f"c{i}", start, (stop - start).days, int(end is not None and end <= as_of)))
    s = pd.DataFrame(surv, columns=["account_id", "start_date", "tenure_days", "churned"])
    f = pd.DataFrame(rows, columns=["account_id", "month", "usage", "events"])
    return s, f


@pytest.fixture(scope="module")
def synthetic():
    return simulate()


def test_landmark_beats_static_on_held_out_window(synthetic):
    surv, feats = synthetic
    res = compare_static_landmark(surv, feats, ["usage"], ["2024-07-01", "2024-10-01", "2025-01-01"],
                                  "2025-04-01", horizon_days=180).set_index("model")
    st, lm = res.iloc[0], res.iloc[1]
    assert res.index[1].startswith("landmark") and st["n_test"] > 500 and lm["events_test"] > 50
    assert lm["concordance"] > st["concordance"] + 0.05
    assert lm["brier"] < st["brier"]
    assert 0 < lm["brier"] < 0.25


def test_landmark_model_fit_predict_plot(synthetic):
    surv, feats = synthetic
    lm = LandmarkModel(["usage"], horizon_days=180).fit(surv, feats, ["2024-07-01", "2025-01-01"])
    s = lm.summary
    assert set(s["landmark"]) == {"2024-07-01", "2025-01-01"}
    hr = s[s.term == "usage"]["hr"]
    assert (hr < 0.5).all()  # higher usage now -> much lower hazard (true log HR about -1.2 per month)
    p = lm.predict(surv, feats, "2025-06-01", horizons=[30, 90])
    assert (p["p_churn_30"] <= p["p_churn_90"]).all() and p["p_churn_90"].between(0, 1).all()
    assert isinstance(lm.plot(), matplotlib.axes.Axes)
    with pytest.raises(DataValidationError, match="no model fitted at or before"):
        lm.predict(surv, feats, "2024-01-01")


def test_static_model_drops_are_counted_and_use_no_later_month(synthetic):
    surv, feats = synthetic
    # 3 accounts active at the test landmark lose every feature row of a month before it: they
    # have no first month measured before the landmark, so they cannot enter the static model
    # (said with the count) and their rows of the landmark's month or later (not complete at
    # it) must not stand in: making those absurd leaves the result unchanged
    T = "2025-04-01"
    stop = surv.start_date + pd.to_timedelta(surv.tenure_days, unit="D")
    gone = surv.account_id[(surv.start_date < T) & (stop > pd.Timestamp(T) + pd.Timedelta(days=60))].iloc[:3]
    late = pd.PeriodIndex(pd.to_datetime(feats.month), freq="M") >= pd.Period(T, "M")
    f = feats[~(feats.account_id.isin(gone) & ~late)]
    assert f.account_id.isin(gone).sum() > 0  # they still have rows from April on
    args = (["usage"], ["2024-07-01", "2025-01-01"], T)
    with pytest.warns(DataQualityWarning, match=r"static model, training: 3 of 2,500 accounts without features"):
        a = compare_static_landmark(surv, f, *args, horizon_days=180)
    late_f = pd.PeriodIndex(pd.to_datetime(f.month), freq="M") >= pd.Period(T, "M")
    b = compare_static_landmark(surv, f.assign(usage=np.where(late_f, 1e6, f.usage)), *args, horizon_days=180)
    pd.testing.assert_frame_equal(a, b)


# -- a Cox model per band of current tenure ------------------------------------------------------
def _non_ph(n: int = 4000, seed: int = 2) -> pd.DataFrame:
    """x = 1 multiplies the hazard by 6 in the first 12 months and not at all afterwards:
    hazard 0.02 a month for everyone from month 12 on, censoring uniform on 0..60."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    early = rng.exponential(1 / (0.02 * np.where(x == 1, 6.0, 1.0)))
    t = np.where(early < 12, early, 12 + rng.exponential(1 / 0.02, n))
    c = rng.uniform(0, 60, n)
    return pd.DataFrame({"t": np.minimum(t, c), "e": (t <= c).astype(int), "x": x.astype(float)})


def test_tenure_landmark_cox_fits_where_the_hazard_ratio_changes():
    from csresearch.survival.horizon import TenureLandmarkCox

    df = _non_ph()
    before = df.copy()
    lm = TenureLandmarkCox(["x"], horizon=12).fit(df, "t", "e")
    pd.testing.assert_frame_equal(df, before)
    assert lm.bands_["start"].tolist() == [0, 12, 24, 36, 48]
    assert lm.bands_["fitted"].all()
    # band from 0: log HR of x near log 6 = 1.79; bands from 24 on: near 0
    assert abs(lm.models_[0.0].params_["x"] - np.log(6)) < 0.4
    assert abs(lm.models_[24.0].params_["x"]) < 0.35
    new = pd.DataFrame({"x": [1.0, 1.0, 0.0]})
    p = lm.probability(new, np.array([0.0, 24.0, 24.0]), 12)
    # truth: from 0, 1 - exp(-0.12 * 12) = 0.763; from 24, 1 - exp(-0.02 * 12) = 0.213 for both
    assert p[0] == pytest.approx(1 - np.exp(-0.12 * 12), abs=0.07)
    assert p[1] == pytest.approx(1 - np.exp(-0.24), abs=0.07) and p[2] == pytest.approx(1 - np.exp(-0.24), abs=0.07)
    # one Cox model over all tenures averages the hazard ratio and overstates x = 1 late on
    from csresearch.survival.calibration import horizon_probability
    from csresearch.survival.drivers import CoxModel

    pooled = horizon_probability(CoxModel(["x"]).fit(df, "t", "e"), new.iloc[[1]], np.array([24.0]), 12)[0]
    assert pooled > p[1] + 0.1


def test_tenure_landmark_cox_gives_no_number_past_the_data():
    from csresearch.survival.horizon import TenureLandmarkCox

    df = _non_ph(n=1500)
    lm = TenureLandmarkCox(["x"], horizon=12, min_at_risk=50).fit(df, "t", "e")
    last = df["t"].max()
    at_risk_end = (df["t"] >= last - 2).sum()  # a handful observed until the very end
    p = lm.probability(pd.DataFrame({"x": [0.0, 0.0, 0.0]}), np.array([10.0, last - 11, last - 14]), 12)
    assert np.isfinite(p[0])
    assert np.isnan(p[1])  # last - 11 + 12 is past the longest duration
    assert at_risk_end < 50 and np.isnan(p[2])  # last - 2: fewer than 50 observed that long


def test_tenure_landmark_cox_bad_input():
    from csresearch.errors import ModelError
    from csresearch.survival.horizon import TenureLandmarkCox

    with pytest.raises(DataValidationError, match="must be > 0"):
        TenureLandmarkCox(["x"], horizon=0)
    tiny = pd.DataFrame({"t": [1.0, 2, 3], "e": [1, 0, 1], "x": [0.0, 1, 0]})
    with pytest.raises(ModelError, match="no tenure band has enough customers and churns"):
        TenureLandmarkCox(["x"], horizon=12).fit(tiny, "t", "e")
    with pytest.raises(DataValidationError, match="1 duration"):
        TenureLandmarkCox(["x"], horizon=12).fit(tiny.assign(t=[1.0, -2, 3]), "t", "e")
