"""Retention curves: Kaplan-Meier (overall and by group), at-risk tables, RMST, log-rank tests.

Every function takes a one-row-per-customer frame, the name of its duration column and an
event given as a 0/1 column or ``column=value`` (``"Churn=Yes"``); rows are checked by
:func:`csresearch.survival.tables.survival_frame` (missing values raise unless
``dropna=True``). Inputs are never modified.

Confidence intervals of the Kaplan-Meier curve are lifelines' exponential Greenwood
(log(-log)) intervals. The median and its interval follow R's ``quantile.survfit`` (see
:mod:`csresearch.survival.km_median`): the midpoint of a stretch where S is exactly 0.5, and
the interval where R's default (log) band crosses 0.5, missing where it never does.

Example
-------
>>> km_summary(telco, "tenure", "Churn=Yes", by="Contract", at=[12, 24])  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from matplotlib.axes import Axes

from csresearch.errors import DataQualityWarning, DataValidationError
from csresearch.survival.km_median import km_median, warn_open_limits
from csresearch.survival.tables import DURATION, EVENT, survival_frame

ALL = "all"


def _groups(df: pd.DataFrame, duration: str, event: str, by: str | None, dropna: bool):
    sv = survival_frame(df, duration, event, keep=[by] if by else [], dropna=dropna)
    if sv.empty:
        raise DataValidationError(f"table '{sv.attrs.get('table')}' has no rows to analyse")
    if by is None:
        return sv, [(ALL, sv)]
    return sv, [(g, sv[sv[by] == g]) for g in sorted(sv[by].unique(), key=str)]


def _fit(sub: pd.DataFrame, label, alpha: float) -> KaplanMeierFitter:
    return KaplanMeierFitter(alpha=alpha).fit(sub[DURATION], sub[EVENT], label=str(label))


def _col(h: float) -> str:
    return f"S_{h:g}"


def survival_at(kmf: KaplanMeierFitter, times: Sequence[float]) -> np.ndarray:
    """S(t) of a fitted KM curve; NaN beyond the last observed time unless S already hit 0."""
    t = np.asarray(times, dtype=float)
    s = np.asarray(kmf.predict(t), dtype=float).reshape(t.shape)
    last = kmf.timeline.max()
    return np.where((t > last) & (s > 0), np.nan, s)


def survival_band_at(kmf: KaplanMeierFitter, t: float) -> tuple[float, float, float]:
    """``(S(t), lower, upper)`` of a fitted KM curve and its band, read as step functions;
    all NaN beyond the last observed time unless S already hit 0 (then the band is read there)."""
    s = float(survival_at(kmf, [t])[0])
    if not np.isfinite(s):
        return np.nan, np.nan, np.nan
    band = kmf.confidence_interval_survival_function_
    return s, float(_band_at(band, 0, t)), float(_band_at(band, 1, t))


def km_summary(
    df: pd.DataFrame,
    duration: str,
    event: str,
    by: str | None = None,
    at: Sequence[float] = (),
    alpha: float = 0.05,
    dropna: bool = False,
    ci: bool = False,
) -> pd.DataFrame:
    """One row per group: n, events, KM median with its interval and S(t) at chosen horizons.

    Parameters
    ----------
    df, duration, event
        The table, its duration column, the event (0/1 column or ``column=value``).
    by
        Optional group column (one row per level, sorted); else one row ``group='all'``.
    at
        Horizons in the duration's unit; adds columns ``S_<h>``.
    alpha
        1 - confidence level of the median's interval.
    ci
        Also ``S_<h>_lower`` and ``S_<h>_upper`` (the log(-log) band at each horizon).

    Returns
    -------
    DataFrame ``group, n, events, median, median_lower, median_upper, S_<h>...``. A median
    not reached (S stays above 0.5) is NaN; S beyond the last observed time is NaN. The
    median is R's: where S is exactly 0.5 (within 1.5e-8) over an interval, its midpoint;
    its limits are where R's default log band crosses 0.5, NaN (with a warning) where the
    band never does (e.g. the upper one when S drops to 0 at the last time).

    Examples
    --------
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 0, 1]})
    >>> km_summary(d, "t", "e", at=[2])["S_2"].item()  # (3/4)(2/3)
    0.5
    >>> km_summary(d, "t", "e")["median"].item()  # S = 0.5 on [2, 4): midpoint
    3.0
    """
    _, groups = _groups(df, duration, event, by, dropna)
    rows = []
    for g, sub in groups:
        kmf = _fit(sub, g, alpha)
        med, lo, hi = km_median(sub[DURATION].to_numpy(float), sub[EVENT].to_numpy(int), alpha)
        warn_open_limits(g, med, lo, hi, alpha)
        row = {"group": g, "n": len(sub), "events": int(sub[EVENT].sum()),
               "median": med, "median_lower": lo, "median_upper": hi}
        for h in at:
            s, s_lo, s_hi = survival_band_at(kmf, h)
            row[_col(h)] = s
            if ci:
                row[_col(h) + "_lower"], row[_col(h) + "_upper"] = s_lo, s_hi
        rows.append(row)
    out = pd.DataFrame(rows)
    out["group"] = out["group"].astype(str)
    return out


def _band_at(ci: pd.DataFrame, j: int, t: float) -> float:
    """Value of a (step) confidence band at time t."""
    i = np.searchsorted(ci.index.to_numpy(), t, side="right") - 1
    return ci.iloc[max(i, 0), j]


def km_curve(
    df: pd.DataFrame,
    duration: str,
    event: str,
    by: str | None = None,
    alpha: float = 0.05,
    dropna: bool = False,
) -> pd.DataFrame:
    """The KM curves as a long table.

    Returns
    -------
    DataFrame ``group, time, at_risk, events, censored, survival, lower, upper`` with one row
    per distinct time of each group (time 0 first).
    """
    _, groups = _groups(df, duration, event, by, dropna)
    parts = []
    for g, sub in groups:
        kmf = _fit(sub, g, alpha)
        tab = kmf.event_table
        ci = kmf.confidence_interval_survival_function_
        parts.append(
            pd.DataFrame(
                {
                    "group": str(g),
                    "time": tab.index.to_numpy(dtype=float),
                    "at_risk": tab["at_risk"].to_numpy(),
                    "events": tab["observed"].to_numpy(),
                    "censored": tab["censored"].to_numpy(),
                    "survival": kmf.survival_function_.iloc[:, 0].reindex(tab.index).to_numpy(),
                    "lower": ci.iloc[:, 0].reindex(tab.index).to_numpy(),
                    "upper": ci.iloc[:, 1].reindex(tab.index).to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def at_risk_table(
    df: pd.DataFrame,
    duration: str,
    event: str,
    times: Sequence[float],
    by: str | None = None,
    dropna: bool = False,
) -> pd.DataFrame:
    """Numbers at risk (still under observation at t), and cumulative events and censorings
    before t, per group: the table printed under a KM plot, as a table (for HTML).

    Returns
    -------
    DataFrame indexed by ``(group, measure)`` with one column per time.

    Examples
    --------
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 0, 1]})
    >>> at_risk_table(d, "t", "e", [0, 2.5]).loc[("all", "at_risk")].tolist()
    [4, 2]
    """
    _, groups = _groups(df, duration, event, by, dropna)
    times = list(times)
    rows = {}
    for g, sub in groups:
        t = sub[DURATION].to_numpy()
        e = sub[EVENT].to_numpy()
        rows[(str(g), "at_risk")] = [int((t >= x).sum()) for x in times]
        rows[(str(g), "events")] = [int(((t < x) & (e == 1)).sum()) for x in times]
        rows[(str(g), "censored")] = [int(((t < x) & (e == 0)).sum()) for x in times]
    out = pd.DataFrame.from_dict(rows, orient="index", columns=[f"{x:g}" for x in times])
    out.index = pd.MultiIndex.from_tuples(out.index, names=["group", "measure"])
    return out


def plot_km(
    df: pd.DataFrame,
    duration: str,
    event: str,
    by: str | None = None,
    alpha: float = 0.05,
    ax: Axes | None = None,
    dropna: bool = False,
) -> Axes:
    """KM curves with confidence bands (one per group); the at-risk table is :func:`at_risk_table`."""
    _, groups = _groups(df, duration, event, by, dropna)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    for g, sub in groups:
        _fit(sub, f"{g} (n={len(sub):,})", alpha).plot_survival_function(ax=ax, ci_show=True)
    ax.set_xlabel(duration)
    ax.set_ylabel("share still active (Kaplan-Meier)")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Retention by {by}" if by else "Retention")
    return ax


def _rmst_one(t: np.ndarray, e: np.ndarray, horizon: float) -> tuple[float, float]:
    """RMST to ``horizon`` and its standard error (Klein & Moeschberger, Greenwood-type)."""
    times = np.unique(t[(e == 1) & (t <= horizon)])
    n_at = np.array([(t >= x).sum() for x in times], dtype=float)
    d = np.array([((t == x) & (e == 1)).sum() for x in times], dtype=float)
    s = np.cumprod(1 - d / n_at) if len(times) else np.array([])
    knots = np.concatenate([[0.0], times, [horizon]])
    levels = np.concatenate([[1.0], s])
    areas = levels * np.diff(knots)
    value = float(areas.sum())
    # A_j = area from t_j to the horizon
    tail = np.cumsum(areas[::-1])[::-1][1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n_at > d, tail**2 * d / (n_at * (n_at - d)), 0.0)
    return value, float(np.sqrt(terms.sum()))


def rmst(
    df: pd.DataFrame,
    duration: str,
    event: str,
    horizon: float,
    by: str | None = None,
    alpha: float = 0.05,
    dropna: bool = False,
) -> pd.DataFrame:
    """Restricted mean survival time: the area under the KM curve from 0 to ``horizon``.

    It reads as "the average customer stays ``rmst`` of the first ``horizon`` units". The
    standard error is the Greenwood-type formula
    ``var = sum_j A_j^2 d_j / (n_j (n_j - d_j))`` over event times ``t_j <= horizon``, with
    ``A_j`` the area under the curve from ``t_j`` to the horizon. A horizon beyond a group's
    last observed time gives NaN (the curve is unknown there) and a warning.

    Returns
    -------
    DataFrame ``group, horizon, rmst, se, lower, upper``.

    Examples
    --------
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 0, 1]})
    >>> rmst(d, "t", "e", 3)["rmst"].item()  # 1*1 + 0.75*1 + 0.5*1
    2.25
    """
    from scipy.stats import norm

    _, groups = _groups(df, duration, event, by, dropna)
    z = norm.ppf(1 - alpha / 2)
    rows = []
    for g, sub in groups:
        t, e = sub[DURATION].to_numpy(float), sub[EVENT].to_numpy(int)
        if horizon > t.max():
            warnings.warn(
                f"RMST: horizon {horizon:g} is beyond the last observed time {t.max():g} of group "
                f"'{g}'; its curve is unknown there, so RMST is NaN (choose a shorter horizon)",
                DataQualityWarning,
                stacklevel=2,
            )
            val, se = np.nan, np.nan
        else:
            val, se = _rmst_one(t, e, float(horizon))
        rows.append(
            {"group": str(g), "horizon": float(horizon), "rmst": val, "se": se,
             "lower": val - z * se, "upper": val + z * se}
        )
    return pd.DataFrame(rows)


def rmst_difference(
    df: pd.DataFrame,
    duration: str,
    event: str,
    horizon: float,
    by: str,
    reference: str | None = None,
    alpha: float = 0.05,
    dropna: bool = False,
) -> pd.DataFrame:
    """Difference in RMST to ``horizon`` of each group vs a reference group (default: the first).

    "Customers on plan B stay on average ``diff`` longer within the first ``horizon``";
    ``se = sqrt(se_g^2 + se_ref^2)`` (independent groups), z-test p-value.

    Returns
    -------
    DataFrame ``group, reference, rmst, rmst_reference, diff, se, lower, upper, p``.
    """
    from scipy.stats import norm

    r = rmst(df, duration, event, horizon, by=by, alpha=alpha, dropna=dropna).set_index("group")
    ref = str(reference) if reference is not None else r.index[0]
    if ref not in r.index:
        raise DataValidationError(f"reference group '{ref}' not found in '{by}'; groups: {list(r.index)}")
    z = norm.ppf(1 - alpha / 2)
    rows = []
    for g, row in r.drop(index=ref).iterrows():
        diff = row["rmst"] - r.loc[ref, "rmst"]
        se = float(np.hypot(row["se"], r.loc[ref, "se"]))
        rows.append({"group": g, "reference": ref, "rmst": row["rmst"], "rmst_reference": r.loc[ref, "rmst"],
                     "diff": diff, "se": se, "lower": diff - z * se, "upper": diff + z * se,
                     "p": float(2 * norm.sf(abs(diff) / se)) if se > 0 else np.nan})
    return pd.DataFrame(rows)
