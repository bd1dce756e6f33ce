"""Kaplan-Meier and cohort retention from engine-side counts.

The Kaplan-Meier estimate needs only, for each distinct duration, how many customers ended
there and how many of those ended with the event (the rest are censored). That table is an
Ibis aggregation computed inside the engine (DuckDB, Spark, a warehouse): 100 million
subscribers with durations in days give at most a few thousand rows. The product-limit
estimate, Greenwood's variance and the exponential-Greenwood (log(-log)) intervals are then
computed in numpy on that small table, with the same formulas as lifelines'
``KaplanMeierFitter``, so the results are equal to lifelines' to float tolerance (tests check
it). Cohort retention is the same estimate per start cohort (:func:`cohort_survival`).

At each time ``t`` of the timeline (0 and every distinct duration):
``n_t`` = at risk (customers whose duration is >= t), ``d_t`` = events at t,
``S(t) = prod_{s <= t} (1 - d_s / n_s)``, ``V(t) = sum_{s <= t} d_s / (n_s (n_s - d_s))``
(Greenwood, without the S^2 factor, as lifelines keeps it) and the interval
``exp(-exp(log(-log S) -/+ z sqrt(V) / log S))``.

Example
-------
>>> import ibis
>>> t = ibis.memtable({"days": [1, 2, 2, 3], "churned": [1, 1, 0, 1]})
>>> km = km_counts(t, "days", "churned")
>>> km["survival"].round(4).tolist()  # (3/4) then (3/4)(2/3) then 0
[1.0, 0.75, 0.5, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy.stats import norm

from csresearch.data.engine import as_float
from csresearch.errors import DataValidationError
from csresearch.survival.km_median import log_band, quantile_time, warn_open_limits

COUNT_COLUMNS = ["duration", "removed", "observed", "censored"]
KM_COLUMNS = ["timeline", "removed", "observed", "censored", "at_risk", "survival",
              "greenwood", "ci_lower", "ci_upper"]


def event_counts_expr(table: ir.Table, duration: str, event: str, by: str | None = None) -> ir.Table:
    """Engine-side counts: one row per ([by,] duration, event value) with the number of rows.

    The raw event values are kept so that :func:`counts_frame` can report bad ones (not 0/1,
    missing) and missing or negative durations from the small table, without a second pass.
    """
    for col in [duration, event, *([by] if by else [])]:
        if col not in table.columns:
            raise DataValidationError(
                f"column '{col}' not found; present columns: {', '.join(table.columns)}"
            )
    keys = {"duration": as_float(table[duration]), "event": as_float(table[event])}
    if by:
        keys = {"group": table[by].cast("string"), **keys}
    t = table.select(**keys)
    return t.group_by(list(keys)).aggregate(n=t.count())


def counts_frame(raw: pd.DataFrame, table: str = "input table", duration: str = "duration",
                 event: str = "event") -> pd.DataFrame:
    """Check the executed :func:`event_counts_expr` and fold it to removed/observed/censored.

    Raises :class:`DataValidationError` for missing or negative durations and for event values
    other than 0/1, naming how many rows fail and a few example values.
    """
    raw = raw.copy()
    checks = [
        (raw["duration"].isna(), duration, "missing duration(s)", "fill or drop them"),
        (raw["duration"] < 0, duration, "negative duration(s)", "durations must be >= 0"),
        (~raw["event"].isin([0.0, 1.0]), event, "event value(s) that are not 0/1 (or missing)",
         "give the event as 0/1"),
    ]
    for bad, col, what, fix in checks:
        if bad.any():
            col_name = "duration" if col == duration else "event"
            ex = raw.loc[bad, col_name].drop_duplicates().head(5).tolist()
            raise DataValidationError(
                f"table '{table}', column '{col}': {int(raw.loc[bad, 'n'].sum()):,} row(s) with "
                f"{what} (e.g. {ex}); {fix}"
            )
    raw["obs"] = raw["n"] * raw["event"].astype("int64")
    keys = (["group"] if "group" in raw.columns else []) + ["duration"]
    out = raw.groupby(keys, sort=True).agg(removed=("n", "sum"), observed=("obs", "sum")).reset_index()
    out["removed"] = out["removed"].astype("int64")
    out["observed"] = out["observed"].astype("int64")
    out["censored"] = out["removed"] - out["observed"]
    return out


def km_from_counts(counts: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan-Meier curve of ONE group from its counts (``duration, removed, observed``).

    Returns ``timeline`` (0 and each distinct duration), ``removed, observed, censored,
    at_risk, survival, greenwood`` (cumulative sum d/(n(n-d))), ``ci_lower, ci_upper``
    ((1 - alpha) exponential Greenwood interval) - the values of lifelines'
    ``survival_function_``, ``confidence_interval_`` and ``event_table``.

    Example
    -------
    >>> c = pd.DataFrame({"duration": [1.0, 2.0], "removed": [2, 2], "observed": [1, 2]})
    >>> km_from_counts(c)["survival"].tolist()  # 1, (1 - 1/4), then (3/4)(1 - 2/2)
    [1.0, 0.75, 0.0]
    """
    c = counts.sort_values("duration")
    t = c["duration"].to_numpy(dtype="float64")
    removed = c["removed"].to_numpy(dtype="float64")
    observed = c["observed"].to_numpy(dtype="float64")
    if len(t) == 0 or t[0] > 0:  # lifelines' timeline starts at 0 (the entry of everyone)
        t = np.r_[0.0, t]
        removed = np.r_[0.0, removed]
        observed = np.r_[0.0, observed]
    n_total = removed.sum()
    at_risk = n_total - np.r_[0.0, np.cumsum(removed)[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.cumsum(np.log(at_risk - observed) - np.log(at_risk))
        var = observed / (at_risk * (at_risk - observed))
        var[np.isinf(var)] = 0.0
        var = np.cumsum(var)
        s = np.exp(log_s)
        z = norm.ppf(1 - alpha / 2)
        v = np.log(s)
        lower = np.exp(-np.exp(np.log(-v) - z * np.sqrt(var) / v))
        upper = np.exp(-np.exp(np.log(-v) + z * np.sqrt(var) / v))
    return pd.DataFrame({
        "timeline": t,
        "removed": removed.astype("int64"),
        "observed": observed.astype("int64"),
        "censored": (removed - observed).astype("int64"),
        "at_risk": at_risk.astype("int64"),
        "survival": s,
        "greenwood": var,
        "ci_lower": np.nan_to_num(lower, nan=1.0),
        "ci_upper": np.nan_to_num(upper, nan=1.0),
    })


def km_counts(
    table: ir.Table, duration: str, event: str, by: str | None = None, alpha: float = 0.05,
    name: str = "input table",
) -> pd.DataFrame:
    """Kaplan-Meier curve(s) of an Ibis table, counted in its engine.

    Parameters
    ----------
    table
        One row per customer, e.g. :func:`csresearch.survival.tables.survival_table_expr`.
    duration, event
        Duration column (>= 0) and 0/1 event column.
    by
        Optional group column: one curve per value (a ``group`` column first, values as text).
    alpha
        1 - confidence level of the intervals.

    Returns
    -------
    DataFrame with ``[group,]`` and :data:`KM_COLUMNS`.

    Example
    -------
    >>> km = km_counts(survival_table_expr(src, "2025-12-31"), "tenure_days", "churned")  # doctest: +SKIP
    """
    raw = event_counts_expr(table, duration, event, by).execute()
    counts = counts_frame(raw, name, duration, event)
    if by is None:
        return km_from_counts(counts, alpha)
    parts = []
    for g, sub in counts.groupby("group", sort=True):
        km = km_from_counts(sub, alpha)
        km.insert(0, "group", g)
        parts.append(km)
    if not parts:
        return pd.DataFrame(columns=["group", *KM_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def survival_at_times(km: pd.DataFrame, times: Sequence[float]) -> np.ndarray:
    """S(t) of one curve as a step function; NaN beyond the last time unless S already hit 0."""
    t = km["timeline"].to_numpy()
    s = km["survival"].to_numpy()
    h = np.asarray(times, dtype="float64")
    idx = np.searchsorted(t, h, side="right") - 1
    out = np.where(idx >= 0, s[np.clip(idx, 0, None)], 1.0)
    return np.where((h > t[-1]) & (out > 0), np.nan, out)


def km_summary_counts(
    table: ir.Table, duration: str, event: str, by: str | None = None,
    at: Sequence[float] = (), alpha: float = 0.05,
) -> pd.DataFrame:
    """Engine-side twin of :func:`csresearch.survival.curves.km_summary` (same columns/values).

    One row per group: ``group, n, events, median, median_lower, median_upper, S_<h>...``;
    a median that is not reached is NaN. Median and limits follow R (midpoint of a flat
    stretch at 0.5, log band): :mod:`csresearch.survival.km_median`.

    Example
    -------
    >>> km_summary_counts(st, "tenure_days", "churned", by="segment", at=[365])  # doctest: +SKIP
    """
    km = km_counts(table, duration, event, by, alpha)
    if by is None:
        km = km.assign(group="all")
    rows = []
    for g, c in km.groupby("group", sort=False):
        t, s = c["timeline"].to_numpy(), c["survival"].to_numpy()
        lower, upper = log_band(s, np.sqrt(c["greenwood"].to_numpy()), alpha)  # R's median rule and band
        med, lo, hi = quantile_time(t, s), quantile_time(t, lower), quantile_time(t, upper)
        warn_open_limits(g, med, lo, hi, alpha)
        row = {
            "group": str(g),
            "n": int(c["removed"].sum()),
            "events": int(c["observed"].sum()),
            "median": med,
            "median_lower": lo,
            "median_upper": hi,
        }
        for h, s in zip(at, survival_at_times(c, at), strict=True):
            row[f"S_{h:g}"] = s
        rows.append(row)
    return pd.DataFrame(rows)


def cohort_survival(
    table: ir.Table, duration: str = "tenure_days", event: str = "churned",
    cohort: str = "cohort", at: Sequence[float] = tuple(round(k * 365.25 / 12) for k in range(13)),
) -> pd.DataFrame:
    """Retention by start cohort as Kaplan-Meier S(t) from engine-side counts.

    Rows are cohorts, columns the horizons ``at`` (default whole months 0..12 in days: 0, 30,
    61, ...); a cell is NaN when the cohort has no one observed that long (not yet known).
    Unlike a cohort matrix of active shares, censoring (customers who started recently) is
    handled by the estimator, and only the counts per (cohort, duration) leave the engine.

    Example
    -------
    >>> cohort_survival(survival_table_expr(src, "2025-12-31"))  # doctest: +SKIP
    """
    km = km_counts(table, duration, event, by=cohort)
    rows = {g: survival_at_times(c, at) for g, c in km.groupby("group", sort=True)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(at)).rename_axis(cohort)


__all__ = ["counts_frame", "cohort_survival", "event_counts_expr", "km_counts", "km_from_counts",
           "km_summary_counts", "survival_at_times"]
