"""Onboarding: completion days (with censoring for survival analysis), on-time score, share
finished within N days.

* Start of onboarding = the account's first subscription ``start_date``.
* Completion = the day the last (required) milestone was completed; onboarding is *finished*
  at ``as_of`` when every milestone of the account was completed on or before ``as_of``.
  ``completion_days`` = whole days from start to completion. Unfinished accounts are
  censored at ``as_of``: ``event = 0``, ``duration_days = as_of - start``; finished ones
  have ``event = 1`` and ``duration_days = completion_days``.
* On time: a milestone completed on or before its due day. The on-time score of an account is
  the share of its milestones whose outcome is known at ``as_of`` (due on or before
  ``as_of``, or already completed) that were done on time.

Example
-------
>>> onboarding_completion(milestones, subs, as_of="2025-12-31")  # doctest: +SKIP
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from csresearch.data.periods import (
    check_grain,
    month_from_index,
    month_index_expr,
    parse_as_of,
    period_floor,
    require_columns,
    rule_failures,
    to_dates,
)
from csresearch.data.timeline import subscriptions_of
from csresearch.errors import ConfigError, DataValidationError
from csresearch.metrics._engine import flag
from csresearch.metrics.revenue import check_subscriptions

TABLE = "onboarding_milestones"


def _milestones(milestones: pd.DataFrame, as_of: str, required) -> tuple[pd.DataFrame, pd.Timestamp]:
    require_columns(milestones, TABLE, ["account_id", "milestone", "due_at", "completed_at"])
    cut = parse_as_of(as_of)
    m = milestones[["account_id", "milestone", "due_at", "completed_at"]].reset_index(drop=True)
    raw = m.copy()
    m["due_at"] = to_dates(raw, TABLE, "due_at")
    m["completed_at"] = to_dates(raw, TABLE, "completed_at")
    # grouping by account would silently drop rows without one
    rule_failures(raw, TABLE, [
        (c, f"{c} is missing", raw[c].isna(), "fill it in or remove those rows")
        for c in ("account_id", "milestone")
    ])
    if required is not None:
        required = list(required)
        unknown = sorted(set(required) - set(m["milestone"]))
        if unknown:
            raise DataValidationError(
                f"table '{TABLE}': required milestone(s) {unknown} never appear; present: "
                f"{sorted(m['milestone'].unique())}"
            )
        m = m.loc[m["milestone"].isin(required)]
    if m.empty:
        raise DataValidationError(f"table '{TABLE}' has no milestone rows to measure")
    # a completion after as_of is not known at as_of
    m["done"] = m["completed_at"].notna() & (m["completed_at"] <= cut)
    return m, cut


def onboarding_completion(
    milestones: pd.DataFrame,
    subscriptions: pd.DataFrame,
    as_of: str,
    required: list[str] | None = None,
) -> pd.DataFrame:
    """Per account: onboarding completion days, or censoring at ``as_of``.

    Parameters
    ----------
    milestones, subscriptions
        Contract tables.
    as_of
        ISO date; completions after it count as not yet done.
    required
        Milestone names that make up onboarding (default: all of an account's milestones).

    Returns
    -------
    DataFrame: account_id, start_date, n_milestones, n_completed, finished_at,
    completion_days (NaN when unfinished), duration_days, event (1 finished, 0 censored),
    censored, note (why a row has no duration, e.g. no subscription).

    Example
    -------
    >>> c = onboarding_completion(ms, subs, "2025-12-31")  # doctest: +SKIP
    >>> KaplanMeierFitter().fit(c.duration_days, c.event)  # doctest: +SKIP
    """
    m, cut = _milestones(milestones, as_of, required)
    s = check_subscriptions(subscriptions)
    start = s.groupby("account_id")["start_date"].min()
    g = m.groupby("account_id")
    out = pd.DataFrame(
        {
            "n_milestones": g.size(),
            "n_completed": g["done"].sum().astype("int64"),
            "last_done": m.loc[m["done"]].groupby("account_id")["completed_at"].max(),
        }
    )
    out.index.name = "account_id"
    out = out.reset_index()
    out.insert(1, "start_date", out["account_id"].map(start))
    finished = out["n_completed"] == out["n_milestones"]
    out["finished_at"] = out["last_done"].where(finished)
    out["completion_days"] = (out["finished_at"] - out["start_date"]).dt.days.astype("float64")
    censored_days = (cut - out["start_date"]).dt.days.astype("float64")
    out["duration_days"] = out["completion_days"].where(finished, censored_days)
    out["event"] = finished.astype("int64")
    out["censored"] = ~finished
    note = np.where(out["start_date"].isna(), "no subscription: onboarding start unknown", "")
    note = np.where(out["start_date"] > cut, "first subscription starts after as_of", note)
    note = np.where((note == "") & (out["duration_days"] < 0),
                    "milestones completed before the first subscription start", note)
    out["note"] = note
    out.loc[out["start_date"] > cut, "duration_days"] = np.nan
    return out.drop(columns="last_done")


def milestone_outcomes(milestones: pd.DataFrame, as_of: str, required: list[str] | None = None) -> pd.DataFrame:
    """Milestones as known at ``as_of``: the one on-time rule every onboarding score uses.

    Returns account_id, milestone, due_at, completed_at (whole days), ``done`` (completed on
    or before ``as_of``) and ``on_time`` (done on or before its due day). Rows are validated
    (missing account or milestone, unparseable dates raise :class:`DataValidationError`).

    Example
    -------
    >>> ms = pd.DataFrame({"account_id": ["a", "a"], "milestone": ["kickoff", "training"],
    ...                    "due_at": pd.to_datetime(["2025-01-10", "2025-02-05"]),
    ...                    "completed_at": pd.to_datetime(["2025-01-10 17:00", "2025-02-07 09:00"])})
    >>> milestone_outcomes(ms, "2025-02-28")[["done", "on_time"]].values.tolist()
    [[True, True], [True, False]]
    """
    m, _ = _milestones(milestones, as_of, required)
    m["on_time"] = m["done"] & (m["completed_at"] <= m["due_at"])
    return m


def onboarding_score_by_period(
    milestones: pd.DataFrame, as_of: str, grain: str = "month", required: list[str] | None = None
) -> pd.DataFrame:
    """Per period of the due day: milestones due in it (on or before ``as_of``) and the share
    done by their due day.

    Returns period_start, n_due, n_on_time, on_time_score.

    Example
    -------
    >>> onboarding_score_by_period(ms, "2025-12-31", "quarter")  # doctest: +SKIP
    """
    check_grain(grain)
    m = milestone_outcomes(milestones, as_of, required)
    m = m.loc[m["due_at"] <= parse_as_of(as_of)]
    g = m.groupby(period_floor(m["due_at"], grain).rename("period_start"))
    out = pd.DataFrame({"n_due": g.size(), "n_on_time": g["on_time"].sum()}).astype("int64")
    out["on_time_score"] = out["n_on_time"] / out["n_due"]
    return out.reset_index()


def onboarding_score(milestones: pd.DataFrame, as_of: str, required: list[str] | None = None) -> pd.DataFrame:
    """Per account: share of milestones done by their due day, among those decided at ``as_of``.

    Returns account_id, n_milestones, n_scored, n_on_time, on_time_score, note. A milestone
    is scored when due on or before ``as_of`` or already completed; the score is NaN (with a
    note) while none is.

    Example
    -------
    >>> onboarding_score(ms, "2025-12-31").on_time_score.mean()  # doctest: +SKIP
    """
    m = milestone_outcomes(milestones, as_of, required)
    m["scored"] = (m["due_at"] <= parse_as_of(as_of)) | m["done"]
    g = m.groupby("account_id")
    out = pd.DataFrame(
        {"n_milestones": g.size(), "n_scored": g["scored"].sum(), "n_on_time": g["on_time"].sum()}
    ).astype("int64")
    out["on_time_score"] = out["n_on_time"] / out["n_scored"].where(out["n_scored"] > 0)
    out["note"] = np.where(out["n_scored"] == 0, "no milestone due or completed yet", "")
    return out.reset_index()


def share_finished_within(completion: pd.DataFrame, days: int) -> pd.Series:
    """Share of accounts that finished onboarding within ``days`` days of start.

    ``completion`` is :func:`onboarding_completion`'s output. Only accounts whose outcome is
    known count: finished ones, and unfinished ones observed for at least ``days`` days.

    Returns a Series: days, eligible, finished_within, not_yet_known, share, note.

    Example
    -------
    >>> share_finished_within(c, 90)["share"]  # doctest: +SKIP
    """
    if days < 0:
        raise ConfigError(f"days must be >= 0, not {days}")
    require_columns(completion, "onboarding completion", ["event", "completion_days", "duration_days"])
    known = completion["duration_days"].notna()
    fin = completion["event"] == 1
    eligible = known & (fin | (completion["duration_days"] >= days))
    within = eligible & fin & (completion["completion_days"] <= days)
    n = int(eligible.sum())
    return pd.Series(
        {
            "days": days,
            "eligible": n,
            "finished_within": int(within.sum()),
            "not_yet_known": int((~eligible).sum()),
            "share": within.sum() / n if n else np.nan,
            "note": "" if n else "no account observed long enough",
        },
        name="finished_within",
    )


# -- in the engine: what the KPI tree and the health features read -----------------------------
def milestones_expr(src, as_of: str) -> ir.Table:
    """The milestones of a data source as known at ``as_of``, in its engine (the rules of
    :func:`milestone_outcomes`, days compared as dates): account_id, dm (the due day's month,
    ``year * 12 + month - 1``), completed (date), done and on_time (1/0).

    A row without an account or a milestone is the named :class:`DataValidationError` of
    :func:`milestone_outcomes` (read through pandas only then).
    """
    m = src.table(TABLE)
    if int(m.filter(m.account_id.isnull() | m.milestone.isnull()).count().execute()):
        milestone_outcomes(src.df(TABLE), as_of)  # raises, naming the rows
    cut = ibis.literal(parse_as_of(as_of).date())
    due, comp = m.due_at.cast("date"), m.completed_at.cast("date")
    done = comp.notnull() & (comp <= cut)
    return m.select("account_id", dm=month_index_expr(due), due=due, completed=comp, done=flag(done),
                    on_time=flag(done & (comp <= due)))


def finished_onboardings(src, as_of: str) -> pd.DataFrame:
    """finished_at and start_date (datetime64[ns], NaT without a subscription) of each account
    whose milestones were all done by ``as_of``: the finished rows of
    :func:`onboarding_completion` (completion_days = finished_at - start_date), from the engine."""
    m = milestones_expr(src, as_of)
    g = m.group_by("account_id").aggregate(n=m.count(), n_done=m.done.sum(),
                                           finished_at=m.completed.max(where=m.done == 1))
    g = g.filter(g.n_done == g.n)
    s = subscriptions_of(src)
    st = s.group_by(s_id=s.account_id).aggregate(start_date=s.start_date.min())
    j = g.left_join(st, g.account_id == st.s_id)
    arr = j.select("finished_at", "start_date").to_pyarrow()
    return pd.DataFrame({c: pd.to_datetime(arr[c].to_numpy(zero_copy_only=False)).astype("datetime64[ns]")
                         for c in ("finished_at", "start_date")})


def due_by_month(src, as_of: str) -> pd.DataFrame:
    """Per month of the due day (``period_start``, on or before ``as_of``): n_due, n_on_time, from
    the engine (:func:`onboarding_score_by_period`'s counts at a monthly grain)."""
    m = milestones_expr(src, as_of)
    m = m.filter(m.due <= ibis.literal(parse_as_of(as_of).date()))
    a = m.group_by("dm").aggregate(n_due=m.count(), n_on_time=m.on_time.sum()).execute()
    return pd.DataFrame({"period_start": month_from_index(a["dm"].to_numpy(dtype="int64")),
                         "n_due": a["n_due"].to_numpy(dtype="int64"),
                         "n_on_time": a["n_on_time"].to_numpy(dtype="int64")}).sort_values("period_start", ignore_index=True)
