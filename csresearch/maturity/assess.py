"""The assessment: a level per capability and overall, the gap list, the change since before.

Example
-------
>>> q = load_questionnaire()
>>> a = assess({k: 2 for k in q.keys}, q)
>>> a.overall, a.overall_name
(2, 'Insights & Actions')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from csresearch.maturity.model import Answers, Questionnaire, load_questionnaire, parse_answers
from csresearch.reports.present.words import NA, plural

#: column headers of the text output, in words
TEXT_HEADERS = {"capability": "key", "name": "capability", "answer": "answered",
                "evidence_cap": "data allows at most", "level": "level used", "level_name": "level name",
                "previous": "previous", "current": "current", "change": "change"}

CAP_RULE = (
    "Each capability's level is its answer, capped at the highest level its data allows where "
    "the data measures it; data showing more than the answer is reported as a disagreement but "
    "does not raise the level."
)


def overall_level(levels: Mapping[str, int] | pd.Series, max_level: int = 4) -> int:
    """The overall level: the highest L that more than half of the capabilities reach, no
    capability lying more than one level below L.

    Examples
    --------
    >>> overall_level({"a": 3, "b": 3, "c": 2})
    3
    >>> overall_level({"a": 3, "b": 3, "c": 1})  # c lies two levels below 3
    2
    """
    vals = [int(v) for v in (levels.values() if isinstance(levels, Mapping) else levels.tolist())]
    if not vals:
        raise ValueError("overall_level needs at least one capability level")
    for lv in range(max_level, 1, -1):
        if sum(v >= lv for v in vals) * 2 > len(vals) and min(vals) >= lv - 1:
            return lv
    return 1


def rule_text(n_capabilities: int, questionnaire: Questionnaire) -> str:
    """The overall rule in words, with the counts for this questionnaire."""
    need = n_capabilities // 2 + 1
    return (
        f"The overall level is the highest level that more than half of the capabilities reach "
        f"(at least {need} of {n_capabilities}), provided no capability lies two or more levels below "
        f"it; every organisation is at least level 1 ({questionnaire.level_name(1)}). " + CAP_RULE
    )


@dataclass
class Assessment:
    """The result of :func:`assess`.

    Attributes
    ----------
    levels
        One row per capability: ``capability, name, name_ja, weight, answer, evidence_level,
        evidence_cap, level, level_name, evidence, note``.
    overall, overall_name
        The overall level (1..4) and its name.
    rule
        The rules used, in words.
    gaps
        The steps to the next overall level, in priority order: ``priority, capability, name,
        level, target, to_level, shortfall, weight, step``.
    changes
        ``capability, name, previous, current, change`` (last row: overall) or None.
    disagreements
        Rows where the answer and the data disagree: ``capability, name, answer,
        evidence_level, evidence_cap, level, kind, evidence``.
    """

    levels: pd.DataFrame
    overall: int
    overall_name: str
    rule: str
    target: int
    gaps: pd.DataFrame
    changes: pd.DataFrame | None
    disagreements: pd.DataFrame
    questionnaire: Questionnaire
    evidence: pd.DataFrame | None = None
    organisation: str = ""
    as_of: str = ""
    previous_basis: str = ""

    @property
    def level_map(self) -> dict[str, int]:
        return dict(zip(self.levels["capability"], self.levels["level"].astype(int), strict=True))

    def table(self) -> pd.DataFrame:
        """The levels as a compact table (with previous and change when compared)."""
        cols = ["capability", "name", "answer", "evidence_cap", "level", "level_name"]
        out = self.levels[cols].copy()
        if self.changes is not None:
            prev = self.changes.set_index("capability")
            out["previous"] = out["capability"].map(prev["previous"])
            out["change"] = out["capability"].map(prev["change"])
        return out

    def fields(self, detail: bool = False) -> dict[str, Any]:
        """Overall level, its name and the rule (and, with ``detail``, gaps, disagreements and
        changes as lists of records) for JSON or CSV footers."""
        out: dict[str, Any] = {"overall": self.overall, "overall_name": self.overall_name,
                               "rule": self.rule}
        if self.as_of:
            out["as_of"] = self.as_of
        if detail:
            def records(df: pd.DataFrame | None) -> list[dict] | None:
                if df is None:
                    return None
                return df.astype(object).where(df.notna(), None).to_dict(orient="records")

            out["gaps"] = records(self.gaps)
            out["disagreements"] = records(self.disagreements)
            out["changes"] = records(self.changes)
        return out

    def to_text(self) -> str:
        """The assessment as plain text: levels, overall and rule, disagreements, changes, gaps."""
        q = self.questionnaire
        who = f" - {self.organisation}" if self.organisation else ""
        lines = [f"{q.title}{who}" + (f" (evidence as of {self.as_of})" if self.as_of else ""), ""]
        lines.append(_text_table(self.table(), TEXT_HEADERS))
        lines += ["", f"Overall level: {self.overall} {self.overall_name}", f"Rule: {self.rule}", ""]
        if self.evidence is None:
            lines.append("Evidence: none (answers only; give --data SOURCE --as-of DATE to check them).")
        elif self.disagreements.empty:
            lines.append("Evidence: the data agrees with every answer it can check.")
        else:
            lines.append(f"Answers and data disagree for {plural(len(self.disagreements), 'capability')}:")
            for r in self.disagreements.itertuples():
                lines.append(f"- {r.name}: answered {r.answer}, {r.kind} ({r.evidence})")
        if self.changes is not None:
            lines += ["", f"Change since the previous assessment (previous levels {self.previous_basis}):",
                      _text_table(self.changes, TEXT_HEADERS)]
        lines.append("")
        if self.gaps.empty:
            lines.append(f"Every capability is at level {self.target}: no gap to close.")
        else:
            lines.append(f"Steps to level {self.target} {q.level_name(self.target)}, most urgent first:")
            for r in self.gaps.itertuples():
                lines.append(f"{r.priority:>3}. [{r.name}: {r.level} -> {r.to_level}] {r.step}")
        return "\n".join(lines) + "\n"


def _levels_of(x: Answers | Assessment | Mapping[str, Any], q: Questionnaire, where: str) -> dict[str, int]:
    if isinstance(x, Assessment):
        return x.level_map
    if isinstance(x, Answers):
        return parse_answers(x.levels, q, x.path)
    return parse_answers(dict(x), q, where)


def gaps(levels: Mapping[str, int], target: int, questionnaire: Questionnaire) -> pd.DataFrame:
    """Steps that bring every capability up to ``target``: the criteria of each missing level.

    Ordered by shortfall (target - level, largest first), then capability weight (largest
    first), then the level a step reaches, then questionnaire order.
    """
    rows = []
    for order, cap in enumerate(questionnaire.capabilities):
        lv = int(levels[cap.key])
        for to in range(lv + 1, target + 1):
            for step in cap.criteria[to]:
                rows.append({"capability": cap.key, "name": cap.name, "level": lv, "target": target,
                             "to_level": to, "shortfall": target - lv, "weight": cap.weight,
                             "step": step, "_order": order})
    cols = ["priority", "capability", "name", "level", "target", "to_level", "shortfall", "weight", "step"]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows).sort_values(
        ["shortfall", "weight", "to_level", "_order"], ascending=[False, False, True, True], kind="stable"
    )
    out.insert(0, "priority", range(1, len(out) + 1))
    return out[cols].reset_index(drop=True)


def compare(previous: Mapping[str, int], current: Mapping[str, int], questionnaire: Questionnaire) -> pd.DataFrame:
    """Capability, previous level, current level and change (current - previous); last row overall."""
    n = questionnaire.max_level
    rows = [{"capability": c.key, "name": c.name, "previous": int(previous[c.key]),
             "current": int(current[c.key]), "change": int(current[c.key]) - int(previous[c.key])}
            for c in questionnaire.capabilities]
    p, c = overall_level(previous, n), overall_level(current, n)
    rows.append({"capability": "overall", "name": "Overall", "previous": p, "current": c, "change": c - p})
    return pd.DataFrame(rows)


def _disagreements(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in df.itertuples():
        if pd.notna(r.evidence_cap) and r.answer > r.evidence_cap:
            kind = f"the data allows at most level {r.evidence_cap}: level capped at {r.level}"
        elif pd.notna(r.evidence_level) and r.answer < r.evidence_level:
            kind = f"the data shows level {r.evidence_level}: consider revising the answer"
        else:
            continue
        rows.append({"capability": r.capability, "name": r.name, "answer": r.answer,
                     "evidence_level": r.evidence_level, "evidence_cap": r.evidence_cap,
                     "level": r.level, "kind": kind, "evidence": r.evidence})
    cols = ["capability", "name", "answer", "evidence_level", "evidence_cap", "level", "kind", "evidence"]
    return pd.DataFrame(rows, columns=cols)


def assess(
    answers: Answers | Mapping[str, Any],
    questionnaire: Questionnaire | None = None,
    evidence: pd.DataFrame | None = None,
    previous: Answers | Assessment | Mapping[str, Any] | None = None,
) -> Assessment:
    """Assess maturity from answers, optionally checked against evidence and compared with before.

    Parameters
    ----------
    answers
        :class:`Answers` from :func:`load_answers`, or a mapping capability -> level
        (1..4, key or name).
    questionnaire
        Default: the packaged questionnaire.
    evidence
        From :func:`gather_evidence`; caps each capability at ``evidence_cap``.
    previous
        An earlier :class:`Assessment`, :class:`Answers` or mapping; fills ``changes``.

    Examples
    --------
    >>> q = load_questionnaire()
    >>> a = assess({k: 3 for k in q.keys} | {"customer_community": 1}, q)
    >>> a.overall  # community lies two levels below 3
    2
    """
    q = questionnaire or load_questionnaire()
    ans = _levels_of(answers, q, "<answers>")
    notes = answers.notes if isinstance(answers, Answers) else {}
    if evidence is not None:
        missing = [k for k in q.keys if k not in evidence.index]
        if missing:
            raise ValueError(f"evidence lacks capabilities {missing}; build it with gather_evidence")
    rows = []
    for cap in q.capabilities:
        a = ans[cap.key]
        ev = evidence.loc[cap.key] if evidence is not None else None
        shows = ev["evidence_level"] if ev is not None else pd.NA
        cap_lv = ev["evidence_cap"] if ev is not None else pd.NA
        level = min(a, int(cap_lv)) if pd.notna(cap_lv) else a
        rows.append({"capability": cap.key, "name": cap.name, "name_ja": cap.name_ja, "weight": cap.weight,
                     "answer": a, "evidence_level": shows, "evidence_cap": cap_lv, "level": level,
                     "level_name": q.level_name(level),
                     "evidence": ev["evidence"] if ev is not None else "", "note": notes.get(cap.key, "")})
    df = pd.DataFrame(rows)
    for col in ("evidence_level", "evidence_cap"):
        df[col] = df[col].astype("Int64")
    levels = dict(zip(df["capability"], df["level"], strict=True))
    overall = overall_level(levels, q.max_level)
    target = min(overall + 1, q.max_level)
    changes = None
    if previous is not None:
        changes = compare(_levels_of(previous, q, "<previous answers>"), levels, q)
    return Assessment(
        levels=df, overall=overall, overall_name=q.level_name(overall), rule=rule_text(len(q.keys), q),
        target=target, gaps=gaps(levels, target, q), changes=changes,
        disagreements=_disagreements(df), questionnaire=q, evidence=evidence,
        organisation=answers.organisation if isinstance(answers, Answers) else "",
        as_of=str(evidence.attrs.get("as_of", "")) if evidence is not None else "",
        previous_basis="" if previous is None else (
            "as assessed" if isinstance(previous, Assessment) else "as answered, without evidence"),
    )


def _text_table(df: pd.DataFrame, headers: Mapping[str, str]) -> str:
    """A frame as aligned text with headers in words; a missing value is ``n/a`` (never ``<NA>``)
    and a change carries its sign."""
    out = df.astype(object).where(df.notna(), NA)
    if "change" in out.columns:
        out["change"] = [c if c == NA else (f"{int(c):+d}" if int(c) else "0") for c in out["change"]]
    for c in out.columns:
        out[c] = [x if x == NA or isinstance(x, str) else str(int(x)) if float(x).is_integer() else str(x)
                  for x in out[c]]
    return out.rename(columns=dict(headers)).to_string(index=False)
