"""The column rules of the contract: failing-row predicates as Ibis expressions.

For every contract column present in a raw (uncast) table, :func:`column_preds` gives one
boolean expression per rule ('stored type', 'type', 'not null', 'range', 'not finite',
'too large', 'integer', 'date range', 'allowed values') that is true on the rows breaking
it. :mod:`csresearch.data.contract_checks` counts them in one pass and reports the failures.

Example
-------
>>> import ibis
>>> from csresearch.data.schema import CONTRACT
>>> t = ibis.memtable({"account_id": ["a"], "responded_at": ["2024-01-01"], "score": [11]})
>>> sorted(column_preds(CONTRACT["nps_responses"], t))  # doctest: +NORMALIZE_WHITESPACE
[('account_id', 'not null'), ('responded_at', 'date range'), ('responded_at', 'not null'),
 ('responded_at', 'type'), ('score', 'not null'), ('score', 'range')]
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pandas as pd

from csresearch.data.schema import DATE_MIN, IBIS_TYPES, OPEN_END_FROM, Column, Table


def date_bound(x: ir.Value, day: str) -> ir.Value:
    """The literal ``day`` in the type of the date/timestamp column ``x``."""
    ts = pd.Timestamp(day)
    return ibis.date(ts.year, ts.month, ts.day) if x.type().is_date() else ibis.timestamp(ts)


def date_out_of_range(typed: ir.Value, col: Column) -> ir.BooleanValue:
    """Rows whose (typed) date is before ``DATE_MIN`` or, unless ``col.open_end``, on or
    after ``OPEN_END_FROM``."""
    bad = typed < date_bound(typed, DATE_MIN)
    if not col.open_end:
        bad = bad | (typed >= date_bound(typed, OPEN_END_FROM))
    return typed.notnull() & bad


def storable(stored: dt.DataType, dtype: str) -> bool:
    """Whether values stored as ``stored`` can be cast to the contract type ``dtype``.

    Text is tried value by value (rule 'type'); a date stored as a number has no cast.
    """
    if dtype == "string" or stored.is_null() or stored.is_string():
        return True
    if dtype in ("date", "timestamp"):
        return stored.is_date() or stored.is_timestamp()
    if dtype in ("int", "float"):
        return stored.is_numeric() or stored.is_boolean()
    return stored.is_boolean() or stored.is_integer()


def _not_finite(typed: ir.Value, col: Column) -> ir.BooleanValue:
    """NaN, inf or -inf in a float column (never true for other types)."""
    if col.dtype != "float":
        return ibis.literal(False)
    return typed.isnan() | typed.isinf()


def _number_preds(typed: ir.Value, col: Column) -> dict[str, ir.BooleanValue]:
    """The rules 'not finite' and 'too large' of a number column (``Column.limit``)."""
    preds: dict[str, ir.BooleanValue] = {}
    if col.dtype == "float":
        preds["not finite"] = typed.notnull() & _not_finite(typed, col)
    if col.limit is not None:
        preds["too large"] = typed.notnull() & ~_not_finite(typed, col) & (typed > col.limit)
    return preds


def _as_float(x: ir.Value) -> ir.Value:
    return x.try_cast("float64") if x.type().is_string() else x.cast("float64")


def _out_of_bounds(x: ir.Value, typed: ir.Value, col: Column) -> ir.BooleanValue:
    """The rule 'range' on the raw number, not the typed one: casting 10.4 or -0.4 to int
    would round it into range and hide the failure."""
    num = _as_float(x)
    bad = ibis.literal(False)
    if col.min is not None:
        bad = bad | (num < col.min)
    if col.max is not None:
        bad = bad | (num > col.max)
    return typed.notnull() & bad & ~_not_finite(typed, col)


def _typed_rules(col: Column, x: ir.Value) -> dict[str, ir.BooleanValue]:
    """Failing-row predicates of one storable column, keyed by rule, in report order."""
    target = IBIS_TYPES[col.dtype]
    preds: dict[str, ir.BooleanValue] = {}
    if x.type().is_string() and col.dtype != "string":
        typed = x.try_cast(target)
        preds["type"] = x.notnull() & (x.strip() != "") & typed.isnull()
        is_null = x.isnull() | (x.strip() == "")
    else:
        typed = x.cast(target) if str(x.type()) != target else x
        is_null = x.isnull()
    if not col.nullable:
        preds["not null"] = is_null
    if col.min is not None or col.max is not None:
        preds["range"] = _out_of_bounds(x, typed, col)
    preds.update(_number_preds(typed, col))
    if col.integer and not x.type().is_integer():
        num = _as_float(x)
        preds["integer"] = num.notnull() & (num != num.round(0))
    if col.dtype in ("date", "timestamp"):
        preds["date range"] = date_out_of_range(typed, col)
    if col.allowed:
        preds["allowed values"] = x.notnull() & ~x.cast("string").isin(list(col.allowed))
    return preds


def column_preds(spec: Table, raw: ir.Table) -> dict[tuple[str, str], ir.BooleanValue]:
    """Failing-row predicates for every column rule of a table (on the raw, uncast table)."""
    preds: dict[tuple[str, str], ir.BooleanValue] = {}
    for col in spec.columns:
        if col.name not in raw.columns:
            continue
        x = raw[col.name]
        if not storable(x.type(), col.dtype):
            # no cast exists (a date stored as BIGINT): every value fails; the other rules
            # of the column would need the cast, so they wait until the type is fixed
            preds[(col.name, "stored type")] = x.notnull()
            continue
        preds.update({(col.name, r): p for r, p in _typed_rules(col, x).items()})
    return preds


