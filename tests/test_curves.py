"""Kaplan-Meier, RMST and log-rank: hand-computed tiny cases and the published Telco figures."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csresearch.errors import DataQualityWarning, DataValidationError
from csresearch.survival.curves import (
    at_risk_table,
    km_curve,
    km_summary,
    plot_km,
    rmst,
    rmst_difference,
)
from csresearch.survival.logrank import logrank, pairwise_logrank

matplotlib.use("Agg")


def _telco_path() -> Path:
    rel = Path(__file__).resolve().parents[2] / "shared" / "data" / "telco" / "Telco-Customer-Churn.csv"
    return rel


TELCO = _telco_path()
needs_telco = pytest.mark.skipif(not TELCO.exists(), reason=f"Telco table not found at {TELCO}")


@pytest.fixture(scope="module")
def telco() -> pd.DataFrame:
    return pd.read_csv(TELCO)


TINY = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 0, 1], "g": ["a", "a", "b", "b"]})


def test_km_tiny_by_hand():
    # S(1) = 3/4; S(2) = 3/4 * 2/3 = 1/2; t=3 censored; S(4) = 1/2 * (1 - 1/1) = 0
    out = km_summary(TINY, "t", "e", at=[1, 2, 3, 4])
    row = out.iloc[0]
    assert row["group"] == "all" and row["n"] == 4 and row["events"] == 3
    assert row[["S_1", "S_2", "S_3", "S_4"]].tolist() == pytest.approx([0.75, 0.5, 0.5, 0.0])
    # S = 0.5 exactly on [2, 4): R's median is the midpoint, 3 (not the first time S <= 0.5)
    assert row["median"] == 3


def test_km_beyond_last_time_is_nan():
    d = pd.DataFrame({"t": [1, 2, 3], "e": [1, 0, 0]})
    out = km_summary(d, "t", "e", at=[2, 10])
    assert out["S_2"].item() == pytest.approx(2 / 3)
    assert np.isnan(out["S_10"].item())
    assert np.isnan(out["median"].item())  # never reaches 0.5


def test_rmst_by_hand():
    # area under S from 0 to 3: 1*1 + 0.75*1 + 0.5*1 = 2.25
    # var = A1^2 d1/(n1(n1-d1)) + A2^2 d2/(n2(n2-d2)), A1 = 0.75+0.5 = 1.25, A2 = 0.5
    #     = 1.5625/12 + 0.25/6 = 0.171875
    r = rmst(TINY, "t", "e", horizon=3).iloc[0]
    assert r["rmst"] == pytest.approx(2.25)
    assert r["se"] == pytest.approx(np.sqrt(0.171875))
    assert r["lower"] == pytest.approx(2.25 - 1.959964 * np.sqrt(0.171875), rel=1e-5)
    # horizon 2.5: 1 + 0.75 + 0.5*0.5 = 2.0
    assert rmst(TINY, "t", "e", horizon=2.5)["rmst"].item() == pytest.approx(2.0)


def test_rmst_beyond_data_warns():
    with pytest.warns(DataQualityWarning, match="beyond the last observed time"):
        out = rmst(pd.DataFrame({"t": [1, 2], "e": [1, 0]}), "t", "e", horizon=5)
    assert np.isnan(out["rmst"].item())


def test_at_risk_table_by_hand():
    tab = at_risk_table(TINY, "t", "e", [0, 2, 3.5], by="g")
    # group a: t=1,2 both events; group b: t=3 censored, t=4 event
    assert tab.loc[("a", "at_risk")].tolist() == [2, 1, 0]
    assert tab.loc[("a", "events")].tolist() == [0, 1, 2]
    assert tab.loc[("b", "censored")].tolist() == [0, 0, 1]
    assert tab.loc[("b", "at_risk")].tolist() == [2, 2, 1]


def test_km_curve_long_table():
    c = km_curve(TINY, "t", "e")
    assert list(c.columns) == ["group", "time", "at_risk", "events", "censored", "survival", "lower", "upper"]
    assert c["survival"].tolist() == pytest.approx([1, 0.75, 0.5, 0.5, 0.0])
    assert c["at_risk"].tolist() == [4, 4, 3, 2, 1]


def test_input_untouched_and_event_value():
    d = pd.DataFrame({"t": [1.0, 2, 3], "Churn": ["Yes", "No", "Yes"]})
    before = d.copy()
    km_summary(d, "t", "Churn=Yes")
    pd.testing.assert_frame_equal(d, before)


def test_missing_group_raises_and_dropna_reports():
    d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 0, 1, 1], "g": ["a", None, "b", "b"]})
    with pytest.raises(DataValidationError, match="column 'g': 1 missing"):
        km_summary(d, "t", "e", by="g")
    with pytest.warns(DataQualityWarning, match="dropped 1 of 4 rows"):
        out = km_summary(d, "t", "e", by="g", dropna=True)
    assert out["n"].sum() == 3


def test_pairwise_holm_by_hand():
    rng = np.random.default_rng(1)
    d = pd.DataFrame(
        {"t": rng.exponential(np.repeat([1.0, 1.3, 3.0], 40)), "e": 1, "g": np.repeat(list("abc"), 40)}
    )
    out = pairwise_logrank(d, "t", "e", "g")
    p = out["p"].to_numpy()
    order = np.argsort(p)
    # Holm: sorted p_(i) * (m - i), running maximum, capped at 1
    holm = np.minimum(1, np.maximum.accumulate(p[order] * np.array([3, 2, 1])))
    assert out["p_adjusted"].to_numpy()[order] == pytest.approx(holm)
    assert out.loc[(out.group_a == "a") & (out.group_b == "c"), "significant"].item()


def test_logrank_needs_two_groups():
    with pytest.raises(DataValidationError, match="at least two groups"):
        logrank(TINY.assign(g="x"), "t", "e", "g")


def test_plot_returns_axes():
    ax = plot_km(TINY, "t", "e", by="g")
    assert isinstance(ax, matplotlib.axes.Axes)
    assert len(ax.get_lines()) >= 2


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 50), st.booleans()), min_size=2, max_size=40),
    st.floats(1, 50),
)
def test_km_and_rmst_invariants(rows, horizon):
    d = pd.DataFrame(rows, columns=["t", "e"]).astype({"e": int})
    c = km_curve(d, "t", "e")
    s = c["survival"].to_numpy()
    assert np.all(np.diff(s) <= 1e-12) and s.min() >= 0 and s.max() <= 1
    if horizon <= d["t"].max():
        r = rmst(d, "t", "e", horizon)["rmst"].item()
        assert 0 <= r <= horizon + 1e-9


# -- published Telco figures (shared/data/README.md) --------------------------------
@needs_telco
def test_telco_counts(telco):
    s = km_summary(telco, "tenure", "Churn=Yes")
    assert (s["n"].item(), s["events"].item()) == (7043, 1869)
    by = km_summary(telco, "tenure", "Churn=Yes", by="Contract").set_index("group")
    assert by.loc["Two year", "events"] / by.loc["Two year", "n"] == pytest.approx(0.0283, abs=5e-5)
    no_net = km_summary(telco[telco.InternetService == "No"], "tenure", "Churn=Yes")
    assert no_net["events"].item() / no_net["n"].item() == pytest.approx(0.074, abs=5e-4)


@needs_telco
def test_telco_month_to_month_with_internet(telco):
    sub = telco[(telco.Contract == "Month-to-month") & (telco.InternetService != "No")]
    s = km_summary(sub, "tenure", "Churn=Yes", at=[12, 24, 48]).iloc[0]
    assert (s["n"], s["events"]) == (3351, 1556)
    assert s["median"] == 34
    assert s["median_lower"] <= 34 <= s["median_upper"]
    assert [round(s[c], 4) for c in ("S_12", "S_24", "S_48")] == [0.6950, 0.5753, 0.3872]


@needs_telco
def test_telco_logrank(telco):
    c = logrank(telco, "tenure", "Churn=Yes", by="Contract").iloc[0]
    assert round(c["statistic"], 2) == 2352.87 and c["df"] == 2
    p = logrank(telco, "tenure", "Churn=Yes", by="PaymentMethod").iloc[0]
    assert round(p["statistic"], 2) == 865.24 and p["df"] == 3
    assert "multivariate" in p["test"]


def test_rmst_difference_by_hand():
    # group a: t=1,2 events -> S = 0.5 on [1,2): RMST(2) = 1 + 0.5 = 1.5,
    #   var = A^2 d/(n(n-d)) at t=1 with A = 0.5: 0.25/2 = 0.125 (t=2 has n = d: no term)
    # group b: nothing happens before 2 -> RMST(2) = 2, se 0; diff = 0.5, se = sqrt(0.125)
    r = rmst_difference(TINY, "t", "e", horizon=2, by="g").iloc[0]
    assert (r["group"], r["reference"]) == ("b", "a")
    assert r[["rmst", "rmst_reference", "diff"]].tolist() == pytest.approx([2.0, 1.5, 0.5])
    assert r["se"] == pytest.approx(np.sqrt(0.125))
    with pytest.raises(DataValidationError, match="reference group 'z' not found"):
        rmst_difference(TINY, "t", "e", horizon=2, by="g", reference="z")


def test_km_summary_band_at_horizons():
    out = km_summary(TINY, "t", "e", at=[1.5], ci=True).iloc[0]
    assert out["S_1.5"] == pytest.approx(0.75)
    assert out["S_1.5_lower"] < 0.74 and out["S_1.5_upper"] > 0.76


# R 4 / survival 3.5.3: quantile(survfit(Surv(t, e) ~ 1), 0.5) -> (quantile, lower, upper); NA = nan
R_MEDIANS = [
    ("flat", [1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 0, 1], (3.5, 2, np.nan)),
    ("zero", [1, 2, 3, 4, 5], [1, 1, 1, 1, 1], (3, 2, np.nan)),
    ("ties", [1, 1, 2, 2, 3, 3, 4, 4], [1] * 8, (2.5, 2, np.nan)),
    ("small", [2, 3, 3, 5, 8, 9, 12], [1, 0, 1, 1, 0, 1, 1], (9, 3, np.nan)),
]
# by group, on lifelines' bundled sets: waltons (T, E, group) and lung (time, status, sex)
R_GROUP_MEDIANS = {
    ("waltons", "control"): (58, 56, 60), ("waltons", "miR-137"): (26, 22, 29),
    ("lung", "1"): (270, 212, 310), ("lung", "2"): (426, 348, 550),
}


@pytest.mark.parametrize("name,t,e,expected", R_MEDIANS, ids=[c[0] for c in R_MEDIANS])
def test_median_and_interval_match_r(name, t, e, expected):
    d = pd.DataFrame({"t": t, "e": e})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        row = km_summary(d, "t", "e").iloc[0]
    np.testing.assert_allclose(row[["median", "median_lower", "median_upper"]].to_numpy(float), expected)
    # the missing upper limit is said, not hidden
    assert any("upper 95% confidence limit of the median is not reached" in str(w.message) for w in caught)


def test_median_flat_at_half_despite_rounding():
    # issue 14: lifelines finds S(3) = 5/6 * 4/5 * 3/4 = 0.5000000000000001 and reported 4.0
    d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 1, 1, 1, 0, 1]})
    assert km_summary(d, "t", "e")["median"].item() == 3.5


def test_group_medians_match_r():
    from lifelines.datasets import load_lung, load_waltons

    got = km_summary(load_waltons(), "T", "E", by="group").set_index("group")
    lung = km_summary(load_lung(), "time", "status", by="sex").set_index("group")
    for (src, g), want in R_GROUP_MEDIANS.items():
        row = (got if src == "waltons" else lung).loc[g]
        assert row[["median", "median_lower", "median_upper"]].tolist() == list(want), (src, g)


def test_quantile_time_flat_to_the_end():
    from csresearch.survival.km_median import quantile_time

    # S = .5 from t = 2 to the last time 7 (censored after): midpoint of 2 and 7
    assert quantile_time(np.array([1.0, 2, 7]), np.array([0.75, 0.5, 0.5])) == 4.5
    assert np.isnan(quantile_time(np.array([1.0, 2]), np.array([0.9, 0.6])))  # never reached


R_MEDIAN_SCRIPT = """
library(survival)
d <- read.csv(commandArgs(TRUE)[1])
for (k in unique(d$case)) {
  s <- d[d$case == k, ]
  r <- quantile(survfit(Surv(t, e) ~ 1, data = s), 0.5)
  cat(k, r$quantile, r$lower, r$upper, "\\n", sep = ",")
}
"""


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not installed: R comparison skipped "
                    "(the pinned R values are checked by test_median_and_interval_match_r)")
def test_medians_match_rscript(tmp_path):
    rng = np.random.default_rng(14)
    cases = [pd.DataFrame({"case": name, "t": t, "e": e}) for name, t, e, _ in R_MEDIANS]
    for i in range(6):  # random sets with ties and heavy censoring
        n = int(rng.integers(5, 60))
        cases.append(pd.DataFrame({"case": f"r{i}", "t": rng.integers(1, 12, n), "e": rng.integers(0, 2, n)}))
    data = pd.concat(cases, ignore_index=True)
    data.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "m.R").write_text(R_MEDIAN_SCRIPT)
    out = subprocess.run(["Rscript", str(tmp_path / "m.R"), str(tmp_path / "d.csv")], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    for line in out.strip().splitlines():
        case, *vals = line.split(",")[:4]
        want = [np.nan if v == "NA" else float(v) for v in vals]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row = km_summary(data[data.case == case], "t", "e").iloc[0]
        np.testing.assert_allclose(row[["median", "median_lower", "median_upper"]].to_numpy(float), want,
                                   err_msg=case)
