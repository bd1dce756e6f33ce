"""Does a score predict churn: concordance, bands, calibration, learned vs configured weights."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from csresearch.errors import DataQualityWarning, DataValidationError, ModelError
from csresearch.survival.validation import (
    LearnedScore,
    calibration_table,
    churn_by_band,
    compare_weights,
    km_by_band,
    plot_calibration,
    score_bands,
    score_concordance,
    score_probability,
    scored_outcomes,
    split_by_period,
)

matplotlib.use("Agg")


def test_concordance_by_hand():
    d = pd.DataFrame({"s": [10, 50, 90], "t": [1, 2, 3], "e": [1, 1, 0]})
    # comparable pairs (1,2), (1,3), (2,3): the earlier churner has the lower score in all
    assert score_concordance(d, "s", "t", "e")["concordance"].item() == 1.0
    # swap the first two scores: pair (1,2) becomes discordant -> 2/3
    assert score_concordance(d.assign(s=[50, 10, 90]), "s", "t", "e")["concordance"].item() == pytest.approx(2 / 3)
    # a risk score (higher = worse) read the other way round
    assert score_concordance(d, "s", "t", "e", higher_is_healthier=False)["concordance"].item() == 0.0


def test_bands_edges():
    b = score_bands(pd.Series([39.9, 40, 69.9, 70]))
    assert b.astype(str).tolist() == ["red", "yellow", "yellow", "green"]
    with pytest.raises(DataValidationError, match="2 cut points need 3 labels"):
        score_bands(pd.Series([1.0]), labels=["a", "b"])


def test_churn_by_band_by_hand():
    d = pd.DataFrame({"s": [10, 20, 30, 80, 90], "t": [1, 2, 5, 4, 6], "e": [1, 0, 1, 1, 0]})
    out = churn_by_band(d, "s", "t", "e", horizon=3).set_index("band")
    # red: t=1 event, t=2 censored, t=5 event -> S(3) = 1 - 1/3 = 2/3 -> churn rate 1/3, 1 churn seen
    assert out.loc["red", ["n", "churned"]].tolist() == [3, 1]
    assert out.loc["red", "churn_rate"] == pytest.approx(1 / 3)
    # green: t=4 event, t=6 censored -> nobody churned by 3
    assert out.loc["green", "churn_rate"] == 0 and out.loc["yellow", "n"] == 0
    assert np.isnan(out.loc["yellow", "churn_rate"])


def _cohort(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Components on 0-100; hazard falls with usage (strong) and nps (weak); noise does nothing."""
    rng = np.random.default_rng(seed)
    usage, nps, noise = (rng.uniform(0, 100, n) for _ in range(3))
    rate = 0.004 * np.exp(-0.03 * (usage - 50) - 0.01 * (nps - 50))
    t = rng.exponential(1 / rate)
    c = rng.uniform(100, 600, n)
    return pd.DataFrame({"usage": usage, "nps": nps, "noise": noise, "duration": np.minimum(t, c),
                         "event": (t <= c).astype(int), "true_p180": 1 - np.exp(-rate * 180),
                         "scored_on": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")})


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return _cohort()


def test_km_by_band_orders_bands(cohort):
    out = km_by_band(cohort, "usage", "duration", "event", at=[180])
    assert out["group"].tolist() == ["red", "yellow", "green"]
    assert out["S_180"].is_monotonic_increasing  # healthier bands keep more accounts
    assert out.attrs["logrank_p"] < 1e-10


def test_calibration_of_true_probabilities(cohort):
    tab = calibration_table(cohort, "true_p180", "duration", "event", horizon=180)
    assert len(tab) == 10 and tab["n"].sum() == len(cohort)
    assert tab["predicted"].is_monotonic_increasing
    inside = (tab["lower"] - 0.02 <= tab["predicted"]) & (tab["predicted"] <= tab["upper"] + 0.02)
    assert inside.all(), tab
    # an uninformative constant prediction scores a worse Brier
    flat = calibration_table(cohort.assign(flat=cohort.true_p180.mean()), "flat", "duration", "event", 180)
    assert tab.attrs["brier"] < flat.attrs["brier"]
    assert isinstance(plot_calibration(tab), matplotlib.axes.Axes)
    with pytest.raises(DataValidationError, match="probabilities in"):
        calibration_table(cohort.assign(bad=cohort.usage), "bad", "duration", "event", 180)


@pytest.mark.parametrize("method", ["cox", "logistic"])
def test_learned_weights(cohort, method):
    ls = LearnedScore(method, horizon=180).fit(cohort, ["usage", "nps", "noise"], "duration", "event")
    w = ls.weights_
    assert w.sum() == pytest.approx(1)
    assert w["usage"] > w["nps"] > abs(w["noise"])
    # true log-hazard slopes -0.03 and -0.01 -> weights about 0.75 and 0.25
    if method == "cox":
        assert w["usage"] == pytest.approx(0.75, abs=0.08)
    assert list(ls.summary.columns) == ["component", "coef", "p", "weight"]
    assert isinstance(ls.plot({"usage": 1, "nps": 1, "noise": 1}), matplotlib.axes.Axes)


def test_learned_weights_wrong_direction(cohort):
    d = cohort.assign(risk=100 - cohort.nps)  # higher = more churn
    with pytest.warns(DataQualityWarning, match=r"negative learned weight.*'risk' \(-"):
        LearnedScore().fit(d, ["usage", "risk"], "duration", "event")
    with pytest.raises(ModelError, match="do not lower churn"):
        LearnedScore().fit(cohort.assign(u2=100 - cohort.usage), ["u2"], "duration", "event")


def test_split_by_period_by_hand():
    d = pd.DataFrame({"scored_on": pd.to_datetime(["2024-01-01", "2024-06-01", "2024-08-01"]),
                      "duration": [200.0, 10.0, 5.0], "event": [1, 1, 1]})
    train, test = split_by_period(d, "scored_on", "2024-07-01")
    # row 1: 2024-01-01 + 200 days is after the split (182 days later) -> censored at 182
    assert train[["duration", "event"]].to_numpy().tolist() == [[182, 0], [10, 1]]
    assert len(test) == 1


def test_learned_beats_configured_on_held_out_period(cohort):
    train, test = split_by_period(cohort, "scored_on", "2025-01-01")
    out = compare_weights(train, test, ["usage", "nps", "noise"],
                          {"usage": 1, "nps": 1, "noise": 2}, "duration", "event").set_index("score")
    assert out.loc["configured", "w_noise"] == 0.5
    assert out.loc["learned", "concordance_test"] > out.loc["configured", "concordance_test"] + 0.03
    assert out.loc["learned", "n_test"] == len(test)


def test_scored_outcomes():
    surv = pd.DataFrame({"account_id": ["a", "b", "c"],
                         "start_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-05-01"]),
                         "tenure_days": [200, 30, 100], "churned": [1, 1, 0]})
    scores = pd.DataFrame({"account_id": ["a", "b"], "health": [20.0, 90.0]})
    with pytest.warns(DataQualityWarning, match="1 account"):
        out = scored_outcomes(scores, surv, "2024-05-01")
    # active on 2024-05-01: a (churns 2024-07-19 -> 79 days later) and c (no score); b churned
    assert out[["account_id", "duration", "event", "health"]].to_numpy().tolist() == [["a", 79.0, 1, 20.0]]


def test_score_probability_calibrates_out_of_sample(cohort):
    train, test = split_by_period(cohort, "scored_on", "2025-01-01")
    p = score_probability(train, test, "usage", "duration", "event", horizon=180)
    tab = calibration_table(test.assign(p=p), "p", "duration", "event", horizon=180, n_bins=5)
    # usage is the main driver: predictions spread and track what happened
    assert tab["predicted"].iloc[-1] > 2 * tab["predicted"].iloc[0]
    assert ((tab["lower"] - 0.03 <= tab["predicted"]) & (tab["predicted"] <= tab["upper"] + 0.03)).all(), tab


def test_band_intervals_are_read_as_steps_and_unknown_beyond_data():
    # t = 1 (event), 3 (event), 5 (censored); horizon 2 lies between the events, where the KM
    # curve and its band are flat at their values from t = 1: S = 2/3, band from lifelines'
    # log(-log) interval at t = 1 (independent: KaplanMeierFitter's own table)
    from lifelines import KaplanMeierFitter

    d = pd.DataFrame({"s": [10, 20, 30], "t": [1, 3, 5], "e": [1, 1, 0], "p": [0.1, 0.2, 0.3]})
    band = KaplanMeierFitter().fit(d.t, d.e).confidence_interval_survival_function_.loc[1.0]
    want = [1 / 3, 1 - band.iloc[1], 1 - band.iloc[0]]
    cb = churn_by_band(d, "s", "t", "e", horizon=2).set_index("band").loc["red"]
    assert cb[["churn_rate", "lower", "upper"]].tolist() == pytest.approx(want)
    cal = calibration_table(d, "p", "t", "e", horizon=2, n_bins=1).iloc[0]
    assert cal[["observed", "lower", "upper"]].tolist() == pytest.approx(want)
    # horizon 9 is beyond the last observed time (5, censored): the curve is unknown there
    late = calibration_table(d, "p", "t", "e", horizon=9, n_bins=1).iloc[0]
    assert np.isnan(late[["observed", "lower", "upper"]].to_numpy(float)).all()


def test_logistic_weights_with_follow_up_capped_at_the_horizon(cohort):
    # outcomes capped at 180 days (outcomes_after(horizon_days=180)): every account that stayed
    # is censored exactly at 180 and is a known non-churner, not an unknown one
    seen = cohort[(cohort.duration >= 180) | (cohort.event == 1)]  # status at 180 known
    capped = seen.assign(event=np.where(seen.duration > 180, 0, seen.event),
                         duration=np.minimum(seen.duration, 180.0))
    assert (capped.duration < 180).sum() == capped.event.sum()  # nobody censored before 180
    ls = LearnedScore("logistic", horizon=180).fit(capped, ["usage", "nps", "noise"], "duration", "event")
    assert ls.n_unknown_ == 0 and ls.weights_["usage"] > ls.weights_["nps"] > abs(ls.weights_["noise"])
    # the raw cohort has censoring times from 100 days: those censored before 180 are left
    # out, and said so with the count
    n_before = int(((cohort.duration < 180) & (cohort.event == 0)).sum())
    assert n_before > 0
    with pytest.warns(DataQualityWarning, match=rf"logistic weights: {n_before} of 4000 row\(s\) are censored before"):
        ls = LearnedScore("logistic", horizon=180).fit(cohort, ["usage", "nps", "noise"], "duration", "event")
    assert ls.n_unknown_ == n_before
