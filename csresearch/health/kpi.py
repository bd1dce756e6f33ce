"""KPI tree: churn and NRR at the top, decomposed into the KPIs each team owns, per period.

Churn reasons are owned as in DOMAIN.md (BRIDGE conference): ``product`` -> product
development, ``adoption`` -> customer success, ``expectation`` -> sales; ``price`` and
``other`` are reported as *stated* (no owning team). The decompositions are exact:

* logo churn rate = sum of churn_<reason> rates, where churn_<reason> = accounts that churned
  in the period with that reason / accounts active at the period start (a churn without a
  recorded reason is ``churn_unrecorded``). A churn in ``[p, next)`` (active on p, not on next)
  is matched with a reason whose ``churned_at`` day lies in ``(p, next]``.
* NRR = 1 + expansion_rate - contraction_rate - mrr_churn_rate (rates of the start MRR).

Accounts "active at the period start" are the customers on its first day by
:mod:`csresearch.data.timeline` (a paid subscription covers the day). Team KPIs under them (see :data:`KPI_TREE` for definitions): onboarding days and on-time
score (customer success), CES and tickets per account (support), adoption breadth
(product development), expansion rate (sales).

Example
-------
>>> t = kpi_tree(open_source("data/demo"), "2025-12-31", grain="quarter")  # doctest: +SKIP
>>> print(render_tree(t, "2025-10-01"))  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csresearch.data import timeline
from csresearch.data.periods import (
    check_grain,
    month_from_index,
    month_index,
    month_index_expr,
    parse_as_of,
    period_floor,
)
from csresearch.features.usage import monthly_aggregate, usage_months
from csresearch.metrics._engine import SPLIT
from csresearch.metrics.onboarding import due_by_month, finished_onboardings
from csresearch.metrics.revenue import mrr_bridge, start_churners
from csresearch.metrics.surveys import survey_scores

REASON_OWNERS: dict[str, str] = {
    "product": "product development",
    "adoption": "customer success",
    "expectation": "sales",
    "price": "stated (no owning team)",
    "other": "stated (no owning team)",
}
UNRECORDED = "unrecorded"

#: node, parent, team, unit, definition
KPI_TREE: tuple[tuple[str, str | None, str, str, str], ...] = (
    ("churn_rate", None, "all teams", "share", "logo churn: accounts churned in the period / active at its start"),
    ("churn_product", "churn_rate", REASON_OWNERS["product"], "share", "churned with reason 'product' / active at start"),
    ("adoption_breadth", "churn_product", "product development", "share",
     "mean share of the event types in use that an active account used, per month"),
    ("churn_adoption", "churn_rate", REASON_OWNERS["adoption"], "share", "churned with reason 'adoption' / active at start"),
    ("onboarding_days", "churn_adoption", "customer success", "days",
     "mean days from first subscription start to the last milestone, of onboardings finished in the period"),
    ("onboarding_score", "churn_adoption", "customer success", "share",
     "milestones due in the period that were done by their due day / milestones due"),
    ("churn_expectation", "churn_rate", REASON_OWNERS["expectation"], "share",
     "churned with reason 'expectation' / active at start"),
    ("churn_price", "churn_rate", REASON_OWNERS["price"], "share", "churned with reason 'price' / active at start"),
    ("churn_other", "churn_rate", REASON_OWNERS["other"], "share", "churned with reason 'other' / active at start"),
    ("churn_unrecorded", "churn_rate", "no reason recorded", "share", "churned without a recorded reason / active at start"),
    ("ces_mean", "churn_rate", "support", "score 1-7", "mean CES answer in the period"),
    ("tickets_per_account", "churn_rate", "support", "tickets", "tickets opened in the period / accounts active at start"),
    ("nrr", None, "all teams", "ratio", "(start MRR + expansion - contraction - churn) / start MRR"),
    ("expansion_rate", "nrr", "sales", "share", "expansion MRR / start MRR"),
    ("contraction_rate", "nrr", "customer success", "share", "contraction MRR / start MRR"),
    ("mrr_churn_rate", "nrr", "customer success", "share", "churned MRR / start MRR"),
)


def _ratio(num, den) -> np.ndarray:
    num, den = np.asarray(num, dtype="float64"), np.asarray(den, dtype="float64")
    return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def churn_by_reason(churners: pd.DataFrame, reasons: pd.DataFrame | None) -> pd.DataFrame:
    """The churned customers of each period (:func:`~csresearch.metrics.revenue.start_churners`,
    the logo churn rate's numerator) with their reason (``'unrecorded'`` when none matches; see
    module doc), so that the reasons add up to the churn rate.

    Returns period_start, account_id, reason, owner.
    """
    ch = churners[["period_start", "period_end", "account_id"]]
    ch = ch.reset_index(drop=True).reset_index(names="_row")
    if reasons is not None and len(reasons):
        r = reasons[["account_id", "churned_at", "reason"]].copy()
        r["churned_at"] = pd.to_datetime(r["churned_at"]).dt.normalize()
        j = ch.merge(r, on="account_id")
        j = j.loc[(j["churned_at"] > j["period_start"]) & (j["churned_at"] <= j["period_end"])]
        first = j.sort_values("churned_at").drop_duplicates("_row").set_index("_row")["reason"]
        ch["reason"] = ch["_row"].map(first).fillna(UNRECORDED)
    else:
        ch["reason"] = UNRECORDED
    ch["owner"] = ch["reason"].map(REASON_OWNERS).fillna("no reason recorded")
    return ch[["period_start", "account_id", "reason", "owner"]]


def _onboarding(src, as_of: str, grain: str, periods: pd.DatetimeIndex) -> dict:
    """Mean days to finish onboarding by the period it finished in, and the share of milestones
    done by their due day by the period they fell due in (counted in the engine)."""
    fin = finished_onboardings(src, as_of)
    days = (fin["finished_at"] - fin["start_date"]).dt.days.astype("float64")
    mean = days.groupby(period_floor(fin["finished_at"], grain).to_numpy()).mean()
    due = due_by_month(src, as_of)
    n = due.groupby(period_floor(due["period_start"], grain).to_numpy())[["n_due", "n_on_time"]].sum()
    score = n["n_on_time"] / n["n_due"]
    return {"onboarding_days": mean.reindex(periods).to_numpy(), "onboarding_score": score.reindex(periods).to_numpy()}


def _per_period_counts(src, table: str, ts: str, as_of: str, grain: str, periods) -> np.ndarray:
    end = parse_as_of(as_of) + pd.Timedelta(days=1)
    a = monthly_aggregate(src.table(table), ts, end, lambda t: {"n": t.count()}, by=())
    p = period_floor(pd.Series(month_from_index(a["mi"].to_numpy())), grain)
    s = pd.Series(a["n"].to_numpy(dtype="float64"), index=p.to_numpy()).groupby(level=0).sum()
    return s.reindex(periods).fillna(0).to_numpy(dtype="float64")


def _adoption(src, as_of: str, grain: str, periods) -> np.ndarray:
    """Mean adoption breadth per period over the customers at its start (see :data:`KPI_TREE`)."""
    n_types = int(src.table("usage_events").event_type.nunique().execute() or 0)
    if grain == "month":  # one month per period: summed in the engine, a row per month comes back
        return _adoption_by_month(src, as_of, pd.DatetimeIndex(periods), n_types)
    from csresearch.features.usage import event_types_table

    u = event_types_table(src.table("usage_events"), as_of).order_by(["account_id", "month"]).execute()
    u["month"] = pd.to_datetime(u["month"])  # the event_types rows of features.usage_features
    u["p"] = period_floor(u["month"], grain).to_numpy()
    u = u.assign(b=u["event_types"] / n_types) if n_types else u.iloc[:0]
    if u.empty:
        return np.full(len(periods), np.nan)
    breadth = u.groupby(["account_id", "p"])["b"].mean()
    c = timeline.customers_on_days(src, periods).execute()  # the customers at each period's start
    c = c.assign(day=pd.to_datetime(c["day"]).astype("datetime64[ns]")).sort_values(["day", "account_id"])
    idx = pd.MultiIndex.from_arrays([c["account_id"], c["day"]])
    vals = pd.Series(breadth.reindex(idx).fillna(0.0).to_numpy(), index=c["day"].to_numpy())
    return vals.groupby(level=0).mean().reindex(periods).to_numpy()


def _adoption_by_month(src, as_of: str, periods: pd.DatetimeIndex, n_types: int) -> np.ndarray:
    """Per month: the event types each customer at its start used in it (those of
    :func:`csresearch.features.usage.event_types_table`, 0 without events), summed over the
    customers (:func:`csresearch.data.timeline.customers_on_days`), / (``n_types`` x customers).
    Joined and summed in the engine; NaN for every month when no event is before the cut."""
    from csresearch.features.usage import _event_months

    ev, _ = _event_months(src.table("usage_events"), as_of)
    if n_types == 0 or len(periods) == 0 or int(ev.limit(1).count().execute()) == 0:
        return np.full(len(periods), np.nan)
    b = usage_months(src, as_of)  # computed once per report all run (features.usage_months)
    c = timeline.customers_on_days(src, periods)
    c = c.select("account_id", mi=month_index_expr(c.day))
    j = c.left_join(b, [c.account_id == b.account_id, c.mi == b.mi]).select(mi=c.mi, types=b.types.fill_null(0))
    a = j.group_by("mi").aggregate(customers=j.count(), types=j.types.sum()).execute()
    mean = a["types"].to_numpy(dtype="float64") / n_types / a["customers"].to_numpy(dtype="float64")
    at = pd.Series(mean, index=month_from_index(a["mi"].to_numpy(dtype="int64")))
    return at.reindex(periods).to_numpy()


def table_of(src, name: str, memo: dict) -> pd.DataFrame:
    """``src.df(name)``, read once per ``memo`` (treat as read-only)."""
    if ("df", name) not in memo:
        memo[("df", name)] = src.df(name)
    return memo[("df", name)]


def metric_table(src, as_of: str, kind: str, grain: str, by: str | None = None,
                 memo: dict | None = None) -> pd.DataFrame:
    """The MRR bridge (``kind`` ``"bridge"``) or the renewal rates (``"renewals"``) of ``src``'s
    subscriptions per ``grain`` (and ``by``, a column of accounts), computed once per ``memo``:
    a report passes one dict to its sections, the KPI tree and the goals, which ask for the same
    tables (treat them as read-only). With ``memo[SPLIT]`` a column of the memo's accounts, the
    bridge of all accounts and the one split by that column are computed together
    (:func:`~csresearch.metrics.revenue.mrr_bridges`); the renewal events are computed once
    for every grain.

    Example
    -------
    >>> metric_table(src, "2025-12-31", "bridge", "month", memo=memo)  # doctest: +SKIP
    """
    from csresearch.metrics.revenue import mrr_bridges, renewal_rates

    memo = {} if memo is None else memo
    if (kind, grain, by) in memo:
        return memo[(kind, grain, by)]
    split = memo.get(SPLIT)
    acc_cols = src.raw("accounts").columns if split is not None and src.has("accounts") else ()
    if kind == "bridge" and by in (None, split) and {"account_id", split} <= set(acc_cols):
        both = mrr_bridges(src, as_of, grain, split)  # the engine reads the files, for both at once
        memo[(kind, grain, None)], memo[(kind, grain, split)] = both
    elif kind == "renewals":  # counted in the engine, which reads the files
        memo[(kind, grain, by)] = renewal_rates(src, as_of, grain, by=by, memo=memo)
    else:
        memo[(kind, grain, by)] = mrr_bridge(src, as_of, grain, by=by)
    return memo[(kind, grain, by)]


def kpi_tree(src, as_of: str, grain: str = "month", memo: dict | None = None) -> pd.DataFrame:
    """Every node of :data:`KPI_TREE` per period: period_start, node, parent, team, unit, value, note.

    A node whose table is absent has NaN values and a note saying so. ``memo``: shared with
    :func:`metric_table` (the bridge and the subscriptions read once per report).

    Example
    -------
    >>> kpi_tree(src, "2025-12-31").query("node == 'churn_rate'")  # doctest: +SKIP
    """
    check_grain(grain)
    memo = {} if memo is None else memo
    bridge = metric_table(src, as_of, "bridge", grain, memo=memo)
    periods = pd.DatetimeIndex(bridge["period_start"])
    churners = start_churners(src, as_of, grain)
    start = bridge["accounts_start"].to_numpy()
    mrr0 = bridge["mrr_start"].to_numpy()
    values: dict[str, np.ndarray] = {
        "churn_rate": bridge["logo_churn_rate"].to_numpy(), "nrr": bridge["nrr"].to_numpy(),
        "expansion_rate": _ratio(bridge["mrr_expansion"], mrr0),
        "contraction_rate": _ratio(bridge["mrr_contraction"], mrr0),
        "mrr_churn_rate": _ratio(bridge["mrr_churned"], mrr0),
    }
    notes: dict[str, str] = {}
    reasons = src.df("churn_reasons") if src.has("churn_reasons") else None
    if reasons is None:
        notes.update({f"churn_{r}": "churn_reasons absent: every churn is unrecorded" for r in REASON_OWNERS})
    cbr = churn_by_reason(churners, reasons)
    counts = cbr.groupby(["period_start", "reason"]).size().unstack(fill_value=0)
    for r in [*REASON_OWNERS, UNRECORDED]:
        n = counts[r].reindex(periods).fillna(0) if r in counts else pd.Series(0.0, index=periods)
        values[f"churn_{r}"] = _ratio(n.to_numpy(), start)
    optional = {
        "onboarding_milestones": (("onboarding_days", "onboarding_score"),
                                  lambda: _onboarding(src, as_of, grain, periods)),
        "ces_responses": (("ces_mean",), lambda: {"ces_mean": survey_scores(
            src.df("ces_responses"), "ces", as_of, grain, periods=periods)["ces_mean"].to_numpy()}),
        "support_tickets": (("tickets_per_account",), lambda: {"tickets_per_account": _ratio(
            _per_period_counts(src, "support_tickets", "opened_at", as_of, grain, periods), start)}),
        "usage_events": (("adoption_breadth",), lambda: {"adoption_breadth": _adoption(
            src, as_of, grain, periods)}),
    }
    for table, (nodes, compute) in optional.items():
        if src.has(table):
            values.update(compute())
        else:
            for node in nodes:
                values[node] = np.full(len(periods), np.nan)
                notes[node] = f"{table} absent"
    rows = []
    for node, parent, team, unit, _ in KPI_TREE:
        v = values[node]
        note = np.where(np.isnan(v), notes.get(node, "no data in this period"), "")
        rows.append(pd.DataFrame({"period_start": periods, "node": node, "parent": parent, "team": team,
                                  "unit": unit, "value": v, "note": note}))
    out = pd.concat(rows, ignore_index=True)
    out.attrs.update({"as_of": as_of, "grain": grain})
    return out


# -- goals ------------------------------------------------------------------------------------
def _usage_share(src, period: pd.Timestamp, end: pd.Timestamp, by: str | None,
                 accounts: pd.DataFrame | None) -> pd.Series:
    """Share of the customers on ``period``'s first day (the timeline's ``active_on``) with a
    usage event in ``[period, end)``."""
    active = timeline.active_on(src, str(period.date())).select("account_id").execute()
    if period.day == 1 and end.day == 1:  # whole months: the accounts with a month of events in them
        m = usage_months(src, str((end - pd.Timedelta(days=1)).date()))  # the events before `end`
        used = m.filter((m.mi >= int(month_index([period])[0])) & (m.mi < int(month_index([end])[0])))
    else:
        u = src.table("usage_events")
        used = u.filter((u.occurred_at >= period.to_pydatetime()) & (u.occurred_at < end.to_pydatetime()))
    ids = set(used.select("account_id").distinct().execute()["account_id"])
    active = active.assign(used=active["account_id"].isin(ids).astype(float))
    if by is None:
        return pd.Series({"all": active["used"].mean() if len(active) else np.nan})
    seg = accounts.drop_duplicates("account_id").set_index("account_id")[by].astype(str)
    return active.assign(g=active["account_id"].map(seg)).groupby("g")["used"].mean()


def _goal_frame(src, as_of: str, period: str, by: str | None, metric: str, memo: dict) -> tuple[pd.Series, object]:
    """The metric of the last complete ``period`` per segment value (or ``'all'``), and that period."""
    acc = table_of(src, "accounts", memo) if by else None
    t = metric_table(src, as_of, "renewals" if metric == "renewal_rate" else "bridge", period, by, memo)
    if t.empty:
        return pd.Series(dtype="float64"), None
    last = pd.Timestamp(t["period_start"].max())
    if metric == "active_usage_share":
        if not src.has("usage_events"):
            return pd.Series(dtype="float64"), last
        end = pd.Timestamp(t.loc[t["period_start"] == last, "period_end"].iloc[0])
        return _usage_share(src, last, end, by, acc), last
    col = {"renewal_rate": "renewal_rate", "logo_churn": "logo_churn_rate", "churned_mrr": "mrr_churned",
           "nrr": "nrr", "grr": "grr"}[metric]
    rows = t.loc[t["period_start"] == last]
    if by is None:
        return pd.Series({ALL_SEGMENTS: float(rows[col].iloc[0])}), last
    return rows.set_index(by)[col].astype(float), last


def _check_segment(src, goals, i: int, known: set[str] | None) -> set[str]:
    from csresearch.errors import ConfigError

    col, g = goals.segment_column, goals.goals[i]
    if known is None:
        acc = src.df("accounts")
        if col not in acc.columns:
            raise ConfigError(f"{goals.path}: segment_column '{col}' is not a column of table 'accounts'")
        known = set(acc[col].dropna().astype(str))
    if g.segment not in known:
        raise ConfigError(f"{goals.path}: goal {i + 1} ({g.metric}): segment '{g.segment}' is not a value of "
                          f"accounts.{col}; present: {', '.join(sorted(known))} (or 'all')")
    return known


def goal_actuals(src, as_of: str, goals, memo: dict | None = None) -> pd.DataFrame:
    """Actual against goal for every goal of a :class:`csresearch.health.goals.Goals`.

    Returns one row per goal: metric, segment, period (its start), period_label, kind,
    direction, goal, actual, met (None when the actual is unknown), status (in words,
    e.g. "SMB renewal rate 84.0 % in Q4 2025, 4.0 points under its 88.0 % goal: missed").
    A segment the accounts table does not have raises :class:`~csresearch.errors.ConfigError`.
    ``memo``: shared with :func:`metric_table` (tables a report has already computed).

    Example
    -------
    >>> goal_actuals(open_source("data/demo"), "2025-12-31", load_goals())  # doctest: +SKIP
    """
    from csresearch.reports.present import words as nv

    memo = {} if memo is None else memo  # shared with metric_table
    rows = []
    known: set[str] | None = None
    for i, g in enumerate(goals.goals):
        by = None if g.segment == ALL_SEGMENTS else goals.segment_column
        if by is not None:
            known = _check_segment(src, goals, i, known)
        values, period = _goal_frame(src, as_of, g.period, by, g.metric, memo)
        actual = float(values.get(g.segment, np.nan))
        when = nv.NA if period is None else nv.period_label(period, g.period)
        rows.append({"metric": g.metric, "segment": g.segment, "period": period, "period_label": when,
                     "kind": g.kind, "direction": g.direction, "goal": g.target, "actual": actual,
                     "met": None if np.isnan(actual) else bool(g.met(actual)),
                     "status": goal_status(g, actual, when)})
    return pd.DataFrame(rows)


ALL_SEGMENTS = "all"


def goal_status(goal, actual: float, when: str) -> str:
    """The status of one goal in words: "SMB renewal rate 84.0 % in Q4 2025, 4.0 points under its
    88.0 % goal: missed"; a ceiling (``at_most``) is a "limit"."""
    from csresearch.reports.present import labels
    from csresearch.reports.present import words as nv

    who = "All customers:" if goal.segment == ALL_SEGMENTS else labels.value(goal.segment)
    who = who[:1].upper() + who[1:]
    share = goal.unit == "share"
    shown = (lambda x: nv.pct(x)) if share else (lambda x: nv.currency(x, short=True))
    noun = "goal" if goal.direction == "at_least" else "limit"
    if nv.is_missing(actual):
        return f"{who} {goal.words} in {when}: not measurable (no data); its {noun} is {shown(goal.target)}"
    head = f"{who} {goal.words} {shown(actual)} in {when}"
    d = float(actual) - goal.target
    size = nv.points(d) if share else nv.currency(abs(d), short=True)
    if size in ("0.0 points", "$0"):
        return f"{head}, exactly at its {shown(goal.target)} {noun}: met"
    verdict = "met" if goal.met(float(actual)) else "missed"
    return f"{head}, {size} {'over' if d > 0 else 'under'} its {shown(goal.target)} {noun}: {verdict}"


def render_tree(values: pd.DataFrame, period) -> str:
    """The tree of one period as indented text lines (``node [team]: value``)."""
    p = pd.Timestamp(period)
    v = values.loc[values["period_start"] == p].set_index("node")
    lines: list[str] = []

    def walk(parent, depth):
        for node, par, team, unit, _ in KPI_TREE:
            if par == parent:
                x = v["value"].get(node, np.nan)
                shown = "n/a" if pd.isna(x) else (f"{x:.1%}" if unit == "share" else f"{x:.3g}")
                lines.append(f"{'  ' * depth}{node} [{team}]: {shown}")
                walk(node, depth + 1)

    walk(None, 0)
    return "\n".join(lines)
