"""Data: opening a source, the data contract, validation, the engine, the customer timeline.

Modules (imported lazily: ``from csresearch.data import open_source`` works, and importing
the package alone loads none of them, so neither Ibis nor DuckDB):

* :mod:`~csresearch.data.sources`: ``open_source`` -> ``DataSource`` (typed Ibis tables,
  ``df``, ``has``, fingerprints; ``DataSource.from_frames`` for frames in memory);
* :mod:`~csresearch.data.mapping`: ``load_mapping``, your table and column names onto the contract;
* :mod:`~csresearch.data.schema`: the data contract (``CONTRACT``: tables, columns, types,
  limits, ``FIXES``); :mod:`~csresearch.data.column_rules`: the per-column rule predicates;
* :mod:`~csresearch.data.contract_checks`: ``validate`` a source against the contract
  (``ValidationReport``, ``RuleFailure``); :mod:`~csresearch.data.read_errors`: a loader's
  error in one paragraph;
* :mod:`~csresearch.data.engine`: DuckDB / Spark / warehouse connections (``connect``);
  :mod:`~csresearch.data.embedded`: the embedded DuckDB connection (``duckdb_connect``) and
  ``fetch``, an engine table read into pandas;
* :mod:`~csresearch.data.timeline`: who is a customer on which day (paid intervals, episodes,
  active customers), as engine expressions;
* :mod:`~csresearch.data.periods`: calendar periods, ``as_of`` parsing, tenure bands.

Example
-------
>>> from csresearch.data import open_source  # doctest: +SKIP
>>> open_source("data/demo").validate()  # doctest: +SKIP
"""

from __future__ import annotations

from csresearch._facade import lazy

_EXPORTS = {
    "sources": ["FILE_SUFFIXES", "KEEP_ROWS", "DataSource", "resolve_env", "open_source"],
    "embedded": ["DUCKDB_MEMORY_LIMIT", "duckdb_connect", "fetch"],
    "mapping": ["load_mapping"],
    "schema": ["IBIS_TYPES", "Column", "DATE_MIN", "OPEN_END_FROM", "MRR_LIMIT",
        "MRR_TOTAL_LIMIT", "Table", "CONTRACT", "DATE_ORDER", "FIXES"],
    "column_rules": ["date_bound", "date_out_of_range", "storable", "column_preds"],
    "contract_checks": ["RuleFailure", "ValidationReport", "validate"],
    "read_errors": ["READ_ERRORS", "read_error", "check_table_file", "check_utf8",
        "check_csv_header", "reading"],
    "engine": ["ENGINES", "SPARK_DEFAULTS", "LOG4J2", "java_version", "spark_unavailable_reason",
        "spark_session", "stop_spark", "connect", "as_float", "engine_name", "ENGINE_HELP",
        "check_engine", "open_on"],
    "timeline": ["SUBSCRIPTION_COLUMNS", "as_of_date", "subscriptions_of", "paid_intervals",
        "episodes", "account_timeline", "active_on", "active_customers", "free_only_accounts",
        "report_periods", "active_by_period"],
    "periods": ["GRAINS", "TENURE_BANDS", "BEFORE_START", "NO_SUBSCRIPTION", "check_grain",
        "parse_as_of", "month_index", "month_from_index", "period_floor", "add_months",
        "next_start", "period_starts", "months_between", "tenure_band", "require_columns",
        "rule_failures", "as_datetime", "to_dates"],
}
__all__, __getattr__ = lazy(__name__, _EXPORTS)
