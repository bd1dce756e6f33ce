"""Report sections: one function per block of a report, each taking the report's context.

Templates call them as one-liners, e.g. ``sections.retention_summary(ctx)``.
"""

from csresearch.reports.sections import drivers, health, maturity, retention

retention_summary = retention.summary
retention_bridge = retention.bridge
retention_cohorts = retention.cohorts
retention_lifetimes = retention.lifetimes
retention_churn_reasons = retention.churn_reasons
retention_kpi_tree = retention.kpi_tree

health_summary = health.summary
health_distribution = health.distribution
health_movers = health.movers
health_components = health.components
health_predictive = health.predictive
health_playbook_ctas = health.playbook_ctas
health_signal_ladder = health.signal_ladder
health_nps_by_tenure = health.nps_by_tenure

drivers_summary = drivers.summary
drivers_hazard_ratios = drivers.hazard_ratios
drivers_ph_check = drivers.ph_check
drivers_concordance = drivers.concordance
drivers_partial_effects = drivers.partial_effects
drivers_at_risk = drivers.at_risk
drivers_calibration = drivers.calibration
drivers_extrapolation = drivers.extrapolation

maturity_summary = maturity.summary
maturity_levels = maturity.levels
maturity_gaps = maturity.gaps
maturity_change = maturity.change

__all__ = [n for n in dir() if n.split("_")[0] in ("retention", "health", "drivers", "maturity") and "_" in n
           and callable(globals()[n]) and not isinstance(globals()[n], type(drivers))]  # sections, not modules
