"""Customer health: the score, its config, learned weights, segments, playbooks and the worklist.

Modules (imported lazily: ``from csresearch.health import health_history`` works, and
importing the package alone loads none of them):

* :mod:`~csresearch.health.score`: the health score engine (``score_health``,
  ``health_history``, the current view);
* :mod:`~csresearch.health.explain`: components' contributions and the movers;
* :mod:`~csresearch.health.bands`: bands with hysteresis, the monthly flip rate, previous month and trend;
* :mod:`~csresearch.health.config`: its YAML config (``HealthConfig``, ``load_health_config``);
* :mod:`~csresearch.health.learn`: weights learned from the past (``csresearch health learn``);
* :mod:`~csresearch.health.validation`: does the score predict churn (``--view validation``);
* :mod:`~csresearch.health.segments`: touch tiers and the 9-segment map;
* :mod:`~csresearch.health.playbooks`: playbook rules that emit calls to action;
* :mod:`~csresearch.health.worklist`: the worklist ranked by revenue at risk, per owner, within
  capacity (its ``worklist`` function: ``csresearch.health.worklist.worklist``, as the module
  takes that name in the package);
* :mod:`~csresearch.health.risk`: the churn probability that ranks it (outcomes of earlier scores,
  by band and term, and as a model of the score, segment and MRR);
* :mod:`~csresearch.health.kpi`: the KPI tree and churn by reason;
  :mod:`~csresearch.health.goals`: goals per segment.

Example
-------
>>> from csresearch.health import health_history  # doctest: +SKIP
>>> health_history(open_source("data/demo"), "2025-12-31")  # doctest: +SKIP
"""

from __future__ import annotations

from csresearch._facade import lazy

_EXPORTS = {
    "score": ["customers_on", "health_features", "health_history", "latest", "score_health", "score_recent"],
    "explain": ["contributions", "movers"],
    "bands": ["band_flips"],
    "config": ["COMPONENTS", "METHODS", "DIRECTIONS", "POLICIES", "NO_SCORE", "TOP_KEYS",
        "COMP_KEYS", "Component", "HealthConfig", "default_config_path", "load_health_config"],
    "learn": ["HORIZON_DAYS", "check_dates", "scored_months", "LearnedWeights", "fit_weights",
        "learned_config", "write_config", "training_rows", "learn_weights", "learn_health"],
    "validation": ["ORACLE_TIME", "ORACLE_RISK", "oracle_scores", "flip_rate", "pooled_lift",
        "validation_summary", "health_validation", "validation_table"],
    "segments": ["TIERS", "STATES", "NEVER_BOUGHT", "PREFERENCES", "NEW", "ABSENT_NOTE",
        "touch_tier", "touch_tiers", "nine_segments", "segment_map", "segment_transitions",
        "transition_matrix"],
    "playbooks": ["OPS", "PRIORITIES", "FEATURES", "RULE_KEYS", "Condition", "Rule", "Capacity",
        "Playbook", "default_playbook_path", "load_playbook", "run_playbook", "playbook_features",
        "playbook_ctas"],
    "worklist": ["QUEUES", "COLUMNS", "describe", "rank_worklist", "worklist_meta", "worklist_lift"],
    "risk": ["WITHIN", "AFTER", "churned_within", "term_ends", "outcome_rows", "band_churn_rates",
        "ScoreChurnCurve"],
    "kpi": ["REASON_OWNERS", "UNRECORDED", "KPI_TREE", "churn_by_reason", "kpi_tree",
        "goal_actuals", "ALL_SEGMENTS", "goal_status", "render_tree"],
    "goals": ["METRICS", "PERIODS", "KINDS", "ALL", "KEYS", "Goal", "Goals", "default_path",
        "parse_goals", "load_goals"],
}
__all__, __getattr__ = lazy(__name__, _EXPORTS)
