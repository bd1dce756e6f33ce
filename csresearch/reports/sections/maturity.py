"""Sections of the maturity report: levels and the rule, radar, prioritised gaps, change.

The assessment is :func:`csresearch.maturity.assess` on the answers file, checked against
evidence from the data source when one is given, and compared with the previous answers.
"""

from __future__ import annotations

from csresearch.reports.context import ReportContext
from csresearch.reports.notebook import section
from csresearch.reports.present import words as nv
from csresearch.reports.present.labels import plural
from csresearch.reports.present.tables import Html, Section, cards, esc


def assessment(ctx: ReportContext):
    """The assessment (computed once per run)."""
    from csresearch.maturity import assess, gather_evidence, load_answers, load_questionnaire

    def build():
        qpath = ctx.params.get("questionnaire_path") or None
        q = load_questionnaire(qpath)
        answers = load_answers(ctx.params["answers_path"], q)
        prev_path = ctx.params.get("previous_answers_path") or ""
        previous = load_answers(prev_path, q) if prev_path else None
        evidence = gather_evidence(ctx.source, ctx.as_of, questionnaire=q) if ctx.source is not None else None
        return assess(answers, q, evidence=evidence, previous=previous)

    return ctx.memo("assessment", build)


@section
def summary(ctx: ReportContext) -> Section:
    """Overall level, the rule, and what to do next."""
    a = assessment(ctx)
    q = a.questionnaire
    s = Section("Summary")
    change = ""
    if a.changes is not None:
        ov = a.changes[a.changes["capability"] == "overall"].iloc[0]
        d = int(ov["change"])
        change = "unchanged since the previous assessment" if d == 0 else (
            f"{'up' if d > 0 else 'down'} {abs(d)} level{'s' if abs(d) != 1 else ''} since the previous assessment")
    lv = a.levels
    lead = headline(a)
    ctx.record(headline=lead)  # also the index's line for this report
    s.add(Html(f'<p class="cs-lead"><strong>{esc(lead)}</strong></p>'))
    s.add(cards([
        ("Overall level", f"{a.overall} {a.overall_name}", change or "no previous assessment"),
        ("Capabilities at or above the next level", f"{int((lv['level'] >= a.target).sum())} of {len(lv)}",
         f"next level: {a.target} {q.level_name(a.target)}"),
        ("Steps to the next level", nv.thousands(len(a.gaps)), "listed below, most urgent first"),
        ("Answers the data contradicts", nv.thousands(len(a.disagreements)),
         "evidence checked" if a.evidence is not None else "no data source given"),
    ]))
    s.text(f"Rule: {a.rule}")
    if not a.gaps.empty:
        first = a.gaps.iloc[0]
        s.text(f"First step: {first['name']} (level {int(first['level'])} to {int(first['to_level'])}): {first['step']}")
    return s


def headline(a) -> str:
    """The answer in one sentence: the level, the change, what stands between it and the next."""
    q = a.questionnaire
    out = f"Customer Success is at level {a.overall} {a.overall_name}"
    if a.changes is not None:
        d = int(a.changes.loc[a.changes["capability"] == "overall", "change"].iloc[0])
        out += ", unchanged since the previous assessment" if d == 0 else \
            f", {'up' if d > 0 else 'down'} {plural(abs(d), 'level')} since the previous assessment"
    if a.gaps.empty:
        return out + "."
    behind = a.gaps.drop_duplicates("capability")
    return (f"{out}; {plural(len(a.gaps), 'step')} in {plural(len(behind), 'capability')} lead to level {a.target} "
            f"{q.level_name(a.target)}, starting with {behind.iloc[0]['name']}.")


@section
def levels(ctx: ReportContext) -> Section:
    """Level per capability (answer, evidence cap, level used) and the radar chart."""
    from csresearch.maturity import radar

    a = assessment(ctx)
    s = Section("Levels by capability")
    ax = radar(a)
    s.figure(ax, "Radar chart of maturity levels by capability")
    t = a.table()
    labels = {"name": "capability", "answer": "answered level", "evidence_cap": "highest level the data allows",
              "level": "level used", "level_name": "level name", "previous": "previous level", "change": "change"}
    cols = [c for c in ["name", "answer", "evidence_cap", "level", "level_name", "previous", "change"] if c in t.columns]
    s.table(t[cols], labels=labels, top=None, formats={"evidence_cap": lambda x: nv.NA if nv.is_missing(x) else str(int(x)),
                                                      "change": _signed})
    if a.evidence is not None and "evidence_cap" in t.columns and t["evidence_cap"].isna().any():
        s.note("'highest level the data allows' is n/a where no evidence in the data measures that capability; "
               "the answered level is used as it is.")
    if a.evidence is None:
        s.note("No data source was given, so the answers are not checked against evidence.")
    elif not a.disagreements.empty:
        d = a.disagreements[["name", "answer", "evidence_level", "kind", "evidence"]]
        s.heading("Where the answers and the data disagree")
        s.table(d, labels={"name": "capability", "evidence_level": "level the data shows"}, top=None)
    return s


@section
def gaps(ctx: ReportContext) -> Section:
    """Steps to the next overall level, most urgent first."""
    a = assessment(ctx)
    q = a.questionnaire
    s = Section(f"Steps to level {a.target} {q.level_name(a.target)}")
    if a.gaps.empty:
        return s.text(f"Every capability is at level {a.target}: no gap to close.")
    s.text("Ordered by how far a capability is below the target, then its weight, then the level the step reaches.")
    s.table(a.gaps[["priority", "name", "level", "to_level", "step"]],
            labels={"name": "capability", "level": "now", "to_level": "reaches level"},
            what="steps")
    return s


def _signed(x: object) -> str:
    """A change of level with its sign: +1, 0, -1."""
    return nv.NA if nv.is_missing(x) else f"{int(x):+d}" if int(x) else "0"


@section
def change(ctx: ReportContext) -> Section:
    """Change since the previous assessment."""
    a = assessment(ctx)
    s = Section("Change since the previous assessment")
    if a.changes is None:
        return s.text("No previous assessment was given (parameter previous_answers_path).")
    c = a.changes
    up = c[(c["change"] > 0) & (c["capability"] != "overall")]
    down = c[(c["change"] < 0) & (c["capability"] != "overall")]
    s.text(f"{plural(len(up), 'capability')} moved up and {nv.thousands(len(down))} moved down"
           + (f" (previous levels {a.previous_basis})." if a.previous_basis else "."))
    s.table(c[["name", "previous", "current", "change"]], labels={"name": "capability"}, top=None,
            formats={"change": _signed})
    return s
