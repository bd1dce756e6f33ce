"""Calendar periods (months, quarters), month arithmetic and tenure bands, vectorised.

A period is half-open: ``[start, next_start)``. Snapshots are taken on a period's first day.
All helpers work on whole days (times of day are dropped).

Example
-------
>>> period_starts("2023-01-15", "2023-06-30", "quarter")
DatetimeIndex(['2023-04-01'], dtype='datetime64[ns]', freq=None)
>>> add_months(pd.Series(pd.to_datetime(["2024-01-31"])), 1).dt.date.tolist()
[datetime.date(2024, 2, 29)]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csresearch.errors import ConfigError, DataValidationError

GRAINS: dict[str, int] = {"month": 1, "quarter": 3}

#: Tenure bands in months since the account's first subscription start: [low, high).
TENURE_BANDS: tuple[tuple[int, float, str], ...] = (
    (0, 3, "0-3"),
    (3, 6, "3-6"),
    (6, 12, "6-12"),
    (12, 24, "12-24"),
    (24, np.inf, "24+"),
)
BEFORE_START = "before start"
NO_SUBSCRIPTION = "no subscription"


def check_grain(grain: str) -> int:
    """Months per period of ``grain`` ('month' or 'quarter'); :class:`ConfigError` otherwise."""
    if grain not in GRAINS:
        raise ConfigError(f"grain must be one of {', '.join(GRAINS)}, not '{grain}'")
    return GRAINS[grain]


def parse_as_of(as_of: str | pd.Timestamp) -> pd.Timestamp:
    """``as_of`` as a midnight Timestamp; an ISO date string such as ``"2025-12-31"``."""
    if as_of is None:
        raise ConfigError("as_of is required (an ISO date such as '2025-12-31'); it is never today()")
    try:
        ts = pd.Timestamp(as_of)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"as_of must be an ISO date such as '2025-12-31', not {as_of!r}") from e
    if ts is pd.NaT:
        raise ConfigError(f"as_of must be an ISO date such as '2025-12-31', not {as_of!r}")
    from csresearch.data.schema import DATE_MIN, OPEN_END_FROM

    if not pd.Timestamp(DATE_MIN) <= ts < pd.Timestamp(OPEN_END_FROM):
        raise ConfigError(
            f"as_of {ts.date()} is outside the supported dates [{DATE_MIN}, {OPEN_END_FROM}); "
            "give the last day of the period you want to report, such as '2025-12-31'"
        )
    return ts.normalize()


def month_index(dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Calendar month of each date as one integer, ``year * 12 + month - 1`` (int64).

    The engine-side twin is :func:`month_index_expr`.
    """
    d = pd.DatetimeIndex(dates)
    return (d.year.to_numpy() * 12 + d.month.to_numpy() - 1).astype("int64")


def month_index_expr(d):
    """:func:`month_index` in the engine: ``year * 12 + month - 1`` of an Ibis date or timestamp
    expression, int64."""
    return d.year().cast("int64") * 12 + d.month().cast("int64") - 1


def month_from_index(idx: np.ndarray, day: np.ndarray | int = 1) -> pd.DatetimeIndex:
    """The inverse of :func:`month_index`: the ``day`` (default the 1st) of each month."""
    idx = np.asarray(idx, dtype="int64")
    years = idx // 12
    months = idx % 12 + 1
    frame = pd.DataFrame({"year": years, "month": months, "day": np.broadcast_to(day, idx.shape)})
    return pd.DatetimeIndex(pd.to_datetime(frame))


def period_floor(dates: pd.Series, grain: str = "month") -> pd.Series:
    """First day of the period containing each date (NaT stays NaT)."""
    step = check_grain(grain)
    s = pd.Series(pd.to_datetime(dates))
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    ok = s.notna()
    if ok.any():
        idx = month_index(s[ok])
        idx = idx - (idx % 12) % step
        out[ok] = month_from_index(idx).to_numpy()
    return out


def add_months(dates: pd.Series, months: np.ndarray | pd.Series | int) -> pd.Series:
    """``dates`` plus whole calendar months; the day is clipped to the month's length.

    Jan 31 + 1 month = Feb 28/29, as a contract anniversary usually is.
    """
    s = pd.Series(pd.to_datetime(dates)).dt.normalize()
    m = np.broadcast_to(np.asarray(months, dtype="int64"), s.shape)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    ok = s.notna().to_numpy()
    if ok.any():
        d = pd.DatetimeIndex(s[ok])
        idx = month_index(d) + m[ok]
        first = month_from_index(idx)
        day = np.minimum(d.day.to_numpy(), first.days_in_month.to_numpy())
        out[ok] = (first + pd.to_timedelta(day - 1, unit="D")).to_numpy()
    return out


def next_start(starts: pd.Series | pd.DatetimeIndex, grain: str = "month") -> pd.DatetimeIndex:
    """The first day of the period after each period start."""
    return pd.DatetimeIndex(add_months(pd.Series(pd.DatetimeIndex(starts)), check_grain(grain)))


def period_starts(first_day: str | pd.Timestamp, as_of: str | pd.Timestamp, grain: str = "month"):
    """Starts of the full periods from the first one beginning on/after ``first_day`` to the
    last one that finishes on or before ``as_of`` (its last day <= as_of).

    Returns an empty DatetimeIndex when no full period fits.
    """
    step = check_grain(grain)
    first = pd.Timestamp(first_day).normalize()
    end = parse_as_of(as_of) + pd.Timedelta(days=1)  # a period fits when next_start <= end
    f = period_floor(pd.Series([first]), grain).iloc[0]
    if f < first:
        f = add_months(pd.Series([f]), step).iloc[0]
    last = period_floor(pd.Series([end]), grain).iloc[0]  # next_start of the last full period
    n = (month_index([last])[0] - month_index([f])[0]) // step
    if n <= 0:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    return pd.DatetimeIndex(add_months(pd.Series([f] * n), np.arange(n) * step))


def months_between(start: pd.Series, end: pd.Series) -> np.ndarray:
    """Whole calendar months completed from ``start`` to ``end`` (negative when end < start).

    Jan 15 -> Apr 14 is 2 months, Jan 15 -> Apr 15 is 3. NaN where either date is missing.
    """
    s = pd.DatetimeIndex(pd.to_datetime(start)).normalize()
    e = pd.DatetimeIndex(pd.to_datetime(end)).normalize()
    raw = np.asarray((e.year - s.year) * 12 + (e.month - s.month), dtype="float64")
    # the month is not complete before the day-of-month is reached (a clipped anniversary,
    # Jan 31 -> Feb 29, counts as reached on the month's last day)
    back = np.asarray((e.day < s.day) & ~e.is_month_end, dtype="float64")
    out = raw - back
    out[np.asarray(s.isna() | e.isna())] = np.nan
    return out


def tenure_band(months: np.ndarray | pd.Series) -> pd.Series:
    """Label tenure months with :data:`TENURE_BANDS`; negative -> 'before start',
    missing -> 'no subscription'. Returns an ordered categorical."""
    m = pd.Series(np.asarray(months, dtype="float64"))
    labels = [b[2] for b in TENURE_BANDS]
    edges = [b[0] for b in TENURE_BANDS] + [np.inf]
    cut = pd.cut(m, bins=edges, right=False, labels=labels).astype(object)
    cut[m < 0] = BEFORE_START
    cut[m.isna()] = NO_SUBSCRIPTION
    cats = [BEFORE_START, *labels, NO_SUBSCRIPTION]
    return pd.Series(pd.Categorical(cut, categories=cats, ordered=True), index=m.index)


def require_columns(df: pd.DataFrame, table: str, columns: list[str]) -> None:
    """Raise :class:`DataValidationError` naming the missing columns of ``table``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"table '{table}': missing column(s) {', '.join(missing)}; present columns: "
            f"{', '.join(map(str, df.columns))}. Add them or map yours onto them in the mapping YAML."
        )


def rule_failures(
    frame: pd.DataFrame, table: str, rules: list[tuple[str, str, object, str]]
) -> None:
    """Raise one :class:`DataValidationError` for every broken row rule of ``table``.

    ``rules`` holds ``(column, rule, failing-row mask, how to fix)``; each failure names the
    table, the column, the rule, how many rows fail, up to five example rows of ``frame`` and
    the fix. Nothing is raised when every mask is all False.

    Example
    -------
    >>> df = pd.DataFrame({"mrr": [1.0, -2.0]})
    >>> rule_failures(df, "subscriptions", [("mrr", "mrr is negative", df["mrr"] < 0, "fix it")])
    Traceback (most recent call last):
    ...
    csresearch.errors.DataValidationError: table 'subscriptions', column 'mrr': mrr is negative in 1 row(s); examples:
     mrr
    -2.0
    how to fix: fix it
    """
    parts = []
    for column, rule, bad, fix in rules:
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            ex = frame.loc[bad].head(5).to_string(index=False, max_colwidth=30)
            parts.append(
                f"table '{table}', column '{column}': {rule} in {int(bad.sum()):,} row(s); "
                f"examples:\n{ex}\nhow to fix: {fix}"
            )
    if parts:
        raise DataValidationError("\n".join(parts))


def _wide_parse(values: pd.Series) -> pd.Series:
    """Dates pandas cannot hold in nanoseconds (9999-12-31, 0001-01-01) as datetime64[s];
    NaT where a value is not a date at all."""
    out = []
    for v in values:
        try:
            out.append(pd.Timestamp(v).to_datetime64().astype("datetime64[s]"))
        except (ValueError, TypeError, OverflowError):
            out.append(np.datetime64("NaT", "s"))
    return pd.Series(np.array(out, dtype="datetime64[s]"), index=values.index)


def as_datetime(frame: pd.DataFrame, table: str, column: str) -> pd.Series:
    """``frame[column]`` as datetime64[ns] under the contract's date rules.

    Unparseable values and dates outside [``DATE_MIN``, ``OPEN_END_FROM``) raise a
    :class:`DataValidationError` (table, column, count, examples, fix) instead of a pandas
    overflow; in an end column that may be empty (``Column.open_end`` in the contract, e.g.
    ``subscriptions.end_date``) a date on or after ``OPEN_END_FROM`` is open and becomes NaT.
    """
    from csresearch.data.schema import CONTRACT, DATE_MIN, FIXES, OPEN_END_FROM

    raw = frame[column]
    spec = CONTRACT.get(table)
    open_end = bool(spec and column in {c.name for c in spec.columns} and spec.column(column).open_end)
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        raw = raw.dt.tz_localize(None)
    if raw.dtype.kind == "M":
        parsed = raw.astype("datetime64[s]")
    else:
        try:
            parsed = pd.to_datetime(raw).astype("datetime64[s]")
        except (ValueError, TypeError, OverflowError):
            parsed = pd.to_datetime(raw, errors="coerce", format="mixed").astype("datetime64[s]")
            lost = parsed.isna() & raw.notna()
            parsed[lost] = _wide_parse(raw[lost])
    far = parsed >= pd.Timestamp(OPEN_END_FROM)
    out_of_range = (parsed < pd.Timestamp(DATE_MIN)) | (far & (not open_end))
    rule_failures(frame, table, [
        (column, f"{column} is not a date", parsed.isna() & raw.notna(),
         "write dates as ISO 'YYYY-MM-DD' (or leave the cell empty)"),
        (column, f"{column} is out of the date range", out_of_range, FIXES["date range"]),
    ])
    return parsed.where(~far).astype("datetime64[ns]")


def to_dates(frame: pd.DataFrame, table: str, column: str) -> pd.Series:
    """``frame[column]`` as datetime64[ns] normalised to days (see :func:`as_datetime` for
    the date rules: unparseable or out-of-range dates raise :class:`DataValidationError`, a
    far-future date in an open end column is NaT)."""
    return as_datetime(frame, table, column).dt.normalize()
