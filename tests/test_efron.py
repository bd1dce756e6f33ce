"""The vectorised Efron partial likelihood equals lifelines' loop, and so do the fits."""

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.fitters.coxph_fitter import SemiParametricPHFitter

from csresearch.survival.efron import FastCoxPHFitter, efron_values


def _data(n=600, seed=1, ties=15):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    t = np.ceil(rng.exponential(10 * np.exp(-0.5 * x[:, 0]), n) / 10 * ties)  # many ties
    e = (rng.random(n) < 0.7).astype(int)
    df = pd.DataFrame(x, columns=["a", "b", "c"]).assign(g=rng.integers(0, 2, n), T=t, E=e)
    return df


@pytest.mark.parametrize("weighted", [False, True])
def test_efron_values_equal_lifelines(weighted):
    df = _data().sort_values(["T", "E"])
    X, T, E = df[["a", "b", "c"]], df["T"], df["E"].astype(bool)
    w = pd.Series(np.random.default_rng(2).integers(1, 4, len(df)) if weighted else np.ones(len(df)), dtype=float)
    beta = np.array([0.3, -0.2, 0.1])
    ref = SemiParametricPHFitter()._get_efron_values_batch(X, T, E, w, None, beta)
    got = efron_values(X, T, E, w, None, beta)
    for r, g in zip(ref, got, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-10)


def test_efron_values_without_events():
    df = _data().assign(E=0).sort_values(["T", "E"])
    w = pd.Series(np.ones(len(df)))
    h, g, ll = efron_values(df[["a", "b"]], df["T"], df["E"].astype(bool), w, None, np.zeros(2))
    assert not h.any() and not g.any() and ll == 0


@pytest.mark.parametrize("kw", [{}, {"penalizer": 0.1}, {"strata": ["g"]}])
def test_fast_fit_equals_lifelines(kw):
    df = _data()
    strata = kw.pop("strata", None)
    ref = CoxPHFitter(**kw).fit(df, "T", "E", strata=strata)
    got = FastCoxPHFitter(**kw).fit(df, "T", "E", strata=strata)
    np.testing.assert_allclose(got.params_, ref.params_, rtol=1e-10)
    np.testing.assert_allclose(got.standard_errors_, ref.standard_errors_, rtol=1e-10)
    np.testing.assert_allclose(got.summary["p"], ref.summary["p"], rtol=1e-8)
    assert got.log_likelihood_ == pytest.approx(ref.log_likelihood_, rel=1e-12)
    assert got.concordance_index_ == ref.concordance_index_
    np.testing.assert_allclose(got.baseline_cumulative_hazard_, ref.baseline_cumulative_hazard_, rtol=1e-10)
    assert isinstance(got, CoxPHFitter)


def test_central_values_on_first_use_equal_lifelines():
    df = _data()
    ref = CoxPHFitter().fit(df, "T", "E")
    got = FastCoxPHFitter().fit(df, "T", "E")
    assert got._central_values.equals(ref._central_values)
    s = FastCoxPHFitter().fit(df, "T", "E", strata=["g"])
    assert s._central_values.equals(CoxPHFitter().fit(df, "T", "E", strata=["g"])._central_values)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_concordance_counts_equal_lifelines(seed):
    from lifelines.utils import concordance_index as ll_concordance_index
    from lifelines.utils.concordance import _concordance_summary_statistics

    from csresearch.survival.efron import concordance_counts, concordance_index

    rng = np.random.default_rng(seed)
    n = 700
    t = rng.integers(1, 40, n).astype(float)  # tied times
    p = np.round(rng.normal(size=n), 1)  # tied predictions
    e = (rng.random(n) < [0.0, 0.5, 0.9][seed]).astype(float) if seed else np.ones(n)
    assert tuple(concordance_counts(t, p, e)) == tuple(_concordance_summary_statistics(t, p, e))
    assert concordance_index(t, p, e) == ll_concordance_index(t, p, e)
    assert concordance_index(pd.Series(t), -pd.Series(p), pd.Series(e)) == ll_concordance_index(t, -p, e)


def test_concordance_without_pairs_raises_as_lifelines():
    from csresearch.survival.efron import concordance_index

    with pytest.raises(ZeroDivisionError):
        concordance_index([1.0, 2.0], [0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="NaN"):
        concordance_index([1.0, 2.0], [np.nan, 0.2], [1, 0])
