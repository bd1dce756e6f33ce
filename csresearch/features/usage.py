"""Engine-side features (Ibis; DuckDB by default): monthly usage features and MRR snapshots.

Nothing here loads a source table into pandas; the functions take and return Ibis tables
and only :func:`usage_features` executes the (small, aggregated) result.

Usage features, one row per account and complete calendar month from the account's first
event month to the last month that ends on or before ``as_of`` (months without events are
present with zeros, so a silent account shows as such):

* ``events``: number of events; ``quantity``: sum of ``quantity`` (0 when none);
* ``active_days``: distinct days with an event; ``event_types``: distinct event types;
* ``active_users``: distinct ``user_id`` (NULL when the month has events but none carries a
  user_id: unknown, not zero);
* ``prev3_mean``: mean of ``events`` over the three previous calendar months;
* ``trend`` = ln((events + 1) / (prev3_mean + 1)): 0 = level, > 0 growing, < 0 declining
  (ln 2 ~ 0.69 = twice the recent level); NULL when the account has fewer than three previous
  months of history. The +1 keeps it finite for months with no events.

Example
-------
>>> from csresearch.data.sources import open_source
>>> src = open_source("data/demo")  # doctest: +SKIP
>>> usage_features(src, as_of="2025-12-31").head()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from csresearch.data.periods import month_index_expr, parse_as_of, require_columns

MAX_TYPE_BITS = 62

#: Engines whose SQL has 64-bit shifts and ``bit_count`` on BIGINT: there distinct days and
#: event types are counted as bit masks (the speed trick below). Every other engine
#: (PostgreSQL has neither ``bigint << bigint`` nor ``bit_count(bigint)``) counts distinct.
BIT_MASK_ENGINES = ("duckdb", "pyspark")


@ibis.udf.scalar.builtin(name="bit_count")
def _bit_count(x: int) -> int:  # DuckDB and Spark SQL both have bit_count
    """Number of set bits."""


def _uses_bit_masks(t: ir.Table) -> bool:
    """True when ``t`` runs on an engine of :data:`BIT_MASK_ENGINES` (a memtable: DuckDB)."""
    try:
        name = t.get_backend().name
    except Exception:  # no backend bound: it executes on the default one (DuckDB)
        name = "duckdb"
    return name in BIT_MASK_ENGINES


def _distinct_counts(ev: ir.Table, events: ir.Table, types: bool = True) -> dict[str, ir.Value]:
    """Aggregates ``days`` (distinct days) and, with ``types``, ``types`` (distinct event types) of ``ev``.

    On DuckDB and Spark: bit masks (a day of the month is one of bits 0..30, an event type
    one of bits 0..61), plain OR-aggregates instead of COUNT DISTINCT, which keeps a hash
    set per group. At 50M events on DuckDB: 34 s and 3.1 GiB, against 141 s and 7.2 GiB with
    COUNT DISTINCTs (bench/results.md); the same result (tests/test_features.py). Elsewhere
    (PostgreSQL, warehouses): COUNT DISTINCT, portable SQL.
    """
    if not _uses_bit_masks(events):
        return {"days": ev.day.nunique(), **({"types": ev.event_type.nunique()} if types else {})}
    one = ibis.literal(1).cast("int64")  # an explicit BIGINT: Spark types a bare 1 as INT
    out = {"days": _bit_count((one << (ev.day - 1)).bit_or())}
    if not types:
        return out
    types = events.select("event_type").distinct().execute()["event_type"].dropna().tolist()
    if len(types) <= MAX_TYPE_BITS:
        idx = ev.event_type.cases(*[(t, i) for i, t in enumerate(sorted(types))])
        out["types"] = _bit_count((one << idx).bit_or())
    else:
        out["types"] = ev.event_type.nunique()
    return out


FEATURES = ["account_id", "month", "events", "quantity", "active_days", "event_types",
            "active_users", "prev3_mean", "trend"]


def _event_months(events: ir.Table, as_of: str) -> tuple[ir.Table, int]:
    """The events before the month after ``as_of``'s last complete month, with their month index
    ``mi``, ``day``, event_type, user_id and quantity; and the last complete month's index."""
    require_columns(events, "usage_events", ["account_id", "occurred_at", "event_type"])
    cut = parse_as_of(as_of) + pd.Timedelta(days=1)
    last_mi = cut.year * 12 + cut.month - 1 - 1  # month index of the last complete month
    end = ibis.timestamp(cut.year, cut.month, 1, 0, 0, 0)
    user = events.user_id if "user_id" in events.columns else ibis.null("string")
    qty = events.quantity if "quantity" in events.columns else ibis.null("float64")
    ts = events.occurred_at.cast("timestamp")
    ev = events.filter(ts < end).select(
        account_id=events.account_id,
        mi=ts.year() * 12 + ts.month() - 1,
        day=ts.day().cast("int64"),
        event_type=events.event_type,
        user_id=user.cast("string"),
        quantity=qty.cast("float64"),
    )
    return ev, last_mi


def _every_month(agg: ir.Table, last_mi: int) -> ir.Table:
    """``agg`` (account_id, mi, aggregates) spread over every month from the account's first
    one to ``last_mi``: each month with events extends to the next one with events (or past
    the last month); ``own`` is the month the aggregates belong to (``mi == own``: events).
    One pass over the aggregate, no self-join."""
    nxt = agg.mi.lead().over(ibis.window(group_by="account_id", order_by="mi"))
    agg = agg.mutate(nxt=nxt.fill_null(ibis.literal(last_mi + 1, "int64")))
    keep = [c for c in agg.columns if c not in ("mi", "nxt")]
    return agg.select(*keep, own=agg.mi, mi=ibis.range(agg.mi, agg.nxt).unnest())


#: the aggregates of :func:`usage_features_table` beyond the event count (and what follows from it)
OPTIONAL = ("quantity", "active_days", "event_types", "active_users")


def _monthly(ev: ir.Table, events: ir.Table, want: Collection[str]) -> ir.Table:
    """account_id, mi, n (events) and, of ``want``, qty (summed quantity), days (distinct days),
    types (distinct event types) per account and month of ``ev`` (:func:`_event_months`)."""
    masks = _distinct_counts(ev, events, types="event_types" in want)  # bit masks where the engine has them
    named = {"qty": ("quantity", lambda: ev.quantity.sum()), "days": ("active_days", lambda: masks["days"]),
             "types": ("event_types", lambda: masks["types"])}
    return ev.group_by(["account_id", "mi"]).aggregate(
        n=ev.count(), **{k: f() for k, (a, f) in named.items() if a in want})


def usage_months(src, as_of: str) -> ir.Table:
    """Per account and month of the usage events before the month after ``as_of``'s last complete
    month: account_id, mi (year * 12 + month - 1), n (events), qty (summed quantity), days
    (distinct days), types (distinct event types). The health features' usage columns and the
    KPI tree's adoption start from it.

    Within ``report all`` (:func:`csresearch.data.validated.validated_once`) on a folder source
    on DuckDB, the first report computes it and keeps it as Parquet for the run
    (:func:`csresearch.data.validated.run_file`); the later ones read it back instead of
    aggregating every event again (53M at 100,000 demo accounts: about 2 s each).

    Example
    -------
    >>> usage_months(src, "2025-12-31").execute()  # doctest: +SKIP
    """
    from csresearch.data.validated import run_file

    events = src.table("usage_events")
    ev, last_mi = _event_months(events, as_of)
    path = None
    if getattr(src, "folder", False) and _uses_bit_masks(events) and events.get_backend().name == "duckdb":
        path = run_file(src.files, src.mapping, f"usage_months_{last_mi}.parquet")
    if path is None:
        return _monthly(ev, events, OPTIONAL)
    if not path.exists():  # written whole, then renamed: a report running beside never reads half a file
        from csresearch.outputs import replaced_whole

        with replaced_whole(path) as tmp:
            src.con.to_parquet(_monthly(ev, events, OPTIONAL), tmp)
    t = src.con.read_parquet(path)  # DuckDB's bit_count is a TINYINT in the file: typed as computed
    return t.mutate(days=t.days.cast("int64"), types=t.types.cast("int64"))


def usage_features_table(events: ir.Table, as_of: str, aggregates: Collection[str] | None = None,
                         months: ir.Table | None = None) -> ir.Table:
    """Monthly usage features per account as an Ibis expression (see the module docstring).

    Parameters
    ----------
    events
        The usage_events table (account_id, occurred_at, event_type, optional user_id and
        quantity), e.g. ``source.table("usage_events")``.
    as_of
        ISO date; the last month is the last one ending on or before it, later events are
        ignored.
    aggregates
        Which of :data:`OPTIONAL` to compute beside ``events``, ``prev3_mean`` and ``trend``
        (default: all); the others are left out. Each is work over every event: distinct
        users above all (about 20 of 25 s at 46M events on DuckDB, and a group per account,
        month and user), then the event types and days.

    Example
    -------
    >>> usage_features_table(src.table("usage_events"), "2025-12-31").execute()  # doctest: +SKIP
    """
    want = OPTIONAL if aggregates is None else tuple(a for a in OPTIONAL if a in aggregates)
    ev, last_mi = _event_months(events, as_of)
    keys = ["account_id", "mi"]
    if months is not None and "active_users" not in want:
        named = {"quantity": "qty", "active_days": "days", "event_types": "types"}
        agg = months.select(*keys, "n", *[named[a] for a in OPTIONAL if a in want and a in named])
    else:
        agg = _monthly(ev, events, want)
    if "active_users" in want:  # distinct users by grouping on the user first
        evu = ev.filter(ev.user_id.notnull())
        u = evu.group_by([*keys, "user_id"]).aggregate(k=evu.count())
        per = u.group_by(keys).aggregate(users=u.count(), with_user=u.k.sum())
        agg = agg.left_join(per, keys).select(
            *[c for c in agg.columns], users=per.users.fill_null(0), with_user=per.with_user.fill_null(0))
    sp = _every_month(agg, last_mi)  # months without events: rows of zeros
    here = sp.mi == sp.own
    made = {"events": lambda: here.ifelse(sp.n, 0), "quantity": lambda: here.ifelse(sp.qty.fill_null(0.0), 0.0),
            "active_days": lambda: here.ifelse(sp.days, 0), "event_types": lambda: here.ifelse(sp.types, 0),
            "active_users": lambda: ibis.cases((~here, ibis.literal(0, "int64")), (sp.with_user > 0, sp.users),
                                               else_=ibis.null("int64"))}
    g = sp.select("account_id", "mi", **{c: f() for c, f in made.items() if c == "events" or c in want})
    w = ibis.window(group_by="account_id", order_by="mi")
    lags = [g.events.lag(k).over(w) for k in (1, 2, 3)]
    prev = (lags[0] + lags[1] + lags[2]).cast("float64") / 3.0  # NULL unless 3 months exist
    g = g.mutate(prev3_mean=prev)
    g = g.mutate(
        trend=((g.events.cast("float64") + 1.0) / (g.prev3_mean + 1.0)).ln(),
        month=ibis.date(g.mi // 12, g.mi % 12 + 1, 1),
    )
    return g.select(*[c for c in FEATURES if c not in OPTIONAL or c in want])


def event_types_table(events: ir.Table, as_of: str) -> ir.Table:
    """account_id, month, event_types: those columns of :func:`usage_features_table` (the same
    rows and values), without its other aggregates. Counting distinct users is most of that
    table's time (about 20 of 25 s at 46M events on DuckDB), so a caller that needs only the
    breadth of use (the KPI tree's adoption) asks for this one.

    Example
    -------
    >>> event_types_table(src.table("usage_events"), "2025-12-31").execute()  # doctest: +SKIP
    """
    ev, last_mi = _event_months(events, as_of)
    agg = ev.group_by(["account_id", "mi"]).aggregate(types=_distinct_counts(ev, events)["types"])
    sp = _every_month(agg, last_mi)
    return sp.select("account_id", month=ibis.date(sp.mi // 12, sp.mi % 12 + 1, 1),
                     event_types=(sp.mi == sp.own).ifelse(sp.types, 0))


def usage_features(source_or_events, as_of: str) -> pd.DataFrame:
    """:func:`usage_features_table` executed to pandas, sorted by account and month.

    ``source_or_events`` is a :class:`~csresearch.data.sources.DataSource` or an Ibis table.
    ``month`` comes back as datetime64[ns].
    """
    t = source_or_events
    if hasattr(t, "table") and hasattr(t, "has"):
        t = t.table("usage_events")
    out = usage_features_table(t, as_of).order_by(["account_id", "month"]).execute()
    out["month"] = pd.to_datetime(out["month"])
    return out


def mrr_snapshots_table(subscriptions: ir.Table, dates: Sequence) -> ir.Table:
    """MRR per account on each of ``dates``, engine-side: account_id, snapshot_date, mrr.

    MRR on day d = sum of ``mrr`` of the account's subscriptions with
    ``start_date <= d < end_date`` (missing end = open). Only (account, date) pairs covered by
    at least one subscription appear; the pandas twin
    :func:`csresearch.metrics.revenue.mrr_snapshots` also lists the zeros.

    Example
    -------
    >>> mrr_snapshots_table(src.table("subscriptions"), ["2025-01-01"]).execute()  # doctest: +SKIP
    """
    require_columns(subscriptions, "subscriptions", ["account_id", "start_date", "end_date", "mrr"])
    days = pd.DatetimeIndex(pd.to_datetime(list(dates))).normalize()
    d = ibis.memtable(pd.DataFrame({"snapshot_date": days.date}), schema={"snapshot_date": "date"})
    s = subscriptions.select(
        "account_id",
        start=subscriptions.start_date.cast("date"),
        end=subscriptions.end_date.cast("date"),
        mrr=subscriptions.mrr.cast("float64"),
    )
    j = s.join(d, [s.start <= d.snapshot_date, s.end.isnull() | (d.snapshot_date < s.end)])
    return j.group_by(["account_id", "snapshot_date"]).aggregate(mrr=j.mrr.sum())


def monthly_aggregate(
    t: ir.Table,
    ts: str,
    end: str | pd.Timestamp,
    aggs: Callable[[ir.Table], dict],
    by: Sequence[str] = ("account_id",),
    arrow: bool = False,
) -> pd.DataFrame:
    """Engine-side ``aggs(t)`` per ``by`` and calendar month of ``ts``, executed (small result).

    Rows with a missing ``ts`` or one on/after ``end`` (exclusive; a day, e.g. the first day
    after the last month to measure) are left out. The month is ``mi`` = year * 12 + month - 1,
    as :func:`csresearch.data.periods.month_index`. ``arrow``: a pyarrow table instead (for a
    large result whose ids are looked up in Arrow: :meth:`csresearch.features.grid.Grid.codes`).

    Example
    -------
    >>> monthly_aggregate(src.table("support_tickets"), "opened_at", "2026-01-01",
    ...                   lambda t: {"n": t.count()})  # doctest: +SKIP
    """
    stop = ibis.literal(pd.Timestamp(end).to_pydatetime())
    x = t.filter(t[ts].notnull() & (t[ts] < stop))
    x = x.mutate(mi=month_index_expr(x[ts]))
    agg = x.group_by([*by, "mi"]).aggregate(**aggs(x))
    return agg.to_pyarrow() if arrow else agg.execute()
