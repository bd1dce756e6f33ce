"""Predictions for active accounts: conditional churn probability, remaining lifetime, revenue at stake.

For an account that has already stayed ``t0`` (its tenure), the probability of churning
within ``h`` is conditional on having survived so far::

    P(T <= t0 + h | T > t0) = 1 - S(t0 + h) / S(t0) = 1 - exp(-r (H0(t0 + h) - H0(t0)))

with ``r = exp((x - mean) . beta)`` for a Cox model. The baseline cumulative hazard ``H0`` is
evaluated only at the needed times, by linear interpolation between its knots (as lifelines
does), so no survival-function matrix is built and a million accounts are processed in chunks.
Beyond the last observed time (of the account's stratum) the curve is unknown: a tenure past
it gives NaN, and tenure + horizon past it a lower bound; both are stated in a warning.

*Expected remaining lifetime* to a horizon ``H`` is the conditional restricted mean
``integral_0^H S(t0 + u) / S(t0) du`` (exact for a baseline with at most 256 knots,
else Simpson's rule on 129 points).

*Revenue at stake* within ``h`` is ``P(churn within h | survived t0) x MRR x months``: the
expected loss of ``months`` of the account's current MRR (default 12 months = its ARR) from
churns that happen within the horizon.

Parametric AFT models (Weibull, log-normal, log-logistic) extrapolate beyond the observed
tenure; :class:`ParametricSurvival` fits all three and picks the lowest AIC, stating the choice.

Times are in the unit of the model's duration (days for a data source, months for Telco).

Example
-------
>>> cox = CoxModel(["segment", "mrr_start"]).fit(st, "tenure_days", "churned")  # doctest: +SKIP
>>> predict_accounts(cox, active, tenure="tenure_days", mrr="mrr_as_of")  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from lifelines import (
    CoxPHFitter,
    KaplanMeierFitter,
    LogLogisticAFTFitter,
    LogLogisticFitter,
    LogNormalAFTFitter,
    LogNormalFitter,
    WeibullAFTFitter,
    WeibullFitter,
)
from lifelines.fitters import ParametricRegressionFitter, ParametricUnivariateFitter
from matplotlib.axes import Axes
from scipy.integrate import simpson

from csresearch.errors import DataQualityWarning, DataValidationError, ModelError
from csresearch.survival.drivers import CoxModel, _is_categorical, encode, levels_and_reference
from csresearch.survival.tables import DURATION, EVENT, survival_frame

HORIZONS = (30, 90, 180, 365)
MAX_CELLS = 4_000_000  # rows x knots held at once when integrating
EXACT_KNOTS = 256
SIMPSON_NODES = 129


# -- baseline curves --------------------------------------------------------------------------
class _Curve:
    """Cumulative hazard at knots (first knot 0) and how to read between them."""

    def __init__(self, times: np.ndarray, H: np.ndarray, step: bool, t_last: float | None = None) -> None:
        t, H = np.asarray(times, float), np.asarray(H, float)
        if t[0] > 0:
            t, H = np.r_[0.0, t], np.r_[0.0, H]
        self.t, self.H, self.step = t, H, step
        # last observed time of the data behind the curve (a stratum's own, not the union of knots)
        self.t_max = float(t[-1] if t_last is None else t_last)

    def at(self, x: np.ndarray) -> np.ndarray:
        if self.step:
            i = np.searchsorted(self.t, x, side="right") - 1
            return self.H[np.clip(i, 0, len(self.H) - 1)]
        return np.interp(x, self.t, self.H)

    def integral(self, a: np.ndarray, b: np.ndarray, r: np.ndarray) -> np.ndarray:
        """``integral_a^b exp(-r (H(u) - H(a))) du`` per row: exact (segment by segment) when
        the curve has at most ``EXACT_KNOTS`` knots, else Simpson's rule on ``SIMPSON_NODES``
        points (relative error below 1e-3 in tests). The choice never depends on chunking."""
        Ha = self.at(a)
        lo_k = np.searchsorted(self.t, a.min(), side="right") - 1
        hi_k = np.searchsorted(self.t, b.max(), side="right")
        if len(self.t) > EXACT_KNOTS and not self.step:
            u = np.linspace(0.0, 1.0, SIMPSON_NODES)
            grid = a[:, None] + (b - a)[:, None] * u[None, :]
            with np.errstate(invalid="ignore"):
                f = np.exp(-r[:, None] * (self.at(grid) - Ha[:, None]))
            return simpson(f, x=u, axis=1) * (b - a)
        knots = np.r_[self.t[max(lo_k, 0):hi_k], np.inf]
        lo = np.clip(knots[:-1][None, :], a[:, None], b[:, None])
        hi = np.clip(knots[1:][None, :], a[:, None], b[:, None])
        w = hi - lo
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            H_lo = self.at(lo)
            e_lo = np.exp(-r[:, None] * (H_lo - Ha[:, None]))
            if self.step:
                seg = w * e_lo
            else:
                dH = r[:, None] * (self.at(hi) - H_lo)
                e_hi = e_lo * np.exp(-dH)
                seg = np.where(dH > 1e-12, w * (e_lo - e_hi) / np.where(dH > 1e-12, dH, 1), w * e_lo)
            seg = np.where(w > 0, seg, 0.0)
        return np.nansum(seg, axis=1)


def _cox_parts(model) -> tuple[dict, list[str], callable]:
    """(curves by stratum, strata columns, log-risk function) of a Cox model."""
    cph = model.model_ if isinstance(model, CoxModel) else model
    base = cph.baseline_cumulative_hazard_
    strata = list(cph.strata or []) if getattr(cph, "strata", None) is not None else []
    # lifelines puts every stratum's baseline on the union of all strata's times, carried flat
    # past the stratum's own last time: keep each stratum's last observed time (CoxModel keeps
    # its data; for a bare CoxPHFitter, the stratum's last event time, a conservative bound)
    last: dict = {}
    if strata and isinstance(model, CoxModel):
        g = model._data.groupby(strata if len(strata) > 1 else strata[0])[DURATION].max()
        last = {k: float(v) for k, v in g.items()}
    elif strata:
        haz = cph.baseline_hazard_
        last = {k: float(haz.index[haz[k].to_numpy() > 0].max()) for k in haz.columns}
    curves = {k: _Curve(base.index.to_numpy(), base[k].to_numpy(), step=False, t_last=last.get(k))
              for k in base.columns}
    if isinstance(model, CoxModel):
        def risk(chunk: pd.DataFrame) -> np.ndarray:
            return model.predict_log_partial_hazard(chunk).to_numpy()
    else:
        def risk(chunk: pd.DataFrame) -> np.ndarray:
            return np.asarray(cph.predict_log_partial_hazard(chunk), dtype=float).reshape(-1)
    return curves, strata, risk


def _km_parts(kmf: KaplanMeierFitter) -> _Curve:
    s = kmf.survival_function_.iloc[:, 0]
    with np.errstate(divide="ignore"):
        return _Curve(s.index.to_numpy(), -np.log(s.to_numpy()), step=True)


# -- the engine: chunked evaluation ------------------------------------------------------------
def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _evaluate(model, df: pd.DataFrame, tenure: str, horizons: Sequence[float],
              remaining: float | None, chunk_size: int) -> pd.DataFrame:
    if tenure not in df.columns:
        raise DataValidationError(f"tenure column '{tenure}' not found; present: {', '.join(map(str, df.columns))}")
    t0_all = pd.to_numeric(df[tenure], errors="coerce").to_numpy(float)
    bad = np.isnan(t0_all) | (t0_all < 0)
    if bad.any():
        raise DataValidationError(
            f"column '{tenure}': {int(bad.sum())} tenure value(s) missing or negative "
            f"(rows {list(df.index[bad][:5])}); tenures must be numbers >= 0"
        )
    cols = {f"p_churn_{h:g}": np.empty(len(df)) for h in horizons}
    if remaining is not None:
        cols[f"remaining_{remaining:g}"] = np.empty(len(df))
    if isinstance(model, ParametricSurvival):
        _eval_parametric(model, df, t0_all, horizons, remaining, chunk_size, cols)
        return pd.DataFrame(cols, index=df.index)
    if isinstance(model, KaplanMeierFitter):
        curves, strata, risk = {None: _km_parts(model)}, [], (lambda c: np.zeros(len(c)))
    elif isinstance(model, CoxModel | CoxPHFitter):
        curves, strata, risk = _cox_parts(model)
    else:
        raise DataValidationError(
            f"cannot predict from a {type(model).__name__}; use CoxModel, lifelines CoxPHFitter, "
            "KaplanMeierFitter or ParametricSurvival"
        )
    longest = max(horizons) if remaining is None else max(*horizons, remaining)
    n_beyond, n_unknown, last_seen = 0, 0, []
    n_knots = max(len(c.t) if len(c.t) <= EXACT_KNOTS or c.step else SIMPSON_NODES for c in curves.values())
    size = chunk_size if remaining is None else max(1, min(chunk_size, MAX_CELLS // n_knots))
    for sl in _chunks(len(df), size):
        chunk = df.iloc[sl]
        t0 = t0_all[sl]
        r = np.exp(risk(chunk))
        keys = [None] * len(chunk) if not strata else (
            chunk[strata[0]].to_numpy() if len(strata) == 1 else list(map(tuple, chunk[strata].to_numpy()))
        )
        keys = pd.Series(list(keys))
        for key, pos in keys.groupby(keys, dropna=False).indices.items() if strata else [(None, np.arange(len(chunk)))]:
            if strata and key not in curves:
                raise DataValidationError(
                    f"strata {strata}: value {key} ({len(pos)} row(s)) was not seen when the model was "
                    f"fitted (known: {list(curves)[:10]}); map those rows onto a known stratum"
                )
            curve = curves[key] if strata else next(iter(curves.values()))
            idx = np.arange(sl.start, sl.stop)[pos]
            H0 = curve.at(t0[pos])
            with np.errstate(invalid="ignore"):
                for h in horizons:
                    cols[f"p_churn_{h:g}"][idx] = 1 - np.exp(-r[pos] * (curve.at(t0[pos] + h) - H0))
            if remaining is not None:
                a = t0[pos]
                cols[f"remaining_{remaining:g}"][idx] = curve.integral(a, a + remaining, r[pos])
            dead = ~np.isfinite(H0)  # S(t0) = 0: nobody survives that long, nothing to condition on
            if np.isfinite(curve.H[-1]):  # a KM curve that hit 0 is known everywhere
                unknown = t0[pos] > curve.t_max  # no data at all from t0 on: nothing to say
                short = (t0[pos] + longest > curve.t_max) & ~unknown
                n_unknown, n_beyond = n_unknown + int(unknown.sum()), n_beyond + int(short.sum())
                if unknown.any() or short.any():
                    last_seen.append(curve.t_max)
                dead |= unknown
            for c in cols:
                cols[c][idx[dead]] = np.nan
    _warn_beyond(n_unknown, n_beyond, longest, last_seen, bool(strata))
    return pd.DataFrame(cols, index=df.index)


def _warn_beyond(n_unknown: int, n_beyond: int, longest: float, last_seen: list[float], stratified: bool) -> None:
    if not (n_unknown or n_beyond):
        return
    lo, hi = min(last_seen), max(last_seen)
    where = (f"their stratum's last observed time ({lo:g}" + (f" to {hi:g})" if hi > lo else ")")
             if stratified else f"the last observed time ({lo:g})")
    if n_unknown:
        warnings.warn(
            f"{n_unknown} account(s) have a tenure beyond {where}: the model has no data from there "
            "on, so their predictions are NaN. Use ParametricSurvival (AFT) to extrapolate",
            DataQualityWarning, stacklevel=4,
        )
    if n_beyond:
        warnings.warn(
            f"{n_beyond} account(s) have tenure + {longest:g} beyond {where}; the baseline is flat "
            "there, so their churn probability is understated (a lower bound) and their remaining "
            "lifetime overstated. Use ParametricSurvival (AFT) to extrapolate",
            DataQualityWarning, stacklevel=4,
        )


def conditional_churn_probability(
    model, df: pd.DataFrame, tenure: str, horizons: Sequence[float] = HORIZONS, chunk_size: int = 200_000
) -> pd.DataFrame:
    """P(churn within h | survived the tenure so far) for every row, one column per horizon.

    ``model`` is a fitted :class:`CoxModel`, lifelines ``CoxPHFitter``, ``KaplanMeierFitter``
    (no covariates) or :class:`ParametricSurvival`. ``df`` holds the covariates and the tenure
    already survived (``tenure``, in the model's time unit). Returns ``p_churn_<h>`` columns.

    Examples
    --------
    >>> conditional_churn_probability(km, pd.DataFrame({"t": [0]}), "t", [2])  # doctest: +SKIP
    """
    return _evaluate(model, df, tenure, list(horizons), None, chunk_size)


def expected_remaining_lifetime(
    model, df: pd.DataFrame, tenure: str, horizon: float = 365, chunk_size: int = 200_000
) -> pd.Series:
    """Expected remaining lifetime within ``horizon`` given the tenure survived:
    ``integral_0^horizon S(t0 + u) / S(t0) du`` (a conditional restricted mean)."""
    out = _evaluate(model, df, tenure, [horizon], horizon, chunk_size)
    return out[f"remaining_{horizon:g}"]


def revenue_at_stake(p_churn: pd.DataFrame, mrr: pd.Series, months: float = 12) -> pd.DataFrame:
    """``P(churn within h) x MRR x months`` per ``p_churn_<h>`` column -> ``revenue_at_stake_<h>``.

    The expected revenue lost over ``months`` months (default 12: the ARR) from churns within
    each horizon, at the account's current MRR.
    """
    m = pd.to_numeric(mrr, errors="coerce")
    if m.isna().any() or (m < 0).any():
        raise DataValidationError(f"MRR: {int((m.isna() | (m < 0)).sum())} value(s) missing or negative")
    return pd.DataFrame(
        {c.replace("p_churn_", "revenue_at_stake_"): p_churn[c] * m.to_numpy() * months
         for c in p_churn.columns if c.startswith("p_churn_")},
        index=p_churn.index,
    )


def predict_accounts(
    model,
    df: pd.DataFrame,
    tenure: str,
    mrr: str | None = None,
    horizons: Sequence[float] = HORIZONS,
    remaining_horizon: float | None = 365,
    months: float = 12,
    id_col: str | None = "account_id",
    chunk_size: int = 200_000,
) -> pd.DataFrame:
    """One row per active account: ``p_churn_<h>``, ``remaining_<H>`` and (with ``mrr``)
    ``revenue_at_stake_<h>`` = probability x MRR x ``months``.

    Only pass accounts that are still active (not churned); their tenure is the time survived.
    """
    res = _evaluate(model, df, tenure, list(horizons), remaining_horizon, chunk_size)
    lead = [c for c in (id_col, tenure, mrr) if c and c in df.columns]
    out = pd.concat([df[lead], res], axis=1)
    if mrr is not None:
        out = pd.concat([out, revenue_at_stake(res, df[mrr], months)], axis=1)
    out.attrs["revenue_at_stake"] = f"P(churn within h | tenure) x MRR x {months:g} months"
    return out


# -- parametric AFT ------------------------------------------------------------------------------
DISTRIBUTIONS = {
    "weibull": ("Weibull", WeibullFitter, WeibullAFTFitter),
    "lognormal": ("log-normal", LogNormalFitter, LogNormalAFTFitter),
    "loglogistic": ("log-logistic", LogLogisticFitter, LogLogisticAFTFitter),
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
