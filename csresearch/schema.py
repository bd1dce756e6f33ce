"""The data contract: tables, columns, types and the validation rules run on every load.

Rules run inside the engine (Ibis expressions, DuckDB by default): one aggregate pass
per table counts the failing rows of every column rule, and only the failing rules fetch
up to five example rows. Nothing is loaded into pandas wholesale and nothing is dropped.

Dates: every date and timestamp must lie in [``DATE_MIN``, ``OPEN_END_FROM``) =
[1800-01-01, 2200-01-01), so that it fits pandas' nanosecond range (which ends 2262-04-11).
In an end column that may be empty (``subscriptions.end_date``,
``support_tickets.closed_at``, ``onboarding_milestones.completed_at``), a date on or after
2200-01-01 (a warehouse "still active" placeholder such as 9999-12-31) means *open* and is
read as empty by :meth:`~csresearch.sources.DataSource.table`, so every analysis sees the
same open end; anywhere else such a date fails the rule 'date range'.

Example
-------
>>> from csresearch.sources import open_source
>>> report = validate(open_source("data/demo", validate=False))  # doctest: +SKIP
>>> report.ok  # doctest: +SKIP
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pandas as pd

from csresearch.errors import DataValidationError
from csresearch.read_errors import reading

if TYPE_CHECKING:  # pragma: no cover
    from csresearch.sources import DataSource

IBIS_TYPES = {
    "string": "string",
    "date": "date",
    "timestamp": "timestamp",
    "int": "int64",
    "float": "float64",
    "bool": "boolean",
}


@dataclass(frozen=True)
class Column:
    """One contract column: its type, whether it may be absent or empty, and its domain."""

    name: str
    dtype: str
    required: bool = True
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    integer: bool = False
    open_end: bool = False
    limit: float | None = None


#: earliest date accepted in any date or timestamp column
DATE_MIN = "1800-01-01"
#: dates on or after this are "open" in an ``open_end`` column and refused elsewhere
OPEN_END_FROM = "2200-01-01"
#: largest MRR of one row, and of all rows together, that the integer micro-unit sums of
#: :mod:`csresearch.metrics.revenue` hold exactly (int64 ends at 9.22e18 micro-units)
MRR_LIMIT = 1e12
MRR_TOTAL_LIMIT = 9e12


@dataclass(frozen=True)
class Table:
    """One contract table."""

    name: str
    columns: tuple[Column, ...]
    required: bool = False
    key: str | None = None
    large: bool = False

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(name: str, dtype: str, **kw) -> Column:
    return Column(name, dtype, **kw)


def _opt(name: str, dtype: str, **kw) -> Column:
    return Column(name, dtype, required=False, nullable=True, **kw)


CONTRACT: dict[str, Table] = {
    t.name: t
    for t in [
        Table(
            "accounts",
            (
                _c("account_id", "string"),
                _c("name", "string", nullable=True),
                _c("segment", "string"),
                _opt("plan", "string"),
                _opt("industry", "string"),
                _opt("region", "string"),
                _opt("csm_owner", "string"),
                _c("created_at", "timestamp"),
            ),
            required=True,
            key="account_id",
        ),
        Table(
            "subscriptions",
            (
                _c("subscription_id", "string"),
                _c("account_id", "string"),
                _c("start_date", "date"),
                _c("end_date", "date", nullable=True, open_end=True),
                _c("mrr", "float", min=0, limit=MRR_LIMIT),
                _opt("product", "string"),
                _opt("term_months", "int", min=1),
            ),
            required=True,
            key="subscription_id",
        ),
        Table(
            "usage_events",
            (
                _c("account_id", "string"),
                _c("occurred_at", "timestamp"),
                _c("event_type", "string"),
                _opt("user_id", "string"),
                _opt("quantity", "float", min=0),
            ),
            large=True,
        ),
        Table(
            "nps_responses",
            (
                _c("account_id", "string"),
                _c("responded_at", "timestamp"),
                _c("score", "int", min=0, max=10, integer=True),
                _opt("comment", "string"),
            ),
        ),
        Table(
            "ces_responses",
            (
                _c("account_id", "string"),
                _c("responded_at", "timestamp"),
                _c("score", "int", min=1, max=7, integer=True),
                _opt("ticket_id", "string"),
            ),
        ),
        Table(
            "csat_responses",
            (
                _c("account_id", "string"),
                _c("responded_at", "timestamp"),
                _c("score", "int", min=1, max=5, integer=True),
            ),
        ),
        Table(
            "support_tickets",
            (
                _c("ticket_id", "string"),
                _c("account_id", "string"),
                _c("opened_at", "timestamp"),
                _c("closed_at", "timestamp", nullable=True, open_end=True),
                _c("priority", "string"),
                _opt("category", "string"),
            ),
            key="ticket_id",
        ),
        Table(
            "email_events",
            (
                _c("account_id", "string"),
                _c("sent_at", "timestamp"),
                _c("opened", "bool"),
                _c("clicked", "bool"),
            ),
        ),
        Table(
            "onboarding_milestones",
            (
                _c("account_id", "string"),
                _c("milestone", "string"),
                _c("due_at", "timestamp"),
                _c("completed_at", "timestamp", nullable=True, open_end=True),
            ),
        ),
        Table(
            "csm_sentiment",
            (
                _c("account_id", "string"),
                _c("recorded_at", "timestamp"),
                _c("sentiment", "string", allowed=("red", "yellow", "green")),
            ),
        ),
        Table(
            "churn_reasons",
            (
                _c("account_id", "string"),
                _c("churned_at", "timestamp"),
                _c(
                    "reason",
                    "string",
                    allowed=("product", "adoption", "expectation", "price", "other"),
                ),
                _opt("note", "string"),
            ),
        ),
    ]
}

# (table, later column, earlier column): later must not precede earlier.
DATE_ORDER = [
    ("subscriptions", "end_date", "start_date"),
    ("support_tickets", "closed_at", "opened_at"),
]

FIXES = {
    "missing table": "add a file named {table}.csv or {table}.parquet to the source folder, "
    "or map your table name onto '{table}' in the mapping YAML (tables: {{{table}: your_name}})",
    "missing column": "add the column, or map your column onto it in the mapping YAML "
    "(columns: {{{table}: {{{column}: your_column}}}})",
    "type": "make every value a valid {dtype} (dates as ISO 'YYYY-MM-DD', timestamps as "
    "'YYYY-MM-DD HH:MM:SS'); empty cells are read as missing",
    "stored type": "the column is stored as {stored}, which cannot become a {dtype}: write dates "
    "as ISO text ('YYYY-MM-DD') or a DATE column, timestamps as ISO text or a TIMESTAMP column, "
    "numbers as a numeric column (a date stored as the number 20240131 must be re-exported as "
    "2024-01-31)",
    "not null": "fill the missing values, or drop those rows in your export if they are not real",
    "range": "values must be {bounds}; correct or remove the out-of-range rows",
    "integer": "scores must be whole numbers; round them in your export",
    "not finite": "write a plain finite number (NaN, inf and -inf are not amounts); leave the "
    "cell empty only where the column may be empty",
    "too large": "one value may be at most " + f"{MRR_LIMIT:g}" + " (larger amounts cannot be "
    "summed exactly); check the unit (cents? a placeholder such as 9.99e15?) and correct it",
    "total too large": "all rows together may sum to at most " + f"{MRR_TOTAL_LIMIT:g}" + " "
    "(larger totals cannot be summed exactly); express the amounts in a larger unit "
    "(e.g. thousands)",
    "date range": "dates must lie from " + DATE_MIN + " to before " + OPEN_END_FROM + " (pandas "
    "cannot hold dates past 2262-04-11); correct placeholder dates such as 0001-01-01 or "
    "9999-12-31, or leave the cell empty (only in an end column that may be empty is a date on "
    "or after " + OPEN_END_FROM + " read as open)",
    "allowed values": "use one of {allowed} (lower case)",
    "unique key": "each {column} must appear once; remove the duplicate rows",
    "foreign key": "every account_id must exist in accounts; add the missing accounts or remove "
    "those rows",
    "date order": "{column} must not be before {other}; swap or correct the dates",
    "overlapping duplicate subscriptions": "two subscriptions of one account and product overlap "
    "in time; end the earlier one on the day the later one starts (a change of MRR is a new row "
    "that starts when the previous one ends)",
}


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


def _column_preds(spec: Table, raw: ir.Table) -> dict[tuple[str, str], ir.BooleanValue]:
    """Failing-row predicates for every column rule of a table (on the raw, uncast table)."""
    preds: dict[tuple[str, str], ir.BooleanValue] = {}
    for col in spec.columns:
        if col.name not in raw.columns:
            continue
        x = raw[col.name]
        target = IBIS_TYPES[col.dtype]
        if not storable(x.type(), col.dtype):
            # no cast exists (a date stored as BIGINT): every value fails; the other rules
            # of the column would need the cast, so they wait until the type is fixed
            preds[(col.name, "stored type")] = x.notnull()
            continue
        if x.type().is_string() and col.dtype != "string":
            typed = x.try_cast(target)
            preds[(col.name, "type")] = x.notnull() & (x.strip() != "") & typed.isnull()
            is_null = x.isnull() | (x.strip() == "")
        else:
            typed = x.cast(target) if str(x.type()) != target else x
            is_null = x.isnull()
        if not col.nullable:
            preds[(col.name, "not null")] = is_null
        if col.min is not None or col.max is not None:
            # the raw number, not the typed one: casting 10.4 or -0.4 to int would round it
            # into range and hide the failure
            num = x.try_cast("float64") if x.type().is_string() else x.cast("float64")
            bad = ibis.literal(False)
            if col.min is not None:
                bad = bad | (num < col.min)
            if col.max is not None:
                bad = bad | (num > col.max)
            preds[(col.name, "range")] = typed.notnull() & bad & ~_not_finite(typed, col)
        preds.update({(col.name, r): p for r, p in _number_preds(typed, col).items()})
        if col.integer and not x.type().is_integer():
            num = x.cast("float64") if not x.type().is_string() else x.try_cast("float64")
            preds[(col.name, "integer")] = num.notnull() & (num != num.round(0))
        if col.dtype in ("date", "timestamp"):
            preds[(col.name, "date range")] = date_out_of_range(typed, col)
        if col.allowed:
            preds[(col.name, "allowed values")] = x.notnull() & ~x.cast("string").isin(
                list(col.allowed)
            )
    return preds


def validate(source: DataSource) -> ValidationReport:
    """Check every table of ``source`` against the contract; return a report.

    Broken rules go in the report (every one of every table); only a table the engine cannot
    read at all (not UTF-8, truncated, ragged rows) raises a
    :class:`~csresearch.errors.DataValidationError` naming its file and the fix. Call
    ``report.raise_if_failed()`` (as :func:`csresearch.sources.open_source` does) to turn
    failures into a :class:`~csresearch.errors.DataValidationError`.
    """
    report = ValidationReport()
    for name, spec in CONTRACT.items():
        if not source.has(name):
            if spec.required:
                report.failures.append(
                    RuleFailure(name, None, "missing table", 0, "", FIXES["missing table"].format(table=name))
                )
            else:
                report.absent_optional.append(name)
            continue
        raw = source.raw(name)
        missing = [c.name for c in spec.columns if c.required and c.name not in raw.columns]
        for col in missing:
            report.failures.append(
                RuleFailure(
                    name, col, "missing column", 0,
                    "present columns: " + ", ".join(raw.columns),
                    FIXES["missing column"].format(table=name, column=col),
                )
            )
        preds = _column_preds(spec, raw)
        where = getattr(source, "table_files", {}).get(name, source.location)
        with reading(where, name):  # the first full pass: a lazy reader's errors surface here
            counts = _count_by(raw, {f"{c}|{r}": p for (c, r), p in preds.items()})
            report.row_counts[name] = counts.pop("__rows__", None) or int(raw.count().execute())
        for key, n in counts.items():
            if n:
                col, rule = key.split("|")
                c = spec.column(col)
                fix = FIXES[rule].format(
                    table=name, column=col, dtype=c.dtype, bounds=_bounds(c), allowed=c.allowed,
                    stored=raw[col].type(),
                )
                report.failures.append(
                    RuleFailure(name, col, rule, n, _examples(raw, preds[(col, rule)]), fix)
                )
        if missing or any(r == "stored type" for (_, r) in preds):
            continue  # relational rules need the columns, castable to their types
        # values that fail their type are NULL in the typed table (and reported above); the
        # relational rules still run on the rest, so one pass lists every failure
        with reading(where, name):
            report.failures.extend(_relational_failures(source, spec, source.table(name)))
    return report


def _bounds(c: Column) -> str:
    if c.min is None and c.max is None:
        return "any number"
    if c.min is not None and c.max is not None:
        return f"in [{c.min:g}, {c.max:g}]"
    return f">= {c.min:g}" if c.min is not None else f"<= {c.max:g}"


def _has_keys(source: DataSource) -> bool:
    """Accounts present with a usable account_id (else its own failures say why; no FK check)."""
    if not source.has("accounts"):
        return False
    acc = source.raw("accounts")
    return "account_id" in acc.columns and all(
        storable(acc[c.name].type(), c.dtype) for c in CONTRACT["accounts"].columns if c.name in acc.columns
    )


def _relational_failures(source: DataSource, spec: Table, t: ir.Table) -> list[RuleFailure]:
    out: list[RuleFailure] = []
    name = spec.name
    if spec.key:
        dup = t.group_by(spec.key).aggregate(n=t.count()).filter(lambda d: d.n > 1)
        n = _scalar_int(dup.n.sum())
        if n:
            keys = dup[spec.key].execute().head(5).tolist()
            out.append(
                RuleFailure(
                    name, spec.key, "unique key", n, _examples(t, t[spec.key].isin(keys)),
                    FIXES["unique key"].format(column=spec.key),
                )
            )
    if name != "accounts" and "account_id" in t.columns and _has_keys(source):
        acc = source.table("accounts").select("account_id").distinct()
        orphan = t.anti_join(acc, "account_id")
        n = int(orphan.count().execute())
        if n:
            out.append(
                RuleFailure(
                    name, "account_id", "foreign key", n,
                    orphan.limit(5).execute().to_string(index=False, max_colwidth=40),
                    FIXES["foreign key"],
                )
            )
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
