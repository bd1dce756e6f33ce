"""Engine-side (Ibis) versions of the revenue steps that are pandas-only in ``csresearch.metrics``.

:func:`csresearch.metrics.revenue.mrr_movements`, :func:`~csresearch.metrics.revenue.mrr_bridge`
and :func:`csresearch.metrics.cohorts.cohort_table` build an accounts x periods matrix in
pandas, which stops fitting in memory at millions of subscribers. The functions here compute
the heavy part, MRR per account on each period start (and on each cohort anniversary), inside
the engine (DuckDB, Spark, a warehouse) and bring back either the movements or only the small
per-period / per-cohort aggregates. Definitions are those of the pandas modules (see their
docstrings); amounts are summed in integer micro-units as there, so results are identical
(tests compare them). To be consolidated into ``csresearch.metrics`` by its owners.

Example
-------
>>> from csresearch.engine import open_on
>>> src = open_on("data/demo", engine="pyspark")  # doctest: +SKIP
>>> mrr_bridge_engine(src.table("subscriptions"), "2025-12-31").head()  # doctest: +SKIP
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from csresearch.errors import ConfigError, DataValidationError
from csresearch.metrics.revenue import MICRO, MOVEMENTS
from csresearch.periods import check_grain, next_start, parse_as_of, period_starts

COHORT_COLUMNS = ["cohort", "k", "accounts", "active", "mrr_start", "mrr_k", "observable",
                  "logo_retention", "mrr_retention"]


def _subs(subscriptions: ir.Table) -> ir.Table:
    missing = [c for c in ("account_id", "start_date", "end_date", "mrr") if c not in subscriptions.columns]
    if missing:
        raise DataValidationError(
            f"table 'subscriptions': missing column(s) {', '.join(missing)}; present columns: "
            f"{', '.join(subscriptions.columns)}"
        )
    s = subscriptions
    return s.select(
        account_id=s.account_id.cast("string"),
        start=s.start_date.cast("date"),
        end=s.end_date.cast("date"),
        micro=(s.mrr.cast("float64") * MICRO).round().cast("int64"),
    )


def first_active_expr(subscriptions: ir.Table) -> ir.Table:
    """account_id, first_active: first day with MRR > 0 (accounts never active are absent)."""
    s = _subs(subscriptions)
    live = s.filter((s.micro > 0) & (s.end.isnull() | (s.end > s.start)))
    return live.group_by("account_id").aggregate(first_active=live.start.min())


def _dates_table(dates: pd.DatetimeIndex) -> ir.Table:
    df = pd.DataFrame({"i": np.arange(len(dates), dtype="int64"), "d": dates.date})
    return ibis.memtable(df, schema={"i": "int64", "d": "date"})


def mrr_at_dates_expr(subscriptions: ir.Table, dates: pd.DatetimeIndex) -> ir.Table:
    """account_id, i, micro: MRR (integer micro-units) on ``dates[i]``, covered pairs only."""
    s = _subs(subscriptions)
    d = _dates_table(dates)
    j = s.join(d, [s.start <= d.d, s.end.isnull() | (d.d < s.end)])
    return j.group_by(["account_id", "i"]).aggregate(micro=j.micro.sum())


def periods_for(subscriptions: ir.Table, as_of: str, grain: str = "month") -> pd.DatetimeIndex:
    """The reported periods: full periods from the first start date to ``as_of`` (one query)."""
    first = subscriptions.start_date.min().execute()
    if first is None or pd.isna(first):
        raise DataValidationError(
            "table 'subscriptions' is empty: there is no MRR to measure; load a table with at "
            "least one subscription row"
        )
    return period_starts(pd.Timestamp(first), as_of, grain)


def mrr_movements_expr(subscriptions: ir.Table, as_of: str, grain: str = "month") -> ir.Table:
    """Engine-side :func:`csresearch.metrics.revenue.mrr_movements` (amounts in micro-units).

    Columns: period_start, period_end, account_id, start, end (MRR in integer micro-units on
    the two snapshots) and movement. One row per account and period active on either day.
    """
    check_grain(grain)
    periods = periods_for(subscriptions, as_of, grain)
    if len(periods) == 0:
        raise DataValidationError(f"no full {grain} between the first start date and as_of {as_of}")
    dates = periods.append(next_start(periods[-1:], grain))
    n = len(periods)
    snap = mrr_at_dates_expr(subscriptions, dates)
    zero = ibis.literal(0, "int64")
    a = snap.filter(snap.i < n).select("account_id", "i", st=snap.micro, en=zero)
    b = snap.filter(snap.i >= 1).select("account_id", i=snap.i - 1, st=zero, en=snap.micro)
    u = a.union(b)
    m = u.group_by(["account_id", "i"]).aggregate(st=u.st.sum(), en=u.en.sum())
    m = m.filter((m.st > 0) | (m.en > 0))
    fa = first_active_expr(subscriptions).rename(fa_id="account_id")
    pdf = pd.DataFrame({"i": np.arange(n, dtype="int64"), "period_start": periods.date,
                        "period_end": dates[1:].date})
    pt = ibis.memtable(pdf, schema={"i": "int64", "period_start": "date", "period_end": "date"})
    j = m.left_join(fa, m.account_id == fa.fa_id).join(pt, "i")
    before = j.first_active.notnull() & (j.first_active < j.period_start)
    move = ibis.cases(
        ((j.st > 0) & (j.en == 0), "churn"),
        ((j.st > 0) & (j.en > j.st), "expansion"),
        ((j.st > 0) & (j.en < j.st), "contraction"),
        (j.st > 0, "flat"),
        (before, "reactivation"),
        else_="new",
    )
    return j.select("period_start", "period_end", "account_id", start=j.st, end=j.en, movement=move)


def mrr_movements_engine(subscriptions: ir.Table, as_of: str, grain: str = "month") -> pd.DataFrame:
    """:func:`mrr_movements_expr` executed; the same frame as ``metrics.revenue.mrr_movements``.

    Only for results that fit in memory (accounts x periods rows); at scale aggregate in the
    engine with :func:`mrr_bridge_engine`.
    """
    m = mrr_movements_expr(subscriptions, as_of, grain).order_by(["period_start", "account_id"])
    m = m.execute()
    out = pd.DataFrame({
        "period_start": pd.to_datetime(m["period_start"]).astype("datetime64[ns]"),
        "period_end": pd.to_datetime(m["period_end"]).astype("datetime64[ns]"),
        "account_id": m["account_id"].astype(object),
    })
    out["mrr_start"] = m["start"].to_numpy() / MICRO
    out["mrr_end"] = m["end"].to_numpy() / MICRO
    out["mrr_change"] = (m["end"].to_numpy() - m["start"].to_numpy()) / MICRO
    out["movement"] = pd.Categorical(m["movement"], categories=MOVEMENTS)
    return out


def mrr_bridge_engine(subscriptions: ir.Table, as_of: str, grain: str = "month") -> pd.DataFrame:
    """The MRR bridge per period, aggregated in the engine (no per-account rows come back).

    Same columns and values as ``metrics.revenue.mrr_bridge(subs, as_of, grain)`` (no ``by``).
    """
    mv = mrr_movements_expr(subscriptions, as_of, grain)
    zero = ibis.literal(0, "int64")

    def n(kind):
        return (mv.movement == kind).sum()

    def amt(kind, x):
        return ibis.ifelse(mv.movement == kind, x, zero).sum()

    agg = mv.group_by("period_start").aggregate(
        accounts_start=(mv.start > 0).sum(),
        accounts_new=n("new"),
        accounts_reactivated=n("reactivation"),
        accounts_expanded=n("expansion"),
        accounts_contracted=n("contraction"),
        accounts_churned=n("churn"),
        accounts_end=(mv.end > 0).sum(),
        mrr_start=mv.start.sum(),
        mrr_new=amt("new", mv.end),
        mrr_expansion=amt("expansion", mv.end - mv.start),
        mrr_contraction=amt("contraction", mv.start - mv.end),
        mrr_churned=amt("churn", mv.start),
        mrr_reactivation=amt("reactivation", mv.end),
        mrr_end=mv.end.sum(),
    ).execute()
    agg["period_start"] = pd.to_datetime(agg["period_start"]).astype("datetime64[ns]")
    periods = periods_for(subscriptions, as_of, grain)
    out = pd.DataFrame({"period_start": periods}).merge(agg, on="period_start", how="left")
    value_cols = [c for c in out.columns if c.startswith(("accounts_", "mrr_"))]
    out[value_cols] = out[value_cols].fillna(0).astype("int64")
    out.insert(1, "period_end", next_start(out["period_start"], grain))
    for c in [c for c in value_cols if c.startswith("mrr_")]:
        out[c] = out[c] / MICRO

    def ratio(num, den):
        return (num / den.where(den > 0)).astype("float64")

    lost = out["mrr_churned"] + out["mrr_contraction"]
    out["logo_churn_rate"] = ratio(out["accounts_churned"], out["accounts_start"])
    out["gross_mrr_churn_rate"] = ratio(lost, out["mrr_start"])
    out["grr"] = ratio(out["mrr_start"] - lost, out["mrr_start"])
    out["nrr"] = ratio(out["mrr_start"] + out["mrr_expansion"] - lost, out["mrr_start"])
    out["note"] = np.where(out["accounts_start"] == 0, "no account active at period start", "")
    return out


def _add_months_expr(d: ir.DateValue, k: ir.IntegerValue) -> ir.DateValue:
    """``d`` plus ``k`` calendar months, the day clipped to the month's length (portable SQL)."""
    mi = d.year() * 12 + d.month() - 1 + k
    nxt = mi + 1
    last_day = (ibis.date(nxt // 12, nxt % 12 + 1, 1) - ibis.interval(days=1)).day()
    day = ibis.least(d.day(), last_day)
    return ibis.date(mi // 12, mi % 12 + 1, day)


def cohort_table_expr(subscriptions: ir.Table, as_of: str, max_months: int = 24) -> ir.Table:
    """Engine-side :func:`csresearch.metrics.cohorts.cohort_table` before the ratios.

    One row per cohort (start month) and k: accounts, active, mrr_start / mrr_k (micro-units),
    last_day (latest anniversary in the cell, for observability).
    """
    if int(max_months) != max_months or max_months < 0:
        raise ConfigError(f"max_months must be a whole number >= 0, not {max_months!r}")
    cut = parse_as_of(as_of).date()
    fa = first_active_expr(subscriptions)
    fa = fa.filter(fa.first_active <= ibis.literal(cut))
    ks = ibis.memtable(pd.DataFrame({"k": np.arange(int(max_months) + 1, dtype="int64")}))
    pairs = fa.cross_join(ks)
    pairs = pairs.mutate(day=_add_months_expr(pairs.first_active, pairs.k))
    s = _subs(subscriptions).rename(s_id="account_id")
    j = pairs.left_join(
        s, [pairs.account_id == s.s_id, s.start <= pairs.day, s.end.isnull() | (pairs.day < s.end)]
    )
    per = j.group_by([j.account_id, j.first_active, j.k, j.day]).aggregate(
        mrr=j.micro.sum().fill_null(0)
    )
    per = per.mutate(cohort=ibis.date(per.first_active.year(), per.first_active.month(), 1))
    start = per.filter(per.k == 0).select(a0="account_id", m0="mrr")
    per = per.join(start, per.account_id == start.a0)
    return per.group_by(["cohort", "k"]).aggregate(
        accounts=per.count(),
        active=(per.mrr > 0).sum(),
        mrr_start=per.m0.sum(),
        mrr_k=per.mrr.sum(),
        last_day=per.day.max(),
    )


def cohort_table_engine(subscriptions: ir.Table, as_of: str, max_months: int = 24) -> pd.DataFrame:
    """:func:`cohort_table_expr` finished in pandas: the frame of ``metrics.cohorts.cohort_table``.

    Example
    -------
    >>> cohort_table_engine(src.table("subscriptions"), "2025-12-31", 12)  # doctest: +SKIP
    """
    cut = parse_as_of(as_of)
    out = cohort_table_expr(subscriptions, as_of, max_months).order_by(["cohort", "k"]).execute()
    if out.empty:
        return pd.DataFrame(columns=COHORT_COLUMNS)
    out["cohort"] = pd.to_datetime(out["cohort"]).astype("datetime64[ns]")
    out["last_day"] = pd.to_datetime(out["last_day"])
    for c in ("accounts", "active", "mrr_start", "mrr_k", "k"):
        out[c] = out[c].astype("int64")
    out["observable"] = out["last_day"] <= cut
    out["logo_retention"] = (out["active"] / out["accounts"]).where(out["observable"])
    out["mrr_retention"] = (out["mrr_k"] / out["mrr_start"]).where(out["observable"])
    out["mrr_start"] = out["mrr_start"] / MICRO
    out["mrr_k"] = out["mrr_k"] / MICRO
    return out[COHORT_COLUMNS].reset_index(drop=True)
