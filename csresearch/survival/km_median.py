"""Kaplan-Meier median (and other quantiles) with its confidence interval, as R's survival does it.

* **The median** is where the curve crosses 0.5; where the curve is flat at exactly 0.5 over
  an interval (within a tolerance: R's ``sqrt(machine epsilon)``, 1.5e-8, so that
  ``S = 0.5000000000000001`` counts as 0.5), it is the midpoint of that interval (R's
  ``quantile.survfit``). With t = 1..6 and events 1,1,1,1,0,1, S = 0.5 on [3, 4): median 3.5.
  A flat stretch at 0.5 that runs to the end of the data gives the midpoint of its start and
  the last time.
* **Its interval** is where the confidence band of the curve crosses 0.5, with R's default
  band (``conf.type = "log"``): ``S exp(+-z se)``, ``se`` Greenwood's standard error of
  ``log S``, the upper limit capped at 1, and no band where ``S = 0``. A band that never
  reaches 0.5 gives a missing limit (NaN; R's NA) - typically the upper one when the curve
  drops to 0 at the last time.

Example
-------
>>> km_median(np.arange(1.0, 7), np.array([1, 1, 1, 1, 0, 1]))[0]
3.5
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm

from csresearch.errors import DataQualityWarning

R_TOL = float(np.sqrt(np.finfo(float).eps))  # R: tolerance = sqrt(.Machine$double.eps)


def km_steps(t: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct times, S at each (right-continuous) and Greenwood's se of log S there.

    Examples
    --------
    >>> km_steps(np.array([1.0, 2, 2, 3]), np.array([1, 1, 0, 1]))[1].tolist()  # 3/4, 3/4*2/3, 0
    [0.75, 0.5, 0.0]
    """
    t = np.asarray(t, dtype=float)
    e = np.asarray(e).astype(bool)
    times, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=e.astype(float), minlength=len(times))
    n = len(t) - np.concatenate([[0], np.cumsum(np.bincount(inv, minlength=len(times)))[:-1]])
    s = np.cumprod(1.0 - d / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.cumsum(np.where(d > 0, d / (n * (n - d)), 0.0))
    return times, s, np.sqrt(var)


def log_band(s: np.ndarray, se: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """R's ``conf.type = "log"`` band: ``(S e^{-z se}, min(S e^{z se}, 1))``; NaN where S = 0."""
    z = norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(s > 0, np.log(np.where(s > 0, s, 1.0)), np.nan)
        lower = np.where(se == 0, s, np.exp(logs - z * se))
        upper = np.where(se == 0, s, np.minimum(np.exp(logs + z * se), 1.0))
    return lower, upper


def quantile_time(times: np.ndarray, surv: np.ndarray, p: float = 0.5, tol: float = R_TOL,
                  start: float = 0.0) -> float:
    """Time at which a step curve ``surv`` (NaN = unknown) has lost ``p`` (R's ``findq``).

    The first time with ``1 - S >= p - tol``; if the curve is flat at ``1 - p`` (within
    ``tol``), the midpoint of that time and the next drop (or the last time, if it never
    drops again). NaN when the curve never gets down to ``1 - p``.

    Examples
    --------
    >>> quantile_time(np.array([1.0, 2, 3, 4]), np.array([0.75, 0.5, 0.5, 0.25]))
    2.5
    """
    x = np.concatenate([[start], np.asarray(times, dtype=float)])
    y = np.concatenate([[0.0], 1.0 - np.asarray(surv, dtype=float)])
    xmax = x[-1]
    keep = ~pd.Series(y).duplicated().to_numpy()  # censored times repeat the level
    x, y = x[keep], y[keep]
    ok = np.isfinite(y)

    def first(cond: np.ndarray) -> int | None:
        hit = np.flatnonzero(ok & cond)
        return int(hit[0]) if len(hit) else None

    i1, i2 = first(y + tol >= p), first(y - tol >= p)
    if i1 is None:
        return np.nan
    if ok[-1] and abs(p - y[-1]) < tol:  # flat at p up to the end of the curve
        return float((x[i1] + xmax) / 2)
    return np.nan if i2 is None else float((x[i1] + x[i2]) / 2)


def km_median(t: np.ndarray, e: np.ndarray, alpha: float = 0.05, p: float = 0.5) -> tuple[float, float, float]:
    """``(median, lower, upper)`` of the Kaplan-Meier curve of ``t``, ``e`` as R's
    ``quantile(survfit(Surv(t, e) ~ 1), p)``: midpoint rule, log band; NaN = not reached.

    Examples
    --------
    >>> km_median(np.arange(1.0, 6), np.ones(5))  # S = .8, .6, .4, .2, 0: no upper band at S = 0
    (3.0, 2.0, nan)
    """
    times, s, se = km_steps(t, e)
    lower, upper = log_band(s, se, alpha)
    return quantile_time(times, s, p), quantile_time(times, lower, p), quantile_time(times, upper, p)


def warn_open_limits(g, med: float, lo: float, hi: float, alpha: float) -> None:
    """A median with a missing confidence limit: say so (R prints NA there)."""
    gone = [n for n, v in (("lower", lo), ("upper", hi)) if np.isnan(v)]
    if np.isfinite(med) and gone:
        warnings.warn(
            f"group '{g}': the {' and '.join(gone)} {100 * (1 - alpha):g}% confidence "
            f"limit{'s' if len(gone) > 1 else ''} of the median {'are' if len(gone) > 1 else 'is'} not reached "
            "(the confidence band of the curve never falls to 0.5 before the data end), "
            "so it is reported as missing, as R does; more follow-up or more customers narrow it",
            DataQualityWarning,
            stacklevel=4,
        )
