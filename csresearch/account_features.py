"""Per account-month inputs of the health score, segments and playbooks, without look-ahead.

One row per account and complete calendar month, from the month of the account's first
active day (MRR > 0) to the last month ending on or before ``as_of`` (as in
:func:`csresearch.periods.period_starts` and :mod:`csresearch.features`), including months
after a churn (``active`` False), so that lapsed customers stay visible. Each row is
measured at its **snapshot**, the month's last day: only data dated on or before it enters
the row, and data after the last snapshot is never read.

Large tables are aggregated in the engine (usage through
:func:`csresearch.features.usage_features_table`, the others by one Ibis
``group_by(account_id, month)`` each); the small account x month grid is then filled with
numpy (cumulative and rolling sums, "latest answer" look-ups), so nothing loops over
accounts in Python.

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
                       day (NaN when none is due yet)
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
from csresearch.features import usage_features_table
from csresearch.metrics.revenue import check_subscriptions, first_active_dates, mrr_snapshots
from csresearch.periods import add_months, months_between, parse_as_of

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


def _mi(d: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Month index (year * 12 + month - 1)."""
    d = pd.DatetimeIndex(d)
    return (d.year.to_numpy() * 12 + d.month.to_numpy() - 1).astype("int64")


def _month_start(idx: np.ndarray) -> pd.DatetimeIndex:
    idx = np.asarray(idx, dtype="int64")
    return pd.DatetimeIndex(
        pd.to_datetime(pd.DataFrame({"year": idx // 12, "month": idx % 12 + 1, "day": 1}))
    )


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


def _window_sum(x: np.ndarray, k: int, block: np.ndarray) -> np.ndarray:
    """Sum of x over the last k rows of the same block (including the row)."""
    cs = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(len(x))
    lo = np.maximum(i - k + 1, block)
    return cs[i + 1] - cs[lo]


def _cum_in_block(x: np.ndarray, block: np.ndarray) -> np.ndarray:
    cs = np.concatenate([[0.0], np.cumsum(x)])
    return cs[np.arange(len(x)) + 1] - cs[block]


def _latest(has: np.ndarray, values: np.ndarray, block: np.ndarray, window: int | None) -> np.ndarray:
    """Latest value of rows with ``has`` in the same block, within ``window`` rows (None: any)."""
    i = np.arange(len(has))
    idx = np.maximum.accumulate(np.where(has, i, -1))
    ok = (idx >= block) & (idx >= 0)
    if window is not None:
        ok &= i - idx < window
    return np.where(ok, values[np.maximum(idx, 0)], np.nan)


def _monthly(src, table: str, ts: str, cut_excl: pd.Timestamp, aggs) -> pd.DataFrame:
    """Engine-side: ``aggs(t)`` per (account_id, month of ``ts``), rows before the cut only."""
    t = src.table(table)
    t = t.filter(t[ts].notnull() & (t[ts] < ibis.literal(cut_excl.to_pydatetime())))
    t = t.mutate(_m=(t[ts].year() * 12 + t[ts].month() - 1).cast("int64"))
    return t.group_by(["account_id", "_m"]).aggregate(**aggs(t)).execute()


def _check_options(options: dict | None) -> dict[str, int]:
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
    opts = _check_options(options)
    asof = parse_as_of(as_of)
    cut_excl = (asof + pd.Timedelta(days=1)).to_period("M").to_timestamp()  # next month's 1st
    cut = cut_excl - pd.Timedelta(days=1)  # the last complete month's last day
    subs = check_subscriptions(src.df("subscriptions"))
    subs = subs.loc[subs["start_date"] <= cut]
    live = subs.loc[(subs["mrr_micro"] > 0) & (subs["end_date"].isna() | (subs["end_date"] > subs["start_date"]))]
    if live.empty:
        raise DataValidationError(
            f"table 'subscriptions': no subscription with MRR > 0 starts on or before {cut.date()} "
            f"(the end of the last complete month by as_of {asof.date()}); there is no customer "
            "month to measure"
        )
    first = first_active_dates(live).dropna().sort_index()
    last_m = int(_mi([cut])[0])
    first_m = _mi(first)
    size = last_m - first_m + 1
    grid = _Grid(first.index, first_m, np.concatenate([[0], np.cumsum(size)[:-1]]), size, last_m)
    acc, m, block = grid.rows()
    period = _month_start(m)
    month_end = _month_start(m + 1) - pd.Timedelta(days=1)
    snap = month_end
    out = pd.DataFrame({"account_id": grid.accounts.to_numpy()[acc], "period_start": period,
                        "snapshot_date": snap})
    notes: list[str] = []

    # -- activity, MRR, tenure --------------------------------------------------------------
    m0 = _mi(live["start_date"])
    end_last = live["end_date"] - pd.Timedelta(days=1)
    m1 = np.where(live["end_date"].isna(), last_m, _mi(end_last.fillna(cut)))
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
        um = _mi(pd.to_datetime(u["month"]))
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
    def latest_answer(table, ts, col_expr, window):
        a = _monthly(src, table, ts, cut_excl, lambda t: {"v": col_expr(t).argmax(t[ts])})
        has = grid.scatter(a["account_id"], a["_m"], np.ones(len(a)), clip_early=True) > 0
        vals = np.full(grid.n, np.nan)
        p = grid.pos(a["account_id"], a["_m"], clip_early=True)
        order = np.argsort(a["_m"].to_numpy(), kind="stable")  # a later month wins a clip
        vals[p[order][p[order] >= 0]] = a["v"].to_numpy(dtype="float64")[order][p[order] >= 0]
        return _latest(has, vals, block, window)

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
        c = _monthly(src, "ces_responses", "responded_at", cut_excl,
                     lambda t: {"s": t.score.sum(), "n": t.count()})
        k = opts["ces_window_months"]
        s = _window_sum(grid.scatter(c["account_id"], c["_m"], c["s"]), k, block)
        nn = _window_sum(grid.scatter(c["account_id"], c["_m"], c["n"]), k, block)
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
        t = _monthly(src, "support_tickets", "opened_at", cut_excl, lambda t: {"n": t.count()})
        x = grid.scatter(t["account_id"], t["_m"], t["n"])
        out["tickets"] = _window_sum(x, opts["ticket_window_months"], block)
    else:
        out["tickets"] = np.nan
        notes.append("support_tickets absent: tickets is NaN")
    if src.has("email_events"):
        e = _monthly(src, "email_events", "sent_at", cut_excl,
                     lambda t: {"sent": t.count(), "op": t.opened.cast("int64").sum()})
        k = opts["email_window_months"]
        sent = _window_sum(grid.scatter(e["account_id"], e["_m"], e["sent"]), k, block)
        op = _window_sum(grid.scatter(e["account_id"], e["_m"], e["op"].fillna(0)), k, block)
        out["email_open_rate"] = np.where(sent > 0, op / np.where(sent > 0, sent, 1), np.nan)
    else:
        out["email_open_rate"] = np.nan
        notes.append("email_events absent: email_open_rate is NaN")

    # -- onboarding -------------------------------------------------------------------------
    if src.has("onboarding_milestones"):
        ob = src.table("onboarding_milestones")
        cx = ibis.literal(cut_excl.to_pydatetime())
        ob = ob.filter(ob.due_at < cx)
        done = ob.completed_at.notnull() & (ob.completed_at < cx)
        due_day_end = ob.due_at.date().cast("timestamp") + ibis.interval(days=1)
        dm = (ob.due_at.year() * 12 + ob.due_at.month() - 1).cast("int64")
        cm = (ob.completed_at.year() * 12 + ob.completed_at.month() - 1).cast("int64")
        mo = ob.select(
            "account_id", dm=dm,
            on_time=(done & (ob.completed_at < due_day_end)).cast("int64"),
            done_m=ibis.ifelse(done, ibis.greatest(dm, cm), ibis.null("int64")),
        ).execute()
        due = _cum_in_block(grid.scatter(mo["account_id"], mo["dm"], np.ones(len(mo)), True), block)
        ontime = _cum_in_block(grid.scatter(mo["account_id"], mo["dm"], mo["on_time"], True), block)
        d = mo.dropna(subset=["done_m"])
        completed = _cum_in_block(grid.scatter(d["account_id"], d["done_m"], np.ones(len(d)), True), block)
        out["onboarding_score"] = np.where(due > 0, ontime / np.where(due > 0, due, 1), np.nan)
        out["onboarding_overdue"] = due - completed
    else:
        out["onboarding_score"] = out["onboarding_overdue"] = np.nan
        notes.append("onboarding_milestones absent: onboarding columns are NaN")

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
