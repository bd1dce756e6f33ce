"""Per account-month inputs of the health score, segments and playbooks, without look-ahead.

One row per account and complete calendar month, from the month of the account's first
paid day (:mod:`csresearch.data.timeline`) to the last month ending on or before ``as_of`` (as in
:func:`csresearch.data.periods.period_starts` and :mod:`csresearch.features.usage`), including months
after a churn (``active`` False), so that lapsed customers stay visible. Each row is
measured at its **snapshot**, the month's last day: only data dated on or before it enters
the row, and data after the last snapshot is never read.

Large tables are aggregated in the engine (usage through
:func:`csresearch.features.usage.usage_features_table`, the others through
:func:`csresearch.features.usage.monthly_aggregate`); the small account x month grid is then filled
with numpy (cumulative and rolling sums, "latest answer" look-ups), so nothing loops over
accounts in Python. Data dated before an account's first month counts where a window reaches
back to its own month (a ticket opened the month before the contract starts is in the first
month's 3-month ticket window; an NPS answer older than the survey window is not "latest").

Columns (windows in months include the snapshot's month; defaults in :data:`DEFAULTS`):

=====================  ==============================================================
active                 a paid interval of the timeline (MRR > 0) overlaps the month
active_at_snapshot     a customer on the snapshot day (timeline: paid MRR > 0 on it)
mrr, arr               paid MRR on the snapshot day, ARR = 12 x MRR
tenure_days            snapshot - first paid day (the timeline's ``first_paid_day``)
usage_events, ...      usage events, active days, distinct event types, active users in
                       the month; usage_trend_ln = features' ln((events + 1) / (mean of
                       the 3 previous months + 1))
usage_per_day          usage_events / observed days (month start or first paid day,
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

The customer columns and the grid come from :mod:`csresearch.features.grid` (which reads
the timeline); the signal columns are filled here.

A column whose optional table is absent is NaN, and ``attrs['notes']`` says so (with a
:class:`~csresearch.errors.DataQualityWarning`); a real zero (no ticket) stays 0.

Example
-------
>>> feats = account_month_features(open_source("data/demo"), "2025-12-31")  # doctest: +SKIP
>>> feats[["account_id", "period_start", "usage_per_day", "nps_latest"]].head(2)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Collection

import ibis
import numpy as np
import pandas as pd

from csresearch.arrays import floats
from csresearch.data.periods import month_index_expr, parse_as_of
from csresearch.errors import ConfigError, DataQualityWarning
from csresearch.features.grid import (
    Grid,
    cum_in_block,
    customer_months,
    days_to_renewal,
    latest_in_block,
    rolling_sum,
)
from csresearch.features.usage import monthly_aggregate, usage_features_table, usage_months
from csresearch.metrics.onboarding import milestones_expr

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
#: the usage columns a caller may leave out (account_month_features' ``usage``), by their aggregate
OPTIONAL_USAGE = {"usage_active_days": "active_days", "usage_event_types": "event_types",
                  "usage_active_users": "active_users"}
USAGE_COLUMNS = ("usage_events", "usage_active_days", "usage_event_types", "usage_active_users",
                 "usage_trend_ln", "usage_per_day", "usage_change_pct")


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


def account_month_features(src, as_of: str, options: dict | None = None,
                           usage: Collection[str] | None = None) -> pd.DataFrame:
    """Per account-month inputs (see the module docstring), measured without look-ahead.

    Parameters
    ----------
    src
        A :class:`~csresearch.data.sources.DataSource`.
    as_of
        ISO date; the last month is the last one ending on or before it. Later data is ignored.
    options
        Window lengths overriding :data:`DEFAULTS` (``ConfigError`` for an unknown key).
    usage
        Which of :data:`OPTIONAL_USAGE` to measure (default: all); the others are left out, and
        their aggregates over every usage event with them (distinct users are the costliest:
        :func:`csresearch.features.usage.usage_features_table`), for a caller that reads none.

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
    grid, out, paid = customer_months(src, cut)
    notes: list[str] = []
    _usage_columns(src, grid, out, cut, opts["baseline_months"], notes,
                   OPTIONAL_USAGE if usage is None else [c for c in OPTIONAL_USAGE if c in usage])
    _survey_columns(src, grid, out, cut_excl, opts, notes)
    _support_email_columns(src, grid, out, cut_excl, opts, notes)
    _onboarding_columns(src, grid, out, cut, notes)
    out["days_to_renewal"], note = days_to_renewal(src, grid, paid)
    if note:
        notes.append(note)
    if notes:
        warnings.warn("; ".join(notes), DataQualityWarning, stacklevel=2)
    out.attrs.update({"as_of": str(asof.date()), "last_snapshot": str(cut.date()), "options": opts,
                      "notes": notes})
    return out


def features_as_of(features: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """The rows of :func:`account_month_features` (or of frames built on it, keeping
    ``snapshot_date``) that the features as of an earlier ``as_of`` hold: the months whose
    snapshot is on or before its last complete month's last day. Nothing dated after a row's
    snapshot enters the row, so these rows equal the features computed as of ``as_of``
    (tests/test_account_features.py checks it); ``attrs`` say the earlier as_of.

    Example
    -------
    >>> f = features_as_of(account_month_features(src, "2025-12-31"), "2025-06-30")  # doctest: +SKIP
    """
    asof = parse_as_of(as_of)
    cut = (asof + pd.Timedelta(days=1)).to_period("M").to_timestamp() - pd.Timedelta(days=1)
    last = features.attrs.get("last_snapshot")
    if last is not None and cut > pd.Timestamp(last):
        raise ValueError(f"features to {last} do not hold the months of as_of {asof.date()}")
    out = features.loc[features["snapshot_date"] <= cut]
    out.attrs = {**features.attrs, "as_of": str(asof.date()), "last_snapshot": str(cut.date())}
    return out


def _usage_columns(src, grid: Grid, out: pd.DataFrame, cut: pd.Timestamp, k: int, notes: list[str],
                   optional: Collection[str] = ()) -> None:
    """Usage volume, the ``optional`` columns (breadth, users), trend, rate per observed day and
    change against the baseline."""
    if not src.has("usage_events"):
        for c in USAGE_COLUMNS:
            if c not in OPTIONAL_USAGE or c in optional:
                out[c] = np.nan
        notes.append("usage_events absent: usage columns are NaN")
        return
    acc, _, block = grid.rows()
    aggregates = [OPTIONAL_USAGE[c] for c in optional]
    months = usage_months(src, str(cut.date())) if "active_users" not in aggregates else None
    t = usage_features_table(src.table("usage_events"), str(cut.date()), aggregates, months)
    t = t.mutate(mi=month_index_expr(t.month)).drop("month")
    arr = t.to_pyarrow()  # a row per account-month: ids looked up in Arrow, numbers straight to numpy
    u = {c: arr[c].to_numpy().astype("float64") for c in arr.column_names if c not in ("account_id", "mi")}
    um = arr["mi"].to_numpy().astype("int64")
    p = grid.pos(None, um, code=grid.codes(arr["account_id"]))  # looked up once for every column
    del arr
    for col, name in [("events", "usage_events"), *((a, c) for c, a in OPTIONAL_USAGE.items())]:
        if col in u:
            out[name] = grid.scatter(None, um, u[col], p=p)
    has_trend = ~np.isnan(u["trend"])
    trend = np.full(grid.n, np.nan)
    sel = (p >= 0) & has_trend
    trend[p[sel]] = u["trend"][sel]
    out["usage_trend_ln"] = trend
    snap = out["snapshot_date"].to_numpy()
    start_obs = np.maximum(out["period_start"].to_numpy(), grid.first_day[acc])
    obs = ((snap - start_obs) // np.timedelta64(1, "D") + 1).astype("float64")
    ev = out["usage_events"].to_numpy()
    out["usage_per_day"] = ev / obs
    prev = np.arange(grid.n) - 1
    has_prev = prev >= block
    base_ev = np.where(has_prev, rolling_sum(ev, k, block)[np.maximum(prev, 0)], np.nan)
    base_days = np.where(has_prev, rolling_sum(obs, k, block)[np.maximum(prev, 0)], np.nan)
    base = base_ev / base_days
    rate = out["usage_per_day"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        chg = 100 * (rate / base - 1)
    out["usage_change_pct"] = np.where((base == 0) & (rate == 0), 0.0, np.where(base == 0, np.nan, chg))


def _latest_answer(src, grid: Grid, cut_excl: pd.Timestamp, table: str, ts: str, col_expr,
                   window: int) -> np.ndarray:
    """Per cell, the latest answer of ``table`` dated within ``window`` months."""
    _, m, block = grid.rows()
    a = monthly_aggregate(src.table(table), ts, cut_excl, lambda t: {"v": col_expr(t).argmax(t[ts])}, arrow=True)
    am = a["mi"].to_numpy()
    order = np.argsort(am, kind="stable")  # of answers clipped to the first month, the latest wins
    p = grid.pos(None, am, clip_early=True, code=grid.codes(a["account_id"]))[order]
    keep = p >= 0
    vals, when = np.full(grid.n, np.nan), np.zeros(grid.n, dtype="int64")
    vals[p[keep]] = floats(a["v"])[order][keep]
    when[p[keep]] = am[order][keep]
    has = np.zeros(grid.n, dtype=bool)
    has[p[keep]] = True
    return latest_in_block(has, vals, when, m, block, window)


def _nps_first(src, grid: Grid, out: pd.DataFrame, cut_excl: pd.Timestamp) -> None:
    """The account's first NPS answer once given, and its day of tenure."""
    acc, _, _ = grid.rows()
    n = src.table("nps_responses")
    n = n.filter(n.responded_at < ibis.literal(cut_excl.to_pydatetime()))
    f1 = n.group_by("account_id").aggregate(
        first_score=n.score.argmin(n.responded_at), first_at=n.responded_at.min()
    ).to_pyarrow()  # a row per account: ids looked up in Arrow, then spread over its rows
    code = grid.codes(f1["account_id"])
    on = code >= 0
    score, at = np.full(len(grid.accounts), np.nan), np.full(len(grid.accounts), np.datetime64("NaT"), "M8[ns]")
    score[code[on]] = floats(f1["first_score"])[on]
    at[code[on]] = pd.to_datetime(f1["first_at"].to_numpy()).to_numpy(dtype="M8[ns]")[on]
    f_at = at[acc]
    known = ~pd.isna(f_at) & (f_at < (out["snapshot_date"] + pd.Timedelta(days=1)).to_numpy())
    out["nps_first"] = np.where(known, score[acc], np.nan)
    delta = pd.DatetimeIndex(f_at).normalize().to_numpy() - grid.first_day[acc]
    days = pd.to_timedelta(delta).days.to_numpy(dtype="float64")
    out["nps_first_days"] = np.where(known, days, np.nan)


def _survey_columns(src, grid: Grid, out: pd.DataFrame, cut_excl: pd.Timestamp, opts: dict,
                    notes: list[str]) -> None:
    """NPS (latest, first), CES mean and CSM sentiment."""
    w = opts["survey_window_months"]
    if src.has("nps_responses"):
        out["nps_latest"] = _latest_answer(src, grid, cut_excl, "nps_responses", "responded_at",
                                           lambda t: t.score, w)
        _nps_first(src, grid, out, cut_excl)
    else:
        out["nps_latest"] = out["nps_first"] = out["nps_first_days"] = np.nan
        notes.append("nps_responses absent: nps columns are NaN")
    if src.has("ces_responses"):
        c = monthly_aggregate(src.table("ces_responses"), "responded_at", cut_excl,
                              lambda t: {"s": t.score.sum(), "n": t.count()}, arrow=True)
        k, code, mi = opts["ces_window_months"], grid.codes(c["account_id"]), c["mi"].to_numpy()
        s = grid.window_sum(None, mi, floats(c["s"]), k, code)
        nn = grid.window_sum(None, mi, floats(c["n"]), k, code)
        out["ces_mean"] = np.where(nn > 0, s / np.where(nn > 0, nn, 1), np.nan)
    else:
        out["ces_mean"] = np.nan
        notes.append("ces_responses absent: ces_mean is NaN")
    if src.has("csm_sentiment"):
        out["csm_sentiment_score"] = _latest_answer(
            src, grid, cut_excl, "csm_sentiment", "recorded_at",
            lambda t: t.sentiment.cases(*SENTIMENT_SCORE.items()), w)
    else:
        out["csm_sentiment_score"] = np.nan
        notes.append("csm_sentiment absent: csm_sentiment_score is NaN")


def _support_email_columns(src, grid: Grid, out: pd.DataFrame, cut_excl: pd.Timestamp, opts: dict,
                           notes: list[str]) -> None:
    """Tickets opened and the e-mail open rate within their windows."""
    if src.has("support_tickets"):
        t = monthly_aggregate(src.table("support_tickets"), "opened_at", cut_excl, lambda t: {"n": t.count()},
                              arrow=True)
        out["tickets"] = grid.window_sum(None, t["mi"].to_numpy(), floats(t["n"]), opts["ticket_window_months"],
                                         grid.codes(t["account_id"]))
    else:
        out["tickets"] = np.nan
        notes.append("support_tickets absent: tickets is NaN")
    if src.has("email_events"):
        e = monthly_aggregate(src.table("email_events"), "sent_at", cut_excl,
                              lambda t: {"sent": t.count(), "op": t.opened.sum()}, arrow=True)
        k = opts["email_window_months"]
        code, mi = grid.codes(e["account_id"]), e["mi"].to_numpy()
        sent = grid.window_sum(None, mi, floats(e["sent"]), k, code)
        op = grid.window_sum(None, mi, np.nan_to_num(floats(e["op"])), k, code)
        out["email_open_rate"] = np.where(sent > 0, op / np.where(sent > 0, sent, 1), np.nan)
    else:
        out["email_open_rate"] = np.nan
        notes.append("email_events absent: email_open_rate is NaN")


def _onboarding_columns(src, grid: Grid, out: pd.DataFrame, cut: pd.Timestamp, notes: list[str]) -> None:
    """On-time share of the milestones due by each snapshot, and those overdue (counted per
    account and month in the engine: :func:`csresearch.metrics.onboarding.milestones_expr`)."""
    n = int(src.table("onboarding_milestones").count().execute()) if src.has("onboarding_milestones") else None
    if not n:
        out["onboarding_score"] = out["onboarding_overdue"] = np.nan
        notes.append(f"onboarding_milestones {'absent' if n is None else 'empty'}: onboarding columns are NaN")
        return
    block = grid.rows()[2]
    m = milestones_expr(src, str(cut.date()))  # done = completed by the last snapshot
    m = m.filter(m.dm.notnull())
    # counted from the month it falls due (data before the first month in the first)
    a = m.group_by(["account_id", "dm"]).aggregate(n=m.count(), ot=m.on_time.sum()).to_pyarrow()
    code, dm = grid.codes(a["account_id"]), a["dm"].to_numpy()
    due = cum_in_block(grid.scatter(None, dm, a["n"].to_numpy(), True, code=code), block)
    ontime = cum_in_block(grid.scatter(None, dm, a["ot"].to_numpy(), True, code=code), block)
    d = m.filter(m.done == 1)
    d = d.group_by(["account_id", ibis.greatest(d.dm, month_index_expr(d.completed)).name("km")]).aggregate(n=d.count())
    d = d.to_pyarrow()
    completed = cum_in_block(grid.scatter(None, d["km"].to_numpy(), d["n"].to_numpy(), True,
                                          code=grid.codes(d["account_id"])), block)
    out["onboarding_score"] = np.where(due > 0, ontime / np.where(due > 0, due, 1), np.nan)
    out["onboarding_overdue"] = due - completed
