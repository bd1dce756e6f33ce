"""Survival tables from a data source as of a date, built in the engine (Ibis).

Tenure is the **first paid episode** as :mod:`csresearch.data.timeline` defines it (the kit's one
definition): from the first paid day (MRR > 0) to the churn day, the first day without paid
MRR (a paid-to-free downgrade churns); ``churned = 1`` when that day is on or before
``as_of``, otherwise the account is censored at ``as_of``. A later paid episode is a
*reactivation* (``reactivated = 1``): it shows in the MRR bridge, not as a longer lifetime
here. Free-only accounts are not customers and not in the table. Also the covariates of a window after
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

from csresearch.data.embedded import fetch
from csresearch.errors import DataValidationError

DAYS_PER_MONTH = 365.25 / 12


# -- data sources ------------------------------------------------------------------------
def survival_table_expr(src, as_of: str) -> ir.Table:
    """Engine-side :func:`survival_table` (an Ibis table; see there for the columns).

    Read from :mod:`csresearch.data.timeline` (the kit's one definition of customers, churn and
    tenure): the first paid episode of every account that ever paid by ``as_of``.
    """
    from csresearch.data import timeline

    t = timeline.account_timeline(src, as_of)
    t = t.filter(t.free_only == 0)
    e = timeline.episodes(src, as_of)
    e1 = e.filter(e.episode == 1).select(e1_id="account_id", mrr_start="mrr_start")
    acc = src.table("accounts")
    extra = [c for c in ("plan", "industry", "region") if c in acc.columns]
    a = acc.select(acc_id="account_id", segment="segment", **{c: c for c in extra})
    j = t.left_join(e1, t.account_id == e1.e1_id).left_join(a, t.account_id == a.acc_id)
    return j.select(
        "account_id",
        start_date=j.first_paid_day,
        episode_end=j.first_churn_day,
        tenure_days=j.tenure_days.cast("int64"),
        churned=j.churned,
        reactivated=j.reactivated,
        cohort=j.first_paid_day.strftime("%Y-%m"),
        segment=j.segment,
        **{c: j[c] for c in extra},
        mrr_start=j.mrr_start.fill_null(0.0),
        mrr_as_of=ibis.ifelse(j.churned == 1, 0.0, j.mrr_as_of),
    ).order_by("account_id")


def survival_table(src, as_of: str) -> pd.DataFrame:
    """One row per customer (ever paid) with its first paid episode as of ``as_of`` (in the engine).

    Columns: ``account_id, start_date`` (first paid day), ``episode_end`` (churn day: first
    day without paid MRR; NaT if open on ``as_of``), ``tenure_days`` (to churn, else to ``as_of``), ``tenure_months``
    (days / 30.4375), ``churned`` (1 if ``episode_end <= as_of``), ``reactivated`` (1 if the
    account returned after churning, on or before ``as_of``: a reactivation, not a longer
    lifetime), ``cohort`` (start month ``YYYY-MM``), ``segment`` and the optional ``plan,
    industry, region`` (account attributes), ``mrr_start`` (MRR on the first day: a
    covariate measured at start) and ``mrr_as_of`` (MRR on ``as_of``, 0 if churned: for
    revenue at stake, never a covariate - it is measured at the end).

    Accounts with no subscription started by ``as_of`` are not customers yet and are not
    in the table; their number is in ``attrs['not_started']``. Free-only accounts (never MRR
    > 0) are not customers either; their number is in ``attrs['free_only']``.

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
    df = fetch(survival_table_expr(src, as_of))
    for c in ("start_date", "episode_end"):
        df[c] = pd.to_datetime(df[c])
    df["tenure_months"] = df["tenure_days"] / DAYS_PER_MONTH
    from csresearch.data import timeline

    n_acc = int(src.table("accounts").count().execute())
    free_only = timeline.free_only_accounts(src, as_of)
    df.attrs.update(
        {
            "as_of": as_of,
            "duration": "tenure_days",
            "event": "churned",
            "not_started": n_acc - len(df) - free_only,
            "free_only": free_only,
            "definition": "tenure = first paid episode (csresearch.data.timeline), from the first paid "
            "day; churned if it ended on or before as_of; a later paid episode is a reactivation",
        }
    )
    cols = [c for c in df.columns if c != "tenure_months"]
    i = cols.index("tenure_days") + 1
    return df[cols[:i] + ["tenure_months"] + cols[i:]]


# -- covariates measured in a window after the start (the demo's truth) ---------------------
def _day(ts: ir.Value, start: ir.Value) -> ir.Value:
    return ts.date().delta(start, unit="day")


def start_window_covariates(src, as_of: str, window_days: int = 90, survival_columns: bool = False) -> pd.DataFrame:
    """Covariates measured in the first ``window_days`` after the first subscription start.

    Day 0 is the account's first paid day (:mod:`csresearch.data.timeline`); the window is days
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
    ``survival_columns=True`` appends the other columns of :func:`survival_table` (``episode_end,
    tenure_months, reactivated, cohort``, the account attributes, ``mrr_start, mrr_as_of``),
    from the same pass over the data, and counts every customer active on ``as_of`` in
    ``attrs['active']``, those with fewer than ``window_days`` of tenure in ``attrs['active_short']``.

    Examples
    --------
    >>> cov = start_window_covariates(src, "2025-12-31")  # doctest: +SKIP
    >>> CoxModel(["segment", "usage_trend"], reference={"segment": "smb"}).fit(
    ...     cov, "days_after_window", "churned")  # doctest: +SKIP
    """
    w = int(window_days)
    # every customer, computed once (a temporary table): the population, its count and the
    # rows of the result all read it
    full = survival_table_expr(src, as_of)
    st = (full if survival_columns else full.select(*WINDOW_BASE)).cache()
    keep = (st.tenure_days > w) | ((st.churned == 0) & (st.tenure_days >= w))
    pop = st.filter(keep)
    k1, k2 = w // 3, w - w // 3  # 30 and 60 for a 90-day window
    # Materialised once (a temporary table): inlined, PostgreSQL estimates one row for this
    # population and re-runs each window aggregate below per account (minutes on the demo).
    # With the first midnight of days 0, k1, k2 and w of each window as timestamps.
    s0 = pop.start_date.cast("timestamp")
    starts = pop.select(sid="account_id", s0="start_date", b0=s0, b1=s0 + ibis.interval(days=k1),
                        b2=s0 + ibis.interval(days=k2), bw=s0 + ibis.interval(days=w)).cache()

    def joined(name: str):
        t = src.table(name)
        return t.join(starts, t.account_id == starts.sid)

    u = joined("usage_events")
    # day d of the window (date of the timestamp minus day 0) is in 0 .. k1 - 1 exactly when
    # the timestamp is in [midnight of day 0, midnight of day k1): compared, never converted
    # (the largest table); events outside the window are left out before the sums
    u = u.filter((u.occurred_at >= u.b0) & (u.occurred_at < u.bw))
    usage = u.group_by(uid="sid").aggregate(
        e_first=(u.occurred_at < u.b1).ifelse(1, 0).sum(),
        e_last=(u.occurred_at >= u.b2).ifelse(1, 0).sum(),
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
        # BOOL_AND as 1.0/0.0 through CASE: PostgreSQL has no boolean-to-double cast
        parts.append(m.group_by(aid="sid").aggregate(
            onboarding_complete=ibis.ifelse(done.min(), 1.0, 0.0)))
    t = pop
    for p in parts:
        t = t.left_join(p, t.account_id == p.aid).drop("aid")
    df = fetch(t.order_by("account_id"))
    # no usage in the window: no row in the sums (NULL after the join; with a NULL, the counts
    # can reach pandas as objects), 0 events
    e_last, e_first = (pd.to_numeric(df.pop(c), errors="coerce").fillna(0) for c in ("e_last", "e_first"))
    df["usage_trend"] = np.log2((e_last + 1) / (e_first + 1))
    if "tickets_90d" in df:
        df["tickets_90d"] = df["tickets_90d"].fillna(0).astype(float)
    else:
        df["tickets_90d"] = np.nan
    for c in ("nps_first", "onboarding_complete"):
        if c not in df:
            df[c] = np.nan  # optional table absent: unknown, never 0
    df["start_date"] = pd.to_datetime(df["start_date"])
    df.insert(4, "days_after_window", df["tenure_days"] - w)
    out = df[[*WINDOW_BASE[:4], "days_after_window", WINDOW_BASE[4], *WINDOW_COVARIATES]]
    if survival_columns:
        out = _add_survival_columns(out, df, full.columns, st, w)
    else:
        out.attrs["n_all"] = int(st.count().execute())  # every customer
    out.attrs.update({"as_of": as_of, "window_days": w, "excluded": out.attrs.pop("n_all") - len(out),
                      "absent_tables": [x for x in ("nps_responses", "support_tickets", "onboarding_milestones") if not src.has(x)]})
    return out


WINDOW_BASE = ["account_id", "start_date", "tenure_days", "churned", "segment"]
WINDOW_COVARIATES = ["usage_trend", "nps_first", "tickets_90d", "onboarding_complete"]


def _add_survival_columns(out: pd.DataFrame, df: pd.DataFrame, order: list[str], st: ir.Table,
                          w: int) -> pd.DataFrame:
    """``out`` with the other columns of :func:`survival_table` (as it converts them) and the
    counts of every customer (``st``: the survival table in the engine) in its attrs."""
    df["episode_end"] = pd.to_datetime(df["episode_end"])
    df["tenure_months"] = df["tenure_days"] / DAYS_PER_MONTH
    order = list(order)
    order.insert(order.index("tenure_days") + 1, "tenure_months")
    out = pd.concat([out, df[[c for c in order if c not in out.columns]]], axis=1)
    every = st.select("churned", "tenure_days").execute()  # every customer (one row each)
    active = every["churned"] == 0
    out.attrs.update({"n_all": len(every), "active": int(active.sum()),
                      "active_short": int((active & (every["tenure_days"] < w)).sum())})
    return out

