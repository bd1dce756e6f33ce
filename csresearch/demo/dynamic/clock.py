"""The dynamic demo's calendar: months as day ranges, contract anniversaries, weekday weights.

Days are integers from :data:`csresearch.demo.model.START` (day 0 = 2023-01-01), months are
indices from January 2023 (month 0) to December 2025 (:data:`N_MONTHS` - 1); the arrays run
three years further so that an anniversary after the period end has a day.

Example
-------
>>> int(MONTH_START[1]), int(MONTH_LEN[1]), int(month_of(np.array([59]))[0])
(31, 28, 2)
"""

from __future__ import annotations

import numpy as np

from csresearch.demo.model import N_DAYS, START

N_MONTHS = 36  # 2023-01 .. 2025-12
_EXTRA = 36  # anniversaries up to three years after the period end
_months = np.arange(np.datetime64("2023-01"), np.datetime64("2023-01") + N_MONTHS + _EXTRA + 1)
#: first day of each month (day number), one more than the months so MONTH_START[m + 1] ends m
MONTH_START = ((_months.astype("datetime64[D]") - START) // np.timedelta64(1, "D")).astype(np.int64)
MONTH_LEN = np.diff(MONTH_START)
SNAPSHOT = MONTH_START[1:] - 1  # the last day of each month
_MONTH_OF_DAY = np.repeat(np.arange(len(MONTH_LEN)), MONTH_LEN)
#: weight of each day for usage: weekdays 1, Saturday and Sunday 0.3 (2023-01-01 was a Sunday)
DAY_WEIGHT = np.where((np.arange(N_DAYS) + 6) % 7 >= 5, 0.3, 1.0)
CUM_WEIGHT = np.concatenate([[0.0], np.cumsum(DAY_WEIGHT)])


def month_of(day: np.ndarray) -> np.ndarray:
    """Month index of each day number.

    Examples
    --------
    >>> month_of(np.array([0, 31, 1095])).tolist()
    [0, 1, 35]
    """
    return _MONTH_OF_DAY[np.asarray(day, dtype=np.int64)]


def add_months(day: np.ndarray, months: np.ndarray | int) -> np.ndarray:
    """``day`` plus whole calendar months, the day of month clipped to the month's length
    (as :func:`csresearch.data.periods.add_months`: Jan 31 + 1 month = Feb 28).

    Examples
    --------
    >>> add_months(np.array([30]), 1).tolist()  # 2023-01-31 -> 2023-02-28
    [58]
    """
    day = np.asarray(day, dtype=np.int64)
    m = month_of(day)
    dom = day - MONTH_START[m]
    target = m + np.asarray(months, dtype=np.int64)
    return MONTH_START[target] + np.minimum(dom, MONTH_LEN[target] - 1)


def next_anniversary(anchor: np.ndarray, day: np.ndarray, term: np.ndarray) -> np.ndarray:
    """The first term anniversary of ``anchor`` (``anchor + k*term`` months, k >= 1) after ``day``.

    Examples
    --------
    >>> next_anniversary(np.array([0]), np.array([0]), np.array([12])).tolist()  # 2024-01-01
    [365]
    >>> next_anniversary(np.array([0]), np.array([400]), np.array([12])).tolist()  # 2025-01-01
    [731]
    """
    anchor, day, term = (np.asarray(a, dtype=np.int64) for a in (anchor, day, term))
    k = np.maximum((month_of(day) - month_of(anchor)) // term, 0)
    a0 = add_months(anchor, k * term)
    return np.where((k >= 1) & (a0 > day), a0, add_months(anchor, (k + 1) * term))


def weighted_days(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum of :data:`DAY_WEIGHT` over days ``[a, b)`` (0 when ``b <= a``).

    Examples
    --------
    >>> weighted_days(np.array([0]), np.array([7])).tolist()  # a Sunday to a Saturday
    [5.6]
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.maximum(np.asarray(b, dtype=np.int64), a)
    return CUM_WEIGHT[b] - CUM_WEIGHT[a]


def weighted_day_draw(a: np.ndarray, b: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A day in ``[a, b)`` drawn with :data:`DAY_WEIGHT`, from uniforms ``u`` in [0, 1).

    Examples
    --------
    >>> weighted_day_draw(np.array([0]), np.array([7]), np.array([0.0])).tolist()
    [0]
    """
    lo, hi = CUM_WEIGHT[a], CUM_WEIGHT[b]
    d = np.searchsorted(CUM_WEIGHT, lo + u * (hi - lo), side="right") - 1
    return np.clip(d, a, b - 1)
