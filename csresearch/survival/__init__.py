"""Survival analysis of customer lifetimes.

Modules (imported lazily: ``from csresearch.survival import km_summary`` works, and
importing the package alone does not load lifelines):

* :mod:`~csresearch.survival.tables`: survival tables from a flat table (``survival_frame``);
* :mod:`~csresearch.survival.episodes`: from a data source as of a date (``survival_table``:
  first continuous active episode; ``start_window_covariates``: covariates of the first 90
  days), also importable from ``tables``;
* :mod:`~csresearch.survival.curves`: Kaplan-Meier, at-risk tables, RMST, log-rank tests;
* :mod:`~csresearch.survival.drivers`: ``CoxModel``; :mod:`~csresearch.survival.checks`: its
  design matrix and pre-fit checks (``prefit_checks``, also importable from ``drivers``);
* :mod:`~csresearch.survival.predict`: conditional churn probability, remaining lifetime,
  revenue at stake; :mod:`~csresearch.survival.parametric`: ``ParametricSurvival`` (AFT by AIC);
* :mod:`~csresearch.survival.landmark`: landmark models on usage measured over time;
* :mod:`~csresearch.survival.validation`: does a score predict churn, learned weights.

Example
-------
>>> from csresearch.survival import km_summary  # doctest: +SKIP
>>> km_summary(telco, "tenure", "Churn=Yes", by="Contract", at=[12, 24])  # doctest: +SKIP
"""

from __future__ import annotations

from csresearch._facade import lazy

_EXPORTS = {
    "tables": ["read_flat_table", "survival_frame", "event_indicator"],
    "episodes": ["survival_table", "survival_table_expr", "start_window_covariates"],
    "curves": ["km_summary", "km_curve", "at_risk_table", "plot_km", "rmst", "rmst_difference"],
    "logrank": ["logrank", "pairwise_logrank"],
    "drivers": ["CoxModel"],
    "checks": ["prefit_checks"],
    "predict": ["conditional_churn_probability", "expected_remaining_lifetime", "revenue_at_stake",
                "predict_accounts"],
    "parametric": ["ParametricSurvival"],
    "landmark": ["landmark_frame", "outcomes_after", "LandmarkModel", "compare_static_landmark", "brier_at"],
    "validation": ["score_concordance", "score_bands", "km_by_band", "churn_by_band", "calibration_table",
                   "LearnedScore", "compare_weights", "split_by_period", "scored_outcomes", "score_probability"],
}
__all__, __getattr__ = lazy(__name__, _EXPORTS)
