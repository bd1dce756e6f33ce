"""Validation run on every load: a source checked against the contract, every failure reported.

Rules run inside the engine (Ibis expressions, DuckDB by default): one aggregate pass
per table counts the failing rows of every column rule (the predicates of
:mod:`csresearch.data.column_rules`), and only the failing rules fetch up to five example rows.
Nothing is loaded into pandas wholesale and nothing is dropped. After the column rules come
the relational ones: unique keys, accounts that exist, dates in order, no overlapping
duplicate subscriptions, and a total MRR that sums exactly.

Example
-------
>>> from csresearch.data.sources import open_source
>>> report = validate(open_source("data/demo", validate=False))  # doctest: +SKIP
>>> report.ok  # doctest: +SKIP
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

from csresearch.data.column_rules import column_preds, storable
from csresearch.data.read_errors import reading
from csresearch.data.schema import (
    CONTRACT,
    DATE_ORDER,
    FIXES,
    MRR_LIMIT,
    MRR_TOTAL_LIMIT,
    Column,
    Table,
)
from csresearch.errors import DataValidationError

if TYPE_CHECKING:  # pragma: no cover
    from csresearch.data.sources import DataSource


@dataclass
class RuleFailure:
    """One broken rule: where, what, how many rows and a few examples."""

    table: str
    column: str | None
    rule: str
    n_failing: int
    examples: str
    fix: str

    def message(self) -> str:
        where = f"table '{self.table}'" + (f", column '{self.column}'" if self.column else "")
        rows = "row" if self.n_failing == 1 else "rows"
        text = f"{where}: rule '{self.rule}' fails for {self.n_failing:,} {rows}."
        if self.examples:
            text += "\n  examples:\n" + "\n".join("    " + ln for ln in self.examples.splitlines())
        return text + f"\n  how to fix: {self.fix}"


@dataclass
class ValidationReport:
    """The outcome of validating a source: every failed rule and the row counts checked."""

    failures: list[RuleFailure] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    absent_optional: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def message(self) -> str:
        if self.ok:
            counts = ", ".join(f"{t} {n:,}" for t, n in self.row_counts.items())
            text = f"data source is valid ({counts})."
            if self.absent_optional:
                text += " Optional tables absent: " + ", ".join(self.absent_optional) + "."
            return text
        head = f"data source fails {len(self.failures)} validation rule(s):"
        return head + "\n" + "\n".join(f"- {f.message()}" for f in self.failures)

    def raise_if_failed(self) -> None:
        if not self.ok:
            raise DataValidationError(self.message())


def _examples(t: ir.Table, pred: ir.BooleanValue, n: int = 5) -> str:
    df = t.filter(pred).limit(n).execute()
    return df.to_string(index=False, max_colwidth=40) if len(df) else ""


def _scalar_int(expr: ir.Scalar) -> int:
    """An integer from a count/sum; engines return None or NaN for a sum over no rows."""
    v = expr.execute()
    return 0 if v is None or v != v else int(v)


def _count_by(t: ir.Table, preds: dict[str, ir.BooleanValue]) -> dict[str, int]:
    if not preds:
        return {}
    aggs = {k: p.ifelse(1, 0).sum() for k, p in preds.items()}
    aggs["__rows__"] = t.count()
    row = t.aggregate(**aggs).execute().iloc[0]
    return {k: int(0 if v is None or v != v else v) for k, v in row.items()}


def _bounds(c: Column) -> str:
    if c.min is None and c.max is None:
        return "any number"
    if c.min is not None and c.max is not None:
        return f"in [{c.min:g}, {c.max:g}]"
    return f">= {c.min:g}" if c.min is not None else f"<= {c.max:g}"


# -- one table, then the whole source -------------------------------------------------------
def _missing_columns(spec: Table, raw: ir.Table) -> list[RuleFailure]:
    return [
        RuleFailure(
            spec.name, c.name, "missing column", 0,
            "present columns: " + ", ".join(raw.columns),
            FIXES["missing column"].format(table=spec.name, column=c.name),
        )
        for c in spec.columns
        if c.required and c.name not in raw.columns
    ]


def _column_failures(
    spec: Table, raw: ir.Table, preds: dict[tuple[str, str], ir.BooleanValue], counts: dict[str, int]
) -> list[RuleFailure]:
    """A failure, with its fix and examples, for every column rule that some rows break."""
    out: list[RuleFailure] = []
    for key, n in counts.items():
        if n:
            col, rule = key.split("|")
            c = spec.column(col)
            fix = FIXES[rule].format(
                table=spec.name, column=col, dtype=c.dtype, bounds=_bounds(c), allowed=c.allowed,
                stored=raw[col].type(),
            )
            out.append(RuleFailure(spec.name, col, rule, n, _examples(raw, preds[(col, rule)]), fix))
    return out


def _check_table(source: DataSource, spec: Table, report: ValidationReport) -> None:
    """Every rule of one present table; failures and its row count go into ``report``."""
    name = spec.name
    raw = source.raw(name)
    missing = _missing_columns(spec, raw)
    report.failures.extend(missing)
    preds = column_preds(spec, raw)
    where = getattr(source, "table_files", {}).get(name, source.location)
    with reading(where, name):  # the first full pass: a lazy reader's errors surface here
        counts = _count_by(raw, {f"{c}|{r}": p for (c, r), p in preds.items()})
        report.row_counts[name] = counts.pop("__rows__", None) or int(raw.count().execute())
    report.failures.extend(_column_failures(spec, raw, preds, counts))
    if missing or any(r == "stored type" for (_, r) in preds):
        return  # relational rules need the columns, castable to their types
    # values that fail their type are NULL in the typed table (and reported above); the
    # relational rules still run on the rest, so one pass lists every failure
    with reading(where, name):
        report.failures.extend(_relational_failures(source, spec, source.table(name)))


def validate(source: DataSource) -> ValidationReport:
    """Check every table of ``source`` against the contract; return a report.

    Broken rules go in the report (every one of every table); only a table the engine cannot
    read at all (not UTF-8, truncated, ragged rows) raises a
    :class:`~csresearch.errors.DataValidationError` naming its file and the fix. Call
    ``report.raise_if_failed()`` (as :func:`csresearch.data.sources.open_source` does) to turn
    failures into a :class:`~csresearch.errors.DataValidationError`.
    """
    report = ValidationReport()
    for name, spec in CONTRACT.items():
        if source.has(name):
            _check_table(source, spec, report)
        elif spec.required:
            report.failures.append(
                RuleFailure(name, None, "missing table", 0, "", FIXES["missing table"].format(table=name))
            )
        else:
            report.absent_optional.append(name)
    return report


# -- relational rules -----------------------------------------------------------------------
def _has_keys(source: DataSource) -> bool:
    """Accounts present with a usable account_id (else its own failures say why; no FK check)."""
    if not source.has("accounts"):
        return False
    acc = source.raw("accounts")
    return "account_id" in acc.columns and all(
        storable(acc[c.name].type(), c.dtype) for c in CONTRACT["accounts"].columns if c.name in acc.columns
    )


def _unique_key(spec: Table, t: ir.Table) -> list[RuleFailure]:
    dup = t.group_by(spec.key).aggregate(n=t.count()).filter(lambda d: d.n > 1)
    n = _scalar_int(dup.n.sum())
    if not n:
        return []
    keys = dup[spec.key].execute().head(5).tolist()
    return [
        RuleFailure(
            spec.name, spec.key, "unique key", n, _examples(t, t[spec.key].isin(keys)),
            FIXES["unique key"].format(column=spec.key),
        )
    ]


def _foreign_key(source: DataSource, name: str, t: ir.Table) -> list[RuleFailure]:
    acc = source.table("accounts").select("account_id").distinct()
    orphan = t.anti_join(acc, "account_id")
    n = int(orphan.count().execute())
    if not n:
        return []
    return [
        RuleFailure(
            name, "account_id", "foreign key", n,
            orphan.limit(5).execute().to_string(index=False, max_colwidth=40),
            FIXES["foreign key"],
        )
    ]


def _date_order(name: str, t: ir.Table) -> list[RuleFailure]:
    out: list[RuleFailure] = []
    for table, later, earlier in DATE_ORDER:
        if table == name:
            pred = t[later].notnull() & (t[later] < t[earlier])
            n = _scalar_int(pred.ifelse(1, 0).sum())
            if n:
                out.append(
                    RuleFailure(
                        name, later, "date order", n, _examples(t, pred),
                        FIXES["date order"].format(column=later, other=earlier),
                    )
                )
    return out


def _relational_failures(source: DataSource, spec: Table, t: ir.Table) -> list[RuleFailure]:
    name = spec.name
    out = _unique_key(spec, t) if spec.key else []
    if name != "accounts" and "account_id" in t.columns and _has_keys(source):
        out.extend(_foreign_key(source, name, t))
    out.extend(_date_order(name, t))
    if name == "subscriptions":
        out.extend(_overlaps(t))
        out.extend(_total_mrr(t))
    return out


def _overlaps(t: ir.Table) -> list[RuleFailure]:
    prod = t.product.fill_null("") if "product" in t.columns else ibis.literal("")
    s = t.select("subscription_id", "account_id", "start_date", "end_date", prod=prod)
    far = ibis.date(9999, 12, 31)
    a = s.view()
    b = s.view()
    j = a.join(
        b,
        [
            a.account_id == b.account_id,
            a.prod == b.prod,
            a.subscription_id < b.subscription_id,
            a.start_date < b.end_date.fill_null(far),
            b.start_date < a.end_date.fill_null(far),
        ],
    ).select(
        account_id=a.account_id,
        subscription_id=a.subscription_id,
        other_subscription_id=b.subscription_id,
        start_date=a.start_date,
        end_date=a.end_date,
        other_start_date=b.start_date,
        other_end_date=b.end_date,
    )
    n = int(j.count().execute())
    if not n:
        return []
    ex = j.limit(5).execute().to_string(index=False)
    return [
        RuleFailure(
            "subscriptions", "start_date", "overlapping duplicate subscriptions", n, ex,
            FIXES["overlapping duplicate subscriptions"],
        )
    ]


def _total_mrr(t: ir.Table) -> list[RuleFailure]:
    """The rule 'total too large': the MRR of all rows that pass the row rules (finite, at
    most ``MRR_LIMIT``) sums to more than ``MRR_TOTAL_LIMIT``."""
    finite = t.mrr.notnull() & ~t.mrr.isnan() & ~t.mrr.isinf() & (t.mrr <= MRR_LIMIT)
    total = t.filter(finite).mrr.sum().execute()
    if total is None or not total > MRR_TOTAL_LIMIT:
        return []
    n = int(t.filter(finite).count().execute())
    top = t.filter(finite).order_by(ibis.desc("mrr")).limit(5).execute()
    return [
        RuleFailure(
            "subscriptions", "mrr", "total too large", n,
            f"total MRR {total:g}; largest rows:\n" + top.to_string(index=False, max_colwidth=40),
            FIXES["total too large"],
        )
    ]
