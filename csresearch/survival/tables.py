"""Survival tables: one row per customer with a duration and an event flag.

Two ways in:

* **a flat table** (one row per customer, e.g. the IBM Telco CSV): :func:`read_flat_table`
  then :func:`survival_frame`, which checks the duration, the event (a 0/1 column or
  ``column=value`` such as ``Churn=Yes``) and any numeric covariates, and reports
  non-numeric or missing values (table, column, count, examples) instead of dropping them;
  ``dropna=True`` drops those rows and says how many;
* **a data source** as of a date: :func:`survival_table` (built in the engine with Ibis; in
  :mod:`csresearch.survival.episodes`, importable from here).

Example
-------
>>> raw = read_flat_table("Telco-Customer-Churn.csv")  # doctest: +SKIP
>>> sv = survival_frame(raw, "tenure", "Churn=Yes")  # doctest: +SKIP
>>> int(sv["event"].sum())  # doctest: +SKIP
1869
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from csresearch.data.read_errors import check_table_file, check_utf8, reading
from csresearch.errors import DataQualityWarning, DataValidationError
from csresearch.survival.episodes import (  # noqa: F401  (the data-source tables, importable from here too)
    DAYS_PER_MONTH,
    start_window_covariates,
    survival_table,
    survival_table_expr,
)

DURATION, EVENT = "duration", "event"


# -- flat tables ---------------------------------------------------------------------------
def read_flat_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file as it is (no type coercion); its name goes in ``attrs['table']``."""
    p = Path(path)
    if not p.exists():
        raise DataValidationError(f"table file not found: {p}")
    check_table_file(p)  # a folder or a 0-byte file: say so, not a parser traceback
    if p.suffix != ".parquet":
        check_utf8(p)
    with reading(p):
        if p.suffix == ".parquet":
            df = pd.read_parquet(p)
        else:
            df = pd.read_csv(p, keep_default_na=False, na_values=[""], sep=_delimiter(p))
    df.attrs["table"] = p.name
    return df


def _delimiter(p: Path) -> str:
    """The delimiter of a CSV's header line: the most frequent of , ; tab | (',' when none)."""
    with open(p, "rb") as f:
        head = f.readline(1 << 16).decode("utf-8", errors="replace")
    counts = {d: head.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def parse_event(spec: str) -> tuple[str, str | None]:
    """Split an event spec: ``"Churn=Yes"`` -> ``("Churn", "Yes")``, ``"churned"`` -> ``("churned", None)``."""
    col, sep, value = str(spec).partition("=")
    return col.strip(), (value.strip() if sep else None)


def _table_name(df: pd.DataFrame, table: str | None) -> str:
    return table or df.attrs.get("table", "input table")


def _require(df: pd.DataFrame, cols: Sequence[str], table: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"table '{table}': column(s) {missing} not found; present: {', '.join(map(str, df.columns))}"
        )


def _examples(raw: pd.Series, bad: pd.Series, n: int = 5) -> str:
    ex = raw[bad].head(n)
    return ", ".join(f"row {i}: {v!r}" for i, v in ex.items())


def event_indicator(df: pd.DataFrame, event: str, table: str | None = None) -> pd.Series:
    """The event as a 0/1 ``int`` Series named ``event``.

    ``event`` is a column of 0/1 (or booleans, or "0"/"1") or ``column=value``.
    Missing values or other codes raise :class:`DataValidationError`.
    """
    table = _table_name(df, table)
    col, value = parse_event(event)
    _require(df, [col], table)
    x = df[col]
    if x.isna().any():
        bad = x.isna()
        raise DataValidationError(
            f"table '{table}', column '{col}': {int(bad.sum())} missing event value(s) "
            f"({_examples(x, bad)}); fill them or drop those rows (dropna=True / --dropna)"
        )
    if value is not None:
        return (x.astype(str).str.strip() == value).astype(int).rename(EVENT)
    if x.dtype == bool:
        return x.astype(int).rename(EVENT)
    num = pd.to_numeric(x, errors="coerce")
    bad = ~num.isin([0, 1])
    if bad.any():
        vals = sorted(map(str, x[bad].unique()))[:5]
        raise DataValidationError(
            f"table '{table}', column '{col}': {int(bad.sum())} value(s) are not 0/1 "
            f"(e.g. {vals}); give the event as COLUMN=VALUE (e.g. '{col}={vals[0]}')"
        )
    return num.astype(int).rename(EVENT)


def numeric_column(df: pd.DataFrame, col: str, table: str | None = None) -> tuple[pd.Series, pd.Series]:
    """``(values as float, mask of rows that are missing or not numbers)`` of one column."""
    raw = df[col]
    if pd.api.types.is_bool_dtype(raw):
        raw = raw.astype(float)
    num = pd.to_numeric(raw, errors="coerce") if not pd.api.types.is_numeric_dtype(raw) else raw
    return num.astype(float), num.isna()


def survival_frame(
    df: pd.DataFrame,
    duration: str,
    event: str,
    numeric: Sequence[str] = (),
    keep: Sequence[str] = (),
    dropna: bool = False,
    table: str | None = None,
) -> pd.DataFrame:
    """A checked survival table from a flat, one-row-per-customer table.

    Parameters
    ----------
    df
        The input (left untouched).
    duration
        Column of durations (numbers >= 0).
    event
        Column of 0/1, or ``column=value`` such as ``"Churn=Yes"``.
    numeric
        Further columns that must be numeric (covariates); blanks and text are reported.
    keep
        Further columns copied as they are (groups, categorical covariates).
    dropna
        Drop rows with a missing / non-numeric value in any used column; a
        :class:`DataQualityWarning` states how many (also in ``attrs['dropped']``).
        Without it such rows raise :class:`DataValidationError` (table, column, count, examples).

    Returns
    -------
    DataFrame with columns ``duration`` (float), ``event`` (0/1), then ``numeric`` and
    ``keep`` columns, same index as ``df``.

    Examples
    --------
    >>> d = pd.DataFrame({"t": [1, 2], "Churn": ["Yes", "No"]})
    >>> survival_frame(d, "t", "Churn=Yes")["event"].tolist()
    [1, 0]
    """
    table = _table_name(df, table)
    ev_col, _ = parse_event(event)
    num_cols = [duration, *[c for c in numeric if c != duration]]
    keep = [c for c in keep if c not in num_cols and c != ev_col]
    _require(df, [*num_cols, ev_col, *keep], table)
    out = pd.DataFrame(index=df.index)
    bad_any = pd.Series(False, index=df.index)
    problems: list[str] = []
    counts: list[str] = []
    for col in num_cols:
        vals, bad = numeric_column(df, col, table)
        out[col] = vals
        if bad.any():
            blank = df[col].isna() | (df[col].astype(str).str.strip() == "")
            kind = "missing (blank)" if blank[bad].all() else "missing or not numbers"
            problems.append(
                f"table '{table}', column '{col}': {int(bad.sum())} value(s) {kind} "
                f"({_examples(df[col], bad)})"
            )
            counts.append(f"{int(bad.sum()):,} in '{col}'")
            bad_any |= bad
    ev_missing = df[ev_col].isna()
    for col in keep:
        miss = df[col].isna()
        if miss.any():
            problems.append(
                f"table '{table}', column '{col}': {int(miss.sum())} missing value(s) "
                f"({_examples(df[col], miss)})"
            )
            counts.append(f"{int(miss.sum()):,} in '{col}'")
            bad_any |= miss
    if ev_missing.any():
        problems.append(f"table '{table}', column '{ev_col}': {int(ev_missing.sum())} missing event value(s)")
        counts.append(f"{int(ev_missing.sum()):,} in '{ev_col}'")
        bad_any |= ev_missing
    if problems and not dropna:
        raise DataValidationError(
            "\n".join(problems)
            + "\nhow to fix: correct the export, or drop these rows explicitly "
            "(dropna=True, --dropna on the command line), which reports how many were dropped"
        )
    n_drop = int(bad_any.sum())
    if n_drop:
        warnings.warn(
            f"dropped {n_drop:,} of {len(df):,} rows of table '{table}' with missing or non-numeric "
            f"values ({', '.join(counts)})",
            DataQualityWarning,
            stacklevel=2,
        )
    kept = ~bad_any
    ev = event_indicator(df.loc[kept], event, table)
    out = out.loc[kept]
    neg = out[duration] < 0
    if neg.any():
        raise DataValidationError(
            f"table '{table}', column '{duration}': {int(neg.sum())} negative duration(s) "
            f"({_examples(df[duration], neg.reindex(df.index, fill_value=False))}); durations must be >= 0"
        )
    res = pd.DataFrame({DURATION: out[duration], EVENT: ev}, index=out.index)
    for col in num_cols[1:]:
        res[col] = out[col]
    for col in keep:
        res[col] = df.loc[kept, col]
    res.attrs.update({"table": table, "dropped": n_drop, "duration": duration, "event": event})
    return res


def survival_from_args(
    table: str | Path | None = None,
    data: str | Path | None = None,
    as_of: str | None = None,
) -> tuple[pd.DataFrame, str, str]:
    """Input of the command line: ``(frame, default duration, default event)``."""
    if (table is None) == (data is None):
        raise DataValidationError("give exactly one of --table FILE or --data SOURCE (with --as-of)")
    if table is not None:
        return read_flat_table(table), "", ""
    if not as_of:
        raise DataValidationError("--data needs --as-of DATE (an ISO date like 2025-12-31)")
    from csresearch.data.sources import open_source

    return survival_table(open_source(data), as_of), "tenure_days", "churned"


def months(days: pd.Series | np.ndarray) -> pd.Series | np.ndarray:
    """Days -> months of 30.4375 days."""
    return days / DAYS_PER_MONTH


