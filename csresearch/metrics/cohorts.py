"""Cohort retention matrices (logo and MRR) by start month.

An account's *start* is its first day with MRR > 0 and its cohort the calendar month of that
day. For k = 0..K, the account is looked at on ``start + k`` calendar months (Jan 31 + 1 month
= Feb 28/29):

* logo retention(c, k) = share of cohort c's accounts with MRR > 0 on that day (<= 1);
* MRR retention(c, k) = cohort's MRR on those days / its MRR on the start days (net of
  expansion, so it may exceed 1).

A cell is NaN when any of its accounts' day ``start + k`` is after ``as_of`` (not yet
observable). Accounts never active (only zero-MRR subscriptions) belong to no cohort.

Example
-------
>>> cohort_retention(subs, as_of="2025-12-31", max_months=12)  # doctest: +SKIP
k            0     1    2 ...
cohort
2023-01-01 1.0  0.98 0.97 ...
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csresearch.errors import ConfigError
from csresearch.metrics.revenue import MICRO, _first_active, _mrr_at, check_subscriptions
from csresearch.periods import add_months, parse_as_of, period_floor

COLUMNS = ["cohort", "k", "accounts", "active", "mrr_start", "mrr_k", "observable",
           "logo_retention", "mrr_retention"]


def cohort_table(subscriptions: pd.DataFrame, as_of: str, max_months: int = 24) -> pd.DataFrame:
    """Long cohort table: one row per start-month cohort and k = 0..``max_months``.

    Columns: cohort, k, accounts (cohort size), active (accounts with MRR > 0 k months after
    their start), mrr_start (cohort MRR on the start days), mrr_k, observable,
    logo_retention, mrr_retention (NaN where not observable at ``as_of``).
    """
    if int(max_months) != max_months or max_months < 0:
        raise ConfigError(f"max_months must be a whole number >= 0, not {max_months!r}")
    max_months = int(max_months)
    cut = parse_as_of(as_of)
    s = check_subscriptions(subscriptions)
    fa = _first_active(s)
    fa = fa[fa <= cut]
    if fa.empty:
        return pd.DataFrame(columns=COLUMNS)
    n_k = max_months + 1
    acc = pd.Series(np.repeat(fa.index.to_numpy(), n_k))
    k = np.tile(np.arange(n_k), len(fa))
    start = pd.Series(np.repeat(fa.to_numpy(), n_k))
    day = add_months(start, k)
    mrr = _mrr_at(s, acc, day)
    long = pd.DataFrame(
        {
            "cohort": period_floor(start, "month").to_numpy(),
            "k": k,
            "active": (mrr > 0).astype("int64"),
            "mrr_k": mrr,
            "mrr_start": np.repeat(mrr[::n_k], n_k),
            "day": day.to_numpy(),
        }
    )
    out = long.groupby(["cohort", "k"]).agg(
        accounts=("active", "size"), active=("active", "sum"), mrr_start=("mrr_start", "sum"),
        mrr_k=("mrr_k", "sum"), last_day=("day", "max"),
    ).reset_index()
    out["observable"] = out["last_day"] <= cut
    out["logo_retention"] = (out["active"] / out["accounts"]).where(out["observable"])
    out["mrr_retention"] = (out["mrr_k"] / out["mrr_start"]).where(out["observable"])
    out["mrr_start"] = out["mrr_start"] / MICRO
    out["mrr_k"] = out["mrr_k"] / MICRO
    return out[COLUMNS]


def cohort_retention(
    subscriptions: pd.DataFrame, as_of: str, max_months: int = 24, measure: str = "logo"
) -> pd.DataFrame:
    """Retention matrix: rows = cohort (start month), columns = k = 0..max_months.

    ``measure`` is 'logo' (share of accounts active) or 'mrr' (share of starting MRR).
    Cells not yet observable at ``as_of`` are NaN. See :func:`cohort_table` for sizes.

    Example
    -------
    >>> cohort_retention(subs, "2025-12-31", 12, measure="mrr")  # doctest: +SKIP
    """
    if measure not in ("logo", "mrr"):
        raise ConfigError(f"measure must be 'logo' or 'mrr', not '{measure}'")
    long = cohort_table(subscriptions, as_of, max_months)
    wide = long.pivot(index="cohort", columns="k", values=f"{measure}_retention")
    return wide.reindex(columns=range(int(max_months) + 1)).astype("float64")
