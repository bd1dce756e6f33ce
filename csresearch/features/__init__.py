"""Features: per-account inputs computed engine-side from a data source.

Modules (imported lazily: ``from csresearch.features import usage_features`` works, and
importing the package alone loads none of them):

* :mod:`~csresearch.features.usage`: usage features per account and month (events, active
  days, users, trend) as an Ibis table or a pandas frame;
* :mod:`~csresearch.features.grid`: the account x month grid from the customer timeline
  (``customer_months``, rolling sums, days to renewal);
* :mod:`~csresearch.features.account`: ``account_month_features``, the per-account-month inputs
  of the health score and playbooks.

Example
-------
>>> from csresearch.features import account_month_features  # doctest: +SKIP
>>> account_month_features(open_source("data/demo"), "2025-12-31")  # doctest: +SKIP
"""

from __future__ import annotations

from csresearch._facade import lazy

_EXPORTS = {
    "usage": ["MAX_TYPE_BITS", "BIT_MASK_ENGINES", "FEATURES", "usage_features_table",
        "usage_features", "mrr_snapshots_table", "monthly_aggregate"],
    "grid": ["MICRO", "Grid", "rolling_sum", "cum_in_block", "latest_in_block", "customer_months",
        "days_to_renewal"],
    "account": ["DEFAULTS", "SENTIMENT_SCORE", "SOURCES", "USAGE_COLUMNS", "check_input_options",
        "account_month_features"],
}
__all__, __getattr__ = lazy(__name__, _EXPORTS)
