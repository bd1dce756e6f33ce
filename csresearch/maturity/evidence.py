"""Evidence of maturity from an organisation's own data.

For each capability the data can speak to, :func:`gather_evidence` returns two levels:

- ``evidence_level``: the level the data *shows* (its measured criteria hold);
- ``evidence_cap``: the highest level the data *allows*. A criterion whose data is absent
  or fails its threshold caps the capability below the level that needs it.

Capabilities the contract holds no data for (ROI, community, knowledge base) are "not
measured": both levels are missing and the text says so. Active, new and churned accounts
come from :mod:`csresearch.data.timeline` (customers on as_of, first paid day, end of the last
episode). Aggregates run in the engine (Ibis); only counts come back. Thresholds: constants.

Example
-------
>>> ev = gather_evidence(open_source("data/demo"), "2025-12-31")  # doctest: +SKIP
>>> ev.loc["product_usage", "evidence"]  # doctest: +SKIP
'usage events for 94% of 6,012 active accounts in the 30 days to 2025-12-31; ...'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import pandas as pd

from csresearch.data import timeline
from csresearch.data.sources import DataSource
from csresearch.errors import ConfigError
from csresearch.maturity.model import Questionnaire, load_questionnaire

USAGE_WINDOW_DAYS = 30
USAGE_MIN_COVERAGE = 0.50  # below: usage is not visible for most accounts -> cap at 2
FRESH_DAYS = 7  # activity data older than this is not "refreshed daily / weekly"
NPS_WINDOW_DAYS = 365
NPS_MIN_COVERAGE = 0.50  # level 3 of feedback: half of the active accounts answer in a year
SENTIMENT_WINDOW_DAYS = 90
SENTIMENT_MIN_COVERAGE = 0.80  # level 3 of customer information: every account, each quarter
ONBOARDING_WINDOW_DAYS = 365
ONBOARDING_MIN_COVERAGE = 0.80
CTA_MIN_CLOSED = 0.80  # level 3 of CSM workflow: CTAs closed
CTA_POOR_CLOSED = 0.50  # below: CTAs are recorded but not worked -> cap at 2
CHURN_WINDOW_DAYS = 365
CHURN_REASON_MIN = 0.90  # level 3 of CS management: a reason for (nearly) every churn
CHURN_REASON_POOR = 0.50
MASTER_MIN_COVERAGE = 0.95
CONCORDANCE_MIN = 0.70  # level 4 of health score monitoring (the questionnaire's criterion)
ACTIVITY_TABLES = (
    "usage_events", "nps_responses", "ces_responses", "csat_responses", "support_tickets",
    "email_events", "onboarding_milestones", "csm_sentiment", "churn_reasons",
)


@dataclass
class _Item:
    shows: int | None = None
    cap: int | None = None
    facts: list[str] = field(default_factory=list)

    def show(self, level: int) -> None:
        self.shows = max(self.shows or 0, level)

    def limit(self, level: int) -> None:
        self.cap = level if self.cap is None else min(self.cap, level)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _ago(days: int | None) -> str:
    if days is None:
        return "none"
    return "on as_of" if days == 0 else f"{days} day{'s' if days != 1 else ''} before as_of"


def _parse_date(as_of: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(as_of))
    except ValueError as e:
        raise ConfigError(f"as_of must be an ISO date like '2025-12-31', not {as_of!r}") from e


class _Ctx:
    """The source, date windows and the customers on as_of (from the timeline; engine-side)."""

    def __init__(self, source: DataSource, as_of: str) -> None:
        self.src = source
        self.as_of = str(as_of)
        self.day = _parse_date(as_of)
        # each computed once (temporary tables): every item reads them, the timeline is the costly part
        self.active = timeline.active_on(source, self.as_of).select("account_id").cache()
        self.n_active = int(self.active.count().execute())
        self.timeline = timeline.account_timeline(source, self.as_of).cache()

    def window(self, t: ir.Table, col: str, days: int | None) -> ir.Table:
        """Rows of ``t`` with ``col`` in the ``days`` days up to and including as_of (None: all before)."""
        end = ibis.timestamp(dt.datetime.combine(self.day + dt.timedelta(days=1), dt.time()))
        if days is None:
            return t.filter(t[col] < end)
        start = ibis.timestamp(dt.datetime.combine(self.day + dt.timedelta(days=1 - days), dt.time()))
        return t.filter((t[col] >= start) & (t[col] < end))

    def covered(self, t: ir.Table, population: ir.Table | None = None) -> int:
        """How many accounts of ``population`` (default: active) appear in ``t``."""
        pop = self.active if population is None else population
        return int(pop.semi_join(t.select("account_id").distinct(), "account_id").count().execute())

    def rows(self, name: str, col: str, days: int) -> tuple[ir.Table | None, int]:
        if not self.src.has(name):
            return None, 0
        t = self.window(self.src.table(name), col, days)
        return t, int(t.count().execute())

    def age_days(self, name: str, col: str) -> int | None:
        """Days from the latest ``col`` on or before as_of to as_of (None: no such row)."""
        if not self.src.has(name):
            return None
        t = self.window(self.src.table(name), col, None)
        latest = t[col].max().execute()
        if latest is None or pd.isna(latest):
            return None
        return (self.day - pd.Timestamp(latest).date()).days


def _customer_master(c: _Ctx) -> _Item:
    it = _Item(shows=2)
    acc = c.active.join(c.src.table("accounts"), "account_id")
    row = acc.aggregate(n=acc.count(), owner=acc.csm_owner.notnull().ifelse(1, 0).sum(),
                        plan=acc.plan.notnull().ifelse(1, 0).sum()).execute().iloc[0]
    n = int(row["n"])
    if not n:
        return _Item(facts=[f"no active accounts at {c.as_of}: not measured"])
    owner, plan = int(row["owner"] or 0) / n, int(row["plan"] or 0) / n
    it.facts.append(
        f"one accounts table with an ID and segment for every account; of {n:,} active accounts "
        f"{_pct(owner)} have an owner (csm_owner) and {_pct(plan)} a plan"
    )
    if min(owner, plan) >= MASTER_MIN_COVERAGE:
        it.show(3)
    return it


def _product_usage(c: _Ctx) -> _Item:
    it = _Item()
    t, n = c.rows("usage_events", "occurred_at", USAGE_WINDOW_DAYS)
    if t is None:
        it.limit(1)
        it.facts.append("no usage_events table in the data source")
        return it
    if n == 0 or not c.n_active:
        it.limit(1)
        it.facts.append(f"no usage events in the {USAGE_WINDOW_DAYS} days to {c.as_of}")
        return it
    share = c.covered(t) / c.n_active
    age = c.age_days("usage_events", "occurred_at")
    it.facts.append(
        f"usage events for {_pct(share)} of {c.n_active:,} active accounts in the "
        f"{USAGE_WINDOW_DAYS} days to {c.as_of}; latest event {_ago(age)}"
    )
    if share < USAGE_MIN_COVERAGE:
        it.limit(2)
        it.facts.append(f"below {_pct(USAGE_MIN_COVERAGE)} of active accounts: usage is not visible for most")
    else:
        it.show(2)
    if age is not None and age > FRESH_DAYS:
        it.limit(2)
        it.facts.append(f"usage data older than {FRESH_DAYS} days cannot feed a daily dashboard")
    return it


def _customer_information(c: _Ctx) -> _Item:
    it = _Item()
    t, n = c.rows("csm_sentiment", "recorded_at", SENTIMENT_WINDOW_DAYS)
    if t is None or n == 0 or not c.n_active:
        it.limit(2)
        why = "no csm_sentiment table" if t is None else f"no CSM sentiment records in the {SENTIMENT_WINDOW_DAYS} days to {c.as_of}"
        it.facts.append(f"{why}: account states are not recorded")
        return it
    share = c.covered(t) / c.n_active
    it.show(2)
    it.facts.append(
        f"CSM sentiment recorded for {_pct(share)} of active accounts in the {SENTIMENT_WINDOW_DAYS} days to {c.as_of}"
    )
    if share >= SENTIMENT_MIN_COVERAGE:
        it.show(3)
    else:
        it.limit(2)
        it.facts.append(f"below {_pct(SENTIMENT_MIN_COVERAGE)}: not every account's state is recorded each quarter")
    return it


def _customer_feedback(c: _Ctx) -> _Item:
    it = _Item()
    t, n = c.rows("nps_responses", "responded_at", NPS_WINDOW_DAYS)
    transactional = [
        name for name in ("ces_responses", "csat_responses")
        if c.rows(name, "responded_at", NPS_WINDOW_DAYS)[1] > 0
    ]
    if n == 0:
        it.limit(1 if not transactional else 2)
        it.facts.append(f"no NPS answers in the {NPS_WINDOW_DAYS} days to {c.as_of}")
        if transactional:
            it.facts.append(f"transactional answers present ({', '.join(transactional)})")
        return it
    share = c.covered(t) / c.n_active if c.n_active else 0.0
    it.show(2)
    it.facts.append(
        f"NPS answers from {_pct(share)} of {c.n_active:,} active accounts ({n:,} answers) in the "
        f"{NPS_WINDOW_DAYS} days to {c.as_of}; transactional surveys: {', '.join(transactional) or 'none'}"
    )
    if share >= NPS_MIN_COVERAGE and transactional:
        it.show(3)
    else:
        it.limit(2)
        it.facts.append(
            f"level 3 needs NPS from at least {_pct(NPS_MIN_COVERAGE)} of active accounts and a CES or CSAT survey"
        )
    return it


def _data_integration(c: _Ctx) -> _Item:
    it = _Item()
    present = [n for n in ACTIVITY_TABLES if c.src.has(n)]
    # e-mail campaigns may be monthly, so freshness is judged on usage and tickets only
    ages = {n: c.age_days(n, col) for n, col in
            (("usage_events", "occurred_at"), ("support_tickets", "opened_at")) if c.src.has(n)}
    fresh = bool(ages) and all(a is not None and a <= FRESH_DAYS for a in ages.values())
    it.facts.append(
        f"{len(present)} of {len(ACTIVITY_TABLES)} activity tables joined to accounts on account_id"
        + (f" ({', '.join(present)})" if present else "")
    )
    if ages:
        it.facts.append("latest record: " + ", ".join(f"{n} {_ago(a)}" for n, a in ages.items()))
    if len(present) < 3:
        it.limit(1)
        it.facts.append("fewer than 3 sources joined (level 2 needs 3)")
    else:
        it.show(2)
    if len(present) >= 6 and fresh:
        it.show(3)
    elif len(present) >= 3:
        it.limit(2)
        it.facts.append(f"level 3 needs 6 or more sources with activity data at most {FRESH_DAYS} days old")
    return it


def _health_score(
    c: _Ctx, interval: float | None, concordance: float | None, cta_closed: float | None
) -> _Item:
    it = _Item()
    _, n = c.rows("csm_sentiment", "recorded_at", SENTIMENT_WINDOW_DAYS)
    if n:
        it.show(2)
        it.facts.append(f"a manual red/yellow/green score: {n:,} CSM sentiment records in {SENTIMENT_WINDOW_DAYS} days")
    if interval is not None:
        it.facts.append(f"health score computed every {interval:g} day(s)")
        if interval <= FRESH_DAYS:
            it.show(3)
        else:
            it.limit(2)
            it.facts.append("not monitored every week")
    if concordance is not None:
        it.facts.append(f"concordance of the health score with churn {concordance:.2f}")
        if concordance < CONCORDANCE_MIN:
            it.limit(3)
            it.facts.append(f"below {CONCORDANCE_MIN:.2f}: the score is not validated against churn")
        elif (it.shows or 0) >= 3 and cta_closed is not None and cta_closed >= CTA_MIN_CLOSED:
            it.show(4)
    if not it.facts:
        it.facts.append("not measured: no CSM sentiment, and no health history or concordance given")
    return it


def _csm_workflow(c: _Ctx, cta_closed: float | None, cta_count: int | None) -> _Item:
    it = _Item()
    onboarding_ok = False
    if not c.src.has("onboarding_milestones"):
        it.limit(2)
        it.facts.append("no onboarding_milestones table: onboarding is not tracked")
    else:
        t = c.timeline  # accounts whose first paid day is in the window
        lo = ibis.date(c.day - dt.timedelta(days=ONBOARDING_WINDOW_DAYS - 1))
        new = t.filter((t.first_paid_day >= lo) & (t.first_paid_day <= ibis.date(c.day))).select("account_id")
        n_new = int(new.count().execute())
        if n_new:
            share = c.covered(c.src.table("onboarding_milestones"), new) / n_new
            onboarding_ok = share >= ONBOARDING_MIN_COVERAGE
            it.facts.append(
                f"onboarding milestones tracked for {_pct(share)} of {n_new:,} accounts that started in the "
                f"{ONBOARDING_WINDOW_DAYS} days to {c.as_of}"
            )
            if share > 0:
                it.show(2)
            if not onboarding_ok:
                it.limit(2)
        else:
            it.facts.append(f"no accounts started in the {ONBOARDING_WINDOW_DAYS} days to {c.as_of}")
    if cta_closed is not None:
        count = f" of {cta_count:,}" if cta_count is not None else ""
        it.facts.append(f"{_pct(cta_closed)}{count} calls-to-action closed")
        it.show(2)
        if cta_closed < CTA_POOR_CLOSED:
            it.limit(2)
        elif cta_closed >= CTA_MIN_CLOSED and onboarding_ok:
            it.show(3)
    return it


def _cs_management(c: _Ctx) -> _Item:
    it = _Item()
    t = c.timeline  # not a customer on as_of, the last episode's churn day in the window
    lo = ibis.date(c.day - dt.timedelta(days=CHURN_WINDOW_DAYS - 1))
    end = t.last_episode_end
    churned = t.filter((t.active_on_as_of == 0) & (end >= lo) & (end <= ibis.date(c.day))).select("account_id")
    n = int(churned.count().execute())
    if not n:
        it.facts.append(f"no accounts churned in the {CHURN_WINDOW_DAYS} days to {c.as_of}: not measured")
        return it
    if not c.src.has("churn_reasons"):
        it.limit(2)
        it.facts.append(f"{n:,} accounts churned in the {CHURN_WINDOW_DAYS} days to {c.as_of}; no churn_reasons table")
        return it
    share = c.covered(c.src.table("churn_reasons"), churned) / n
    it.facts.append(f"churn reason recorded for {_pct(share)} of {n:,} accounts that churned in the {CHURN_WINDOW_DAYS} days to {c.as_of}")
    if share >= CHURN_REASON_MIN:
        it.show(3)
    elif share < CHURN_REASON_POOR:
        it.limit(2)
    return it


def gather_evidence(
    source: DataSource,
    as_of: str,
    health_concordance: float | None = None,
    health_interval_days: float | None = None,
    cta_closed_share: float | None = None,
    cta_count: int | None = None,
    questionnaire: Questionnaire | None = None,
) -> pd.DataFrame:
    """Per capability, the level the data shows, the highest it allows, and the measured facts.

    Parameters
    ----------
    source
        The organisation's data source (``accounts`` and ``subscriptions`` at least).
    as_of
        ISO date the evidence is measured at (windows end on this day, inclusive).
    health_concordance
        Optional: the health score's concordance (C-index) with churn, from the survival
        validation module. Below 0.70 caps health score monitoring at 3.
    health_interval_days
        Optional: days between successive health-score snapshots (7 = weekly), from the
        health module's history.
    cta_closed_share, cta_count
        Optional: the share of calls-to-action closed (0..1) and how many there were, from
        the playbooks module.

    Returns
    -------
    DataFrame indexed by capability with ``evidence_level`` and ``evidence_cap`` (nullable
    ints; missing = not measured) and ``evidence`` (the facts as text).

    Examples
    --------
    >>> ev = gather_evidence(src, "2025-12-31", health_concordance=0.74)  # doctest: +SKIP
    """
    for name, v in (("health_concordance", health_concordance), ("cta_closed_share", cta_closed_share)):
        if v is not None and not 0 <= v <= 1:
            raise ConfigError(f"{name} must lie in [0, 1], not {v}")
    if health_interval_days is not None and health_interval_days <= 0:
        raise ConfigError(f"health_interval_days must be positive, not {health_interval_days}")
    q = questionnaire or load_questionnaire()
    c = _Ctx(source, as_of)
    items = {
        "customer_master": _customer_master(c),
        "product_usage": _product_usage(c),
        "customer_information": _customer_information(c),
        "customer_feedback": _customer_feedback(c),
        "data_integration": _data_integration(c),
        "health_score": _health_score(c, health_interval_days, health_concordance, cta_closed_share),
        "csm_workflow": _csm_workflow(c, cta_closed_share, cta_count),
        "cs_management": _cs_management(c),
    }
    rows = []
    for cap in q.capabilities:
        it = items.get(cap.key) or _Item(facts=[cap.evidence or "not measured"])
        shows = it.shows if it.cap is None or it.shows is None else min(it.shows, it.cap)
        rows.append({"capability": cap.key, "evidence_level": shows, "evidence_cap": it.cap,
                     "evidence": "; ".join(it.facts)})
    out = pd.DataFrame(rows).set_index("capability")
    for col in ("evidence_level", "evidence_cap"):
        out[col] = out[col].astype("Int64")
    out.attrs["as_of"] = c.as_of
    out.attrs["source"] = source.location
    return out
