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
    add_months,
    months_between,
    next_start,
    period_floor,
    require_columns,
    rule_failures,
)
from csresearch.errors import DataQualityWarning, DataValidationError
from csresearch.metrics import _engine as eng
from csresearch.metrics.revenue import (
    _grid,
    _ratio,
    attach_group,
    check_subscriptions,
    source_of,
)

if TYPE_CHECKING:  # pragma: no cover
    from csresearch.data.sources import DataSource


def _frame(subscriptions: DataSource | pd.DataFrame) -> pd.DataFrame:
    """The subscriptions rows (renewals walk every term anniversary of every row)."""
    if not isinstance(subscriptions, pd.DataFrame) and hasattr(subscriptions, "df"):
        return subscriptions.df("subscriptions")
    return subscriptions


def wrapped(s: pd.DataFrame, memo: dict | None) -> DataSource:
    """:func:`~csresearch.metrics.revenue.source_of` of a report's subscriptions frame, built once
    per ``memo`` (every call on it passes the same frame)."""
    if memo is None:
        return source_of(s)
    if "source" not in memo:
        memo["source"] = source_of(s)
    return memo["source"]


def renewal_events(
    subscriptions: DataSource | pd.DataFrame, as_of: str, grain: str = "month", level: str = "account",
    memo: dict | None = None,
) -> pd.DataFrame:
    """Every term anniversary that falls in a reported period while its subscription is active.

    Subscription with ``term_months`` T has anniversaries ``start_date + k*T`` months (k >= 1).
    It is *up for renewal* at anniversary ``a`` when it was active on the term's last day
    (``a - 1``, i.e. ``end_date`` is missing or >= a). It is *renewed* when, on ``a`` (the day
    after the term), the account is still a customer (:func:`csresearch.data.timeline.active_on`;
    ``level='account'``: a renewal written as a
    new subscription row counts) or the subscription itself is still running
    (``level='subscription'``).

    ``memo``: a dict shared by calls on the same subscriptions (a report's): the anniversaries
    are walked, and checked against the timeline, once for every grain (those of the monthly
    periods hold those of the quarterly ones); each call picks and sorts its grain's.

    Returns period_start, account_id, subscription_id, anniversary, mrr, renewed.
    Subscriptions without ``term_months`` are left out, with a :class:`DataQualityWarning`.
    """
    if level not in ("account", "subscription"):
        raise DataValidationError(f"level must be 'account' or 'subscription', not '{level}'")
    return _events(subscriptions, as_of, grain, level, {} if memo is None else memo)


def _events(subscriptions: DataSource | pd.DataFrame, as_of: str, grain: str, level: str, memo: dict) -> pd.DataFrame:
    """:func:`renewal_events` (the anniversaries of the monthly periods read from ``memo``)."""
    subscriptions = _frame(subscriptions)
    require_columns(subscriptions, "subscriptions", ["subscription_id", "term_months"])
    s = check_subscriptions(subscriptions)
    cols = ["period_start", "account_id", "subscription_id", "anniversary", "mrr", "renewed"]
    src = wrapped(s, memo)
    periods = eng.report_periods(src, as_of, grain)
    no_term = s["term_months"].isna()
    if no_term.any():
        warnings.warn(
            f"{int(no_term.sum()):,} of {len(s):,} subscriptions have no term_months; they are "
            "left out of renewal rates",
            DataQualityWarning,
            stacklevel=3,
        )
    term = pd.to_numeric(s["term_months"], errors="coerce")
    rule_failures(s.drop(columns="mrr_micro"), "subscriptions", [
        ("term_months", "term_months is not a whole number of months >= 1",
         ~no_term & ~((term >= 1) & (term == np.floor(term))),
         "write the contract term in whole months (1 = monthly, 12 = annual) or leave it empty"),
    ])
    t = s.loc[~no_term].copy()
    if len(periods) == 0 or t.empty:
        return pd.DataFrame(columns=cols)
    t["term_months"] = term[~no_term].astype("int64")
    first, end = periods[0], next_start(periods[-1:], grain)[0]
    months = periods if grain == "month" else eng.report_periods(src, as_of, "month")
    wide = (months[0], next_start(months[-1:], "month")[0]) if len(months) else (first, end)
    key = ("renewal_anniversaries", as_of, level)
    if key not in memo or memo[key][0] != wide:
        lo, hi = (wide if wide[0] <= first and end <= wide[1] else (first, end))
        t = t.sort_values(["account_id", "subscription_id"], kind="stable")  # so the anniversaries come sorted
        memo[key] = ((lo, hi), _anniversaries(t, src, as_of, lo, hi, level))
    (lo, hi), rep = memo[key]
    if (lo, hi) != (first, end):  # a superset of this grain's window: keep its anniversaries
        rep = rep.loc[(rep["anniversary"] >= first) & (rep["anniversary"] < end)].reset_index(drop=True)
    rep = rep.assign(period_start=period_floor(rep["anniversary"], grain))
    # by period, account, subscription: the anniversaries are by account and subscription already, so a
    # stable sort of the periods alone (numbers, not strings) gives sort_values of the three
    order = np.argsort(rep["period_start"].to_numpy(), kind="stable")
    return rep[cols].take(order).reset_index(drop=True)


def _anniversaries(t: pd.DataFrame, src, as_of: str, first: pd.Timestamp, end: pd.Timestamp,
                   level: str) -> pd.DataFrame:
    """The term anniversaries in ``[first, end)`` of the subscriptions ``t`` (checked, with
    integer ``term_months``) while they are active: account_id, subscription_id, anniversary,
    mrr, renewed; in the order of ``t``'s rows, then k."""
    t = t[["account_id", "subscription_id", "start_date", "end_date", "mrr", "term_months"]]
    last_day = pd.Series(end - pd.Timedelta(days=1), index=t.index)
    n = np.maximum(months_between(t["start_date"], last_day) // t["term_months"], 0).astype("int64").to_numpy()
    rep = t.iloc[np.repeat(np.arange(len(t)), n)].copy()
    rep["k"] = np.arange(len(rep)) - np.repeat(np.cumsum(n) - n, n) + 1  # 1..n per subscription
    rep["anniversary"] = add_months(rep["start_date"], (rep["k"] * rep["term_months"]).to_numpy())
    keep = (rep["anniversary"] >= first) & (rep["anniversary"] < end)
    keep &= rep["end_date"].isna() | (rep["anniversary"] <= rep["end_date"])
    rep = rep.loc[keep].reset_index(drop=True)
    if level == "subscription":
        rep["renewed"] = rep["end_date"].isna() | (rep["end_date"] > rep["anniversary"])
    else:
        rep["renewed"] = eng.customers_on(src, as_of, rep["account_id"], rep["anniversary"])
    return rep[["account_id", "subscription_id", "anniversary", "mrr", "renewed"]]  # what the events keep


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

    Columns: period_start, [by], up_for_renewal, renewed, renewal_rate, mrr_up_for_renewal,
    mrr_renewed, renewal_rate_mrr, note (NaN rates are explained there). ``memo``: as for
    :func:`renewal_events` (the events of a report's subscriptions computed once).
    """
    s = check_subscriptions(_frame(subscriptions))
    periods = eng.report_periods(wrapped(s, memo), as_of, grain)
    ev = renewal_events(s.drop(columns="mrr_micro"), as_of, grain, level, memo)
    ev, keys, groups = attach_group(ev, by, accounts)
    ev = ev.assign(
        up=1,
        ren=ev["renewed"].astype("int64"),
        mrr_up=ev["mrr"].astype("float64"),
        mrr_ren=ev["mrr"].where(ev["renewed"].astype(bool), 0.0).astype("float64"),
    )
    agg = ev.groupby(["period_start", *keys])[["up", "ren", "mrr_up", "mrr_ren"]].sum().reset_index()
    out = _grid(periods, keys, groups).merge(agg, on=["period_start", *keys], how="left")
    out = out.rename(
        columns={"up": "up_for_renewal", "ren": "renewed", "mrr_up": "mrr_up_for_renewal",
                 "mrr_ren": "mrr_renewed"}
    )
    for c in ["up_for_renewal", "renewed"]:
        out[c] = out[c].fillna(0).astype("int64")
    for c in ["mrr_up_for_renewal", "mrr_renewed"]:
        out[c] = out[c].fillna(0.0)
    out["renewal_rate"] = _ratio(out["renewed"], out["up_for_renewal"])
    out["renewal_rate_mrr"] = _ratio(out["mrr_renewed"], out["mrr_up_for_renewal"])
    known = s["term_months"].notna().any() if "term_months" in s else False
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
    :func:`renewal_events`.

    Example
    -------
    >>> renewal_by_term(src, "2025-12-31").loc["annual", "renewal_rate"]  # doctest: +SKIP
    """
    s = _frame(subscriptions)
    ev = renewal_events(s, as_of, "month", memo=memo)
    cols = ["term_months", "up_for_renewal", "renewed", "renewal_rate"]
    if ev.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="term"))
    months_all = sorted(eng.report_periods(wrapped(check_subscriptions(s), memo), as_of, "month"))
    window = months_all[-months:]
    ev = ev.loc[ev["period_start"].isin(window)]
    terms = s.drop_duplicates("subscription_id").set_index(s["subscription_id"].drop_duplicates().astype(str))
    ev = ev.assign(term_months=ev["subscription_id"].astype(str).map(terms["term_months"]).astype("int64"))
    t = ev.groupby("term_months").agg(up_for_renewal=("renewed", "size"), renewed=("renewed", "sum"))
    t["renewal_rate"] = t["renewed"] / t["up_for_renewal"]
    names = {1: "monthly", 12: "annual"}
    t = t.reset_index()
    t.index = pd.Index([names.get(int(m), f"{int(m)} months") for m in t["term_months"]], name="term")
    t.attrs.update({"since": str(pd.Timestamp(window[0]).date()), "until": str(pd.Timestamp(window[-1]).date())})
    return t[cols]
