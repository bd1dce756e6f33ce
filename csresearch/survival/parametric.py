"""Parametric AFT models (Weibull, log-normal, log-logistic), the best by AIC, to extrapolate.

Kaplan-Meier and Cox baselines stop at the longest observed tenure; :class:`ParametricSurvival`
fits all three distributions (AFT regressions with covariates) and picks the lowest AIC,
stating the choice. Its conditional predictions are used by
:func:`csresearch.survival.predict.conditional_churn_probability` (importable from there too).

Example
-------
>>> ps = ParametricSurvival().fit(telco, "tenure", "Churn=Yes", zero_offset=0.5)  # doctest: +SKIP
>>> ps.choice_  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from autograd import hessian, value_and_grad
from lifelines import (
    KaplanMeierFitter,
    LogLogisticAFTFitter,
    LogLogisticFitter,
    LogNormalAFTFitter,
    LogNormalFitter,
    WeibullAFTFitter,
    WeibullFitter,
)
from lifelines import utils as ll_utils
from lifelines.fitters import ParametricRegressionFitter, ParametricUnivariateFitter
from matplotlib.axes import Axes
from scipy.integrate import simpson
from scipy.optimize import minimize

from csresearch.errors import DataValidationError, ModelError
from csresearch.survival.checks import _is_categorical, encode, levels_and_reference
from csresearch.survival.tables import DURATION, EVENT, survival_frame

MAX_CELLS = 4_000_000  # rows x grid points held at once when integrating


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


# -- univariate fits: lifelines' optimisation, no gradient where it is not used ---------------------
class _NelderMeadWithoutGradient:
    """lifelines' ``ParametricUnivariateFitter._fit_model`` for right-censored data, step for step:
    Nelder-Mead (400 iterations at most), then lifelines' gradient method from its result, the
    better of the two kept, the Hessian at the solution. lifelines hands Nelder-Mead the value
    *and the gradient* (autograd) of the likelihood at every point; Nelder-Mead reads only the
    value, so here it gets only the value (the same numbers: the same steps and result, about
    half the time). Other censoring, or a fit that fails, goes to lifelines itself (its error)."""

    def _fit_model(self, Ts, E, entry, weights, fit_options: dict, show_progress=True):
        if not ll_utils.CensoringType.is_right_censoring(self):
            return super()._fit_model(Ts, E, entry, weights, fit_options, show_progress)
        nll, args = self._negative_log_likelihood_right_censoring, (Ts, E, entry, weights)
        best, best_fun, previous = None, np.inf, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for method, option in zip(
                ["Nelder-Mead", self._scipy_fit_method],
                [{"maxiter": 400}, {"disp": show_progress, **self._scipy_fit_options, **fit_options}],
                strict=True,
            ):
                start = self._initial_values if previous is None else ll_utils._to_1d_array(previous.x)
                fun, jac = (nll, None) if method == "Nelder-Mead" else (value_and_grad(nll), True)
                res = minimize(fun, start, jac=jac, method=method, args=args, bounds=self._bounds,
                               options=option, callback=self._scipy_fit_callback)
                previous = res
                if res.success and ~np.isnan(res.x).any() and res.fun < best_fun:
                    best, best_fun = res, res.fun
            if best is not None and best.success and ~np.isnan(best.x).any():
                sol = ll_utils._to_1d_array(best.x)
                h = hessian(nll)(sol, *args)
                h = (h + h.T) / 2
                return sol, -best.fun * weights.sum(), h * weights.sum()
        return super()._fit_model(Ts, E, entry, weights, fit_options, show_progress)


def _without_gradient(fitter: type) -> type:
    """``fitter`` with :class:`_NelderMeadWithoutGradient`'s optimisation (same class name: lifelines
    labels its estimates with it)."""
    return type(fitter.__name__, (_NelderMeadWithoutGradient, fitter), {"__module__": __name__})


# -- parametric AFT ------------------------------------------------------------------------------
DISTRIBUTIONS = {
    "weibull": ("Weibull", _without_gradient(WeibullFitter), WeibullAFTFitter),
    "lognormal": ("log-normal", _without_gradient(LogNormalFitter), LogNormalAFTFitter),
    "loglogistic": ("log-logistic", _without_gradient(LogLogisticFitter), LogLogisticAFTFitter),
}


class ParametricSurvival:
    """Weibull, log-normal and log-logistic models (AFT with covariates), the best by AIC.

    Use it to extrapolate beyond the longest observed tenure, where Kaplan-Meier and Cox
    baselines stop. After ``fit``: ``aic_table_`` (``distribution, aic, delta_aic,
    log_likelihood, n_params``), ``best_name_``, ``best_`` (the lifelines fitter) and
    ``choice_`` (the sentence stating the choice); ``summary`` is the AIC table.

    Examples
    --------
    >>> ps = ParametricSurvival().fit(telco, "tenure", "Churn=Yes", zero_offset=0.5)  # doctest: +SKIP
    >>> ps.choice_  # doctest: +SKIP
    """

    def __init__(self, covariates: Sequence[str] = (), categorical: Sequence[str] = (),
                 reference: dict | None = None, distributions: Sequence[str] = tuple(DISTRIBUTIONS),
                 dropna: bool = False) -> None:
        unknown = set(distributions) - set(DISTRIBUTIONS)
        if unknown:
            raise DataValidationError(f"unknown distribution(s) {sorted(unknown)}; use {list(DISTRIBUTIONS)}")
        self.covariates, self.categorical = list(covariates), list(categorical)
        self.reference, self.distributions, self.dropna = dict(reference or {}), list(distributions), dropna

    def _design(self, df: pd.DataFrame) -> pd.DataFrame:
        return encode(df, self.covariates, self._cat, self.levels_, self.reference_)

    def fit(self, df: pd.DataFrame, duration: str, event: str, zero_offset: float | None = None) -> ParametricSurvival:
        """Fit every distribution; durations must be > 0 (``zero_offset`` adds to zero ones, stated)."""
        cat = [c for c in self.covariates if c in self.categorical or _is_categorical(df[c])]
        num = [c for c in self.covariates if c not in cat]
        sv = survival_frame(df, duration, event, numeric=num, keep=cat, dropna=self.dropna)
        zero = sv[DURATION] <= 0
        if zero.any():
            if zero_offset is None:
                raise DataValidationError(
                    f"column '{duration}': {int(zero.sum())} duration(s) are 0; parametric models need "
                    "durations > 0. Pass zero_offset (e.g. 0.5 of a unit) to set them explicitly, or drop them"
                )
            sv.loc[zero, DURATION] = zero_offset
        self._cat = cat
        self.levels_, self.reference_ = levels_and_reference(sv, cat, self.reference)
        X = self._design(sv) if self.covariates else None
        rows, fitted = [], {}
        for key in self.distributions:
            label, uni, reg = DISTRIBUTIONS[key]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if X is None:
                        f = uni().fit(sv[DURATION], sv[EVENT])
                    else:
                        f = reg().fit(pd.concat([X, sv[[DURATION, EVENT]]], axis=1), DURATION, EVENT)
            except Exception as e:  # lifelines raises several types on failure
                rows.append({"distribution": label, "aic": np.nan, "log_likelihood": np.nan,
                             "n_params": np.nan, "note": f"did not converge: {str(e).splitlines()[0]}"})
                continue
            aic = float(f.AIC_)
            rows.append({"distribution": label, "aic": aic, "log_likelihood": float(f.log_likelihood_),
                         "n_params": int(len(f.params_)), "note": ""})
            fitted[label] = f
        if not fitted:
            raise ModelError("no parametric model converged; " + "; ".join(r["note"] for r in rows))
        tab = pd.DataFrame(rows).sort_values("aic", na_position="last").reset_index(drop=True)
        tab.insert(2, "delta_aic", tab["aic"] - tab["aic"].min())
        self.aic_table_ = tab
        self.best_name_ = tab["distribution"].iloc[0]
        self.best_ = fitted[self.best_name_]
        self.models_ = fitted
        self.max_observed_ = float(sv[DURATION].max())
        nxt = tab.iloc[1] if len(tab) > 1 and np.isfinite(tab["aic"].iloc[1]) else None
        self.choice_ = (
            f"The {self.best_name_} model is chosen: it has the lowest AIC ({tab['aic'].iloc[0]:,.1f})"
            + (f", {nxt['delta_aic']:,.1f} below the {nxt['distribution']} model" if nxt is not None else "")
            + f"; fitted on {len(sv):,} rows ({int(sv[EVENT].sum()):,} events)"
            + (f", {int(zero.sum())} zero durations set to {zero_offset:g}" if zero.any() else "")
            + f". Beyond the longest observed duration ({self.max_observed_:g}) its curve is an extrapolation."
        )
        return self

    @property
    def summary(self) -> pd.DataFrame:
        return self.aic_table_

    def cumulative_hazard(self, df: pd.DataFrame | None, times: np.ndarray, conditional_after=None) -> np.ndarray:
        """Best model's cumulative hazard: (len(times), n rows) (n = 1 without covariates)."""
        f = self.best_
        times = np.atleast_1d(np.asarray(times, float))
        if isinstance(f, ParametricUnivariateFitter):
            base = 0.0 if conditional_after is None else np.asarray(conditional_after, float)[None, :]
            t = times[:, None] + (0 if conditional_after is None else base)
            H = f.cumulative_hazard_at_times(t.ravel()).to_numpy().reshape(t.shape)
            return H - (0 if conditional_after is None else f.cumulative_hazard_at_times(base.ravel()).to_numpy()[None, :])
        assert isinstance(f, ParametricRegressionFitter)
        X = self._design(df)
        return np.asarray(f.predict_cumulative_hazard(X, times=times, conditional_after=conditional_after), float)

    def survival(self, times: Sequence[float], df: pd.DataFrame | None = None) -> pd.DataFrame:
        """S(t) of the best model at ``times`` (rows) for each row of ``df`` (or overall)."""
        H = self.cumulative_hazard(df, np.asarray(times, float))
        return pd.DataFrame(np.exp(-H), index=pd.Index(times, name="time"))

    def plot(self, df: pd.DataFrame | None = None, duration: str | None = None, event: str | None = None,
             until: float | None = None, ax: Axes | None = None) -> Axes:
        """Every fitted distribution's curve (no covariates: overall; else the mean row) to
        ``until`` (default 2x the longest observed), with the KM curve when data is given."""
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        until = until or 2 * self.max_observed_
        t = np.linspace(0.01, until, 200)
        if df is not None and duration and event:
            sv = survival_frame(df, duration, event, dropna=True)
            KaplanMeierFitter().fit(sv[DURATION], sv[EVENT], label="Kaplan-Meier").plot_survival_function(ax=ax, ci_show=False, color="k")
        for label, f in self.models_.items():
            if isinstance(f, ParametricUnivariateFitter):
                s = f.survival_function_at_times(t).to_numpy()
            else:
                s = f.predict_survival_function(f._norm_mean.to_frame().T if hasattr(f, "_norm_mean") else None, times=t).iloc[:, 0].to_numpy()
            ax.plot(t, s, ls="-" if label == self.best_name_ else "--",
                    label=f"{label} (AIC {self.aic_table_.set_index('distribution').loc[label, 'aic']:,.0f})")
        ax.axvline(self.max_observed_, color="grey", lw=1, ls=":")
        ax.set_xlabel("duration (beyond the dotted line: extrapolation)")
        ax.set_ylabel("share still active")
        ax.legend()
        return ax


def _eval_parametric(model: ParametricSurvival, df, t0_all, horizons, remaining, chunk_size, cols) -> None:
    grid = np.linspace(0, remaining, 129) if remaining is not None else None
    size = chunk_size if grid is None else max(1, min(chunk_size, MAX_CELLS // len(grid)))
    for sl in _chunks(len(df), size):
        chunk = df.iloc[sl] if model.covariates else None
        t0 = t0_all[sl]
        dH = model.cumulative_hazard(chunk, np.asarray(horizons, float), conditional_after=t0)
        for i, h in enumerate(horizons):
            cols[f"p_churn_{h:g}"][sl] = 1 - np.exp(-dH[i])
        if grid is not None:
            G = np.exp(-model.cumulative_hazard(chunk, grid, conditional_after=t0))
            cols[f"remaining_{remaining:g}"][sl] = simpson(G, x=grid, axis=0)
