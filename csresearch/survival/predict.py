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
tenure; :class:`ParametricSurvival` (in :mod:`csresearch.survival.parametric`, importable
from here) fits all three and picks the lowest AIC, stating the choice.

Times are in the unit of the model's duration (days for a data source, months for Telco).

Example
-------
>>> cox = CoxModel(["segment", "mrr_start"]).fit(st, "tenure_days", "churned")  # doctest: +SKIP
>>> predict_accounts(cox, active, tenure="tenure_days", mrr="mrr_as_of")  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from scipy.integrate import simpson

from csresearch.errors import DataQualityWarning, DataValidationError
from csresearch.reports.present import words as nv
from csresearch.survival.drivers import CoxModel
from csresearch.survival.parametric import (  # noqa: F401  (importable from here too)
    DISTRIBUTIONS,
    MAX_CELLS,
    ParametricSurvival,
    _chunks,
    _eval_parametric,
)
from csresearch.survival.tables import DURATION

HORIZONS = (30, 90, 180, 365)
MIN_AT_RISK = 50  # fewest customers observed until t + h for a conditional prediction to be given
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
    raw = getattr(cph, "strata", None)  # lifelines keeps a single stratum column as a bare string
    strata = [] if raw is None else [raw] if isinstance(raw, str) else list(raw)
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
def _evaluate(model, df: pd.DataFrame, tenure: str, horizons: Sequence[float],
              remaining: float | None, chunk_size: int) -> pd.DataFrame:
    if tenure not in df.columns:
        raise DataValidationError(f"tenure column '{tenure}' not found; present: {', '.join(map(str, df.columns))}")
    t0_all = pd.to_numeric(df[tenure], errors="coerce").to_numpy(float)
    bad = np.isnan(t0_all) | (t0_all < 0)
    if bad.any():
        raise DataValidationError(
            f"column '{tenure}': {nv.plural(int(bad.sum()), 'tenure value')} missing or negative "
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
                    f"strata {strata}: value {key} ({nv.plural(len(pos), 'row')}) was not seen when the model was "
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
            f"{nv.plural(n_unknown, 'account')} with a tenure beyond {where}: the model has no data from there "
            "on, so they get no prediction (a parametric model can extrapolate, with that caveat)",
            DataQualityWarning, stacklevel=4,
        )
    if n_beyond:
        warnings.warn(
            f"{nv.plural(n_beyond, 'account')} with tenure + {longest:g} beyond {where}; the baseline is flat "
            "there, so their churn probability is understated (a lower bound) and their remaining "
            "lifetime overstated (a parametric model can extrapolate, with that caveat)",
            DataQualityWarning, stacklevel=4,
        )


def horizon_support(durations: np.ndarray, t0: np.ndarray, horizon: float,
                    min_at_risk: int = MIN_AT_RISK) -> pd.DataFrame:
    """Can the data support ``P(churn in (t0, t0 + horizon] | alive at t0)``?

    ``S(t0 + h) / S(t0)`` is estimated from the customers observed at least until ``t0 + h``:
    with none (``t0 + h`` beyond the longest observed duration) there is no number, and with
    fewer than ``min_at_risk`` the number rests on too few customers. Returns ``at_risk`` (the
    customers with a duration >= t0 + h), ``ok`` and ``reason`` ('' when ok), one row per t0.

    Examples
    --------
    >>> horizon_support(np.array([5.0, 10, 10]), np.array([0.0, 6]), 4, min_at_risk=3)["ok"].tolist()
    [True, False]
    """
    d = np.sort(np.asarray(durations, float))
    t0 = np.asarray(t0, float)
    end = t0 + horizon
    n = len(d) - np.searchsorted(d, end, side="left")
    last = float(d[-1]) if len(d) else 0.0
    beyond, thin = end > last, n < min_at_risk
    reason = np.where(beyond, f"beyond the data (longest observed {last:g})",
                      np.where(thin, f"fewer than {min_at_risk} customers observed that long", ""))
    return pd.DataFrame({"at_risk": n, "ok": ~(beyond | thin), "reason": reason})


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
        raise DataValidationError(f"MRR: {nv.plural(int((m.isna() | (m < 0)).sum()), 'value')} missing or negative")
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
