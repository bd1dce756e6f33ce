"""Survival tables from a data source as of a date, built in the engine (Ibis).

Tenure is the **first continuous active episode**: from the account's first subscription
``start_date`` to the first day on which no subscription is active (an account is active on
day ``d`` when one of its subscriptions has ``start_date <= d < end_date``; an empty
``end_date`` is open). ``churned = 1`` when that day is on or before ``as_of``; otherwise the
account is censored at ``as_of``. A later return is a *reactivation* (``reactivated = 1``): it
shows in the MRR bridge, not as a longer lifetime here. Also the covariates of a window after
the start (:func:`start_window_covariates`, the demo data's truth).

Importable from :mod:`csresearch.survival.tables` as well.

Example
-------
>>> st = survival_table(src, as_of="2025-12-31")  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import date

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from csresearch.errors import DataValidationError

DAYS_PER_MONTH = 365.25 / 12


# -- data sources ------------------------------------------------------------------------
def episode_expr(subscriptions: ir.Table, as_of: str) -> ir.Table:
    """Engine-side: the first continuous active episode of every account, as of a date.

    Subscriptions starting after ``as_of`` are ignored (not known yet) and empty ones
    (``end_date <= start_date``) never make an account active. Returns one row per account:
    ``account_id, start_date, episode_end`` (first inactive day, may lie after ``as_of`` or be
    null = open), ``reactivated`` (a subscription starts after ``episode_end``, on or before
    ``as_of``).
    """
    asof = ibis.date(as_of)
    far = ibis.date(9999, 12, 31)
    s = subscriptions.filter(
        (subscriptions.start_date <= asof)
        & (subscriptions.end_date.isnull() | (subscriptions.end_date > subscriptions.start_date))
    ).select("account_id", "start_date", end=subscriptions.end_date.fill_null(far))
    w = ibis.window(group_by=s.account_id, order_by=[s.start_date, s.end], rows=(None, -1))
    s = s.mutate(prev_end=s.end.max().over(w))
    s = s.mutate(gap=s.prev_end.notnull() & (s.start_date > s.prev_end))
    first_gap = (
        s.filter(s.gap).group_by("account_id").aggregate(gap_start=s.start_date.min())
    )
    j = s.left_join(first_gap, "account_id").select(s.account_id, s.start_date, s.end, "gap_start")
    in_first = j.gap_start.isnull() | (j.start_date < j.gap_start)
    ep = j.group_by("account_id").aggregate(
        start_date=j.start_date.min(),
        end=j.end.max(where=in_first),
        reactivated=ibis.ifelse(j.gap_start.notnull().max(), 1, 0).cast("int64"),
    )
    return ep.select(
        "account_id",
        "start_date",
        episode_end=ibis.ifelse(ep.end == far, ibis.null("date"), ep.end),
        reactivated="reactivated",
    )


def survival_table_expr(src, as_of: str) -> ir.Table:
    """Engine-side :func:`survival_table` (an Ibis table; see there for the columns)."""
    asof = ibis.date(as_of)
    ep = episode_expr(src.table("subscriptions"), as_of)
    acc = src.table("accounts")
    extra = [c for c in ("plan", "industry", "region") if c in acc.columns]
    subs = src.table("subscriptions")
    # MRR on the first day (covariate measured at start) and on as_of (for revenue at stake)
    j0 = subs.join(ep.select("account_id", ep_start="start_date"), "account_id")
    mrr = j0.group_by("account_id").aggregate(
        mrr_start=j0.mrr.sum(
            where=(j0.start_date <= j0.ep_start)
            & (j0.end_date.isnull() | (j0.end_date > j0.ep_start))
        ),
        mrr_as_of=j0.mrr.sum(
            where=(j0.start_date <= asof) & (j0.end_date.isnull() | (j0.end_date > asof))
        ),
    )
    a = acc.select(acc_id="account_id", segment="segment", **{c: c for c in extra})
    m = mrr.rename(mrr_id="account_id")
    t = ep.left_join(a, ep.account_id == a.acc_id).left_join(m, ep.account_id == m.mrr_id)
    t = t.drop("acc_id", "mrr_id")
    churned = t.episode_end.notnull() & (t.episode_end <= asof)
    stop = ibis.ifelse(churned, t.episode_end, asof)
    return t.select(
        "account_id",
        "start_date",
        "episode_end",
        tenure_days=stop.delta(t.start_date, unit="day").cast("int64"),
        churned=ibis.ifelse(churned, 1, 0).cast("int64"),
        reactivated="reactivated",
        cohort=t.start_date.strftime("%Y-%m"),
        segment="segment",
        **{c: c for c in extra},
        mrr_start=t.mrr_start.fill_null(0.0),
        mrr_as_of=ibis.ifelse(churned, 0.0, t.mrr_as_of.fill_null(0.0)),
    ).order_by("account_id")


def survival_table(src, as_of: str) -> pd.DataFrame:
    """One row per account with its first active episode as of ``as_of`` (computed in the engine).

    Columns: ``account_id, start_date, episode_end`` (first day without an active
    subscription; NaT if open), ``tenure_days`` (to churn, else to ``as_of``), ``tenure_months``
    (days / 30.4375), ``churned`` (1 if ``episode_end <= as_of``), ``reactivated`` (1 if the
    account returned after churning, on or before ``as_of``: a reactivation, not a longer
    lifetime), ``cohort`` (start month ``YYYY-MM``), ``segment`` and the optional ``plan,
    industry, region`` (account attributes), ``mrr_start`` (MRR on the first day: a
    covariate measured at start) and ``mrr_as_of`` (MRR on ``as_of``, 0 if churned: for
    revenue at stake, never a covariate - it is measured at the end).

    Accounts with no subscription started by ``as_of`` are not customers yet and are not
    in the table; their number is in ``attrs['not_started']``.

    Examples
    --------
    >>> st = survival_table(src, as_of="2025-12-31")  # doctest: +SKIP
    >>> st[["tenure_days", "churned"]].head(2)  # doctest: +SKIP
    """
    if not isinstance(as_of, str):
        raise DataValidationError(f"as_of must be an ISO date string like '2025-12-31', not {as_of!r}")
    try:
        date.fromisoformat(as_of)
    except ValueError as e:
        raise DataValidationError(f"as_of {as_of!r} is not an ISO date ('YYYY-MM-DD')") from e
    df = survival_table_expr(src, as_of).execute()
    for c in ("start_date", "episode_end"):
        df[c] = pd.to_datetime(df[c])
    df["tenure_months"] = df["tenure_days"] / DAYS_PER_MONTH
    n_acc = int(src.table("accounts").count().execute())
    df.attrs.update(
        {
            "as_of": as_of,
            "duration": "tenure_days",
            "event": "churned",
            "not_started": n_acc - len(df),
            "definition": "tenure = first continuous active episode; churned if it ended on or "
            "before as_of; a later return is a reactivation",
        }
    )
    cols = [c for c in df.columns if c != "tenure_months"]
    i = cols.index("tenure_days") + 1
    return df[cols[:i] + ["tenure_months"] + cols[i:]]


# -- covariates measured in a window after the start (the demo's truth) ---------------------
def _day(ts: ir.Value, start: ir.Value) -> ir.Value:
    return ts.date().delta(start, unit="day")


def start_window_covariates(src, as_of: str, window_days: int = 90) -> pd.DataFrame:
    """Covariates measured in the first ``window_days`` after the first subscription start.

    Day 0 is the account's first subscription ``start_date``; the window is days
    ``0 .. window_days - 1`` (dates of the timestamps). The population is the accounts still
    active at the end of the window (``tenure_days >= window_days``, not churned on that day)
    whose window has closed by ``as_of``; others are counted in ``attrs['excluded']``.
    Computed in the engine (Ibis), with the definitions of the demo data's ``truth.json``:

    * ``usage_trend`` = log2((usage events on days 60..89 + 1) / (events on days 0..29 + 1))
      (the last and first 30 days of the window);
    * ``nps_first`` = score of the first NPS answer in the window (NaN if none);
    * ``tickets_90d`` = support tickets opened in the window;
    * ``onboarding_complete`` = 1 if every onboarding milestone has ``completed_at`` before
      day ``window_days`` (NaN if the account has no milestones);
    * ``segment`` from accounts (use ``reference={'segment': 'smb'}`` in a Cox model).

    Returns one row per account with the survival columns (``tenure_days``, ``churned``),
    ``days_after_window`` = ``tenure_days - window_days`` and the covariates.

    Examples
    --------
    >>> cov = start_window_covariates(src, "2025-12-31")  # doctest: +SKIP
    >>> CoxModel(["segment", "usage_trend"], reference={"segment": "smb"}).fit(
    ...     cov, "days_after_window", "churned")  # doctest: +SKIP
    """
    w = int(window_days)
    st = survival_table_expr(src, as_of)
    keep = (st.tenure_days > w) | ((st.churned == 0) & (st.tenure_days >= w))
    pop = st.filter(keep).select("account_id", "start_date", "tenure_days", "churned", "segment")
    starts = pop.select(sid="account_id", s0="start_date")
    k1, k2 = w // 3, w - w // 3  # 30 and 60 for a 90-day window

    def joined(name: str):
        t = src.table(name)
        return t.join(starts, t.account_id == starts.sid)

    u = joined("usage_events")
    ud = _day(u.occurred_at, u.s0)
    usage = u.group_by(uid="sid").aggregate(
        e_first=(ud.between(0, k1 - 1)).ifelse(1, 0).sum(),
        e_last=(ud.between(k2, w - 1)).ifelse(1, 0).sum(),
    )
    parts = [usage.rename(aid="uid")]
    if src.has("nps_responses"):
        n = joined("nps_responses")
        n = n.filter(_day(n.responded_at, n.s0).between(0, w - 1))
        first = n.group_by("sid").aggregate(first_at=n.responded_at.min())
        n2 = n.join(first, (n.sid == first.sid) & (n.responded_at == first.first_at))
        parts.append(n2.group_by(aid=n.sid).aggregate(nps_first=n2.score.min().cast("float64")))
    if src.has("support_tickets"):
        tk = joined("support_tickets")
        tk = tk.filter(_day(tk.opened_at, tk.s0).between(0, w - 1))
        parts.append(tk.group_by(aid="sid").aggregate(tickets_90d=tk.count()))
    if src.has("onboarding_milestones"):
        m = joined("onboarding_milestones")
        done = m.completed_at.notnull() & (_day(m.completed_at, m.s0) < w)
        parts.append(m.group_by(aid="sid").aggregate(onboarding_complete=done.min().cast("float64")))
    t = pop
    for p in parts:
        t = t.left_join(p, t.account_id == p.aid).drop("aid")
    df = t.order_by("account_id").execute()
    df["usage_trend"] = np.log2((df.pop("e_last").fillna(0) + 1) / (df.pop("e_first").fillna(0) + 1))
    if "tickets_90d" in df:
        df["tickets_90d"] = df["tickets_90d"].fillna(0).astype(float)
    else:
        df["tickets_90d"] = np.nan
    for c in ("nps_first", "onboarding_complete"):
        if c not in df:
            df[c] = np.nan  # optional table absent: unknown, never 0
    df["start_date"] = pd.to_datetime(df["start_date"])
    df.insert(4, "days_after_window", df["tenure_days"] - w)
    n_all = int(st.count().execute())
    df.attrs.update({"as_of": as_of, "window_days": w, "excluded": n_all - len(df),
                     "absent_tables": [x for x in ("nps_responses", "support_tickets", "onboarding_milestones") if not src.has(x)]})
    return df[["account_id", "start_date", "tenure_days", "churned", "days_after_window", "segment",
               "usage_trend", "nps_first", "tickets_90d", "onboarding_complete"]]


demo_covariates = start_window_covariates
