"""MRR snapshots, the MRR movement table, the MRR bridge, churn, GRR/NRR and renewal rates.

Who is a customer, and when an account is new, churns or comes back, is the customer timeline's
(:mod:`csresearch.data.timeline`, the kit's one definition); the work runs in the engine of the data
source (DuckDB, PostgreSQL, Spark) and only per-period aggregates reach pandas. A pandas
subscriptions frame is accepted too: it is checked and wrapped into an in-memory DuckDB source.
Calendar periods ``[p, next)``, snapshots on their first days, everything read as of ``as_of``
(for the last period ``next`` may be ``as_of + 1``: an end after ``as_of`` is not known yet):

* MRR of an account on day ``d`` = sum of ``mrr`` of its paid subscriptions with
  ``start_date <= d < end_date`` (a missing ``end_date`` is open).
* Account counts are the timeline's events: ``accounts_start`` / ``accounts_end`` are the
  customers on ``p`` / ``next``; ``accounts_new`` the first paid days, ``accounts_reactivated``
  the starts of later paid episodes and ``accounts_churned`` the churn days ``x`` with
  ``p < x <= next``, so ``accounts_end = accounts_start + new + reactivated - churned`` (a
  churn and a return inside one period are one churn and one reactivation).
* ``logo_churn_rate`` = customers on ``p`` with a churn day in the period (each once) /
  customers on ``p``: a share, at most 1. It equals ``accounts_churned / accounts_start``
  (:func:`csresearch.data.timeline.active_by_period`) unless an account churns twice in one
  period, or joins and churns within it.
* MRR amounts compare the two snapshots per account: ``churn`` (paid on p, not on next),
  ``expansion`` / ``contraction`` / ``flat`` (paid on both, MRR up / down / equal), ``new``
  (not paid on p, first paid day in the period), ``reactivation`` (not paid on p, paid before
  p, paid on next); ``accounts_expanded`` / ``accounts_contracted`` count those movements.
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
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csresearch.data import timeline as tl
from csresearch.data.periods import next_start, require_columns, rule_failures, to_dates
from csresearch.data.schema import CONTRACT, FIXES, MRR_TOTAL_LIMIT
from csresearch.errors import DataValidationError
from csresearch.metrics import _engine as eng
from csresearch.metrics._engine import MICRO, MISSING_GROUP

if TYPE_CHECKING:  # pragma: no cover
    from csresearch.data.sources import DataSource

#: the contract's mrr column: its rules (>= 0, finite, at most MRR_LIMIT) are the ones
#: ``validate`` runs in the engine, so what validates is what the calculators accept
MRR = CONTRACT["subscriptions"].column("mrr")
MOVEMENTS = ("new", "expansion", "contraction", "flat", "churn", "reactivation")


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
    rule_failures(raw, "subscriptions", [("mrr", f"total mrr is too large ({total:g})",
                                           np.full(len(raw), total > MRR_TOTAL_LIMIT), FIXES["total too large"])])
    s["mrr"] = mrr
    s["mrr_micro"] = np.round(mrr.to_numpy() * MICRO).astype("int64")
    return s


def live_mask(s: pd.DataFrame) -> pd.Series:
    """Rows of a checked subscriptions frame (:func:`check_subscriptions`) that are *paid
    intervals* in :mod:`csresearch.data.timeline`'s sense (``mrr > 0``, an end after the start or
    none): the row rule of :func:`csresearch.data.timeline.paid_intervals`, for pandas frames."""
    return (s["mrr_micro"] > 0) & (s["end_date"].isna() | (s["end_date"] > s["start_date"]))


def first_active_dates(subscriptions: pd.DataFrame) -> pd.Series:
    """The timeline's first paid day of each account (NaT for free-only accounts).

    Read from :func:`csresearch.data.timeline.account_timeline` as of the last start date, so
    every subscription row is known.
    """
    s = check_subscriptions(subscriptions)
    src = source_of(s)
    t = tl.account_timeline(src, s["start_date"].max().date().isoformat())
    got = t.select("account_id", "first_paid_day").execute()
    first = pd.Series(pd.to_datetime(got["first_paid_day"]).to_numpy(), index=got["account_id"])
    ids = pd.Index(s["account_id"].unique(), name="account_id")
    out = pd.Series(first.reindex(ids.astype(str)).to_numpy(), index=ids, dtype="datetime64[ns]")
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


def mrr_snapshots(subscriptions: pd.DataFrame, dates: Sequence) -> pd.DataFrame:
    """MRR of every account on each of ``dates`` (long: account_id, snapshot_date, mrr).

    Accounts with no subscription covering a date get ``mrr`` 0 on it. The engine-side
    equivalent is :func:`csresearch.features.usage.mrr_snapshots_table`.
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


# -- grouping --------------------------------------------------------------------------------
def attach_group(df: pd.DataFrame, by: str | None, accounts: pd.DataFrame | None) -> tuple[pd.DataFrame, list[str], list]:
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
    return pd.MultiIndex.from_product([periods, groups], names=["period_start", *keys]).to_frame(index=False)


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den.where(den > 0)).astype("float64")


# -- inputs ----------------------------------------------------------------------------------
def source_of(data: DataSource | pd.DataFrame, accounts: pd.DataFrame | None = None,
              by: str | None = None) -> DataSource:
    """A data source for the metrics: ``data`` itself, or a pandas subscriptions frame checked
    (:func:`check_subscriptions`) and wrapped into an in-memory DuckDB source, with the
    ``account_id`` and ``by`` columns of ``accounts`` when given."""
    from csresearch.data.sources import DataSource

    if isinstance(data, DataSource):
        return data
    if not isinstance(data, pd.DataFrame):
        raise DataValidationError(
            f"expected a DataSource or a pandas frame of subscriptions, not {type(data).__name__}"
        )
    s = data if "mrr_micro" in data.columns else check_subscriptions(data)
    subs = s[["start_date", "end_date", "mrr"]].copy()
    subs.insert(0, "account_id", s["account_id"].astype(str))
    if {"subscription_id", "term_months"} <= set(s.columns):  # what the renewals read
        subs = subs.assign(subscription_id=s["subscription_id"].astype(str), term_months=pd.to_numeric(s["term_months"], errors="coerce"))
    frames = {"subscriptions": subs}
    if by is not None:
        attach_group(pd.DataFrame({"account_id": []}), by, accounts)  # named errors first
        frames["accounts"] = pd.DataFrame({"account_id": accounts["account_id"].astype(str)})
        if by != "account_id":
            frames["accounts"][by] = accounts[by].astype("string").to_numpy()
    return DataSource.from_frames(frames, validate=False)


def _from_micro(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    for c in cols:
        df[c] = df[c].to_numpy(dtype="int64") / MICRO
    return df


# -- movements -----------------------------------------------------------------------------------
def start_churners(subscriptions: DataSource | pd.DataFrame, as_of: str, grain: str = "month") -> pd.DataFrame:
    """The customers behind each period's logo churn rate: customers on the period's first day
    whose churn day (:mod:`csresearch.data.timeline`) falls in the period, each once.

    Columns: period_start, period_end, account_id (one row per account and period).

    Example
    -------
    >>> start_churners(subs, as_of="2024-03-31").account_id.tolist()  # doctest: +SKIP
    ['b']
    """
    src = source_of(subscriptions)
    periods = eng.report_periods(src, as_of, grain)
    if len(periods) == 0:
        return pd.DataFrame({"period_start": pd.Series(dtype="datetime64[ns]"),
                             "period_end": pd.Series(dtype="datetime64[ns]"),
                             "account_id": pd.Series(dtype=object)})
    t = eng.start_churners_expr(src, as_of, periods, grain).order_by(["period_start", "account_id"]).execute()
    return pd.DataFrame({
        "period_start": pd.to_datetime(t["period_start"]).astype("datetime64[ns]"),
        "period_end": pd.to_datetime(t["period_end"]).astype("datetime64[ns]"),
        "account_id": t["account_id"].astype(object),
    })


def mrr_movements(subscriptions: DataSource | pd.DataFrame, as_of: str, grain: str = "month") -> pd.DataFrame:
    """One row per account and period in which the account was paid on either snapshot.

    Columns: period_start, period_end, account_id, mrr_start, mrr_end, mrr_change and
    movement (one of new, expansion, contraction, flat, churn, reactivation; see the module
    docstring). Periods run from the first full period of data to the last one finishing
    on or before ``as_of``. One row per account and period comes back: for notebooks and
    small books; :func:`mrr_bridge` aggregates in the engine.

    Example
    -------
    >>> mrr_movements(subs, as_of="2024-03-31").movement.tolist()  # doctest: +SKIP
    ['flat', 'churn']
    """
    src = source_of(subscriptions)
    periods = eng.report_periods(src, as_of, grain)
    cols = ["period_start", "period_end", "account_id", "mrr_start", "mrr_end", "mrr_change"]
    if len(periods) == 0:
        out = pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
        out["movement"] = pd.Categorical([], categories=MOVEMENTS)
        return out
    m = eng.movements_expr(src, as_of, periods, grain).order_by(["period_start", "account_id"])
    m = m.execute()
    out = pd.DataFrame({
        "period_start": pd.to_datetime(m["period_start"]).astype("datetime64[ns]"),
        "period_end": pd.to_datetime(m["period_end"]).astype("datetime64[ns]"),
        "account_id": m["account_id"].astype(object),
    })
    st, en = m["start"].to_numpy(dtype="int64"), m["end"].to_numpy(dtype="int64")
    out["mrr_start"], out["mrr_end"], out["mrr_change"] = st / MICRO, en / MICRO, (en - st) / MICRO
    out["movement"] = pd.Categorical(m["movement"], categories=MOVEMENTS)
    return out


# -- bridge ---------------------------------------------------------------------------------
BRIDGE_COUNTS = ["accounts_start", "accounts_new", "accounts_reactivated", "accounts_expanded",
                 "accounts_contracted", "accounts_churned", "accounts_end"]
BRIDGE_AMOUNTS = ["mrr_start", "mrr_new", "mrr_expansion", "mrr_contraction", "mrr_churned",
                  "mrr_reactivation", "mrr_end"]
BRIDGE_PARTS = [*BRIDGE_COUNTS, "start_churned", *BRIDGE_AMOUNTS]


def mrr_bridge(subscriptions: DataSource | pd.DataFrame, as_of: str, grain: str = "month",
               by: str | None = None, accounts: pd.DataFrame | None = None) -> pd.DataFrame:
    """The MRR bridge, logo churn, gross MRR churn, GRR and NRR per period (and group).

    Parameters
    ----------
    subscriptions
        A :class:`~csresearch.data.sources.DataSource` (any engine; its ``accounts`` table serves
        ``by``), or the contract's subscriptions table as a pandas frame (checked, then
        wrapped into an in-memory DuckDB source).
    as_of
        ISO date; the last period is the last one finishing on or before it, read as of it.
    grain
        ``'month'`` or ``'quarter'``.
    by, accounts
        Optional account attribute (a column of ``accounts``) to split by; an account's group is
        its current attribute value. ``accounts`` is a pandas frame, only with a frame of
        subscriptions.

    Returns
    -------
    DataFrame with period_start, period_end, [by], accounts_start, accounts_new,
    accounts_reactivated, accounts_expanded, accounts_contracted, accounts_churned,
    accounts_end, mrr_start, mrr_new, mrr_expansion, mrr_contraction, mrr_churned,
    mrr_reactivation, mrr_end, logo_churn_rate, gross_mrr_churn_rate, grr, nrr, note.
    Account counts are the timeline's (see the module docstring); rates are NaN (with a
    ``note``) when no account was a customer at the period start.

    Example
    -------
    >>> mrr_bridge(src, "2025-12-31", by="segment")  # doctest: +SKIP
    """
    src = source_of(subscriptions, accounts, by)
    if by is not None:
        eng.check_by(src, by)
    return _finish(_bridge_micro(src, as_of, grain, by), grain, [by] if by else [])


def mrr_bridges(subscriptions: DataSource | pd.DataFrame, as_of: str, grain: str, by: str,
                accounts: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(mrr_bridge(...), mrr_bridge(..., by=by))`` at the cost of one: the bridge of all
    accounts sums the groups' counts and micro-unit amounts (each account is in one group)."""
    src = source_of(subscriptions, accounts, by)
    eng.check_by(src, by)
    split = _bridge_micro(src, as_of, grain, by)
    if split is None:
        return mrr_bridge(subscriptions, as_of, grain), _finish(split, grain, [by])
    total = split.groupby("period_start", sort=True)[BRIDGE_PARTS].sum().reset_index()
    return _finish(total, grain), _finish(split, grain)


def _bridge_micro(src: DataSource, as_of: str, grain: str, by: str | None) -> pd.DataFrame | None:
    """The bridge's counts and amounts (int64, micro-units) on the full period x group grid
    (None when no full period fits)."""
    periods = eng.report_periods(src, as_of, grain)
    if len(periods) == 0:
        return None
    keys = [by] if by else []
    amounts, counts = eng.bridge_parts(src, as_of, periods, grain, by)
    groups = sorted(set(eng.group_values(src, by)) | set(amounts[by]) | set(counts[by])) if by else []
    grid = _grid(pd.DatetimeIndex(periods), keys, groups)
    grid.insert(0, "i", grid["period_start"].map({p: i for i, p in enumerate(periods)}).astype("int64"))
    out = grid.merge(amounts, on=["i", *keys], how="left").merge(counts, on=["i", *keys], how="left")
    out = out[["period_start", *keys, *BRIDGE_PARTS]]
    out[BRIDGE_PARTS] = out[BRIDGE_PARTS].fillna(0).astype("int64")
    return out


def _finish(out: pd.DataFrame | None, grain: str, keys: list[str] | None = None) -> pd.DataFrame:
    """Add period_end and the rates (and their notes) to a bridge of counts and micro-unit
    amounts (:func:`_bridge_micro`; None: an empty bridge with the columns ``keys``)."""
    if out is None:
        out = pd.DataFrame(columns=["period_start", *(keys or []), *BRIDGE_PARTS])
    else:
        out = _from_micro(out, BRIDGE_AMOUNTS)
    out = out.reset_index(drop=True)
    out["period_start"] = pd.to_datetime(out["period_start"]).astype("datetime64[ns]")
    out.insert(1, "period_end", next_start(out["period_start"], grain))
    for c in BRIDGE_COUNTS:
        out[c] = out[c].astype("int64")
    for c in BRIDGE_AMOUNTS:
        out[c] = out[c].astype("float64")
    out["logo_churn_rate"] = _ratio(out.pop("start_churned").astype("int64"), out["accounts_start"])
    lost = out["mrr_churned"] + out["mrr_contraction"]
    out["gross_mrr_churn_rate"] = _ratio(lost, out["mrr_start"])
    out["grr"] = _ratio(out["mrr_start"] - lost, out["mrr_start"])
    out["nrr"] = _ratio(out["mrr_start"] + out["mrr_expansion"] - lost, out["mrr_start"])
    out["note"] = np.where(out["accounts_start"] == 0, "no account active at period start", "")
    return out


# renewals live in their own module; re-exported here, where they were first defined
from csresearch.metrics.renewals import renewal_by_term, renewal_events, renewal_rates  # noqa: E402

__all__ = [
    "attach_group", "check_subscriptions", "first_active_dates", "live_mask", "mrr_bridge", "mrr_bridges",
    "mrr_movements", "mrr_snapshots", "renewal_by_term", "renewal_events", "renewal_rates",
]
