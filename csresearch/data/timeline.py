"""The customer timeline: who is a customer on which day, once, as engine expressions (Ibis).

Definitions (every count of customers, churns and tenures in the kit reads them from here):

* **Paid subscription**: a subscription row with ``mrr > 0`` and ``end_date`` empty or after
  ``start_date``. It covers day ``d`` when ``start_date <= d < end_date`` (start inclusive, end
  exclusive; an empty ``end_date`` is open).
* **Customer on day d**: an account with at least one paid subscription covering ``d``
  (equivalently, MRR on ``d`` > 0). A subscription at ``mrr = 0`` never makes a customer.
* **As of**: everything is evaluated as of an explicit ISO date ``as_of``. Subscriptions
  starting after ``as_of`` are ignored (not known yet); an ``end_date`` after ``as_of`` is
  censored: the interval is open at ``as_of`` (so ``9999-12-31``, or any end after ``as_of``,
  reads as open). An ``end_date`` equal to ``as_of`` is a churn on ``as_of`` (the account is not
  a customer on ``as_of``).
* **Episode**: the paid intervals of an account merged where they overlap or touch (a row
  starting on the day another ends continues the episode: an upgrade chain is one episode);
  a gap of at least one day without paid MRR ends it. Episodes are numbered 1..n by start.
* **First paid day**: the start of episode 1 (a free trial before it does not count).
* **Churn day**: the first day without paid MRR after a paid day = the end of an episode, when
  it is on or before ``as_of`` (a paid-to-free downgrade churns on the first free day).
* **Reactivation**: the start of episode 2, 3, ...
* **Tenure**: days from an episode's start to its churn day, or to ``as_of`` when it is still
  open (censored); an account's ``tenure_days`` is that of its first episode, i.e. from the
  first paid day.
* **Free-only account**: an account with subscriptions started by ``as_of`` but none paid; it
  is not a customer, and :func:`free_only_accounts` counts such accounts so reports can say so.
* **Periods** (:func:`active_by_period`): half-open calendar periods ``[p, next)`` with
  snapshots on their first days, as in the MRR bridge; an event on day ``x`` (episode start or
  churn day) belongs to the period with ``p < x <= next``, the period holding ``x - 1`` (the
  last day before the change), so ``customers_end = customers_start + new + reactivated -
  churned``. The last period's ``next`` may be ``as_of + 1``: it is read as of ``as_of``.

All expressions are portable SQL (windows, CASE with integer literals, no bit operations and
no boolean-to-integer casts) and run on DuckDB, PostgreSQL and Spark. Each function takes a
:class:`~csresearch.data.sources.DataSource` or an Ibis table of subscriptions.

Example
-------
>>> from csresearch.data.sources import open_source  # doctest: +SKIP
>>> src = open_source("data/demo")  # doctest: +SKIP
>>> active_customers(src, "2025-12-31"), free_only_accounts(src, "2025-12-31")  # doctest: +SKIP
(7114, 0)
>>> account_timeline(src, "2025-12-31").execute().head()  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from csresearch.data.embedded import fetch
from csresearch.data.periods import check_grain, month_index_expr, period_starts
from csresearch.errors import ConfigError, DataValidationError

SUBSCRIPTION_COLUMNS = ("account_id", "start_date", "end_date", "mrr")


# -- inputs ------------------------------------------------------------------------------------
def as_of_date(as_of: str) -> date:
    """``as_of`` (an ISO string such as ``"2025-12-31"``) as a date; :class:`ConfigError` otherwise."""
    if not isinstance(as_of, str):
        raise ConfigError(f"as_of must be an ISO date string such as '2025-12-31', not {as_of!r}")
    try:
        return date.fromisoformat(as_of)
    except ValueError as e:
        raise ConfigError(f"as_of {as_of!r} is not an ISO date ('YYYY-MM-DD')") from e


def subscriptions_of(src: Any) -> ir.Table:
    """The subscriptions of a data source (or an Ibis table of them), contract columns typed."""
    t = src.table("subscriptions") if hasattr(src, "table") else src
    if not isinstance(t, ir.Table):
        raise DataValidationError(
            f"expected a DataSource or an Ibis table of subscriptions, not {type(src).__name__}"
        )
    missing = [c for c in SUBSCRIPTION_COLUMNS if c not in t.columns]
    if missing:
        raise DataValidationError(
            f"table 'subscriptions': missing column(s) {', '.join(missing)}; present columns: "
            f"{', '.join(t.columns)}. Add them or map yours onto them in the mapping YAML."
        )
    return t.mutate(
        account_id=t.account_id.cast("string"),
        start_date=t.start_date.cast("date"),
        end_date=t.end_date.cast("date"),
        mrr=t.mrr.cast("float64"),
    )


def _flag(cond: ir.BooleanValue) -> ir.IntegerValue:
    """0/1 of a condition without a boolean cast (NULL reads as 0)."""
    return ibis.ifelse(cond, 1, 0).cast("int64")


# -- intervals and episodes -------------------------------------------------------------------
def paid_intervals(src: Any, as_of: str) -> ir.Table:
    """One row per paid subscription (``mrr > 0``) known on ``as_of``, its end censored there.

    Returns account_id, subscription_id (when present), start_date, end_date (NULL when open or
    ending after ``as_of``; otherwise <= ``as_of``) and mrr. Zero-MRR rows, empty rows
    (``end_date <= start_date``) and rows starting after ``as_of`` are left out.

    Example
    -------
    >>> paid_intervals(src, "2025-12-31").count().execute()  # doctest: +SKIP
    """
    cut = ibis.literal(as_of_date(as_of))
    s = subscriptions_of(src)
    s = s.filter(
        s.mrr > 0,
        s.start_date <= cut,
        s.end_date.isnull() | (s.end_date > s.start_date),
    )
    ids = {"subscription_id": s.subscription_id.cast("string")} if "subscription_id" in s.columns else {}
    return s.select(
        "account_id",
        **ids,
        start_date=s.start_date,
        end_date=ibis.ifelse(s.end_date <= cut, s.end_date, ibis.null("date")),
        mrr=s.mrr,
    )


def episodes(src: Any, as_of: str) -> ir.Table:
    """Paid episodes of every account as of ``as_of`` (gaps-and-islands over paid intervals).

    Returns one row per account and episode: account_id, episode (1..n by start), start,
    end (churn day, NULL when open on ``as_of``), churned (0/1), tenure_days (start to churn
    day, or to ``as_of`` when open), mrr_start (MRR on the first day), mrr_last (MRR on the
    last paid day; on ``as_of`` when open) and n_subscriptions.

    Example
    -------
    >>> ep = episodes(src, "2025-12-31")  # doctest: +SKIP
    >>> ep.filter(ep.episode > 1).count().execute()  # reactivations  # doctest: +SKIP
    """
    day = as_of_date(as_of)
    cut = ibis.literal(day)
    horizon = ibis.literal(day + timedelta(days=1))  # stands for "open" inside this function
    p = paid_intervals(src, as_of)
    p = p.mutate(stop=p.end_date.fill_null(horizon))
    order = [p.start_date, p.stop]
    before = ibis.window(group_by=p.account_id, order_by=order, rows=(None, -1))
    p = p.mutate(prev_stop=p.stop.max().over(before))
    p = p.mutate(opens=_flag(p.prev_stop.isnull() | (p.start_date > p.prev_stop)))
    upto = ibis.window(group_by=p.account_id, order_by=[p.start_date, p.stop], rows=(None, 0))
    p = p.mutate(episode=p.opens.sum().over(upto))
    whole = ibis.window(group_by=[p.account_id, p.episode])
    p = p.mutate(ep_start=p.start_date.min().over(whole), ep_stop=p.stop.max().over(whole))
    g = p.group_by(["account_id", "episode"]).aggregate(
        start=p.ep_start.min(),
        stop=p.ep_stop.max(),
        mrr_start=p.mrr.sum(where=p.start_date == p.ep_start),
        mrr_last=p.mrr.sum(where=p.stop == p.ep_stop),
        n_subscriptions=p.count(),
    )
    churned = g.stop <= cut
    return g.select(
        "account_id",
        episode=g.episode.cast("int64"),
        start=g.start,
        end=ibis.ifelse(churned, g.stop, ibis.null("date")),
        churned=_flag(churned),
        tenure_days=ibis.ifelse(churned, g.stop, cut).delta(g.start, unit="day").cast("int64"),
        mrr_start=g.mrr_start,
        mrr_last=g.mrr_last,
        n_subscriptions=g.n_subscriptions.cast("int64"),
    )


def account_timeline(src: Any, as_of: str) -> ir.Table:
    """One row per account with a subscription started by ``as_of`` (paid or not).

    Columns: account_id, first_subscription_day (any MRR), first_paid_day (NULL if free-only),
    first_churn_day (end of episode 1; NULL if open or free-only), churned (0/1, episode 1
    ended by ``as_of``), n_episodes (0 if free-only), reactivated (0/1, n_episodes > 1),
    last_episode_start, last_episode_end (NULL if open), active_on_as_of (0/1, a customer on
    ``as_of``), tenure_days (first paid day to first churn day or ``as_of``; NULL if
    free-only), mrr_as_of (paid MRR on ``as_of``, 0 if not a customer) and free_only (0/1).
    Accounts without a subscription started by ``as_of`` are not in the table.

    Example
    -------
    >>> t = account_timeline(src, "2025-12-31")  # doctest: +SKIP
    >>> t.aggregate(customers=t.active_on_as_of.sum(), free_only=t.free_only.sum()).execute()  # doctest: +SKIP
    """
    cut = ibis.literal(as_of_date(as_of))
    s = subscriptions_of(src)
    s = s.filter(s.start_date <= cut)
    accounts = s.group_by("account_id").aggregate(first_subscription_day=s.start_date.min())
    e = episodes(src, as_of)
    first = e.episode == 1
    per = e.group_by("account_id").aggregate(
        first_paid_day=e.start.min(),
        first_churn_day=e.end.max(where=first),
        churned=e.churned.max(where=first),
        n_episodes=e.episode.max(),
        last_episode_start=e.start.max(),
        open_now=_flag(e.churned == 0).max(),
        last_end=e.end.max(),
        tenure_days=e.tenure_days.max(where=first),
        mrr_as_of=e.mrr_last.sum(where=e.churned == 0),
    ).rename(ep_account_id="account_id")
    j = accounts.left_join(per, accounts.account_id == per.ep_account_id)
    paid = j.first_paid_day.notnull()
    active = j.open_now.fill_null(0)
    return j.select(
        "account_id",
        "first_subscription_day",
        "first_paid_day",
        "first_churn_day",
        churned=j.churned.fill_null(0).cast("int64"),
        n_episodes=j.n_episodes.fill_null(0).cast("int64"),
        reactivated=_flag(j.n_episodes > 1),
        last_episode_start=j.last_episode_start,
        last_episode_end=ibis.ifelse(active == 1, ibis.null("date"), j.last_end),
        active_on_as_of=active.cast("int64"),
        tenure_days=j.tenure_days,
        mrr_as_of=j.mrr_as_of.fill_null(0.0),
        free_only=_flag(~paid),
    )



# -- one day ------------------------------------------------------------------------------------
def active_on(src: Any, day: str) -> ir.Table:
    """The customers on ``day`` (ISO date): account_id and mrr (their paid MRR on that day).

    Example
    -------
    >>> active_on(src, "2025-12-31").count().execute()  # doctest: +SKIP
    """
    p = paid_intervals(src, day)
    p = p.filter(p.end_date.isnull())  # covers ``day``: started by it, not ended on or before it
    return p.group_by("account_id").aggregate(mrr=p.mrr.sum())


def active_on_days(src: Any, days: list[str]) -> dict[str, pd.Index]:
    """The account ids of :func:`active_on` for each of ``days``, from one query: the paid
    intervals as of the last day that cover the day (``start_date <= day < end_date``; read later,
    an interval that covered a day still covers it, and one that starts after it does not).

    Example
    -------
    >>> active_on_days(src, ["2025-12-24", "2025-12-31"])["2025-12-24"]  # doctest: +SKIP
    """
    p = fetch(paid_intervals(src, max(days)).select("account_id", "start_date", "end_date"))
    ids, start, end = p["account_id"].astype(str), pd.to_datetime(p["start_date"]), pd.to_datetime(p["end_date"])
    out = {}
    for day in days:
        d = pd.Timestamp(day)
        on = ((start <= d) & (end.isna() | (end > d))).to_numpy()
        out[day] = pd.Index(pd.unique(ids.to_numpy()[on]), name="account_id").sort_values()
    return out


def customers_on_days(src: Any, days) -> ir.Table:
    """The customers on each of ``days`` (ISO dates or timestamps) as an engine table: one row
    per (account_id, day), the rule of :func:`active_on` (a paid interval as of the last day
    covers the day: ``start_date <= day < end_date``). Stays in the engine: for aggregates over
    many days of a large book (e.g. the KPI tree's adoption over the customers of each month).

    Example
    -------
    >>> customers_on_days(src, ["2025-11-01", "2025-12-01"]).count().execute()  # doctest: +SKIP
    """
    ds = sorted({pd.Timestamp(d).date() for d in days})
    g = ibis.memtable(pd.DataFrame({"day": ds}), schema={"day": "date"})
    p = paid_intervals(src, max(ds).isoformat()).select("account_id", "start_date", "end_date")
    j = p.join(g, [p.start_date <= g.day, p.end_date.isnull() | (p.end_date > g.day)])
    return j.select("account_id", "day").distinct()


def active_customers(src: Any, as_of: str) -> int:
    """The one number reports show as "Active customers on <as_of>".

    Example
    -------
    >>> active_customers(src, "2025-12-31")  # doctest: +SKIP
    7114
    """
    return int(active_on(src, as_of).count().execute())


def free_only_accounts(src: Any, as_of: str) -> int:
    """Accounts with subscriptions started by ``as_of`` but never MRR > 0 (not customers).

    Example
    -------
    >>> free_only_accounts(src, "2025-12-31")  # doctest: +SKIP
    0
    """
    t = account_timeline(src, as_of)
    return int(t.filter(t.free_only == 1).count().execute())


# -- periods ------------------------------------------------------------------------------------
def _period_key(d: ir.DateValue, step: int) -> ir.IntegerValue:
    """Month index (year * 12 + month - 1) of ``d``'s period start for a grain of ``step`` months."""
    m = month_index_expr(d)
    return m - m % step


def report_periods(src: Any, as_of: str, grain: str = "month") -> pd.DatetimeIndex:
    """Full periods from the first subscription start (any MRR) to the last one ending by
    ``as_of``: the periods of the MRR bridge (one small query)."""
    cut = ibis.literal(as_of_date(as_of))
    s = subscriptions_of(src)
    first = s.filter(s.start_date <= cut).start_date.min().execute()
    if first is None or pd.isna(first):
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    return period_starts(pd.Timestamp(first), as_of, grain)


def active_by_period(src: Any, as_of: str, grain: str = "month") -> ir.Table:
    """Customers at each period's start and end, and the new, reactivated and churned between.

    Periods are those of the MRR bridge (:func:`report_periods`). ``customers_start`` are the
    customers on the period's first day ``p``, ``customers_end`` those on the next period's
    first day, read as of ``as_of`` (for the last period that day may be ``as_of + 1``: an
    end there is censored, a start there not known yet). An episode start or churn day ``x``
    counts in the period with ``p < x <= next``; ``new`` are first episodes, ``reactivated``
    later ones. ``customers_end = customers_start + new + reactivated - churned`` and
    ``logo_churn_rate = churned / customers_start`` (NULL when no customer at the start).
    Only per-month aggregates are joined to the periods, so the result is small.

    Example
    -------
    >>> active_by_period(src, "2025-12-31", "quarter").execute()  # doctest: +SKIP
    """
    step = check_grain(grain)
    periods = report_periods(src, as_of, grain)
    grid = pd.DataFrame({
        "period_start": periods.date,
        "period_end": (periods + pd.DateOffset(months=step)).date,
        "k": (periods.year * 12 + periods.month - 1).astype("int64"),
    })
    g = ibis.memtable(grid, schema={"period_start": "date", "period_end": "date", "k": "int64"})
    e = episodes(src, as_of)
    one = ibis.interval(days=1)
    starts = e.select(key=_period_key(e.start - one, step), new=_flag(e.episode == 1),
                      reactivated=_flag(e.episode > 1), churned=ibis.literal(0, "int64"))
    ends = e.filter(e.churned == 1)
    ends = ends.select(key=_period_key(ends.end - one, step), new=ibis.literal(0, "int64"),
                       reactivated=ibis.literal(0, "int64"), churned=ibis.literal(1, "int64"))
    ev = starts.union(ends)
    ev = ev.group_by("key").aggregate(new=ev.new.sum(), reactivated=ev.reactivated.sum(),
                                      churned=ev.churned.sum())
    ev = ev.mutate(net=ev.new + ev.reactivated - ev.churned)
    j = g.cross_join(ev)
    t = j.group_by(["period_start", "period_end", "k"]).aggregate(
        customers_start=j.net.sum(where=j.key < j.k),
        new=j.new.sum(where=j.key == j.k),
        reactivated=j.reactivated.sum(where=j.key == j.k),
        churned=j.churned.sum(where=j.key == j.k),
    )
    t = t.drop("period_end", "k").rename(t_start="period_start")
    t = g.left_join(t, g.period_start == t.t_start)
    cols = {c: t[c].fill_null(0).cast("int64") for c in ("customers_start", "new", "reactivated", "churned")}
    t = t.select("period_start", "period_end", **cols)
    t = t.mutate(customers_end=t.customers_start + t.new + t.reactivated - t.churned)
    rate = t.churned.cast("float64") / t.customers_start.cast("float64")
    return t.mutate(
        logo_churn_rate=ibis.ifelse(t.customers_start > 0, rate, ibis.null("float64"))
    ).order_by("period_start")
