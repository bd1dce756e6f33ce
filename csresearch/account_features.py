"""Per account-month inputs of the health score, segments and playbooks, without look-ahead.

One row per account and complete calendar month, from the month of the account's first
active day (MRR > 0) to the last month ending on or before ``as_of`` (as in
:func:`csresearch.periods.period_starts` and :mod:`csresearch.features`), including months
after a churn (``active`` False), so that lapsed customers stay visible. Each row is
measured at its **snapshot**, the month's last day: only data dated on or before it enters
the row, and data after the last snapshot is never read.

Large tables are aggregated in the engine (usage through
:func:`csresearch.features.usage_features_table`, the others through
:func:`csresearch.features.monthly_aggregate`); the small account x month grid is then filled
with numpy (cumulative and rolling sums, "latest answer" look-ups), so nothing loops over
accounts in Python. Data dated before an account's first month counts where a window reaches
back to its own month (a ticket opened the month before the contract starts is in the first
month's 3-month ticket window; an NPS answer older than the survey window is not "latest").

Columns (windows in months include the snapshot's month; defaults in :data:`DEFAULTS`):

=====================  ==============================================================
active                 some subscription with MRR > 0 overlaps the month
active_at_snapshot     MRR on the snapshot day > 0
mrr, arr               MRR on the snapshot day (revenue definition), ARR = 12 x MRR
tenure_days            snapshot - first active day
usage_events, ...      usage events, active days, distinct event types, active users in
                       the month; usage_trend_ln = features' ln((events + 1) / (mean of
                       the 3 previous months + 1))
usage_per_day          usage_events / observed days (month start or first active day,
                       whichever is later, to the snapshot)
usage_change_pct       100 x (usage_per_day / usage rate of the previous
                       ``baseline_months`` months - 1); 0 when both are 0, NaN without a
                       baseline or when the baseline is 0 and the month is not
nps_latest             latest NPS answer within ``survey_window_months``
nps_first, nps_first_days  the account's first NPS answer (once given) and its day of tenure
ces_mean               mean CES answer within ``ces_window_months``
tickets                tickets opened within ``ticket_window_months``
email_open_rate        opened / sent within ``email_window_months`` (NaN when none sent)
onboarding_score       share of milestones due by the snapshot that were done by their due
                       day (NaN when none is due yet; the on-time rule of
                       :func:`csresearch.metrics.onboarding.milestone_outcomes`)
onboarding_overdue     milestones due by the snapshot and not completed by it
csm_sentiment_score    latest CSM sentiment within ``survey_window_months``: red 0,
                       yellow 1, green 2
days_to_renewal        days from the snapshot to the next term anniversary of a
                       subscription active on the snapshot (NaN when none has a term)
=====================  ==============================================================

A column whose optional table is absent is NaN, and ``attrs['notes']`` says so (with a
:class:`~csresearch.errors.DataQualityWarning`); a real zero (no ticket) stays 0.

Example
-------
>>> feats = account_month_features(open_source("data/demo"), "2025-12-31")  # doctest: +SKIP
>>> feats[["account_id", "period_start", "usage_per_day", "nps_latest"]].head(2)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from csresearch.errors import ConfigError, DataQualityWarning, DataValidationError
from csresearch.features import monthly_aggregate, usage_features_table
from csresearch.metrics.onboarding import milestone_outcomes
from csresearch.metrics.revenue import (
    check_subscriptions,
    first_active_dates,
    live_mask,
    mrr_snapshots,
)
from csresearch.periods import (
    add_months,
    month_from_index,
    month_index,
    months_between,
    parse_as_of,
)

DEFAULTS: dict[str, int] = {
    "baseline_months": 3,
    "survey_window_months": 12,
    "ces_window_months": 6,
    "ticket_window_months": 3,
    "email_window_months": 6,
}
SENTIMENT_SCORE = {"red": 0, "yellow": 1, "green": 2}
#: the optional table behind each measured column
SOURCES: dict[str, str] = {
    "usage_events": "usage_events",
    "usage_active_days": "usage_events",
    "usage_event_types": "usage_events",
    "usage_active_users": "usage_events",
    "usage_trend_ln": "usage_events",
    "usage_per_day": "usage_events",
    "usage_change_pct": "usage_events",
    "nps_latest": "nps_responses",
    "nps_first": "nps_responses",
    "nps_first_days": "nps_responses",
    "ces_mean": "ces_responses",
    "tickets": "support_tickets",
    "email_open_rate": "email_events",
    "onboarding_score": "onboarding_milestones",
    "onboarding_overdue": "onboarding_milestones",
    "csm_sentiment_score": "csm_sentiment",
}


@dataclass
class _Grid:
    """Account x month cells, one contiguous block of months per account."""

    accounts: pd.Index  # account ids, block order
    first_m: np.ndarray  # first month index per account
    offset: np.ndarray  # first row of each account's block
    size: np.ndarray
    last_m: int

    @property
    def n(self) -> int:
        return int(self.size.sum())

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(account code, month index, block start row) of every cell."""
        acc = np.repeat(np.arange(len(self.accounts)), self.size)
        within = np.arange(self.n) - self.offset[acc]
        return acc, self.first_m[acc] + within, self.offset[acc]

    def pos(self, account_id, month: np.ndarray, clip_early: bool = False) -> np.ndarray:
        """Row of each (account, month); -1 outside the grid (early months clipped if asked)."""
        code = self.accounts.get_indexer(pd.Index(account_id))
        month = np.asarray(month, dtype="int64")
        ok = code >= 0
        first = np.where(ok, self.first_m[np.maximum(code, 0)], 0)
        if clip_early:
            month = np.maximum(month, first)
        ok &= (month >= first) & (month <= self.last_m)
        return np.where(ok, self.offset[np.maximum(code, 0)] + month - first, -1)

    def scatter(self, account_id, month, values, clip_early: bool = False) -> np.ndarray:
        out = np.zeros(self.n, dtype="float64")
        p = self.pos(account_id, month, clip_early)
        keep = p >= 0
        np.add.at(out, p[keep], np.asarray(values, dtype="float64")[keep])
        return out

    def window_sum(self, account_id, month, values, k: int) -> np.ndarray:
        """Per cell, the sum of ``values`` dated in the ``k`` months up to the cell's month.

        Data dated before an account's first month counts in the cells whose window reaches
        back to it: +value from its month (clipped to the first), -value ``k`` months later,
        cumulated within each account's block.
        """
        account_id = np.asarray(account_id)
        month = np.asarray(month, dtype="int64")
        values = np.asarray(values, dtype="float64")
        code = self.accounts.get_indexer(pd.Index(account_id))
        reach = month + k > np.where(code >= 0, self.first_m[np.maximum(code, 0)], 0)
        a, m, v = account_id[reach], month[reach], values[reach]
        diff = self.scatter(a, m, v, clip_early=True) - self.scatter(a, m + k, v)
        return _cum_in_block(diff, self.rows()[2])


def _window_sum(x: np.ndarray, k: int, block: np.ndarray) -> np.ndarray:
    """Sum of x over the last k rows of the same block (including the row)."""
    cs = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(len(x))
    lo = np.maximum(i - k + 1, block)
    return cs[i + 1] - cs[lo]


def _cum_in_block(x: np.ndarray, block: np.ndarray) -> np.ndarray:
    cs = np.concatenate([[0.0], np.cumsum(x)])
    return cs[np.arange(len(x)) + 1] - cs[block]


def _latest(has: np.ndarray, values: np.ndarray, when: np.ndarray, m: np.ndarray, block: np.ndarray,
            window: int) -> np.ndarray:
    """Latest value of rows with ``has`` in the same block, dated (month ``when``) within
    ``window`` months of the row's month ``m``."""
    i = np.arange(len(has))
    idx = np.maximum.accumulate(np.where(has, i, -1))
    ok = (idx >= block) & (idx >= 0)
    ok &= m - when[np.maximum(idx, 0)] < window
    return np.where(ok, values[np.maximum(idx, 0)], np.nan)


def check_input_options(options: dict | None) -> dict[str, int]:
    """:data:`DEFAULTS` with ``options`` applied; :class:`ConfigError` naming ``inputs.<key>``
    for an unknown key or a value that is not a whole number of months >= 1."""
    opts = dict(DEFAULTS)
    for k, v in (options or {}).items():
        if k not in DEFAULTS:
            raise ConfigError(f"inputs.{k}: unknown option; known: {', '.join(DEFAULTS)}")
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"inputs.{k}: must be a whole number of months >= 1, not {v!r}")
        opts[k] = v
    return opts


def account_month_features(src, as_of: str, options: dict | None = None) -> pd.DataFrame:
    """Per account-month inputs (see the module docstring), measured without look-ahead.

    Parameters
    ----------
    src
        A :class:`~csresearch.sources.DataSource`.
    as_of
        ISO date; the last month is the last one ending on or before it. Later data is ignored.
    options
        Window lengths overriding :data:`DEFAULTS` (``ConfigError`` for an unknown key).

    Returns
    -------
    DataFrame sorted by account_id, period_start; ``attrs['notes']`` lists absent tables.

    Example
    -------
    >>> f = account_month_features(src, "2025-12-31", {"ticket_window_months": 1})  # doctest: +SKIP
    """
    opts = check_input_options(options)
    asof = parse_as_of(as_of)
    cut_excl = (asof + pd.Timedelta(days=1)).to_period("M").to_timestamp()  # next month's 1st
    cut = cut_excl - pd.Timedelta(days=1)  # the last complete month's last day
    subs = check_subscriptions(src.df("subscriptions"))
    subs = subs.loc[subs["start_date"] <= cut]
    live = subs.loc[live_mask(subs)]
    if live.empty:
        raise DataValidationError(
            f"table 'subscriptions': no subscription with MRR > 0 starts on or before {cut.date()} "
            f"(the end of the last complete month by as_of {asof.date()}); there is no customer "
            "month to measure"
        )
    first = first_active_dates(live).dropna().sort_index()
    last_m = int(month_index([cut])[0])
    first_m = month_index(first)
    size = last_m - first_m + 1
    grid = _Grid(first.index, first_m, np.concatenate([[0], np.cumsum(size)[:-1]]), size, last_m)
    acc, m, block = grid.rows()
    period = month_from_index(m)
    month_end = month_from_index(m + 1) - pd.Timedelta(days=1)
    snap = month_end
    out = pd.DataFrame({"account_id": grid.accounts.to_numpy()[acc], "period_start": period,
                        "snapshot_date": snap})
    notes: list[str] = []

    # -- activity, MRR, tenure --------------------------------------------------------------
    m0 = month_index(live["start_date"])
    end_last = live["end_date"] - pd.Timedelta(days=1)
    m1 = np.where(live["end_date"].isna(), last_m, month_index(end_last.fillna(cut)))
    m1 = np.minimum(m1, last_m)
    n_m = np.maximum(m1 - m0 + 1, 0)
    ex_acc = np.repeat(live["account_id"].to_numpy(), n_m)
    ex_m = np.repeat(m0, n_m) + (np.arange(n_m.sum()) - np.repeat(np.cumsum(n_m) - n_m, n_m))
    out["active"] = grid.scatter(ex_acc, ex_m, np.ones(len(ex_m))) > 0
    snaps = pd.DatetimeIndex(np.unique(snap))
    ms = mrr_snapshots(live, snaps)
    key = pd.MultiIndex.from_arrays([ms["account_id"], ms["snapshot_date"]])
    at = key.get_indexer(pd.MultiIndex.from_arrays([out["account_id"], out["snapshot_date"]]))
    out["mrr"] = np.where(at >= 0, ms["mrr"].to_numpy()[np.maximum(at, 0)], 0.0)
    out["arr"] = 12 * out["mrr"]
    out["active_at_snapshot"] = out["mrr"] > 0
    first_day = first.to_numpy()[acc]
    out["tenure_days"] = ((snap.to_numpy() - first_day) // np.timedelta64(1, "D")).astype("int64")
    if src.has("accounts"):
        seg = src.df("accounts", ["account_id", "segment"]).drop_duplicates("account_id")
        out["segment"] = out["account_id"].map(seg.set_index("account_id")["segment"])
    out["segment"] = out.get("segment", pd.Series(index=out.index, dtype=object)).fillna("(missing)")

    # -- usage ------------------------------------------------------------------------------
    if src.has("usage_events"):
        u = usage_features_table(src.table("usage_events"), str(cut.date())).execute()
        um = month_index(pd.to_datetime(u["month"]))
        for col, name in [("events", "usage_events"), ("active_days", "usage_active_days"),
                          ("event_types", "usage_event_types"), ("active_users", "usage_active_users")]:
            out[name] = grid.scatter(u["account_id"], um, u[col].astype("float64"))
        has_trend = u["trend"].notna().to_numpy()
        trend = np.full(grid.n, np.nan)
        p = grid.pos(u["account_id"], um)
        sel = (p >= 0) & has_trend
        trend[p[sel]] = u["trend"].to_numpy(dtype="float64")[sel]
        out["usage_trend_ln"] = trend
        start_obs = np.maximum(period.to_numpy(), first_day)
        obs = ((snap.to_numpy() - start_obs) // np.timedelta64(1, "D") + 1).astype("float64")
        ev = out["usage_events"].to_numpy()
        out["usage_per_day"] = ev / obs
        k = opts["baseline_months"]
        prev = np.arange(grid.n) - 1
        has_prev = prev >= block
        base_ev = np.where(has_prev, _window_sum(ev, k, block)[np.maximum(prev, 0)], np.nan)
        base_days = np.where(has_prev, _window_sum(obs, k, block)[np.maximum(prev, 0)], np.nan)
        base = base_ev / base_days
        rate = out["usage_per_day"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            chg = 100 * (rate / base - 1)
        chg = np.where((base == 0) & (rate == 0), 0.0, np.where(base == 0, np.nan, chg))
        out["usage_change_pct"] = chg
    else:
        for c in ("usage_events", "usage_active_days", "usage_event_types", "usage_active_users",
                  "usage_trend_ln", "usage_per_day", "usage_change_pct"):
            out[c] = np.nan
        notes.append("usage_events absent: usage columns are NaN")

    # -- surveys ----------------------------------------------------------------------------
    def monthly(table, ts, aggs):
        return monthly_aggregate(src.table(table), ts, cut_excl, aggs)

    def latest_answer(table, ts, col_expr, window):
        a = monthly(table, ts, lambda t: {"v": col_expr(t).argmax(t[ts])})
        am = a["mi"].to_numpy()
        order = np.argsort(am, kind="stable")  # of answers clipped to the first month, the latest wins
        p = grid.pos(a["account_id"], am, clip_early=True)[order]
        keep = p >= 0
        vals, when = np.full(grid.n, np.nan), np.zeros(grid.n, dtype="int64")
        vals[p[keep]] = a["v"].to_numpy(dtype="float64")[order][keep]
        when[p[keep]] = am[order][keep]
        has = np.zeros(grid.n, dtype=bool)
        has[p[keep]] = True
        return _latest(has, vals, when, m, block, window)

    w = opts["survey_window_months"]
    if src.has("nps_responses"):
        out["nps_latest"] = latest_answer("nps_responses", "responded_at", lambda t: t.score, w)
        n = src.table("nps_responses")
        n = n.filter(n.responded_at < ibis.literal(cut_excl.to_pydatetime()))
        f1 = n.group_by("account_id").aggregate(
            first_score=n.score.argmin(n.responded_at), first_at=n.responded_at.min()
        ).execute()
        f1 = f1.set_index("account_id").reindex(out["account_id"])
        f_at = pd.to_datetime(f1["first_at"]).to_numpy()
        known = ~pd.isna(f_at) & (f_at < (snap + pd.Timedelta(days=1)).to_numpy())
        out["nps_first"] = np.where(known, f1["first_score"].to_numpy(dtype="float64"), np.nan)
        delta = pd.DatetimeIndex(f_at).normalize().to_numpy() - first_day
        days = pd.to_timedelta(delta).days.to_numpy(dtype="float64")
        out["nps_first_days"] = np.where(known, days, np.nan)
    else:
        out["nps_latest"] = out["nps_first"] = out["nps_first_days"] = np.nan
        notes.append("nps_responses absent: nps columns are NaN")
    if src.has("ces_responses"):
        c = monthly("ces_responses", "responded_at", lambda t: {"s": t.score.sum(), "n": t.count()})
        k = opts["ces_window_months"]
        s = grid.window_sum(c["account_id"], c["mi"], c["s"], k)
        nn = grid.window_sum(c["account_id"], c["mi"], c["n"], k)
        out["ces_mean"] = np.where(nn > 0, s / np.where(nn > 0, nn, 1), np.nan)
    else:
        out["ces_mean"] = np.nan
        notes.append("ces_responses absent: ces_mean is NaN")
    if src.has("csm_sentiment"):
        out["csm_sentiment_score"] = latest_answer(
            "csm_sentiment", "recorded_at",
            lambda t: t.sentiment.cases(*SENTIMENT_SCORE.items()), w)
    else:
        out["csm_sentiment_score"] = np.nan
        notes.append("csm_sentiment absent: csm_sentiment_score is NaN")

    # -- support, e-mail --------------------------------------------------------------------
    if src.has("support_tickets"):
        t = monthly("support_tickets", "opened_at", lambda t: {"n": t.count()})
        out["tickets"] = grid.window_sum(t["account_id"], t["mi"], t["n"], opts["ticket_window_months"])
    else:
        out["tickets"] = np.nan
        notes.append("support_tickets absent: tickets is NaN")
    if src.has("email_events"):
        e = monthly("email_events", "sent_at", lambda t: {"sent": t.count(), "op": t.opened.sum()})
        k = opts["email_window_months"]
        sent = grid.window_sum(e["account_id"], e["mi"], e["sent"], k)
        op = grid.window_sum(e["account_id"], e["mi"], e["op"].fillna(0), k)
        out["email_open_rate"] = np.where(sent > 0, op / np.where(sent > 0, sent, 1), np.nan)
    else:
        out["email_open_rate"] = np.nan
        notes.append("email_events absent: email_open_rate is NaN")

    # -- onboarding -------------------------------------------------------------------------
    ms = src.df("onboarding_milestones") if src.has("onboarding_milestones") else None
    if ms is not None and len(ms):
        mo = milestone_outcomes(ms, str(cut.date()))  # done = completed by the last snapshot
        mo = mo.loc[mo["due_at"].notna()]
        ids, dm = mo["account_id"].to_numpy(), month_index(mo["due_at"])
        # counted from the month it falls due (data before the first month in the first)
        due = _cum_in_block(grid.scatter(ids, dm, np.ones(len(mo)), True), block)
        ontime = _cum_in_block(grid.scatter(ids, dm, mo["on_time"], True), block)
        d = mo["done"].to_numpy()
        done_m = np.maximum(dm[d], month_index(mo.loc[d, "completed_at"]))
        completed = _cum_in_block(grid.scatter(ids[d], done_m, np.ones(int(d.sum())), True), block)
        out["onboarding_score"] = np.where(due > 0, ontime / np.where(due > 0, due, 1), np.nan)
        out["onboarding_overdue"] = due - completed
    else:
        out["onboarding_score"] = out["onboarding_overdue"] = np.nan
        notes.append(f"onboarding_milestones {'absent' if ms is None else 'empty'}: onboarding columns are NaN")

    out["days_to_renewal"] = _days_to_renewal(live, out)
    if notes:
        warnings.warn("; ".join(notes), DataQualityWarning, stacklevel=2)
    out.attrs.update({"as_of": str(asof.date()), "last_snapshot": str(cut.date()), "options": opts,
                      "notes": notes})
    return out


def _days_to_renewal(live: pd.DataFrame, out: pd.DataFrame) -> np.ndarray:
    """Days from each snapshot to the next anniversary of a subscription active on it."""
    res = np.full(len(out), np.nan)
    if "term_months" not in live.columns:
        return res
    s = live.loc[live["term_months"].notna(), ["account_id", "start_date", "end_date", "term_months"]]
    rows = out.loc[out["active_at_snapshot"], ["account_id", "snapshot_date"]]
    j = rows.reset_index().merge(s, on="account_id")
    j = j.loc[(j["start_date"] <= j["snapshot_date"])
              & (j["end_date"].isna() | (j["end_date"] > j["snapshot_date"]))]
    if j.empty:
        return res
    term = j["term_months"].to_numpy(dtype="int64")
    k = months_between(j["start_date"], j["snapshot_date"]) // term + 1
    ann = add_months(j["start_date"].reset_index(drop=True), (k * term).astype("int64"))
    days = (ann.to_numpy() - j["snapshot_date"].to_numpy()) // np.timedelta64(1, "D")
    best = pd.Series(days, index=j["index"].to_numpy()).groupby(level=0).min()
    res[best.index.to_numpy()] = best.to_numpy()
    return res
