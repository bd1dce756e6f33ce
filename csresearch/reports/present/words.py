"""Numbers in words for reports: percentages, money, counts, and sentences about change.

Every function returns plain text (never HTML): :mod:`csresearch.reports.present.tables` escapes it when it
goes into a report. A missing value (None or NaN) is written as ``"n/a"``, never as 0.

Conventions: a percentage has one decimal and a space before the sign (``"2.1 %"``); a change
of a rate is said in percentage *points*; money has thousands separators and no decimals
(``"$12,346"``), or a compact form (``"$1.2 M"``) for headlines.

Example
-------
>>> change_sentence("Logo churn", 0.021, 0.024, "2025-11-01", "month", kind="pct")
'Logo churn was 2.1 % in November 2025, 0.3 points lower than in October.'
"""

from __future__ import annotations

import math
from numbers import Real

import pandas as pd

NA = "n/a"
MINUS = "-"


def is_missing(x: object) -> bool:
    """True for None, NaN and pandas' missing markers."""
    if x is None:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def pct(x: float | None, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage: ``pct(0.0214) == '2.1 %'``; ``signed`` adds a ``+``."""
    if is_missing(x):
        return NA
    v = float(x) * 100
    text = f"{v:+,.{digits}f} %" if signed else f"{v:,.{digits}f} %"
    return text.replace("-0.0 %", "0.0 %").replace("+-", "-")


def points(delta: float | None, digits: int = 1) -> str:
    """A difference of two fractions in percentage points: ``points(-0.003) == '0.3 points'``."""
    if is_missing(delta):
        return NA
    v = abs(float(delta)) * 100
    unit = "point" if round(v, digits) == 1 else "points"
    return f"{v:,.{digits}f} {unit}"


def thousands(x: float | None, digits: int = 0) -> str:
    """A number with thousands separators: ``thousands(12345.6) == '12,346'``."""
    if is_missing(x):
        return NA
    v = float(x)
    if digits == 0:
        v = round(v)
        if v == 0:
            v = 0.0  # no "-0"
    return f"{v:,.{digits}f}"


def number(x: float | None, digits: int = 2) -> str:
    """A plain number with separators and ``digits`` decimals."""
    return thousands(x, digits)


def compact(x: float | None, digits: int = 1) -> str:
    """A large number shortened: ``compact(1_234_567) == '1.2 M'``, ``compact(12_300) == '12.3 k'``."""
    if is_missing(x):
        return NA
    v = float(x)
    for size, suffix in ((1e9, " bn"), (1e6, " M"), (1e3, " k")):
        if abs(v) >= size:
            return f"{v / size:,.{digits}f}{suffix}"
    return thousands(v)


def currency(x: float | None, symbol: str = "$", digits: int = 0, short: bool = False) -> str:
    """Money: ``currency(-1234.5) == '-$1,234'`` (rounded half to even); ``short`` gives ``'$1.2 k'``."""
    if is_missing(x):
        return NA
    v = float(x)
    body = compact(abs(v)) if short else thousands(abs(v), digits)
    sign = MINUS if v < 0 and body.strip("0.,") else ""
    return f"{sign}{symbol}{body}"


def p_value(p: float | None) -> str:
    """A p-value: ``'p < 0.001'`` or ``'p = 0.042'``."""
    if is_missing(p):
        return NA
    p = float(p)
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


#: words whose plural is not word + "s" (a "-y" after a consonant is handled by rule)
PLURALS: dict[str, str] = {"is": "are", "was": "were", "person": "people", "criterion": "criteria",
                           "has": "have"}


def plural_word(word: str) -> str:
    """The plural of a word or of a phrase's last word: ``capability`` -> ``capabilities``,
    ``churned account`` -> ``churned accounts``."""
    head, _, last = word.rpartition(" ")
    if last in PLURALS:
        out = PLURALS[last]
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        out = last[:-1] + "ies"
    elif last.endswith(("s", "x", "ch", "sh")):
        out = last + "es"
    else:
        out = last + "s"
    return f"{head} {out}" if head else out


def plural(n: float, word: str, many: str | None = None) -> str:
    """A count and its noun: ``plural(1, 'account') == '1 account'``,
    ``plural(1200, 'account') == '1,200 accounts'``, ``plural(3, 'capability') == '3 capabilities'``."""
    return f"{thousands(n)} {word if n == 1 else (many or plural_word(word))}"


def months(x: float | None, digits: int = 1) -> str:
    """A duration in months: ``months(14.26) == '14.3 months'``."""
    if is_missing(x):
        return NA
    return f"{float(x):,.{digits}f} months"


def period_label(start: str | pd.Timestamp, grain: str = "month") -> str:
    """``'2025-11-01'`` -> ``'November 2025'`` (month) or ``'Q4 2025'`` (quarter)."""
    t = pd.Timestamp(start)
    if grain == "quarter":
        return f"Q{t.quarter} {t.year}"
    return t.strftime("%B %Y")


def previous_label(previous: str | pd.Timestamp, current: str | pd.Timestamp, grain: str = "month") -> str:
    """The previous period, without its year when it is the current one's (``'October'``)."""
    p, c = pd.Timestamp(previous), pd.Timestamp(current)
    if grain == "quarter":
        return f"Q{p.quarter}" if p.year == c.year else f"Q{p.quarter} {p.year}"
    return p.strftime("%B") if p.year == c.year else p.strftime("%B %Y")


def fmt(x: float | None, kind: str = "number", symbol: str = "$") -> str:
    """Format by kind: ``pct``, ``currency``, ``count``, ``number`` (2 decimals), ``number1``
    (1 decimal), ``months``."""
    if kind == "pct":
        return pct(x)
    if kind == "currency":
        return currency(x, symbol)
    if kind == "count":
        return thousands(x)
    if kind == "months":
        return months(x)
    if kind == "number1":
        return number(x, 1)
    return number(x)


def difference(current: float, previous: float, kind: str = "number", symbol: str = "$") -> str:
    """The size of a change in words, without direction: ``'0.3 points'``, ``'$1,200'``, ``'12'``."""
    d = float(current) - float(previous)
    if kind == "pct":
        return points(d)
    if kind == "currency":
        return currency(abs(d), symbol)
    if kind == "months":
        return months(abs(d))
    if kind == "count":
        return thousands(abs(d))
    return number(abs(d))


def change_sentence(
    label: str,
    current: float | None,
    previous: float | None,
    period: str | pd.Timestamp,
    grain: str = "month",
    kind: str = "pct",
    previous_period: str | pd.Timestamp | None = None,
    symbol: str = "$",
) -> str:
    """One sentence on a figure and its change from the previous period.

    Parameters
    ----------
    label
        What the figure is, capitalised (``"Logo churn"``).
    current, previous
        The figure this period and the period before (None/NaN when unknown).
    period
        Start of the current period; ``previous_period`` defaults to the period before it.
    kind
        ``pct`` (a rate: the change is in points), ``currency``, ``count``, ``number``, ``months``.

    Examples
    --------
    >>> change_sentence("GRR", 0.95, 0.95, "2025-11-01")
    'GRR was 95.0 % in November 2025, the same as in October.'
    >>> change_sentence("Customers", 1200, 1150, "2025-01-01", kind="count")
    'Customers was 1,200 in January 2025, 50 more than in December 2024.'
    """
    cur_p = pd.Timestamp(period)
    step = pd.DateOffset(months=3 if grain == "quarter" else 1)
    prev_p = pd.Timestamp(previous_period) if previous_period is not None else cur_p - step
    when = period_label(cur_p, grain)
    before = previous_label(prev_p, cur_p, grain)
    if is_missing(current):
        return f"{label} is not available for {when} (nothing to measure in that period)."
    head = f"{label} was {fmt(current, kind, symbol)} in {when}"
    if is_missing(previous):
        return f"{head}; there is no figure for {before} to compare with."
    size = difference(current, previous, kind, symbol)
    shown_cur, shown_prev = fmt(current, kind, symbol), fmt(previous, kind, symbol)
    if shown_cur == shown_prev or size in ("0.0 points", "$0", "0", "0.00", "0.0 months"):
        return f"{head}, the same as in {before}."
    up = float(current) > float(previous)
    word = ("higher" if up else "lower") if kind in ("pct", "number", "months") else (
        "more" if up else "less" if kind == "currency" else "fewer"
    )
    if kind == "count" and not up:
        word = "fewer"
    return f"{head}, {size} {word} than in {before}."


def share_sentence(part: float, whole: float, what: str) -> str:
    """``share_sentence(30, 120, 'churned accounts') == '30 of 120 churned accounts (25.0 %)'``."""
    if is_missing(whole) or float(whole) == 0:
        return f"{thousands(part)} of 0 {what}"
    return f"{thousands(part)} of {thousands(whole)} {what} ({pct(float(part) / float(whole))})"


def join_words(items: list[str]) -> str:
    """``['a', 'b', 'c'] -> 'a, b and c'``."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def safe_float(x: object) -> float:
    """``float(x)`` or NaN (for numbers read from frames)."""
    if isinstance(x, Real) and not isinstance(x, bool):
        return float(x)
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
