"""CS goals: a KGI and KPIs per segment, read from ``goals.yaml`` and validated.

A goal names a ``metric``, the ``segment`` it applies to (a value of the accounts' segment
column, or ``all``), the ``period`` it is measured over (``month`` or ``quarter``: the last
complete one on or before the report's as-of date) and a target, either ``at_least`` (renewal
rate, NRR, GRR, share of active usage) or ``at_most`` (logo churn, churned MRR). Shares are
fractions (0.88 = 88 %); churned MRR is money per period. ``kind: kgi`` marks the goal the
team answers for; the others are KPIs (levers). Every mistake raises a
:class:`~csresearch.errors.ConfigError` naming the file, the goal and the key.

The packaged default (``csresearch/configs/goals.yaml``) holds demo values.

Example
-------
>>> g = load_goals()
>>> g.goals[0].metric
'churned_mrr'
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from csresearch.errors import ConfigError

#: metric -> (words, unit kind: 'share' or 'currency', the usual direction)
METRICS: dict[str, tuple[str, str, str]] = {
    "churned_mrr": ("churned MRR", "currency", "at_most"),
    "logo_churn": ("logo churn", "share", "at_most"),
    "renewal_rate": ("renewal rate", "share", "at_least"),
    "nrr": ("NRR", "share", "at_least"),
    "grr": ("GRR", "share", "at_least"),
    "active_usage_share": ("share using the product", "share", "at_least"),
}
PERIODS = ("month", "quarter")
KINDS = ("kgi", "kpi")
ALL = "all"
KEYS = {"metric", "segment", "period", "at_least", "at_most", "kind", "note"}


@dataclass(frozen=True)
class Goal:
    """One target: ``metric`` of ``segment`` over the last complete ``period`` is ``direction``
    (``at_least`` / ``at_most``) ``target``."""

    metric: str
    segment: str
    period: str
    direction: str
    target: float
    kind: str = "kpi"
    note: str = ""

    @property
    def unit(self) -> str:
        return METRICS[self.metric][1]

    @property
    def words(self) -> str:
        return METRICS[self.metric][0]

    def met(self, actual: float) -> bool:
        return actual >= self.target if self.direction == "at_least" else actual <= self.target


@dataclass(frozen=True)
class Goals:
    """The goals of one file, and the accounts column their segments refer to."""

    goals: tuple[Goal, ...]
    segment_column: str = "segment"
    path: str = "(packaged default)"


def default_path() -> Any:
    """The packaged demo goals (``csresearch/configs/goals.yaml``)."""
    return resources.files("csresearch").joinpath("configs/goals.yaml")


def _goal(raw: Any, i: int, where: str) -> Goal:
    at = f"{where}: goal {i + 1}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{at}: each goal is a mapping with metric, segment, period and at_least or at_most")
    unknown = set(map(str, raw)) - KEYS
    if unknown:
        raise ConfigError(f"{at}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(KEYS))}")
    metric = raw.get("metric")
    if metric not in METRICS:
        raise ConfigError(f"{at}: metric must be one of {', '.join(METRICS)}, not {metric!r}")
    at = f"{at} ({metric})"
    period = raw.get("period", "month")
    if period not in PERIODS:
        raise ConfigError(f"{at}: period must be month or quarter, not {period!r}")
    kind = raw.get("kind", "kpi")
    if kind not in KINDS:
        raise ConfigError(f"{at}: kind must be kgi or kpi, not {kind!r}")
    seg = raw.get("segment", ALL)
    if not isinstance(seg, str) or not seg.strip():
        raise ConfigError(f"{at}: segment must be a segment value such as smb, or 'all', not {seg!r}")
    given = [k for k in ("at_least", "at_most") if k in raw]
    if len(given) != 1:
        raise ConfigError(f"{at}: give exactly one of at_least or at_most (found {len(given)})")
    direction = given[0]
    target = raw[direction]
    if isinstance(target, bool) or not isinstance(target, int | float):
        raise ConfigError(f"{at}: {direction} must be a number, not {target!r}")
    unit = METRICS[metric][1]
    if unit == "share" and not 0 <= target <= (2 if metric == "nrr" else 1):
        raise ConfigError(f"{at}: {direction} is a fraction (0.88 for 88 %), not {target!r}")
    if unit == "currency" and target < 0:
        raise ConfigError(f"{at}: {direction} is money per period (>= 0), not {target!r}")
    return Goal(metric, seg.strip(), period, direction, float(target), kind, str(raw.get("note", "")))


def parse_goals(data: Any, where: str = "goals") -> Goals:
    """Validate the parsed YAML of a goals file (see the module docstring)."""
    if not isinstance(data, dict) or "goals" not in data:
        raise ConfigError(f"{where}: expected a mapping with a 'goals' list")
    extra = set(map(str, data)) - {"goals", "segment_column"}
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(extra))}; allowed: goals, segment_column")
    items = data["goals"]
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: 'goals' must be a non-empty list")
    goals = tuple(_goal(raw, i, where) for i, raw in enumerate(items))
    seen: set[tuple[str, str, str]] = set()
    for i, g in enumerate(goals):
        key = (g.metric, g.segment, g.period)
        if key in seen:
            raise ConfigError(f"{where}: goal {i + 1} repeats {g.metric} for segment {g.segment} per {g.period}")
        seen.add(key)
    col = data.get("segment_column", "segment")
    if not isinstance(col, str) or not col:
        raise ConfigError(f"{where}: segment_column must be a column name of table 'accounts', not {col!r}")
    return Goals(goals, col, where)


def load_goals(path: str | Path | None = None) -> Goals:
    """Read and validate a goals file; ``None`` or ``''`` reads the packaged demo goals."""
    if path in (None, ""):
        text, where = default_path().read_text(encoding="utf-8"), "goals.yaml (packaged default)"
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"goals file not found: {p}")
        text, where = p.read_text(encoding="utf-8"), str(p)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML ({e})") from None
    return parse_goals(data, where)
