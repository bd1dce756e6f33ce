"""Renewal events and renewal rates per period (and group), from the subscriptions table.

See :func:`renewal_events` for the definitions; periods, grouping and MRR at a date come from
:mod:`csresearch.metrics.revenue`.

Example
-------
>>> renewal_rates(subs, as_of="2025-12-31", by="segment", accounts=accounts)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csresearch.data.periods import (
    month_from_index,
    next_start,
    period_floor,
    require_columns,
    rule_failures,
)
from csresearch.errors import DataQualityWarning, DataValidationError
from csresearch.metrics import _engine as eng
from csresearch.metrics._engine import MICRO, SPLIT
from csresearch.metrics.revenue import (
    _grid,
    _ratio,
    check_subscriptions,
    source_of,
)

if TYPE_CHECKING:  # pragma: no cover
    from csresearch.data.sources import DataSource


TERM_FIX = "write the contract term in whole months (1 = monthly, 12 = annual) or leave it empty"


def _source(subscriptions: DataSource | pd.DataFrame, accounts: pd.DataFrame | None, by: str | None,
            memo: dict | None) -> DataSource:
    """The source the renewals read, its ``term_months`` checked (:func:`_check_terms`): the
    data source itself (the engine reads its files) or a subscriptions frame checked and wrapped
    (:func:`~csresearch.metrics.revenue.source_of`); once per ``memo`` and ``by``."""
    key = ("renewal_source", by)
    if memo is not None and key in memo:
        return memo[key]
    if isinstance(subscriptions, pd.DataFrame):
        require_columns(subscriptions, "subscriptions", ["subscription_id", "term_months"])
        s = check_subscriptions(subscriptions)
        term = pd.to_numeric(s["term_months"], errors="coerce")
        rule_failures(s.drop(columns="mrr_micro"), "subscriptions", [
            ("term_months", "term_months is not a whole number of months >= 1",
             s["term_months"].notna() & ~((term >= 1) & (term == np.floor(term))), TERM_FIX),
        ])
        src = source_of(s, accounts, by)  # names a missing or wrong ``by`` first
    else:
        src = source_of(subscriptions)
        cols = src.raw("subscriptions").columns
        missing = [c for c in ("subscription_id", "term_months") if c not in cols]
        if missing:
            raise DataValidationError(
                f"table 'subscriptions': missing column(s) {', '.join(missing)}; present columns: "
                f"{', '.join(cols)}. Add them or map yours onto them in the mapping YAML."
            )
        _check_terms(src)
        if by is not None:
            eng.check_by(src, by)
    if memo is not None:
        memo[key] = src
    return src


def _check_terms(src: DataSource) -> None:
    """A named :class:`DataValidationError` for term_months that are not whole months >= 1 (the
    engine counts them and sends five examples)."""
    raw = src.raw("subscriptions")
    t = raw.term_months.cast("float64")
    bad = raw.filter(t.notnull() & ((t < 1) | (t != t.floor())))
    n = int(bad.count().execute())
    if n:
        ex = bad.limit(5).execute().to_string(index=False, max_colwidth=30)
        raise DataValidationError(
            f"table 'subscriptions', column 'term_months': term_months is not a whole number of months "
            f">= 1 in {n:,} row(s); examples:\n{ex}\nhow to fix: {TERM_FIX}"
        )


def _warn_no_term(src: DataSource, memo: dict | None) -> bool:
    """Warn (once per ``memo``) how many subscriptions have no term_months; whether any has one."""
    if memo is not None and "renewal_terms_known" in memo:
        return memo["renewal_terms_known"]
    s = src.table("subscriptions")
    r = s.aggregate(n=s.count(), none=eng.count_if(s.term_months.isnull())).execute().iloc[0]
    n, none = int(r["n"]), int(r["none"])
    if none:
        warnings.warn(f"{none:,} of {n:,} subscriptions have no term_months; they are left out of renewal "
                      "rates", DataQualityWarning, stacklevel=4)
    if memo is not None:
        memo["renewal_terms_known"] = none < n
    return none < n


def renewal_events(
    subscriptions: DataSource | pd.DataFrame, as_of: str, grain: str = "month", level: str = "account",
    memo: dict | None = None,
) -> pd.DataFrame:
    """Every term anniversary that falls in a reported period while its subscription is active.

    Subscription with ``term_months`` T has anniversaries ``start_date + k*T`` months (k >= 1;
    Jan 31 + 1 month = Feb 28/29). It is *up for renewal* at anniversary ``a`` when it was
    active on the term's last day (``a - 1``, i.e. ``end_date`` is missing or >= a). It is
    *renewed* when, on ``a`` (the day after the term), the account is still a customer
    (:func:`csresearch.data.timeline.active_on`; ``level='account'``: a renewal written as a
    new subscription row counts) or the subscription itself is still running
    (``level='subscription'``). The engine finds them (:func:`csresearch.metrics._engine.anniversaries_expr`).

    One row per anniversary comes back (for notebooks and small books; :func:`renewal_rates`
    and :func:`renewal_by_term` count them in the engine): period_start, account_id,
    subscription_id, anniversary, mrr, renewed; by period, account and subscription.
    Subscriptions without ``term_months`` are left out, with a :class:`DataQualityWarning`.
    """
    _check_level(level)
    src = _source(subscriptions, None, None, memo)
    known = _warn_no_term(src, memo)
    cols = ["period_start", "account_id", "subscription_id", "anniversary", "mrr", "renewed"]
    periods = eng.report_periods(src, as_of, grain)
    if len(periods) == 0 or not known:
        return pd.DataFrame(columns=cols)
    months = _months(periods, grain)
    ev = eng.anniversaries_expr(src, as_of, months, level)
    ev = ev.order_by(["anniversary", "account_id", "subscription_id"]).execute()
    out = pd.DataFrame({
        "account_id": ev["account_id"].astype(object), "subscription_id": ev["subscription_id"].astype(object),
        "anniversary": pd.to_datetime(ev["anniversary"]).astype("datetime64[ns]"),
        "mrr": ev["micro"].to_numpy(dtype="int64") / MICRO, "renewed": ev["renewed"].to_numpy() == 1,
    })
    out.insert(0, "period_start", period_floor(out["anniversary"], grain))
    return out.sort_values(["period_start", "account_id", "subscription_id"], kind="stable", ignore_index=True)


def _check_level(level: str) -> None:
    if level not in ("account", "subscription"):
        raise DataValidationError(f"level must be 'account' or 'subscription', not '{level}'")


def _months(periods: pd.DatetimeIndex, grain: str) -> pd.DatetimeIndex:
    """The month starts of ``periods`` (those of the monthly periods, whatever the grain)."""
    return periods if grain == "month" else pd.date_range(periods[0], next_start(periods[-1:], grain)[0],
                                                          freq="MS", inclusive="left")


def _split(src: DataSource, memo: dict | None) -> bool:
    """Whether ``memo`` names an accounts column to split the counts by (:data:`SPLIT`)."""
    split = (memo or {}).get(SPLIT)
    return split is not None and src.has("accounts") and split in src.raw("accounts").columns


def _counts(src: DataSource, as_of: str, level: str, by: str | None, memo: dict | None) -> pd.DataFrame:
    """:func:`csresearch.metrics._engine.renewal_counts` over the monthly periods, with
    period_start (the anniversary's month); once per ``memo``, level and ``by``. Empty without
    a monthly period or a term."""
    key = ("renewal_counts", as_of, level, by)
    if memo is not None and key in memo:
        return memo[key]
    months = eng.report_periods(src, as_of, "month")
    known = _warn_no_term(src, memo)
    if len(months) == 0 or not known:
        c = pd.DataFrame({k: pd.Series(dtype="int64") for k in ("term_months", "up", "ren", "mrr_up", "mrr_ren")})
        c.insert(0, "period_start", pd.Series(dtype="datetime64[ns]"))
        if by:
            c[by] = pd.Series(dtype=object)
    elif by is None and _split(src, memo):  # the report's split counts, summed over its groups
        c = _counts(src, as_of, level, memo[SPLIT], memo)
        c = c.groupby(["period_start", "term_months"], sort=True)[["up", "ren", "mrr_up", "mrr_ren"]].sum().reset_index()
    else:
        c = eng.renewal_counts(src, as_of, months, level, by)
        c.insert(0, "period_start", month_from_index(c.pop("mi").to_numpy(dtype="int64")))
    if memo is not None:
        memo[key] = c
    return c


def renewal_rates(
    subscriptions: DataSource | pd.DataFrame,
    as_of: str,
    grain: str = "month",
    by: str | None = None,
    accounts: pd.DataFrame | None = None,
    level: str = "account",
    memo: dict | None = None,
) -> pd.DataFrame:
    """Renewal rate per period (and group), by count and by MRR (see :func:`renewal_events`).

    ``subscriptions``: a :class:`~csresearch.data.sources.DataSource` (any engine; its
    ``accounts`` table serves ``by``) or a subscriptions frame (with ``accounts`` for ``by``).
    The anniversaries are counted in the engine per month, term and group; only those counts
    come back. Columns: period_start, [by], up_for_renewal, renewed, renewal_rate,
    mrr_up_for_renewal, mrr_renewed, renewal_rate_mrr, note (NaN rates are explained there).
    ``memo``: a dict shared by calls on the same data (a report's): the counts of every grain
    come from one query per level and ``by``.
    """
    _check_level(level)
    src = _source(subscriptions, accounts, by, memo)
    periods = eng.report_periods(src, as_of, grain)
    c = _counts(src, as_of, level, by, memo)
    keys = [by] if by else []
    groups = sorted(set(eng.group_values(src, by)) | set(c[by].astype(str))) if by else []
    c = c.assign(period_start=period_floor(c["period_start"], grain))
    c = c.loc[c["period_start"].isin(periods)]
    agg = c.groupby(["period_start", *keys])[["up", "ren", "mrr_up", "mrr_ren"]].sum().reset_index()
    out = _grid(periods, keys, groups).merge(agg, on=["period_start", *keys], how="left")
    out = out.rename(columns={"up": "up_for_renewal", "ren": "renewed", "mrr_up": "mrr_up_for_renewal",
                              "mrr_ren": "mrr_renewed"})
    for col in ["up_for_renewal", "renewed", "mrr_up_for_renewal", "mrr_renewed"]:
        out[col] = out[col].fillna(0).astype("int64")
    for col in ["mrr_up_for_renewal", "mrr_renewed"]:
        out[col] = out[col] / MICRO
    out["renewal_rate"] = _ratio(out["renewed"], out["up_for_renewal"])
    out["renewal_rate_mrr"] = _ratio(out["mrr_renewed"], out["mrr_up_for_renewal"])
    known = _warn_no_term(src, memo)
    out["note"] = np.where(
        out["up_for_renewal"] > 0, "",
        "no term anniversary in period" if known else "term_months unknown for every subscription",
    )
    return out[["period_start", *keys, "up_for_renewal", "renewed", "renewal_rate",
                "mrr_up_for_renewal", "mrr_renewed", "renewal_rate_mrr", "note"]]


def renewal_by_term(subscriptions: DataSource | pd.DataFrame, as_of: str, months: int = 12,
                    memo: dict | None = None) -> pd.DataFrame:
    """Renewal rate by contract term over the last ``months`` monthly periods to ``as_of``.

    The term anniversaries of :func:`renewal_events` (account level) whose month is one of the
    last ``months`` complete months, grouped by the subscription's ``term_months``: one row per
    term (index ``term``: ``monthly``, ``annual`` or ``N months``) with term_months,
    up_for_renewal, renewed, renewal_rate. ``attrs``: since, until (the months covered).
    A monthly rate says little about annual contracts: both are shown apart. ``memo``: as for
    :func:`renewal_rates`.

    Example
    -------
    >>> renewal_by_term(src, "2025-12-31").loc["annual", "renewal_rate"]  # doctest: +SKIP
    """
    src = _source(subscriptions, None, None, memo)
    c = _counts(src, as_of, "account", None, memo)
    cols = ["term_months", "up_for_renewal", "renewed", "renewal_rate"]
    window = sorted(eng.report_periods(src, as_of, "month"))[-months:]
    c = c.loc[c["period_start"].isin(window)]
    if c.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="term"))
    t = c.groupby("term_months").agg(up_for_renewal=("up", "sum"), renewed=("ren", "sum"))
    t["renewal_rate"] = t["renewed"] / t["up_for_renewal"]
    names = {1: "monthly", 12: "annual"}
    t = t.reset_index()
    t.index = pd.Index([names.get(int(m), f"{int(m)} months") for m in t["term_months"]], name="term")
    t.attrs.update({"since": str(pd.Timestamp(window[0]).date()), "until": str(pd.Timestamp(window[-1]).date())})
    return t[cols]
