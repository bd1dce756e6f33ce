"""The data contract: tables, columns, types, date and MRR limits, and how to fix a broken rule.

The rules themselves (how a source is checked against this contract) are
:mod:`csresearch.data.contract_checks`.

Dates: every date and timestamp must lie in [``DATE_MIN``, ``OPEN_END_FROM``) =
[1800-01-01, 2200-01-01), so that it fits pandas' nanosecond range (which ends 2262-04-11).
In an end column that may be empty (``subscriptions.end_date``,
``support_tickets.closed_at``, ``onboarding_milestones.completed_at``), a date on or after
2200-01-01 (a warehouse "still active" placeholder such as 9999-12-31) means *open* and is
read as empty by :meth:`~csresearch.data.sources.DataSource.table`, so every analysis sees the
same open end; anywhere else such a date fails the rule 'date range'.

Example
-------
>>> CONTRACT["subscriptions"].column("mrr").dtype
'float'
"""

from __future__ import annotations

from dataclasses import dataclass

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
