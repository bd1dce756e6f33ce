"""Cox model: every pre-fit check triggered and read, non-convergence, tidy outputs."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from csresearch.errors import DataQualityWarning, DataValidationError, ModelError
from csresearch.survival.drivers import CoxModel

matplotlib.use("Agg")

REL = Path(__file__).resolve().parents[2] / "shared" / "data" / "telco" / "Telco-Customer-Churn.csv"
TELCO = REL
needs_telco = pytest.mark.skipif(not TELCO.exists(), reason=f"Telco table not found at {TELCO}")


def _sim(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Exponential lifetimes with a known Cox model: log HR 0.7 for x, -0.5 for plan=pro."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    plan = rng.choice(["basic", "pro", "team"], n)
    z = rng.normal(size=n)
    eta = 0.7 * x - 0.5 * (plan == "pro")
    t = rng.exponential(1 / (0.05 * np.exp(eta)))
    c = rng.uniform(0, 40, n)
    return pd.DataFrame({"t": np.minimum(t, c), "e": (t <= c).astype(int), "x": x, "plan": plan, "z": z})


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return _sim()


def test_fit_summary_and_reference(sim):
    before = sim.copy()
    m = CoxModel(["x", "plan", "z"], reference={"plan": "basic"}).fit(sim, "t", "e")
    pd.testing.assert_frame_equal(sim, before)
    s = m.summary.set_index("term")
    assert list(m.summary.columns) == ["term", "coef", "se", "hr", "hr_lower", "hr_upper", "p"]
    assert set(s.index) == {"x", "plan[pro]", "plan[team]", "z"}
    assert s.loc["x", "hr_lower"] < np.exp(0.7) < s.loc["x", "hr_upper"]
    assert s.loc["plan[pro]", "hr_lower"] < np.exp(-0.5) < s.loc["plan[pro]", "hr_upper"]
    assert s.loc["x", "hr"] == pytest.approx(np.exp(s.loc["x", "coef"]))
    assert m.reference_ == {"plan": "basic"}
    # the same numbers as lifelines on hand-made dummies
    d = sim.assign(pro=(sim.plan == "pro").astype(float), team=(sim.plan == "team").astype(float))
    ref = CoxPHFitter().fit(d[["t", "e", "x", "pro", "team", "z"]], "t", "e")
    assert s.loc["plan[pro]", "coef"] == pytest.approx(ref.params_["pro"], rel=1e-6)
    assert m.concordance_ == pytest.approx(ref.concordance_index_)
    assert m.log_likelihood_ == pytest.approx(ref.log_likelihood_)


def test_other_reference_level_flips_sign(sim):
    a = CoxModel(["plan"], reference={"plan": "basic"}).fit(sim, "t", "e").params_
    b = CoxModel(["plan"], reference={"plan": "pro"}).fit(sim, "t", "e").params_
    assert b["plan[basic]"] == pytest.approx(-a["plan[pro]"], rel=1e-6)


def test_bad_reference_level(sim):
    with pytest.raises(DataValidationError, match="reference level 'gold' of column 'plan' does not occur"):
        CoxModel(["plan"], reference={"plan": "gold"}).fit(sim, "t", "e")


def test_formula(sim):
    m = CoxModel(formula="x + C(plan, Treatment('basic'))").fit(sim, "t", "e")
    assert len(m.summary) == 3 and "x" in m.summary.term.tolist()


def test_strata_and_penalizer(sim):
    m = CoxModel(["x"], strata=["plan"], penalizer=0.01).fit(sim, "t", "e")
    assert m.summary.term.tolist() == ["x"]
    # independent: lifelines on the raw columns, same strata and penalty
    ref = CoxPHFitter(penalizer=0.01).fit(sim[["t", "e", "x", "plan"]], "t", "e", strata=["plan"])
    assert m.params_["x"] == pytest.approx(ref.params_["x"], rel=1e-8)
    assert m.summary["se"].item() == pytest.approx(ref.standard_errors_["x"], rel=1e-8)
    # the penalty shrinks the coefficient towards 0
    unpen = CoxModel(["x"], strata=["plan"]).fit(sim, "t", "e").params_["x"]
    assert 0 < m.params_["x"] < unpen


def test_ph_test_table(sim):
    m = CoxModel(["x", "plan"]).fit(sim, "t", "e")
    ph = m.ph_test()
    assert list(ph.columns) == ["term", "statistic", "df", "p", "ph_ok"]
    assert ph["ph_ok"].dtype == bool and ph.attrs["transform"] == "km"
    # plan's dummies are tested as one term, with their degrees of freedom, then all together
    n_dummies = len(m.levels_["plan"]) - 1
    assert ph["term"].tolist() == ["x", "plan", "GLOBAL"]
    assert ph["df"].tolist() == [1, n_dummies, 1 + n_dummies]


def test_ph_test_flags_a_time_varying_effect():
    # x doubles the hazard before t=5 and has no effect after: non-proportional
    rng = np.random.default_rng(5)
    n = 1500
    x = rng.integers(0, 2, n)
    t1 = rng.exponential(1 / (0.1 * np.where(x == 1, 4.0, 1.0)))
    t = np.where(t1 < 5, t1, 5 + rng.exponential(10, n))
    d = pd.DataFrame({"t": t, "e": 1, "x": x})
    ph = CoxModel(["x"]).fit(d, "t", "e").ph_test().set_index("term")
    assert not ph.loc["x", "ph_ok"] and not ph.loc["GLOBAL", "ph_ok"]


def test_cross_validated_concordance_reproducible(sim):
    m = CoxModel(["x", "plan"]).fit(sim, "t", "e")
    a = m.cross_validate(sim, "t", "e", k=5, seed=1)
    b = CoxModel(["x", "plan"]).fit(sim, "t", "e").cross_validate(sim, "t", "e", k=5, seed=1)
    assert a["concordance"].tolist() == b["concordance"].tolist()
    assert len(a) == 5 and a["n_test"].sum() == len(sim)
    assert 0.55 < m.cv_concordance_ <= m.concordance_ + 0.02


def test_cross_validation_scores_held_out_rows_of_the_given_table(sim):
    # fitted on another table first: cross_validate must use the table it is given
    other = _sim(n=300, seed=9)
    m = CoxModel(["x", "plan"]).fit(other, "t", "e")
    cv = m.cross_validate(sim, "t", "e", k=4, seed=3)
    assert cv["n_test"].sum() == len(sim) and m.n_ == len(sim)
    # fold 1 by hand: the same permutation, lifelines fitted on the rest, C on the held-out rows
    d = sim.assign(pro=(sim.plan == "pro").astype(float), team=(sim.plan == "team").astype(float))
    d = d[["t", "e", "x", "pro", "team"]]
    test_idx = np.array_split(np.random.default_rng(3).permutation(len(sim)), 4)[0]
    held = np.isin(np.arange(len(sim)), test_idx)
    ref = CoxPHFitter().fit(d[~held], "t", "e")
    from lifelines.utils import concordance_index

    want = concordance_index(d.t[held], -ref.predict_partial_hazard(d[held]), d.e[held])
    assert cv["concordance"].iloc[0] == pytest.approx(want)
    assert want > 0.6  # right sign: higher risk churns sooner


def test_cross_validation_with_a_duplicated_index(sim):
    # labels 0,0,1,1,...: a fold must hold out its rows, not every row sharing a label
    from lifelines.utils import concordance_index

    d = sim.set_axis(np.repeat(np.arange(len(sim) // 2), 2))
    cv = CoxModel(["x", "z"]).cross_validate(d, "t", "e", k=5, seed=0)
    test_idx = np.array_split(np.random.default_rng(0).permutation(len(sim)), 5)[0]
    held = np.isin(np.arange(len(sim)), test_idx)
    raw = sim[["t", "e", "x", "z"]].reset_index(drop=True)
    ref = CoxPHFitter().fit(raw[~held], "t", "e")
    want = concordance_index(raw.t[held], -ref.predict_partial_hazard(raw[held]), raw.e[held])
    assert cv["concordance"].iloc[0] == pytest.approx(want, rel=1e-9)


def test_plot_forest(sim):
    ax = CoxModel(["x", "plan"]).fit(sim, "t", "e").plot()
    assert isinstance(ax, matplotlib.axes.Axes) and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["plan[team]", "plan[pro]", "x"]


# -- pre-fit checks ------------------------------------------------------------------------
def test_check_missing_values(sim):
    d = sim.copy()
    d.loc[[3, 7], "x"] = np.nan
    with pytest.raises(DataValidationError, match=r"cannot be fitted with missing values.*column 'x': 2 value"):
        CoxModel(["x"]).fit(d, "t", "e")
    with pytest.warns(DataQualityWarning, match="dropped 2 of 600 rows"):
        m = CoxModel(["x"], dropna=True).fit(d, "t", "e")
    assert m.n_ == 598


def test_check_constant_column(sim):
    with pytest.raises(DataValidationError, match="covariate 'k' is constant.*drop it"):
        CoxModel(["x", "k"]).fit(sim.assign(k=3.0), "t", "e")
    with pytest.raises(DataValidationError, match="covariate 'tier' is constant.*'gold'"):
        CoxModel(["x", "tier"]).fit(sim.assign(tier="gold"), "t", "e")


def test_check_exact_collinearity(sim):
    d = sim.assign(w=2 * sim.x - sim.z)
    with pytest.raises(DataValidationError, match=r"covariates \['x', 'z', 'w'\] are exactly collinear"):
        CoxModel(["x", "z", "w"]).fit(d, "t", "e")


def test_check_near_collinearity(sim):
    rng = np.random.default_rng(2)
    d = sim.assign(x2=sim.x + rng.normal(0, 0.05, len(sim)))
    with pytest.warns(DataQualityWarning, match=r"nearly collinear.*'x' \(VIF \d+\)"):
        CoxModel(["x", "x2"], penalizer=0.01).fit(d, "t", "e")


def test_check_leakage_spearman(sim):
    d = sim.assign(total=sim.t * 10 + np.random.default_rng(1).normal(0, 1, len(sim)))
    with pytest.warns(DataQualityWarning, match=r"possible leakage: covariate 'total'.*Spearman correlation with 't' \+(0\.9\d|1\.00)"):
        CoxModel(["x", "total"], penalizer=0.1).fit(d, "t", "e")


def test_check_leakage_product_with_duration():
    # total = duration x monthly: Spearman may stay moderate, R^2 on duration x monthly is ~1
    rng = np.random.default_rng(3)
    n = 800
    monthly = rng.lognormal(3, 1.0, n)
    t = rng.exponential(20, n).round() + 1
    d = pd.DataFrame({"t": t, "e": rng.integers(0, 2, n), "monthly": monthly, "total": t * monthly})
    with pytest.warns(DataQualityWarning, match=r"'total'.*R\^2 (0\.99\d|1\.000) on t and t x monthly"):
        CoxModel(["monthly", "total"], penalizer=0.1).fit(d, "t", "e")


def test_check_events_per_variable():
    d = _sim(n=60, seed=4)
    n_events = int(d.e.sum())
    with pytest.warns(DataQualityWarning, match=rf"only {n_events / 4:.1f} events per estimated coefficient \({n_events} events, 4 coefficients"):
        CoxModel(["x", "plan", "z"]).fit(d, "t", "e")


def test_too_many_levels(sim):
    with pytest.raises(DataValidationError, match="'id' has 600 levels"):
        CoxModel(["id"]).fit(sim.assign(id=[f"c{i}" for i in range(len(sim))]), "t", "e")


# -- non-convergence ------------------------------------------------------------------------
def test_complete_separation_raises_model_error():
    # every account with flag=1 churns before any account with flag=0: separation
    rng = np.random.default_rng(0)
    n = 200
    flag = np.r_[np.ones(n // 2), np.zeros(n // 2)]
    t = np.where(flag == 1, rng.uniform(1, 5, n), rng.uniform(6, 20, n))
    d = pd.DataFrame({"t": t, "e": np.where(flag == 1, 1, rng.integers(0, 2, n)), "flag": flag, "x": rng.normal(size=n)})
    with pytest.raises(ModelError, match=r"did not converge.*complete separation.*suspect.*'flag'.*penalizer"):
        CoxModel(["flag", "x"]).fit(d, "t", "e")
    # the advice works: a penalizer makes it fit
    m = CoxModel(["flag", "x"], penalizer=0.5).fit(d, "t", "e")
    assert m.params_["flag"] > 0


# -- Telco ----------------------------------------------------------------------------------
@needs_telco
def test_telco_totalcharges_flagged_as_leak():
    raw = pd.read_csv(TELCO)
    with pytest.raises(DataValidationError, match="column 'TotalCharges': 11 value"):
        CoxModel(["MonthlyCharges", "TotalCharges"]).fit(raw, "tenure", "Churn=Yes")
    with pytest.warns(DataQualityWarning, match=r"possible leakage: covariate 'TotalCharges'.*R\^2 0\.99"):
        m = CoxModel(["MonthlyCharges", "TotalCharges", "Contract"], dropna=True).fit(raw, "tenure", "Churn=Yes")
    assert m.n_ == 7032 and any("leakage" in w for w in m.warnings_)


def test_report_ph_check_says_which_transform(demo_small):
    from csresearch.reports import sections
    from csresearch.reports.context import ReportContext

    ctx = ReportContext.from_source(demo_small, "2025-12-31", report="churn_drivers", segment="segment",
                                    covariates=[], duration="", event="", time_unit="months", id_column="",
                                    value_column="")
    html = sections.drivers_ph_check(ctx).html
    assert "cox.zph" in html and ("time transform &#x27;km&#x27;" in html or "time transform 'km'" in html)
    assert "GLOBAL" in html
    assert "rank of the event times" in sections.drivers_ph_check(ctx, transform="rank").html


def test_report_words_and_time_unit_on_a_data_source(demo_small):
    from csresearch.reports import sections
    from csresearch.reports.context import ReportContext

    ctx = ReportContext.from_source(demo_small, "2025-12-31", report="churn_drivers", segment="segment",
                                    covariates=[], duration="", event="", time_unit="months", id_column="",
                                    value_column="")
    html = sections.drivers_hazard_ratios(ctx).html + sections.drivers_summary(ctx).html
    assert "SMB segment (against enterprise)" in html
    assert "Support tickets in the first 90 days (per extra ticket in the first 90 days)" in html
    for code in ("segment[smb]", "tickets_90d", "usage_trend", "nps_first", "days_after_window"):
        assert code not in html
    assert ctx.params["time_unit"] == "days"  # provenance shows the unit the durations are in
    at_risk = sections.drivers_at_risk(ctx).html
    total = ctx.summary["active_customers"]
    assert f"of the {total:,} active customers on 2025-12-31 have a churn probability" in at_risk
    assert "fewer than 90 days of history" in at_risk


def test_flat_table_time_unit_defaults_to_months():
    from csresearch.reports.context import ReportContext
    from csresearch.reports.sections.drivers import data

    flat = pd.DataFrame({"tenure": [1, 2, 3], "Churn": ["Yes", "No", "Yes"], "x": [0.1, 0.2, 0.3]})
    ctx = ReportContext("churn_drivers", {"as_of": "2025-12-31", "duration": "tenure", "event": "Churn=Yes",
                                          "covariates": ["x"], "time_unit": ""}, flat=flat)
    assert data(ctx).unit == "months" and ctx.params["time_unit"] == "months"


def test_reuse_takes_the_cross_validation_fold_fits():
    """The calibration's proportional-hazards folds are the cross-validation's: the same rows and
    settings give the same fit, so it is taken, not refitted; other settings refit."""
    rng = np.random.default_rng(3)
    n = 500
    df = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(["a", "b"], n)})
    df["t"] = np.ceil(rng.exponential(20 * np.exp(-0.5 * df["x"])))
    df["e"] = (rng.random(n) < 0.7).astype(int)
    m = CoxModel(["x", "g"])
    m.cross_validate(df, "t", "e", k=5, seed=0)
    assert len(m.cv_fits_) == 5
    folds = np.array_split(np.random.default_rng(0).permutation(n), 5)
    held = np.zeros(n, dtype=bool)
    held[folds[0]] = True
    train = df[~held]
    got = CoxModel(["x", "g"], checks=False, reuse=m.cv_fits_).fit(train, "t", "e")
    fresh = CoxModel(["x", "g"], checks=False).fit(train, "t", "e")
    assert got.model_ is m.cv_fits_[0][2]
    pd.testing.assert_frame_equal(got.summary, fresh.summary)
    other = CoxModel(["x", "g"], checks=False, penalizer=0.1, reuse=m.cv_fits_).fit(train, "t", "e")
    assert all(other.model_ is not f for _, _, f in m.cv_fits_)


def test_the_customers_left_out_add_up_to_those_without_a_probability(demo_small):
    """Each reason counted once: short histories are not in the model table, so they are not
    subtracted again from the ones with a missing input."""
    import re

    import numpy as np

    from csresearch.reports import sections
    from csresearch.reports.context import ReportContext
    from csresearch.reports.sections.drivers import data

    ctx = ReportContext.from_source(demo_small, "2025-12-31", report="churn_drivers")
    d = data(ctx)
    active = d.df.index[d.df["churned"].eq(0)]
    d.df.loc[active[:3], "nps_first"] = np.nan  # three active customers without a first NPS answer
    text = re.sub(r"<[^>]+>", "", sections.drivers_at_risk(ctx).html)
    scored, total = (int(x.replace(",", "")) for x in re.search(r"([\d,]+) of the ([\d,]+) active", text).groups())
    reasons = re.search(r"Left out: (.*?)\.\s", text).group(1).split("; ")
    assert "3 with a model input missing" in reasons and "fewer than 90 days" in reasons[0]
    assert sum(int(r.split(" ")[0].replace(",", "")) for r in reasons) == total - scored


def test_a_zero_one_column_of_a_flat_table_reads_yes_against_no():
    """SeniorCitizen-like columns: 'yes against no', not 'per extra unit'."""
    from csresearch.reports import sections
    from csresearch.reports.context import ReportContext

    rng = np.random.default_rng(7)
    n = 400
    senior = rng.integers(0, 2, n)
    charges = rng.uniform(20, 100, n)
    tenure = np.ceil(rng.exponential(30 / np.exp(0.7 * senior), n)).clip(1, 72)
    flat = pd.DataFrame({"tenure": tenure, "Churn": np.where(rng.random(n) < 0.7, "Yes", "No"),
                         "SeniorCitizen": senior, "MonthlyCharges": charges})
    ctx = ReportContext("churn_drivers", {"as_of": "2025-12-31", "duration": "tenure", "event": "Churn=Yes",
                                          "covariates": ["SeniorCitizen", "MonthlyCharges"], "time_unit": ""},
                        flat=flat)
    html = sections.drivers_hazard_ratios(ctx).html
    assert "Senior citizen (yes against no)" in html and "per extra unit of senior citizen" not in html
    assert "per extra unit of monthly charges" in html  # a number keeps its step
    assert "Call first" not in sections.drivers_summary(ctx).html  # no id column: no one to name


def test_no_first_nps_answer_is_a_term_of_its_own_not_a_reason_to_leave_a_customer_out():
    from csresearch.reports.sections.drivers import no_answer_term

    st = pd.DataFrame({"nps_first": [9.0, np.nan, 3.0, 7.0, np.nan], "x": range(5)})
    before = st.copy()
    out, cov = no_answer_term(st, ["segment", "nps_first", "tickets_90d"])
    pd.testing.assert_frame_equal(st, before)  # the input is untouched
    assert cov == ["segment", "nps_first", "nps_first_none", "tickets_90d"]
    assert out["nps_first_none"].tolist() == [0, 1, 0, 0, 1]
    assert out["nps_first"].tolist() == [9.0, 7.0, 3.0, 7.0, 7.0]  # the median answer for those without
    everyone = st.fillna(5.0)
    same, cov = no_answer_term(everyone, ["nps_first"])
    assert same is everyone and cov == ["nps_first"]  # nothing to add
    assert no_answer_term(st, ["segment"])[1] == ["segment"]  # not a model term
