"""MRR snapshots, the MRR movement table, the MRR bridge, churn, GRR/NRR and renewal rates.

Definitions (calendar periods, snapshots on a period's first day ``p``; ``next`` is the next
period's first day):

* MRR of an account on day ``d`` = sum of ``mrr`` of its subscriptions with
  ``start_date <= d < end_date`` (a missing ``end_date`` is open).
* An account is *active* on ``d`` when its MRR on ``d`` is > 0.
* Movement of an account in ``[p, next)``: ``churn`` (active on p, not on next),
  ``expansion`` / ``contraction`` / ``flat`` (active on both, MRR up / down / equal),
  ``new`` (not active on p nor on any day before p, active on next), ``reactivation``
  (not active on p, active on some day before p, active on next).
* Bridge: ``mrr_start + mrr_new + mrr_expansion - mrr_contraction - mrr_churned +
  mrr_reactivation = mrr_end``. Amounts are summed in integer micro-units (1e-6), so the
  bridge reconciles exactly and a "flat" account is never a rounding artefact.

Example
-------
>>> subs = pd.DataFrame({"subscription_id": ["s1"], "account_id": ["a"],
...     "start_date": pd.to_datetime(["2024-01-01"]), "end_date": pd.to_datetime(["2024-03-01"]),
...     "mrr": [100.0]})
>>> mrr_bridge(subs, as_of="2024-03-31")[["period_start", "mrr_start", "mrr_churned"]]
  period_start  mrr_start  mrr_churned
0   2024-01-01      100.0          0.0
1   2024-02-01      100.0        100.0
2   2024-03-01        0.0          0.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from csresearch.errors import ConfigError, DataValidationError
from csresearch.periods import (
    next_start,
    parse_as_of,
    period_starts,
    require_columns,
    rule_failures,
    to_dates,
)
from csresearch.schema import CONTRACT, FIXES, MRR_TOTAL_LIMIT

MICRO = 1_000_000
#: the contract's mrr column: its rules (>= 0, finite, at most MRR_LIMIT) are the ones
#: ``validate`` runs in the engine, so what validates is what the calculators accept
MRR = CONTRACT["subscriptions"].column("mrr")
MOVEMENTS = ("new", "expansion", "contraction", "flat", "churn", "reactivation")
MISSING_GROUP = "(missing)"


# -- input checks and low-level snapshots ----------------------------------------------------
def check_subscriptions(subscriptions: pd.DataFrame) -> pd.DataFrame:
    """A validated working copy of ``subscriptions`` (dates normalised, ``mrr_micro`` added,
    a fresh 0..n-1 index so a duplicated input index cannot confuse row bookkeeping).

    Raises :class:`DataValidationError` for an empty table, missing columns, a missing
    account_id or start date, unparseable dates, MRR that is missing, not a number,
    negative or infinite, or an end date before its start date; every failing rule is
    named with its column, row count and up to five example rows.
    """
    require_columns(subscriptions, "subscriptions", ["account_id", "start_date", "end_date", "mrr"])
    if subscriptions.empty:
        raise DataValidationError(
            "table 'subscriptions' is empty: there is no MRR to measure; load a table with at "
            "least one subscription row"
        )
    raw = subscriptions.reset_index(drop=True)
    s = raw.copy()
    s["start_date"] = to_dates(raw, "subscriptions", "start_date")
    s["end_date"] = to_dates(raw, "subscriptions", "end_date")
    mrr = pd.to_numeric(raw["mrr"], errors="coerce").astype("float64")
    fix = "correct or remove those rows"
    rule_failures(raw, "subscriptions", [
        ("account_id", "account_id is missing", s["account_id"].isna(),
         "every subscription needs the account it belongs to; " + fix),
        ("start_date", "start_date is missing", s["start_date"].isna(), fix),
        ("mrr", "mrr is not a number", mrr.isna() & raw["mrr"].notna(), "write MRR as a plain number"),
        ("mrr", "mrr is missing or negative", raw["mrr"].isna() | (mrr < 0), fix),
        ("mrr", "mrr is infinite", np.isinf(mrr), fix),
        ("mrr", "mrr is too large", np.isfinite(mrr) & (mrr > MRR.limit), FIXES["too large"]),
        ("end_date", "end_date is before start_date",
         s["end_date"].notna() & (s["end_date"] < s["start_date"]), fix),
    ])
    total = float(mrr.sum())
    rule_failures(raw, "subscriptions", [
        ("mrr", f"total mrr is too large ({total:g})",
         np.full(len(raw), total > MRR_TOTAL_LIMIT), FIXES["total too large"]),
    ])
    s["mrr"] = mrr
    s["mrr_micro"] = np.round(mrr.to_numpy() * MICRO).astype("int64")
    return s


def live_mask(s: pd.DataFrame) -> pd.Series:
    """Rows of a checked subscriptions frame (:func:`check_subscriptions`) that give MRR > 0
    on at least one day: ``mrr > 0`` and an end date after the start date (or none)."""
    return (s["mrr_micro"] > 0) & (s["end_date"].isna() | (s["end_date"] > s["start_date"]))


def _first_active(s: pd.DataFrame) -> pd.Series:
    """First day with MRR > 0 per account of a checked frame (accounts never active absent)."""
    return s.loc[live_mask(s)].groupby("account_id")["start_date"].min()


def first_active_dates(subscriptions: pd.DataFrame) -> pd.Series:
    """First day on which each account had MRR > 0 (NaT for accounts never active)."""
    s = check_subscriptions(subscriptions)
    out = _first_active(s).reindex(pd.Index(s["account_id"].unique(), name="account_id"))
    return out.rename("first_active")


def _mrr_matrix(s: pd.DataFrame, dates: pd.DatetimeIndex) -> tuple[pd.Index, np.ndarray]:
    """Accounts and their MRR (micro-units, int64) on each of ``dates``: an A x D matrix."""
    codes, accounts = pd.factorize(s["account_id"], sort=True)
    d = dates.to_numpy()[None, :]
    start = s["start_date"].to_numpy()[:, None]
    end = s["end_date"].to_numpy()[:, None]
    cover = (start <= d) & (pd.isna(end) | (d < end))
    vals = cover * s["mrr_micro"].to_numpy()[:, None]
    mat = pd.DataFrame(vals).groupby(codes).sum().to_numpy()
    full = np.zeros((len(accounts), len(dates)), dtype="int64")
    full[np.unique(codes)] = mat
    return pd.Index(accounts, name="account_id"), full


def _mrr_at(s: pd.DataFrame, account_id: pd.Series, date: pd.Series) -> np.ndarray:
    """MRR (micro-units) of each (account, date) pair, vectorised through one merge."""
    pairs = pd.DataFrame({"account_id": account_id.to_numpy(), "d": date.to_numpy(), "row": np.arange(len(date))})
    m = pairs.merge(s[["account_id", "start_date", "end_date", "mrr_micro"]], on="account_id")
    cover = (m["start_date"] <= m["d"]) & (m["end_date"].isna() | (m["d"] < m["end_date"]))
    sums = m.loc[cover].groupby("row")["mrr_micro"].sum()
    out = np.zeros(len(date), dtype="int64")
    out[sums.index.to_numpy()] = sums.to_numpy()
    return out


def mrr_snapshots(subscriptions: pd.DataFrame, dates: Sequence) -> pd.DataFrame:
    """MRR of every account on each of ``dates`` (long: account_id, snapshot_date, mrr).

    Accounts with no subscription covering a date get ``mrr`` 0 on it. The engine-side
    equivalent is :func:`csresearch.features.mrr_snapshots_table`.
    """
    s = check_subscriptions(subscriptions)
    idx = pd.DatetimeIndex(pd.to_datetime(list(dates))).normalize()
    accounts, mat = _mrr_matrix(s, idx)
    return pd.DataFrame(
        {
            "account_id": np.repeat(accounts.to_numpy(), len(idx)),
            "snapshot_date": np.tile(idx.to_numpy(), len(accounts)),
            "mrr": mat.reshape(-1) / MICRO,
        }
    )


# -- movements ------------------------------------------------------------------------------
def _periods_for(s: pd.DataFrame, as_of: str, grain: str) -> pd.DatetimeIndex:
    """Full periods from the first start date to ``as_of``; an ``as_of`` before the first
    start date is a :class:`ConfigError` naming the data's date range (not an empty table)."""
    first = s["start_date"].min()
    if parse_as_of(as_of) < first:
        last = max(s["start_date"].max(), s["end_date"].max() if s["end_date"].notna().any() else first)
        raise ConfigError(
            f"as_of {parse_as_of(as_of).date()} is before the data starts: subscriptions run from "
            f"{first.date()} to {last.date()}; pick an as_of on or after the end of the first "
            "full period"
        )
    return period_starts(first, as_of, grain)


def _movements_micro(s: pd.DataFrame, periods: pd.DatetimeIndex, grain: str) -> pd.DataFrame:
    if len(periods) == 0:
        return pd.DataFrame(
            {c: pd.Series(dtype=t) for c, t in [("period_start", "datetime64[ns]"),
             ("period_end", "datetime64[ns]"), ("account_id", object), ("start", "int64"),
             ("end", "int64"), ("movement", object)]}
        )
    nxt = next_start(periods[-1:], grain)
    dates = periods.append(nxt)
    accounts, mat = _mrr_matrix(s, dates)
    fa = _first_active(s).reindex(accounts).to_numpy()
    start, end = mat[:, :-1], mat[:, 1:]
    ai, pi = np.nonzero((start > 0) | (end > 0))
    st, en = start[ai, pi], end[ai, pi]
    p = periods.to_numpy()[pi]
    before = ~pd.isna(fa[ai]) & (fa[ai] < p)
    move = np.select(
        [(st > 0) & (en == 0), (st > 0) & (en > st), (st > 0) & (en < st), st > 0, before],
        ["churn", "expansion", "contraction", "flat", "reactivation"],
        default="new",
    )
    return pd.DataFrame(
        {
            "period_start": p,
            "period_end": dates.to_numpy()[pi + 1],
            "account_id": accounts.to_numpy()[ai],
            "start": st,
            "end": en,
            "movement": move,
        }
    ).sort_values(["period_start", "account_id"], ignore_index=True)


def mrr_movements(subscriptions: pd.DataFrame, as_of: str, grain: str = "month") -> pd.DataFrame:
    """One row per account and period in which the account was active on either snapshot.

    Columns: period_start, period_end, account_id, mrr_start, mrr_end, mrr_change and
    movement (one of new, expansion, contraction, flat, churn, reactivation; see the module
    docstring). Periods run from the first full period of data to the last one finishing
    on or before ``as_of``.

    Example
    -------
    >>> mrr_movements(subs, as_of="2024-03-31").movement.tolist()  # doctest: +SKIP
    ['flat', 'churn']
    """
    s = check_subscriptions(subscriptions)
    m = _movements_micro(s, _periods_for(s, as_of, grain), grain)
    out = m[["period_start", "period_end", "account_id"]].copy()
    out["mrr_start"] = m["start"] / MICRO
    out["mrr_end"] = m["end"] / MICRO
    out["mrr_change"] = (m["end"] - m["start"]) / MICRO
    out["movement"] = pd.Categorical(m["movement"], categories=MOVEMENTS)
    return out


# -- grouping --------------------------------------------------------------------------------
def attach_group(
    df: pd.DataFrame, by: str | None, accounts: pd.DataFrame | None
) -> tuple[pd.DataFrame, list[str], list]:
    """Add the account attribute ``by`` to ``df`` (keyed on account_id).

    Returns the frame, the grouping keys to use and every group value (for a full grid).
    Missing attribute values (or accounts absent from ``accounts``) form the group
    ``'(missing)'``, so no row is dropped.
    """
    if by is None:
        return df, [], []
    if accounts is None:
        raise DataValidationError(f"by='{by}' needs the accounts table; pass accounts=...")
    require_columns(accounts, "accounts", ["account_id"])
    if by not in accounts.columns:
        raise DataValidationError(
            f"by='{by}': no such column in table 'accounts'; available columns: "
            f"{', '.join(map(str, accounts.columns))}"
        )
    if by == "account_id":
        attr = pd.Series(accounts["account_id"].to_numpy(), index=accounts["account_id"])
    else:
        attr = accounts.drop_duplicates("account_id").set_index("account_id")[by]
    out = df.copy()
    out[by] = out["account_id"].map(attr).astype(object).where(lambda x: x.notna(), MISSING_GROUP)
    values = pd.Series(attr.dropna().astype(object).unique())
    groups = sorted(set(values.astype(str)) | set(out[by].astype(str)))
    out[by] = out[by].astype(str)
    return out, [by], groups


def _grid(periods: pd.DatetimeIndex, keys: list[str], groups: list) -> pd.DataFrame:
    if not keys:
        return pd.DataFrame({"period_start": periods})
    return pd.MultiIndex.from_product([periods, groups], names=["period_start", *keys]).to_frame(
        index=False
    )


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den.where(den > 0)).astype("float64")


# -- bridge ---------------------------------------------------------------------------------
def mrr_bridge(
    subscriptions: pd.DataFrame,
    as_of: str,
    grain: str = "month",
    by: str | None = None,
    accounts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The MRR bridge, logo churn, gross MRR churn, GRR and NRR per period (and group).

    Parameters
    ----------
    subscriptions
        The contract's subscriptions table.
    as_of
        ISO date; the last period is the last one finishing on or before it.
    grain
        ``'month'`` or ``'quarter'``.
    by, accounts
        Optional account attribute (a column of ``accounts``) to split by; an account's group is
        its current attribute value.

    Returns
    -------
    DataFrame with period_start, period_end, [by], accounts_start, accounts_new,
    accounts_reactivated, accounts_expanded, accounts_contracted, accounts_churned,
    accounts_end, mrr_start, mrr_new, mrr_expansion, mrr_contraction, mrr_churned,
    mrr_reactivation, mrr_end, logo_churn_rate, gross_mrr_churn_rate, grr, nrr, note.
    Rates are NaN (with a ``note``) when nothing was active at the period start.

    Example
    -------
    >>> mrr_bridge(subs, "2025-12-31", by="segment", accounts=accounts)  # doctest: +SKIP
    """
    s = check_subscriptions(subscriptions)
    periods = _periods_for(s, as_of, grain)
    m = _movements_micro(s, periods, grain)
    m, keys, groups = attach_group(m, by, accounts)
    mv = m["movement"]
    parts = pd.DataFrame(
        {
            "accounts_start": (m["start"] > 0).astype("int64"),
            "accounts_new": (mv == "new").astype("int64"),
            "accounts_reactivated": (mv == "reactivation").astype("int64"),
            "accounts_expanded": (mv == "expansion").astype("int64"),
            "accounts_contracted": (mv == "contraction").astype("int64"),
            "accounts_churned": (mv == "churn").astype("int64"),
            "accounts_end": (m["end"] > 0).astype("int64"),
            "mrr_start": m["start"],
            "mrr_new": m["end"].where(mv == "new", 0),
            "mrr_expansion": (m["end"] - m["start"]).where(mv == "expansion", 0),
            "mrr_contraction": (m["start"] - m["end"]).where(mv == "contraction", 0),
            "mrr_churned": m["start"].where(mv == "churn", 0),
            "mrr_reactivation": m["end"].where(mv == "reactivation", 0),
            "mrr_end": m["end"],
        }
    )
    for k in ["period_start", *keys]:
        parts[k] = m[k].to_numpy()
    agg = parts.groupby(["period_start", *keys], observed=True).sum().reset_index()
    out = _grid(periods, keys, groups).merge(agg, on=["period_start", *keys], how="left")
    value_cols = [c for c in parts.columns if c.startswith(("accounts_", "mrr_"))]
    out[value_cols] = out[value_cols].fillna(0).astype("int64")
    out.insert(1, "period_end", next_start(out["period_start"], grain))
    for c in [c for c in value_cols if c.startswith("mrr_")]:
        out[c] = out[c] / MICRO
    out["logo_churn_rate"] = _ratio(out["accounts_churned"], out["accounts_start"])
    lost = out["mrr_churned"] + out["mrr_contraction"]
    out["gross_mrr_churn_rate"] = _ratio(lost, out["mrr_start"])
    out["grr"] = _ratio(out["mrr_start"] - lost, out["mrr_start"])
    out["nrr"] = _ratio(out["mrr_start"] + out["mrr_expansion"] - lost, out["mrr_start"])
    out["note"] = np.where(out["accounts_start"] == 0, "no account active at period start", "")
    return out


# renewals live in their own module; re-exported here, where they were first defined
from csresearch.metrics.renewals import renewal_events, renewal_rates  # noqa: E402

__all__ = [
    "attach_group", "check_subscriptions", "first_active_dates", "live_mask", "mrr_bridge",
    "mrr_movements", "mrr_snapshots", "renewal_events", "renewal_rates",
]
