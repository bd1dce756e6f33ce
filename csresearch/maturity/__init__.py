"""Customer Success maturity: four levels, eleven capabilities, evidence from data.

The model is the one of 山田ひさのり『カスタマーサクセス実行戦略』: levels Reactive ->
Insights & Actions -> Outcomes -> Transform, and eleven capabilities for scaling CS. An
organisation answers the questionnaire (``csresearch maturity template``); its own data
can confirm or cap the answers; the assessment gives a level per capability and overall,
the steps to the next level, and the change since a previous assessment.

Example
-------
>>> from csresearch.maturity import assess, load_answers, load_questionnaire
>>> q = load_questionnaire()
>>> a = assess({k: 1 for k in q.keys}, q)
>>> a.overall_name
'Reactive'
"""

from csresearch.maturity.assess import Assessment, assess, compare, gaps, overall_level, rule_text
from csresearch.maturity.evidence import gather_evidence
from csresearch.maturity.model import (
    Answers,
    Capability,
    Level,
    Questionnaire,
    load_answers,
    load_questionnaire,
    parse_answers,
    template,
)
from csresearch.maturity.plot import radar

__all__ = [
    "Answers",
    "Assessment",
    "Capability",
    "Level",
    "Questionnaire",
    "assess",
    "compare",
    "gaps",
    "gather_evidence",
    "load_answers",
    "load_questionnaire",
    "overall_level",
    "parse_answers",
    "radar",
    "rule_text",
    "template",
]
