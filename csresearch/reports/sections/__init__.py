"""Report sections: one function per block of a report, each taking the report's context.

Templates call them as one-liners, e.g. ``sections.retention_summary(ctx)``.
"""

from csresearch.reports.sections.retention import bridge as retention_bridge
from csresearch.reports.sections.retention import churn_reasons as retention_churn_reasons
from csresearch.reports.sections.retention import cohorts as retention_cohorts
from csresearch.reports.sections.retention import kpi_tree as retention_kpi_tree
from csresearch.reports.sections.retention import lifetimes as retention_lifetimes
from csresearch.reports.sections.retention import summary as retention_summary

__all__ = [
    "retention_bridge",
    "retention_churn_reasons",
    "retention_cohorts",
    "retention_kpi_tree",
    "retention_lifetimes",
    "retention_summary",
]
