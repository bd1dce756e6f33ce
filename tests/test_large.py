"""Cox at large N from engine-side aggregates equals lifelines' CoxPHFitter (Efron ties)."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from csresearch.errors import DataValidationError, ModelError
from csresearch.survival.large import EngineCoxPH, _efron_terms, compare_with_lifelines, design_expr
from csresearch.survival.tables import survival_table_expr


def _synthetic(n: int = 3000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.4, size=n).astype(float)
    grp = rng.choice(["a", "b", "c"], size=n)
    lin = 0.5 * x1 - 0.8 * x2 + np.where(grp == "c", 0.3, 0.0)
    t = rng.exponential(100 * np.exp(-lin))
    c = rng.uniform(0, 150, size=n)
    # whole days: many tied durations, where Efron's correction matters
    return pd.DataFrame({"t": np.ceil(np.minimum(t, c)), "e": (t <= c).astype(int),
                         "x1": x1, "x2": x2, "grp": grp})


def test_efron_terms_by_hand():
    # one time, d = 2 events, risk sum 10, event sum 4: phi = 10 and 10 - 4/2 = 8
    h0, h1, h2 = _efron_terms(np.array([10.0]), np.array([4.0]), np.array([2.0]))
    np.testing.assert_allclose([h0[0], h1[0], h2[0]],
                               [np.log(10) + np.log(8), 1 / 10 + 1 / 8, 1 / 100 + 1 / 64])


def test_equals_lifelines_with_ties():
    df = _synthetic()
    m = EngineCoxPH().fit(ibis.memtable(df), "t", "e", ["x1", "x2"], categorical=["grp"])
    assert list(m.params_.index) == ["x1", "x2", "grp[b]", "grp[c]"]
    design = df.assign(**{"grp[b]": (df.grp == "b") * 1.0, "grp[c]": (df.grp == "c") * 1.0})
    # lifelines run to convergence (its default precision 1e-7 stops ~5e-6 short here)
    ref = CoxPHFitter().fit(design[["t", "e", "x1", "x2", "grp[b]", "grp[c]"]], "t", "e",
                            fit_options={"precision": 1e-12})
    np.testing.assert_allclose(m.params_, ref.params_, atol=1e-9)
    np.testing.assert_allclose(m.standard_errors_, ref.standard_errors_, rtol=1e-8)
    np.testing.assert_allclose(m.log_likelihood_, ref.log_likelihood_, rtol=1e-10)
    assert m.durations_ < len(df) / 5  # the per-duration table is small
    s = m.summary
    assert {"coef", "exp(coef)", "se(coef)", "z", "p", "coef lower 95%"} <= set(s.columns)
    assert m.plot().get_xlabel().startswith("log hazard ratio")


def test_demo_close_to_full_fit(demo_small):
    st = survival_table_expr(demo_small, "2025-12-31")
    st = st.mutate(log_mrr=(st.mrr_start + 1).ln())
    m = EngineCoxPH().fit(st, "tenure_days", "churned", ["log_mrr"], categorical=["segment"])
    design, _ = design_expr(st, "tenure_days", "churned", ["log_mrr"], ["segment"])
    cmp = compare_with_lifelines(m, design.execute(), "duration", "event")
    # lifelines (precision 1e-10) on a small, flat likelihood stops within ~1e-7 of the optimum
    assert cmp["coef_abs_diff"].max() < 1e-6
    assert cmp["se_rel_diff"].max() < 1e-5


def test_errors():
    df = _synthetic(200)
    with pytest.raises(DataValidationError, match=r"column 'x1': 1 missing"):
        EngineCoxPH().fit(ibis.memtable(df.assign(x1=df.x1.where(df.index != 3))), "t", "e", ["x1"])
    with pytest.raises(DataValidationError, match=r"column 't': 1 missing or negative"):
        EngineCoxPH().fit(ibis.memtable(df.assign(t=df.t.where(df.index != 3, -1.0))), "t", "e", ["x1"])
    with pytest.raises(ModelError, match="constant"):
        EngineCoxPH().fit(ibis.memtable(df.assign(k=1.0)), "t", "e", ["x1", "k"])
    with pytest.raises(ModelError, match="no events"):
        EngineCoxPH().fit(ibis.memtable(df.assign(e=0)), "t", "e", ["x1"])
    with pytest.raises(ModelError, match="at least one covariate"):
        EngineCoxPH().fit(ibis.memtable(df), "t", "e")
    with pytest.raises(ModelError, match="fit"):
        _ = EngineCoxPH().summary
