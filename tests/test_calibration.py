"""Landmark calibration by tenure band: by hand, on a known model, and the report on Telco."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csresearch.errors import DataValidationError
from csresearch.survival.calibration import (
    band_calibration,
    band_starts,
    calibration_error,
    choose_model,
    km_conditional,
    out_of_fold,
    risk_group_calibration,
)
from csresearch.survival.drivers import CoxModel

TELCO_COV = ["Contract", "InternetService", "PaymentMethod", "PaperlessBilling", "SeniorCitizen", "MonthlyCharges"]


def test_km_conditional_by_hand():
    # five churns at 1..5, nobody censored: S(t) = 1 - t/5, so S(1) = 0.8, S(3) = 0.4 and
    # P(churn in (1, 3] | alive at 1) = 1 - 0.4 / 0.8 = 0.5
    d, e = np.array([1.0, 2, 3, 4, 5]), np.ones(5)
    assert km_conditional(d, e, 1, 2) == pytest.approx(0.5)
    # the customer at 2 censored instead: S(1) = 0.8, S(3) = 0.8 * (1 - 1/3) = 0.5333 -> 1/3
    assert km_conditional(d, np.array([1, 0, 1, 1, 1]), 1, 2) == pytest.approx(1 / 3)
    assert np.isnan(km_conditional(d, e, 4, 2))  # 6 is past the data: no number


def test_band_starts_stop_where_the_horizon_leaves_the_data():
    assert band_starts(np.array([0.0, 72]), 12, 12) == [0, 12, 24, 36, 48, 60]
    assert band_starts(np.array([0.0, 71]), 12, 12) == [0, 12, 24, 36, 48]  # 60 + 12 > 71
    assert band_starts(np.array([0.0, 5]), 12, 12) == []


def _exponential(n: int = 3000, seed: int = 1, rate: float = 0.05) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = rng.exponential(1 / (rate * np.exp(0.5 * x)))
    c = rng.uniform(0, 60, n)
    return pd.DataFrame({"t": np.minimum(t, c), "e": (t <= c).astype(int), "x": x})


def test_a_correct_model_is_calibrated_out_of_sample():
    df = _exponential()
    before = df.copy()
    oof = out_of_fold(lambda: CoxModel(["x"], checks=False), df, "t", "e", [0.0, 12.0], 12, k=3)
    pd.testing.assert_frame_equal(df, before)
    # each customer at risk at a band start is scored once, by a model fitted without them
    assert len(oof) == (df["t"] > 0).sum() + (df["t"] > 12).sum()
    bands = band_calibration(oof, df, "t", "e", 12, unit="months")
    assert bands["band"].tolist() == ["0-12 months", "12-24 months"]
    assert bands["n"].tolist() == [int((df["t"] > 0).sum()), int((df["t"] > 12).sum())]
    assert (bands["difference"].abs() < 0.03).all()
    groups = risk_group_calibration(oof, 12)
    assert groups.groupby("start")["group"].nunique().tolist() == [5, 5]
    # the riskiest fifth churns more than the safest, as predicted
    g0 = groups[groups["start"] == 0].set_index("group")
    assert g0.loc[5, "observed"] > g0.loc[1, "observed"] + 0.1
    err = calibration_error(bands, groups)
    assert err["band_max"] < 0.03 and err["group_max"] < 0.08


def test_choose_model_prefers_the_model_with_the_right_covariate():
    df = _exponential(n=2000)

    class NoCovariate(CoxModel):  # a deliberately worse candidate: ignores x
        pass

    df["noise"] = np.random.default_rng(5).normal(size=len(df))
    r = choose_model({"with x": lambda: CoxModel(["x"], checks=False),
                      "noise only": lambda: NoCovariate(["noise"], checks=False)}, df, "t", "e", 12, k=3)
    assert r["name"] == "with x"
    t = r["table"].set_index("model")
    assert t.loc["with x", "group_max"] < t.loc["noise only", "group_max"]


def test_choose_model_never_chooses_a_candidate_that_could_not_be_fitted(monkeypatch):
    # a fitted model whose errors are all NaN (e.g. too few customers for fifths) and one that
    # failed: the failed one (first in the table, NaN errors too) must not be the choice
    import csresearch.survival.calibration as cal
    from csresearch.errors import ModelError

    class Fails(CoxModel):
        def fit(self, *a, **k):
            raise ModelError("the model did not converge. More words")

    monkeypatch.setattr(cal, "calibration_error",
                        lambda bands, groups: {"band_max": np.nan, "group_max": np.nan, "group_mean": np.nan})
    df = _exponential(n=400)
    r = choose_model({"fails": lambda: Fails(["x"], checks=False),
                      "fits": lambda: CoxModel(["x"], checks=False)}, df, "t", "e", 12, k=3)
    assert r["name"] == "fits"
    assert r["table"].set_index("model").loc["fails", "note"] == "could not be fitted: the model did not converge"


def test_choose_model_needs_a_band_with_follow_up():
    df = _exponential(n=200)
    with pytest.raises(DataValidationError, match="no tenure band has 500 of follow-up"):
        choose_model({"cox": lambda: CoxModel(["x"])}, df, "t", "e", 500)


# -- the report on the real Telco table ----------------------------------------------------------
@pytest.fixture(scope="module")
def telco_ctx(shared_dir):
    from csresearch.reports.context import open_context

    path = shared_dir / "data" / "telco" / "Telco-Customer-Churn.csv"
    if not path.exists():
        pytest.skip(f"Telco table not found at {path}")
    return open_context("churn_drivers", {
        "data": str(path), "as_of": "2025-12-31", "duration": "tenure", "event": "Churn=Yes",
        "covariates": TELCO_COV, "id_column": "customerID", "value_column": "MonthlyCharges", "time_unit": ""})


def test_telco_report_predictions_are_calibrated_in_every_large_band(telco_ctx):
    from csresearch.reports import sections

    html = sections.drivers_calibration(telco_ctx).html
    cal = telco_ctx.summary["calibration"]
    assert [c["band"] for c in cal] == [f"{b}-{b + 12} months" for b in range(0, 72, 12)]
    large = [c for c in cal if c["n"] >= 200]
    assert len(large) == 6
    for c in large:  # the "Done when": predicted within 0.05 of observed
        assert abs(c["predicted"] - c["observed"]) <= 0.05, c
    # observed is the whole-table KM: of those still there at 60 months, 10.8 % churn by 72
    assert cal[-1]["observed"] == pytest.approx(0.108, abs=0.001) and cal[-1]["n"] == 1407
    assert "5-fold cross-validation" in html and "Kaplan-Meier" in html
    assert telco_ctx.summary["prediction_model"] in html
    assert "active_customers" not in telco_ctx.summary  # a snapshot table has no dates
    # the riskiest fifth of each band (where the calls come from) is right too, out of sample
    from csresearch.reports.sections.drivers_predict import prediction_model

    pm = prediction_model(telco_ctx)
    g = pm["results"][pm["name"]]["groups"]
    top = g[g["group"] == 5]
    assert len(top) == 6 and ((top["predicted"] - top["observed"]).abs() < 0.08).all(), top


def test_telco_calls_to_make_are_not_edge_extrapolations(telco_ctx):
    from csresearch.reports import sections
    from csresearch.reports.sections.drivers_predict import predictions

    html = sections.drivers_at_risk(telco_ctx).html
    pred = predictions(telco_ctx)
    top = pred.dropna(subset=["p_churn_12"]).nlargest(20, "revenue_at_stake_12")
    # before: all 20 had 60-66 months and 85-97 % predicted; 12 more months from 61 on is past
    # the longest tenure (72), so those customers now get no number and are not ranked
    assert top["tenure"].max() <= 60
    assert top["p_churn_12"].max() < 0.8
    assert pred.loc[pred["tenure"] > 60, "p_churn_12"].isna().all()
    assert pred.loc[pred["tenure"] <= 60, "p_churn_12"].notna().all()
    assert "snapshot table, no dates" in html and "of the 5,174 active customers" in html
    assert "past the longest tenure in the data (72 months)" in html
