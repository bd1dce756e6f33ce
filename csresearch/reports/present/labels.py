"""One label registry: code names of columns, model terms and values -> words and units.

Every report section and the command line's text output call these functions instead of
showing a code name: ``tickets_90d`` is "support tickets in the first 90 days", a hazard
ratio of ``usage_trend`` is "per doubling of usage", the value ``mid_market`` is "mid-market".
An unknown name falls back to its words with underscores as spaces (never a bare code name
with brackets); a model term ``column[value]`` reads "value column" for the account segment
and "column: value" otherwise.

Example
-------
>>> words("tickets_90d")
'support tickets in the first 90 days'
>>> per("tickets_90d")
'per extra ticket in the first 90 days'
>>> words("segment[smb]")
'SMB segment'
>>> plural(1, "account"), plural(2, "capability")
('1 account', '2 capabilities')
>>> conditions("band=red; band_prev=yellow")
'health band red; health band last month yellow'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from csresearch.reports.present import words as nv


@dataclass(frozen=True)
class Label:
    """How a name reads: ``words`` (lower case, as inside a sentence), the ``unit`` of its
    values and ``per``, what one step of it is when a hazard ratio is given per unit."""

    words: str
    unit: str = ""
    per: str = ""


W90 = "in the first 90 days"

#: name -> Label. Columns of the data contract, features, health components, model terms.
LABELS: dict[str, Label] = {
    # churn-drivers model terms (first-90-day window) and durations
    "usage_trend": Label(f"usage trend {W90}",
                         "log2 ratio (1 = usage doubled)", "per doubling of usage"),
    "nps_first": Label("first NPS answer", "points (0-10)", "per extra point of the first NPS answer"),
    "nps_first_none": Label(f"no NPS answer {W90}", "yes/no",
                            "no answer against an answer at the median"),
    "nps_first_days": Label("day of tenure of the first NPS answer", "days", "per extra day"),
    "tickets_90d": Label(f"support tickets {W90}", "tickets", f"per extra ticket {W90}"),
    "onboarding_complete": Label(f"onboarding completed {W90}", "yes/no", "completed against not completed"),
    "days_after_window": Label("days after the first 90 days", "days", "per extra day"),
    "tenure_days": Label("days since the first paid day", "days", "per extra day of tenure"),
    "tenure_months": Label("months since the first paid day", "months", "per extra month of tenure"),
    "churned": Label("churned", "yes/no"),
    "mrr": Label("MRR", "currency per month", "per extra unit of MRR"),
    "mrr_as_of": Label("MRR on the as-of date", "currency per month", "per extra unit of MRR"),
    # health score and its components
    "score": Label("health score", "points (0-100)", "per extra point of health score"),
    "score_prev": Label("health score last month", "points (0-100)"),
    "band": Label("health band"),
    "band_prev": Label("health band last month"),
    "usage_level": Label("usage level (events per day)", "events per day", "per extra event a day"),
    "usage_per_day": Label("usage events per day", "events per day", "per extra event a day"),
    "usage_change_pct": Label("usage change against the previous months", "%", "per extra percent"),
    "nps": Label("NPS answer", "points (0-10)", "per extra NPS point"),
    "nps_latest": Label("latest NPS answer", "points (0-10)", "per extra NPS point"),
    "ces": Label("customer effort score (CES)", "points (1-7)", "per extra CES point"),
    "ces_mean": Label("mean customer effort score (CES)", "points (1-7)", "per extra CES point"),
    "tickets": Label("support tickets (recent months)", "tickets", "per extra ticket"),
    "email_engagement": Label("email engagement (opened / sent)", "share"),
    "email_open_rate": Label("email open rate", "share"),
    "onboarding": Label("onboarding on time", "share"),
    "onboarding_score": Label("onboarding milestones done on time", "share"),
    "onboarding_overdue": Label("overdue onboarding milestones", "milestones", "per extra overdue milestone"),
    "csm_sentiment": Label("CSM sentiment", "red 0, yellow 1, green 2"),
    "csm_sentiment_score": Label("CSM sentiment", "red 0, yellow 1, green 2"),
    "days_to_renewal": Label("days to the next renewal", "days"),
    "tier": Label("touch tier"),
    # account attributes
    "segment": Label("segment"),
    "industry": Label("industry"),
    "region": Label("region"),
    "plan": Label("plan"),
}

#: health-score components (csresearch/configs/health.yaml): a component's name can mean something
#: else as a model term (``usage_trend`` of the churn-drivers model is the first-90-day trend)
COMPONENTS: dict[str, str] = {
    "usage_level": "usage level (events per day)",
    "usage_trend": "usage trend against the previous months",
    "nps": "NPS answer",
    "ces": "customer effort score (CES)",
    "tickets": "support tickets (recent months)",
    "email_engagement": "email engagement (opened / sent)",
    "onboarding": "onboarding on time",
    "csm_sentiment": "CSM sentiment",
}

#: table headers for code names that no section labels itself (a section's ``labels`` win)
HEADERS: dict[str, str] = {"account_id": "account", "mrr": LABELS["mrr"].words, "nps": "NPS",
                           "term_ends": "contract term ends"}

#: category values as words (segments, tiers)
VALUES: dict[str, str] = {
    "smb": "SMB", "mid_market": "mid-market", "enterprise": "enterprise",
    "high-touch": "high-touch", "low-touch": "low-touch", "tech-touch": "tech-touch",
    "(missing)": "missing",
}


def value_key(shown: object) -> tuple[int, str]:
    """Sort key for category values shown in words: the order of :data:`VALUES` (SMB, mid-market,
    enterprise, then the tiers), then the rest alphabetically; every table lists segments alike."""
    order = [v for v in dict.fromkeys(VALUES.values()) if v != "missing"]
    text = str(shown)
    if text == "missing":
        return (len(order) + 1, "")  # last
    return (order.index(text), "") if text in order else (len(order), text.lower())


_TERM = re.compile(r"^(?P<col>[^\[\]]+)\[(?P<val>.*)\]$")


def value(v: object) -> str:
    """A category value in words: ``value('mid_market') == 'mid-market'``."""
    text = str(v)
    return VALUES.get(text, VALUES.get(text.lower(), text))


def _humanise(name: str) -> str:
    """``'tickets_90d' -> 'tickets 90d'``, ``'MonthlyCharges' -> 'monthly charges'`` (a column
    of the user's own table with no entry in :data:`LABELS`)."""
    text = name.replace("_", " ").strip()
    if re.search(r"[a-z][A-Z]", text):  # CamelCase: split the words, keep acronyms (ID, MRR)
        text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
        text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in text.split())
    return text


def words(name: str) -> str:
    """The words for a column, feature, health component or model term (lower case)."""
    if name in LABELS:
        return LABELS[name].words
    m = _TERM.match(name)
    if m:
        col, val = m["col"], m["val"]
        if col == "segment":
            return f"{value(val)} segment"
        return f"{words(col)}: {value(val)}"
    return _humanise(name)


def component(name: str) -> str:
    """A health-score component in words: ``component('usage_trend')`` is the recent trend."""
    return COMPONENTS.get(name, words(name))


def title(name: str) -> str:
    """:func:`words` with a capital first letter (for a table row or a bullet)."""
    w = words(name)
    return w[:1].upper() + w[1:]


def unit(name: str) -> str:
    """The unit of a name's values ('' when it has none or is unknown)."""
    lab = LABELS.get(name)
    return lab.unit if lab else ""


def per(name: str, reference: str | None = None) -> str:
    """What one step of a model term is, for a hazard ratio: ``'per doubling of usage'``;
    a category level against its reference: ``'SMB against enterprise'``."""
    m = _TERM.match(name)
    if m:
        against = f" against {value(reference)}" if reference else " against the reference level"
        return f"{value(m['val'])}{against}"
    lab = LABELS.get(name)
    if lab and lab.per:
        return lab.per
    return f"per extra unit of {words(name)}"


def term(name: str, reference: str | None = None) -> str:
    """A hazard-ratio row label: ``'support tickets in the first 90 days (per extra ticket in
    the first 90 days)'``; for a category level ``'SMB segment (against enterprise)'``."""
    m = _TERM.match(name)
    if m:
        return f"{words(name)} ({per(name, reference).removeprefix(value(m['val']) + ' ')})"
    return f"{words(name)} ({per(name)})"


def columns(names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``{name: words(name)}`` for a table's ``labels=`` argument."""
    return {n: words(n) for n in names}


def plural(n: float, word: str, many: str | None = None) -> str:
    """``'1 account'``, ``'2 accounts'``, ``'3 capabilities'``; never ``'account(s)'``."""
    return nv.plural(n, word, many)


plural_word = nv.plural_word


def conditions(text: str) -> str:
    """A playbook's ``'band=red; band_prev=yellow'`` in words:
    ``'health band red; health band last month yellow'``."""
    if not isinstance(text, str) or not text.strip():
        return ""
    parts = []
    for item in text.split(";"):
        name, sep, val = item.strip().partition("=")
        if not sep:
            parts.append(item.strip())
            continue
        u = unit(name.strip())
        shown = value(val.strip())
        if u == "%":
            shown = f"{shown} %"
        elif u in ("days", "tickets", "milestones"):
            shown = f"{shown} {u}"
        parts.append(f"{words(name.strip())} {shown}")
    return "; ".join(parts)
