"""Cohort retention matrices (logo and MRR) by start month, in the engine of the data source.

An account's *start* is its first paid day (:mod:`csresearch.data.timeline`: the first day with
MRR > 0; a free trial before it does not count) and its cohort the calendar month of that
day. For k = 0..K, the account is looked at on its anniversary ``start + k`` calendar months
(Jan 31 + 1 month = Feb 28/29):

* logo retention(c, k) = share of cohort c's accounts that are customers on that day
  (:func:`csresearch.data.timeline.active_on`; <= 1);
* MRR retention(c, k) = cohort's paid MRR on those days / its MRR on the start days (net of
  expansion, so it may exceed 1).

A cell is NaN when any of its accounts' day ``start + k`` is after ``as_of`` (not yet
observable; its counts read what is known on ``as_of``). Free-only accounts belong to no
cohort. Only the per-cohort aggregates leave the engine.

Example
-------
>>> cohort_retention(src, as_of="2025-12-31", max_months=12)  # doctest: +SKIP
k            0     1    2 ...
cohort
2023-01-01 1.0  0.98 0.97 ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from csresearch.data.periods import parse_as_of
from csresearch.errors import ConfigError
from csresearch.metrics import _engine as eng
from csresearch.metrics._engine import MICRO
from csresearch.metrics.revenue import source_of

if TYPE_CHECKING:  # pragma: no cover
    from csresearch.data.sources import DataSource

COLUMNS = ["cohort", "k", "accounts", "active", "mrr_start", "mrr_k", "observable",
           "logo_retention", "mrr_retention"]


def _add_months_expr(d: ir.DateValue, k: ir.IntegerValue) -> ir.DateValue:
    """``d`` plus ``k`` calendar months, the day clipped to the month's length (portable SQL)."""
    mi = d.year() * 12 + d.month() - 1 + k
    nxt = mi + 1
    last_day = (ibis.date(nxt // 12, nxt % 12 + 1, 1) - ibis.interval(days=1)).day()
    day = ibis.least(d.day(), last_day)
    return ibis.date(mi // 12, mi % 12 + 1, day)


def _cohort_expr(src: DataSource, as_of: str, max_months: int) -> ir.Table:
    """One row per cohort (start month) and k: accounts, active, mrr_start / mrr_k
    (micro-units) and last_day (latest anniversary in the cell, for observability)."""
    fp = eng.first_paid_expr(src, as_of)
    ks = ibis.memtable(pd.DataFrame({"k": np.arange(max_months + 1, dtype="int64")}))
    pairs = fp.cross_join(ks)
    pairs = pairs.mutate(day=_add_months_expr(pairs.first_paid, pairs.k))
    p = eng.paid_micro(src, as_of).rename(p_id="account_id")
    j = pairs.left_join(p, [pairs.fp_id == p.p_id, p.start_date <= pairs.day, pairs.day < p.stop])
    per = j.group_by([j.fp_id, j.first_paid, j.k, j.day]).aggregate(mrr=j.micro.sum().fill_null(0))
    per = per.mutate(cohort=ibis.date(per.first_paid.year(), per.first_paid.month(), 1))
    start = per.filter(per.k == 0).select(a0="fp_id", m0="mrr")
    per = per.join(start, per.fp_id == start.a0)
    return per.group_by(["cohort", "k"]).aggregate(
        accounts=per.count(),
        active=eng.count_if(per.mrr > 0),
        mrr_start=per.m0.sum(),
        mrr_k=per.mrr.sum(),
        last_day=per.day.max(),
    )


def cohort_table(
    subscriptions: DataSource | pd.DataFrame, as_of: str, max_months: int = 24
) -> pd.DataFrame:
    """Long cohort table: one row per start-month cohort and k = 0..``max_months``.

    ``subscriptions`` is a :class:`~csresearch.data.sources.DataSource` (any engine) or a pandas
    subscriptions frame (checked, then wrapped into an in-memory DuckDB source).

    Columns: cohort, k, accounts (cohort size), active (customers k months after their first
    paid day), mrr_start (cohort MRR on the start days), mrr_k, observable, logo_retention,
    mrr_retention (NaN where not observable at ``as_of``).

    Example
    -------
    >>> cohort_table(src, "2025-12-31", 12).head()  # doctest: +SKIP
    """
    if int(max_months) != max_months or max_months < 0:
        raise ConfigError(f"max_months must be a whole number >= 0, not {max_months!r}")
    cut = parse_as_of(as_of)
    src = source_of(subscriptions)
    out = _cohort_expr(src, cut.date().isoformat(), int(max_months)).order_by(["cohort", "k"]).execute()
    if out.empty:
        return pd.DataFrame(columns=COLUMNS)
    out["cohort"] = pd.to_datetime(out["cohort"]).astype("datetime64[ns]")
    out["last_day"] = pd.to_datetime(out["last_day"])
    for c in ("accounts", "active", "mrr_start", "mrr_k", "k"):
        out[c] = out[c].astype("int64")
    out["observable"] = out["last_day"] <= cut
    out["logo_retention"] = (out["active"] / out["accounts"]).where(out["observable"])
    out["mrr_retention"] = (out["mrr_k"] / out["mrr_start"]).where(out["observable"])
    out["mrr_start"] = out["mrr_start"] / MICRO
    out["mrr_k"] = out["mrr_k"] / MICRO
    return out[COLUMNS].reset_index(drop=True)


def cohort_retention(
    subscriptions: DataSource | pd.DataFrame, as_of: str, max_months: int = 24, measure: str = "logo"
) -> pd.DataFrame:
    """Retention matrix: rows = cohort (start month), columns = k = 0..max_months.

    ``measure`` is 'logo' (share of accounts active) or 'mrr' (share of starting MRR).
    Cells not yet observable at ``as_of`` are NaN. See :func:`cohort_table` for sizes.

    Example
    -------
    >>> cohort_retention(subs, "2025-12-31", 12, measure="mrr")  # doctest: +SKIP
    """
    _check_measure(measure)
    return retention_matrix(cohort_table(subscriptions, as_of, max_months), max_months, measure)


def retention_matrix(long: pd.DataFrame, max_months: int, measure: str = "logo") -> pd.DataFrame:
    """:func:`cohort_retention` from a :func:`cohort_table` already computed (pure): a report
    that shows both measures computes the table once."""
    _check_measure(measure)
    wide = long.pivot(index="cohort", columns="k", values=f"{measure}_retention")
    return wide.reindex(columns=range(int(max_months) + 1)).astype("float64")


def _check_measure(measure: str) -> None:
    if measure not in ("logo", "mrr"):
        raise ConfigError(f"measure must be 'logo' or 'mrr', not '{measure}'")
