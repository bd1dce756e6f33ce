"""Table exports as text: CSV safe to open in a spreadsheet, JSON whose floats round-trip.

* :func:`json_text`: one record per row; floats written with Python's shortest repr (17
  significant digits at most, so ``float(text) == value`` exactly: a p-value of 9.2e-12 is
  not rounded to 0.0 as pandas' ``double_precision=10`` does); NaN, NaT and inf -> ``null``;
  dates ISO (``2024-01-01T00:00:00.000``).
* :func:`csv_text`: plain CSV (no comment lines); in text columns a cell starting with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so that a
  spreadsheet shows it instead of running it as a formula (numbers in numeric columns, such
  as -3.5, are left alone). A text cell holding a carriage return is quoted (the csv module
  leaves it bare, and readers take it for a line break).

Example
-------
>>> csv_text(pd.DataFrame({"name": ["=HYPERLINK(1)", "ok"], "x": [-3.5, 1/3]}))
"name,x\\n'=HYPERLINK(1),-3.5\\nok,0.3333333333333333\\n"
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``'`` + value when ``value`` is a string a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(df: pd.DataFrame, safe: bool = True) -> str:
    """``df`` as CSV text; ``safe`` neutralises formula-like cells of text columns (and names)."""
    if safe:
        df = df.copy()
        for col in df.columns:
            s = df[col]
            if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s) or isinstance(
                s.dtype, pd.CategoricalDtype
            ):
                df[col] = s.astype(object).map(neutralise)
        df.columns = [neutralise(c) for c in df.columns]
    # the csv module does not quote a field holding a lone CR, which readers take for a line
    # break: then quote every text field (numbers stay bare)
    quoting = csv.QUOTE_NONNUMERIC if _has_cr(df) else csv.QUOTE_MINIMAL
    return df.to_csv(index=False, lineterminator="\n", quoting=quoting)


def _has_cr(df: pd.DataFrame) -> bool:
    for col in df.columns:
        s = df[col]
        if (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)) and \
                s.map(lambda v: isinstance(v, str) and "\r" in v).any():
            return True
    return any("\r" in str(c) for c in df.columns)


def json_value(v: Any) -> Any:
    """A cell as a JSON value: exact floats, null for missing, ISO dates."""
    if v is None or v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, pd.Timestamp | np.datetime64):
        ts = pd.Timestamp(v)
        if ts is pd.NaT:
            return None
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
            return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
        return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return json_value(float(v))
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray):
        return [json_value(x) for x in v]
    return str(v)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``df`` as JSON-ready dicts (column names as strings)."""
    cols = [str(c) for c in df.columns]
    return [dict(zip(cols, map(json_value, row), strict=True)) for row in df.itertuples(index=False, name=None)]


def dumps(obj: Any) -> str:
    """Strict JSON text (indented; no NaN/Infinity) of ``obj`` (see :func:`json_value`)."""
    return json.dumps(json_value(obj), indent=2, allow_nan=False) + "\n"


def json_text(df: pd.DataFrame, extra: dict | None = None) -> str:
    """``[rows...]``, or ``{"rows": [...], **extra}`` when ``extra`` is given."""
    rows = records(df)
    if not extra:
        return json.dumps(rows, indent=2, allow_nan=False) + "\n"
    return json.dumps({"rows": rows, **json_value(extra)}, indent=2, allow_nan=False) + "\n"


__all__ = ["csv_text", "dumps", "json_text", "json_value", "neutralise", "records"]
