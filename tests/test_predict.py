"""Conditional churn probability, remaining lifetime, revenue at stake, parametric AFT choice."""

from __future__ import annotations

import tracemalloc
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import CoxPHFitter, KaplanMeierFitter

from csresearch.errors import DataQualityWarning, DataValidationError
from csresearch.survival.drivers import CoxModel
from csresearch.survival.predict import (
    ParametricSurvival,
    conditional_churn_probability,
    expected_remaining_lifetime,
    predict_accounts,
    revenue_at_stake,
)

matplotlib.use("Agg")


def _data(n: int = 300, seed: int = 0, rounding: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    s = rng.integers(0, 2, n)
    t = rng.exponential(10 / np.exp(0.5 * x)).round(rounding) + 0.1
    return pd.DataFrame({"t": t, "e": rng.integers(0, 2, n), "x": x, "s": s})


NEW = pd.DataFrame({"account_id": ["a", "b", "c"], "x": [0.0, 1.0, -1.0], "s": [0, 1, 1],
                    "t0": [2.0, 5.0, 8.0], "mrr": [100.0, 50.0, 0.0]})


def test_km_conditional_by_hand():
    # KM of t=1,2,3,4 e=1,1,0,1: S = 1, 0.75 on [1,2), 0.5 on [2,4), 0 from 4
    d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 0, 1]})
    km = KaplanMeierFitter().fit(d.t, d.e)
    q = pd.DataFrame({"t0": [0.0, 1.0, 2.5, 4.0]})
    p = conditional_churn_probability(km, q, "t0", horizons=[1, 2])
    # t0=0: 1 - S(1)/S(0) = 0.25, 1 - S(2) = 0.5; t0=1: 1 - 0.5/0.75 = 1/3 for both
    # t0=2.5: S(3.5)/S(2.5) = 1 -> 0; S(4.5) = 0 -> 1; t0=4: S(4) = 0, nothing to condition on
    assert p.iloc[:3].to_numpy() == pytest.approx(np.array([[0.25, 0.5], [1 / 3, 1 / 3], [0, 1]]))
    assert p.iloc[3].isna().all()
    rem = expected_remaining_lifetime(km, q, "t0", horizon=3)
    # t0=0: 1*1 + 0.75*1 + 0.5*1 = 2.25; t0=1: (0.75*1 + 0.5*2)/0.75 = 2.3333; t0=2.5: 0.5*1.5/0.5 = 1.5
    assert rem.iloc[:3].tolist() == pytest.approx([2.25, 7 / 3, 1.5])


def test_cox_matches_lifelines_predict_survival_function():
    d = _data()
    m = CoxModel(["x"]).fit(d, "t", "e")
    p = conditional_churn_probability(m, NEW, "t0", horizons=[3, 10])
    sf = m.model_.predict_survival_function(NEW[["x"]], times=[2, 5, 8, 11, 12, 15, 18])
    for i, (t0, col) in enumerate(zip(NEW.t0, sf.columns, strict=True)):
        for h in (3, 10):
            want = 1 - sf.loc[t0 + h, col] / sf.loc[t0, col]
            assert p.iloc[i][f"p_churn_{h}"] == pytest.approx(want, rel=1e-10)
    # lifelines' own conditional_after agrees as well
    ca = m.model_.predict_survival_function(NEW[["x"]], times=[10], conditional_after=NEW.t0)
    assert (1 - ca.iloc[0].to_numpy()) == pytest.approx(p["p_churn_10"].to_numpy(), rel=1e-10)


def test_cox_with_strata_matches_lifelines():
    d = _data(seed=1)
    m = CoxModel(["x"], strata=["s"]).fit(d, "t", "e")
    p = conditional_churn_probability(m, NEW, "t0", horizons=[5])
    ca = m.model_.predict_survival_function(NEW[["x", "s"]], times=[5], conditional_after=NEW.t0)
    assert (1 - ca.iloc[0].to_numpy()) == pytest.approx(p["p_churn_5"].to_numpy(), rel=1e-10)
    raw = CoxPHFitter().fit(d, "t", "e", strata=["s"])
    p2 = conditional_churn_probability(raw, NEW[["x", "s", "t0"]], "t0", horizons=[5])
    assert p2["p_churn_5"].to_numpy() == pytest.approx(p["p_churn_5"].to_numpy(), rel=1e-8)


def test_missing_covariate_in_new_rows_is_named_not_a_silent_nan():
    m = CoxModel(["x"]).fit(_data(), "t", "e")
    with pytest.raises(DataValidationError, match=r"column 'x': 2 of 3 value\(s\) missing or not numbers \(row 1: nan, row 2: 'n/a'\)"):
        conditional_churn_probability(m, NEW.assign(x=[0.0, np.nan, "n/a"]), "t0", horizons=[3])


def test_strata_use_their_own_last_observed_time():
    # stratum 0 is observed to t <= 20, stratum 1 to t <= 200; lifelines carries stratum 0's
    # baseline flat to 200, which would give a made-up P(churn) = 0 at t0 = 50 in stratum 0
    rng = np.random.default_rng(4)
    d = pd.DataFrame({"t": np.r_[rng.uniform(1, 20, 150), rng.uniform(1, 200, 150)], "e": 1,
                      "s": np.repeat([0, 1], 150), "x": rng.normal(size=300)})
    last0 = d.t[d.s == 0].max()
    q = pd.DataFrame({"x": [0.0, 0.0, 0.0], "s": [0, 1, 0], "t0": [50.0, 50.0, 5.0]})
    m = CoxModel(["x"], strata=["s"]).fit(d, "t", "e")
    raw = CoxPHFitter().fit(d, "t", "e", strata=["s"])
    for model in (m, raw):  # a bare CoxPHFitter: the stratum's last event time (all are events here)
        with pytest.warns(DataQualityWarning, match=r"1 account with a tenure beyond their stratum's last"):
            p = conditional_churn_probability(model, q, "t0", horizons=[10])
        assert np.isnan(p["p_churn_10"].iloc[0])
        assert 0 < p["p_churn_10"].iloc[1] < 1 and 0 < p["p_churn_10"].iloc[2] < 1
    assert last0 < 20
    with pytest.raises(DataValidationError, match=r"strata \['s'\]: value 7 \(1 row\) was not seen"):
        conditional_churn_probability(m, q.assign(s=[0, 1, 7]), "t0", horizons=[10])


@pytest.mark.parametrize("rounding", [0, 2])  # few knots (exact path) / many (Simpson path)
def test_remaining_lifetime_matches_numeric_integral(rounding):
    d = _data(seed=2, rounding=rounding)
    m = CoxModel(["x"]).fit(d, "t", "e")
    rem = expected_remaining_lifetime(m, NEW, "t0", horizon=10)
    g = np.linspace(0, 10, 100_001)
    for i in range(len(NEW)):
        S = m.model_.predict_survival_function(NEW[["x"]].iloc[[i]], times=NEW.t0[i] + g).to_numpy().ravel()
        assert rem.iloc[i] == pytest.approx(np.trapezoid(S, g) / S[0], rel=1e-6 if rounding == 0 else 1e-3)


def test_chunking_gives_same_answer_and_input_untouched():
    d = _data()
    m = CoxModel(["x"]).fit(d, "t", "e")
    before = NEW.copy()
    a = predict_accounts(m, NEW, "t0", mrr="mrr", horizons=[3, 10], remaining_horizon=10, chunk_size=1)
    b = predict_accounts(m, NEW, "t0", mrr="mrr", horizons=[3, 10], remaining_horizon=10)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(NEW, before)
    assert list(b.columns) == ["account_id", "t0", "mrr", "p_churn_3", "p_churn_10", "remaining_10",
                               "revenue_at_stake_3", "revenue_at_stake_10"]


def test_revenue_at_stake_by_hand():
    p = pd.DataFrame({"p_churn_30": [0.2, 0.5]})
    # 0.2 x 100 x 12 = 240; 0.5 x 10 x 12 = 60
    assert revenue_at_stake(p, pd.Series([100.0, 10.0]))["revenue_at_stake_30"].tolist() == pytest.approx([240, 60])
    with pytest.raises(DataValidationError, match="MRR: 1 value"):
        revenue_at_stake(p, pd.Series([np.nan, 1.0]))


def test_extrapolation_warning_and_bad_tenure():
    d = _data()
    m = CoxModel(["x"]).fit(d, "t", "e")
    last = d.t.max()
    far = NEW.assign(t0=[2.0, last - 5, 1e4])
    with pytest.warns(DataQualityWarning) as rec:
        p = conditional_churn_probability(m, far, "t0", horizons=[10])
    msgs = " | ".join(str(w.message) for w in rec)
    # t0 = last - 5: t0 + 10 is past the data -> a lower bound, said so
    assert f"1 account with tenure + 10 beyond the last observed time ({last:g})" in msgs
    # t0 = 1e4: nothing is known from there on -> NaN (not a made-up 0), said so
    assert f"1 account with a tenure beyond the last observed time ({last:g})" in msgs
    assert np.isnan(p["p_churn_10"].iloc[2]) and np.isfinite(p["p_churn_10"].iloc[:2]).all()
    with pytest.raises(DataValidationError, match="column 't0': 1 tenure value"):
        conditional_churn_probability(m, NEW.assign(t0=[1.0, -1.0, 2.0]), "t0")


def test_million_accounts_in_bounded_memory():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"t": np.ceil(rng.exponential(300, 2000)), "e": rng.integers(0, 2, 2000),
                      "x": rng.normal(size=2000)})
    m = CoxModel(["x"]).fit(d, "t", "e")
    n = 1_000_000
    big = pd.DataFrame({"x": rng.normal(size=n), "tenure": rng.integers(0, 300, n).astype(float)})
    tracemalloc.start()
    p = conditional_churn_probability(m, big, "tenure", chunk_size=100_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # 4 output columns x 8 MB, plus one chunk's temporaries; a survival matrix would need
    # 1e6 x ~900 times x 8 bytes = 7 GB
    assert peak < 150e6, f"peak {peak / 1e6:.0f} MB"
    assert p.shape == (n, 4) and p.notna().all().all()
    assert (p["p_churn_30"] <= p["p_churn_365"]).all()


# -- parametric AFT ----------------------------------------------------------------------------
def _weibull(n: int = 800, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = 20 * rng.weibull(1.8, n) * np.exp(0.4 * x)
    c = rng.uniform(5, 40, n)
    return pd.DataFrame({"t": np.minimum(t, c), "e": (t <= c).astype(int), "x": x})


def test_parametric_choice_by_aic_is_stated():
    ps = ParametricSurvival().fit(_weibull(), "t", "e")
    tab = ps.summary
    assert list(tab.columns[:5]) == ["distribution", "aic", "delta_aic", "log_likelihood", "n_params"]
    assert tab["aic"].is_monotonic_increasing and tab["delta_aic"].iloc[0] == 0
    assert ps.best_name_ == "Weibull" == tab["distribution"].iloc[0]
    assert ps.choice_.startswith("The Weibull model is chosen: it has the lowest AIC")
    assert f"{tab['delta_aic'].iloc[1]:,.1f} below the {tab['distribution'].iloc[1]} model" in ps.choice_
    assert isinstance(ps.plot(_weibull(), "t", "e"), matplotlib.axes.Axes)


def test_parametric_predictions_match_lifelines():
    d = _weibull()
    ps = ParametricSurvival(["x"]).fit(d, "t", "e")
    q = pd.DataFrame({"x": [0.0, 1.0], "t0": [10.0, 60.0]})  # 60 is beyond the data: extrapolation
    p = conditional_churn_probability(ps, q, "t0", horizons=[5, 30])
    sf = ps.best_.predict_survival_function(q[["x"]], times=[5, 30], conditional_after=q.t0)
    assert p.to_numpy() == pytest.approx(1 - sf.to_numpy().T, rel=1e-8)
    rem = expected_remaining_lifetime(ps, q, "t0", horizon=30)
    g = np.linspace(0, 30, 30_001)
    S = ps.best_.predict_survival_function(q[["x"]], times=g, conditional_after=q.t0).to_numpy()
    assert rem.to_numpy() == pytest.approx(np.trapezoid(S, g, axis=0), rel=1e-5)


def test_parametric_zero_durations():
    d = _weibull().assign(t=lambda x: x.t.where(x.index > 2, 0.0))
    with pytest.raises(DataValidationError, match="3 duration.*are 0.*zero_offset"):
        ParametricSurvival().fit(d, "t", "e")
    ps = ParametricSurvival().fit(d, "t", "e", zero_offset=0.5)
    assert "3 zero durations set to 0.5" in ps.choice_


def test_demo_weibull_chosen_and_shape_recovered(demo_10k_dir):
    """The demo's churn is Weibull PH (truth.json); AIC picks the Weibull AFT, shape near truth."""
    import json

    from csresearch.data.sources import open_source
    from csresearch.survival.tables import start_window_covariates

    truth = json.loads((demo_10k_dir / "truth.json").read_text())
    cov = start_window_covariates(open_source(demo_10k_dir), truth["period"]["as_of"])
    cols = ["segment", "usage_trend", "nps_first", "tickets_90d", "onboarding_complete"]
    ps = ParametricSurvival(cols, reference={"segment": "smb"}).fit(cov, "days_after_window", "churned", zero_offset=0.5)
    assert ps.best_name_ == "Weibull"
    shape = float(np.exp(ps.best_.params_[("rho_", "Intercept")]))
    assert shape == pytest.approx(truth["baseline"]["shape"], abs=0.08)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 60), st.booleans()), min_size=3, max_size=30),
    st.floats(0, 70),
    st.lists(st.floats(0.5, 40), min_size=1, max_size=4, unique=True),
)
def test_conditional_invariants(rows, t0, horizons):
    d = pd.DataFrame(rows, columns=["t", "e"]).astype({"e": int})
    km = KaplanMeierFitter().fit(d.t, d.e)
    q = pd.DataFrame({"t0": [t0]})
    hs = sorted(horizons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # beyond the data: flat, expected here
        p = conditional_churn_probability(km, q, "t0", hs).iloc[0].to_numpy()
        rem = expected_remaining_lifetime(km, q, "t0", horizon=hs[-1]).item()
    if np.isnan(p).any():  # S(t0) = 0: nothing to condition on
        assert np.isnan(p).all() and np.isnan(rem)
        return
    assert ((p >= -1e-12) & (p <= 1 + 1e-12)).all() and (np.diff(p) >= -1e-12).all()
    assert -1e-9 <= rem <= hs[-1] + 1e-9


def test_horizon_support_by_hand():
    from csresearch.survival.predict import horizon_support

    d = np.array([2.0, 5, 8, 8, 10, 12])
    out = horizon_support(d, np.array([0.0, 3, 6, 9]), 4, min_at_risk=2)
    # t0 + 4 = 4, 7, 10, 13: durations >= those: 5 (5, 8, 8, 10, 12), 4, 2 (10, 12), none (past 12)
    assert out["at_risk"].tolist() == [5, 4, 2, 0]
    assert out["ok"].tolist() == [True, True, True, False]
    assert out["reason"].iloc[3] == "beyond the data (longest observed 12)"
    thin = horizon_support(d, np.array([6.0]), 4, min_at_risk=3)
    assert not thin["ok"].iloc[0] and thin["reason"].iloc[0] == "fewer than 3 customers observed that long"


def test_a_single_stratum_column_predicts():
    # lifelines keeps strata=["plan"] as the string "plan"; it used to be read as the columns
    # "p", "l", "a", "n" (KeyError)
    df = _data(400, seed=3).assign(plan=lambda x: np.where(x["s"] == 1, "b", "a"))
    m = CoxModel(["x"], strata=["plan"]).fit(df, "t", "e")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        p = conditional_churn_probability(m, NEW.assign(plan=["a", "b", "b"]), "t0", [1.0])
    assert p["p_churn_1"].between(0, 1).all()
