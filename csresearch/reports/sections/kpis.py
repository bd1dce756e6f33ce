"""Sections of the retention report about targets: the KPI tree and the goals by segment.

The tree comes from :func:`csresearch.health.kpi.kpi_tree`; the goals from the report's
``goals_path`` (default: the packaged demo goals, :mod:`csresearch.health.goals`) measured by
:func:`csresearch.health.kpi.goal_actuals`.
"""

from __future__ import annotations

import pandas as pd

from csresearch.reports.context import ReportContext
from csresearch.reports.notebook import section
from csresearch.reports.present import labels
from csresearch.reports.present import words as nv
from csresearch.reports.present.tables import Section


def tables(ctx: ReportContext) -> dict:
    """The metric tables shared with the retention sections (once per run)."""
    from csresearch.reports.sections.retention import tables as shared

    return shared(ctx)


def goal_table(ctx: ReportContext) -> pd.DataFrame:
    """Actual against goal for every goal (computed once per run) and recorded in the summary
    JSON as ``goals``: a list of metric, segment, period, goal, actual, met."""
    from csresearch.health.goals import load_goals
    from csresearch.health.kpi import goal_actuals

    def build() -> pd.DataFrame:
        g = load_goals(ctx.params.get("goals_path") or None)
        t = goal_actuals(ctx.source, ctx.as_of, g, memo=tables(ctx))
        t.attrs["path"] = g.path
        ctx.record(goals=[
            {"metric": r.metric, "segment": r.segment,
             "period": None if r.period is None else str(pd.Timestamp(r.period).date()),
             "goal": float(r.goal), "actual": None if nv.is_missing(r.actual) else float(r.actual),
             "met": r.met}
            for r in t.itertuples()
        ])
        return t

    return ctx.memo("goals", build)


def goals_sentence(t: pd.DataFrame) -> str:
    """``'4 of 11 goals met; missed: ...'`` (the KGI first)."""
    known = t[t["met"].notna()]
    met = int(known["met"].astype(bool).sum())
    missed = t[t["met"].eq(False)].sort_values("kind")  # kgi before kpi
    head = f"{met} of {len(t)} {'goal' if len(t) == 1 else 'goals'} met"
    if len(known) < len(t):
        head += f" ({len(t) - len(known)} not measurable)"
    if missed.empty:
        return head + "."
    from csresearch.health.goals import METRICS

    names = [(f"{METRICS[m][0]} of all customers" if g == "all" else f"{labels.value(g)} {METRICS[m][0]}")
             + (" (the KGI)" if k == "kgi" else "") for m, g, k in zip(missed["metric"], missed["segment"],
                                                                        missed["kind"], strict=True)]
    return head + "; missed: " + nv.join_words(names) + "."


def _tree_rows(values: pd.DataFrame, period: pd.Timestamp, previous: pd.Timestamp | None) -> list[dict]:
    from csresearch.health.kpi import KPI_TREE

    now = values[values["period_start"] == period].set_index("node")
    before = values[values["period_start"] == previous].set_index("node") if previous is not None else None
    rows: list[dict] = []

    def walk(parent: str | None, depth: int) -> None:
        for node, par, team, unit, definition in KPI_TREE:
            if par != parent:
                continue
            v = now["value"].get(node, float("nan"))
            p = before["value"].get(node, float("nan")) if before is not None else float("nan")
            rows.append({"KPI": ("\u00a0\u00a0\u00a0\u00a0" * depth) + ("└\u00a0" if depth else "") + _kpi_name(node),
                         "team": team, "unit": unit, "value": v, "previous": p, "definition": definition,
                         "note": now["note"].get(node, "")})
            walk(node, depth + 1)

    walk(None, 0)
    return rows


ABBREVIATIONS = {"nrr": "NRR", "grr": "GRR", "mrr": "MRR", "ces": "CES", "nps": "NPS"}


def _kpi_name(node: str) -> str:
    """``mrr_churn_rate`` -> ``MRR churn rate``."""
    return " ".join(ABBREVIATIONS.get(w, w) for w in node.split("_"))


def _kpi_value(unit: str, x: float) -> str:
    """A KPI in its unit: shares as %, days to one decimal with 'days', scores with their scale."""
    if nv.is_missing(x):
        return nv.NA
    if unit in ("share", "ratio"):
        return nv.pct(x)
    if unit == "days":
        return f"{nv.number(x, 1)} days"
    if unit.startswith("score "):  # "score 1-7"
        return f"{nv.number(x, 2)} ({unit.removeprefix('score ')} scale)"
    if unit == "tickets":
        return f"{nv.number(x, 2)} per account"
    return f"{nv.number(x, 2)} {unit}"


@section
def kpi_tree(ctx: ReportContext) -> Section:
    """The KPI tree: churn and NRR broken down into the KPIs each team owns."""
    from csresearch.health.kpi import kpi_tree as build

    s = Section("KPI tree")
    values = ctx.memo("kpi", lambda: build(ctx.source, ctx.as_of, ctx.grain, memo=tables(ctx)))
    periods = sorted(values["period_start"].unique())
    if not periods:
        return s.text("No complete period to show.")
    period = pd.Timestamp(periods[-1])
    previous = pd.Timestamp(periods[-2]) if len(periods) > 1 else None
    rows = pd.DataFrame(_tree_rows(values, period, previous))
    rows["this period"] = [_kpi_value(u, v) for u, v in zip(rows["unit"], rows["value"], strict=True)]
    rows["previous period"] = [_kpi_value(u, v) for u, v in zip(rows["unit"], rows["previous"], strict=True)]
    s.text(
        f"{nv.period_label(period, ctx.grain)}, with the period before. Logo churn is the sum of the churn "
        "rates by reason (each owned by the team named; shown rounded, so the rows may not add up exactly); NRR = 1 + expansion - contraction - churned MRR. "
        "The team KPIs under each branch are the levers that team pulls."
    )
    s.table(rows[["KPI", "team", "this period", "previous period", "definition"]], top=None, what="KPIs",
            formats={"this period": "text", "previous period": "text"})
    _goals_part(ctx, s)
    return s


def _goals_part(ctx: ReportContext, s: Section) -> None:
    """Goals by segment: actual against goal, the status in words."""
    t = goal_table(ctx)
    s.heading("Goals by segment: actual against goal")
    s.text(goals_sentence(t))
    from csresearch.health.goals import METRICS

    kpis = t.assign(
        who=[("all customers" if x == "all" else labels.value(x)) for x in t["segment"]],
        measure=[METRICS[m][0] + (" (KGI)" if k == "kgi" else "") for m, k in zip(t["metric"], t["kind"], strict=True)],
        what=t["status"],
        shown_goal=[_goal_value(r.metric, r.direction, r.goal) for r in t.itertuples()],
        shown_actual=[_goal_value(r.metric, "", r.actual) for r in t.itertuples()],
        verdict=t["met"].map({True: "met", False: "missed"}).fillna("not measurable"),
    )
    s.table(kpis[["measure", "who", "period_label", "shown_goal", "shown_actual", "verdict", "what"]], top=None,
            what="goals", labels={"who": "segment", "period_label": "period", "shown_goal": "goal", "shown_actual": "actual",
                    "verdict": "status", "what": "in words"},
            formats={c: "text" for c in ("shown_goal", "shown_actual")})
    s.note(f"Goals from {t.attrs.get('path', 'goals.yaml')}; each is measured over the last complete month or "
           f"quarter on or before {ctx.as_of}, as the goal says. Churned MRR is the MRR of customers lost in "
           "the period, from the bridge of that period: for a quarter, what they paid at its start, so it can "
           "be less than the sum of the three monthly bridges, which also count what customers who joined or "
           "grew within the quarter paid before they left. The share using the product is of customers active "
           "at the period start.")


def _goal_value(metric: str, direction: str, x: float) -> str:
    from csresearch.health.goals import METRICS

    shown = nv.currency(x, short=True) if METRICS[metric][1] == "currency" else nv.pct(x)
    return {"at_least": "at least ", "at_most": "at most "}.get(direction, "") + shown
