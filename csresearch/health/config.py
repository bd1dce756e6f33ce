"""Health score configuration: the YAML schema, its checks and :func:`load_health_config`.

Split from :mod:`csresearch.health.score` (which re-exports everything here). A configuration
names any subset of :data:`COMPONENTS`, how each becomes 0..100 points (``percentile``,
``thresholds`` or ``minmax``), weights (optionally per segment), the missing-input policy,
colour bands, their hysteresis (``hysteresis.margin``) and the trend period. A bad configuration raises
:class:`~csresearch.errors.ConfigError` naming the offending key.

Example
-------
>>> cfg = load_health_config({"components": {"nps": {"weight": 1, "method": "thresholds",
...     "cuts": [7, 9], "points": [0, 50, 100]}}, "bands": {"red": [0, 50], "green": [50, 100]}})
>>> cfg.weights("smb")
{'nps': 1.0}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from csresearch.errors import ConfigError
from csresearch.features.account import check_input_options

#: component -> input column of :func:`csresearch.features.account.account_month_features`
COMPONENTS: dict[str, str] = {
    "usage_level": "usage_per_day",
    "usage_trend": "usage_change_pct",
    "nps": "nps_latest",
    "ces": "ces_mean",
    "tickets": "tickets",
    "email_engagement": "email_open_rate",
    "onboarding": "onboarding_score",
    "csm_sentiment": "csm_sentiment_score",
}
METHODS = ("percentile", "thresholds", "minmax")
DIRECTIONS = ("higher_is_better", "lower_is_better")
POLICIES = ("renormalise", "neutral")
NO_SCORE = "insufficient data"
TOP_KEYS = {"inputs", "segment_by", "missing", "components", "weights_by_segment", "bands", "trend",
            "hysteresis"}
COMP_KEYS = {"weight", "method", "direction", "cuts", "points", "min", "max", "description"}


@dataclass(frozen=True)
class Component:
    """How one component's input becomes 0..100 points."""

    name: str
    weight: float
    method: str
    direction: str = "higher_is_better"
    cuts: tuple[float, ...] = ()
    points: tuple[float, ...] = ()
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class HealthConfig:
    """A checked health-score configuration (see :func:`load_health_config`)."""

    components: dict[str, Component]
    bands: tuple[tuple[str, float, float], ...]
    weights_by_segment: dict[str, dict[str, float]] = field(default_factory=dict)
    missing_policy: str = "renormalise"
    neutral_points: float = 50.0
    min_coverage: float = 0.0
    trend_periods: int = 3
    segment_by: str = "segment"
    inputs: dict[str, int] = field(default_factory=dict)
    source: str = "<dict>"
    band_margin: float = 0.0

    def weights(self, segment: str) -> dict[str, float]:
        """Component weights of ``segment`` (base weights with its overrides)."""
        w = {c: comp.weight for c, comp in self.components.items()}
        w.update(self.weights_by_segment.get(segment, {}))
        return w


def default_config_path() -> Path | resources.abc.Traversable:
    """The packaged default (``csresearch/configs/health.yaml``); never a file found through the
    working directory: a project names its own copy (``csresearch init`` writes one)."""
    return resources.files("csresearch").joinpath("configs/health.yaml")


def _num(v: Any, key: str, lo: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ConfigError(f"health config: '{key}' must be a number, not {v!r}")
    if lo is not None and v < lo:
        raise ConfigError(f"health config: '{key}' must be >= {lo}, not {v!r}")
    return float(v)


def _section(data: dict, key: str) -> dict:
    """``data[key]`` as a mapping (absent or empty: {}); anything else is refused naming the key."""
    v = data.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ConfigError(f"health config: '{key}' must be a mapping (key: value lines), not {v!r}")
    return v


def _unknown(d: dict, allowed: set, where: str) -> None:
    bad = sorted(set(d) - allowed)
    if bad:
        raise ConfigError(f"health config: unknown key '{where}{bad[0]}'; allowed: {', '.join(sorted(allowed))}")


def _component(name: str, spec: Any) -> Component:
    k = f"components.{name}"
    if name not in COMPONENTS:
        raise ConfigError(f"health config: unknown component '{k}'; known: {', '.join(COMPONENTS)}")
    if not isinstance(spec, dict):
        raise ConfigError(f"health config: '{k}' must be a mapping with weight and method")
    _unknown(spec, COMP_KEYS, f"{k}.")
    method = spec.get("method")
    if method not in METHODS:
        raise ConfigError(f"health config: '{k}.method' must be one of {', '.join(METHODS)}, not {method!r}")
    direction = spec.get("direction", "higher_is_better")
    if direction not in DIRECTIONS:
        raise ConfigError(f"health config: '{k}.direction' must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    weight = _num(spec.get("weight"), f"{k}.weight", 0)
    cuts: tuple[float, ...] = ()
    points: tuple[float, ...] = ()
    lo = hi = None
    if method == "thresholds":
        raw = spec.get("cuts")
        if not isinstance(raw, list) or not raw:
            raise ConfigError(f"health config: '{k}.cuts' must be a non-empty list of cut points")
        cuts = tuple(_num(c, f"{k}.cuts") for c in raw)
        if any(b <= a for a, b in zip(cuts, cuts[1:], strict=False)):
            raise ConfigError(f"health config: '{k}.cuts' must be strictly ascending, not {list(cuts)}")
        if "points" in spec:
            if direction == "lower_is_better":
                raise ConfigError(f"health config: '{k}.direction' has no effect with explicit '{k}.points' "
                                  "(they are used as given); drop it and list the points in the order you want")
            if not isinstance(spec["points"], list) or len(spec["points"]) != len(cuts) + 1:
                raise ConfigError(f"health config: '{k}.points' must list len(cuts) + 1 = {len(cuts) + 1} numbers")
            points = tuple(_num(p, f"{k}.points") for p in spec["points"])
            if any(p < 0 or p > 100 for p in points):
                raise ConfigError(f"health config: '{k}.points' must lie in [0, 100], not {list(points)}")
        else:
            points = tuple(np.linspace(0, 100, len(cuts) + 1).tolist())
            if direction == "lower_is_better":
                points = points[::-1]
    elif "cuts" in spec or "points" in spec:
        raise ConfigError(f"health config: '{k}.cuts'/'points' apply to method thresholds only")
    if method == "minmax":
        if ("min" in spec) != ("max" in spec):
            raise ConfigError(f"health config: '{k}' needs both 'min' and 'max' (or neither: observed)")
        if "min" in spec:
            lo, hi = _num(spec["min"], f"{k}.min"), _num(spec["max"], f"{k}.max")
            if hi <= lo:
                raise ConfigError(f"health config: '{k}.max' must exceed '{k}.min' ({hi} <= {lo})")
    elif "min" in spec or "max" in spec:
        raise ConfigError(f"health config: '{k}.min'/'max' apply to method minmax only")
    return Component(name, weight, method, direction, cuts, points, lo, hi)


def _bands(raw: Any) -> tuple[tuple[str, float, float], ...]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("health config: 'bands' must map band names to [low, high], e.g. red: [0, 40]")
    out = []
    for name, rng in raw.items():
        if not isinstance(rng, list) or len(rng) != 2:
            raise ConfigError(f"health config: 'bands.{name}' must be [low, high], not {rng!r}")
        lo, hi = _num(rng[0], f"bands.{name}"), _num(rng[1], f"bands.{name}")
        if hi <= lo:
            raise ConfigError(f"health config: 'bands.{name}' must have high > low, not {rng}")
        out.append((str(name), lo, hi))
    out.sort(key=lambda b: b[1])
    for (a, _, a_hi), (b, b_lo, _) in zip(out, out[1:], strict=False):
        if b_lo < a_hi:
            raise ConfigError(f"health config: 'bands.{b}' overlaps 'bands.{a}' ({b_lo} < {a_hi})")
        if b_lo > a_hi:
            raise ConfigError(f"health config: gap between 'bands.{a}' and 'bands.{b}' ({a_hi}..{b_lo})")
    if out[0][1] != 0 or out[-1][2] != 100:
        raise ConfigError("health config: 'bands' must cover 0..100 exactly (lowest starts at 0, highest ends at 100)")
    return tuple(out)


def _margin(data: dict, bands: tuple[tuple[str, float, float], ...]) -> float:
    """``hysteresis.margin``: score points beyond a band's edges before an account leaves it."""
    hy = _section(data, "hysteresis")
    _unknown(hy, {"margin"}, "hysteresis.")
    margin = _num(hy.get("margin", 0), "hysteresis.margin", 0)
    narrowest = min(hi - lo for _, lo, hi in bands)
    if margin >= narrowest:
        raise ConfigError(f"health config: 'hysteresis.margin' ({margin:g}) must be below the narrowest "
                          f"band's width ({narrowest:g} points)")
    return margin


def load_health_config(config: str | Path | dict | None = None) -> HealthConfig:
    """Read and check a health configuration (a YAML path, a dict, or None for the default).

    Refused with :class:`~csresearch.errors.ConfigError` naming the key: an unknown key or
    component, an unknown method or direction, a negative weight, weights not summing to a
    positive number (overall or for a segment), bad cuts/points/min/max, bands that overlap,
    leave a gap or do not cover 0..100, an unknown missing policy, a bad trend period, a
    ``hysteresis.margin`` below 0 or not below the narrowest band's width.

    Examples
    --------
    >>> cfg = load_health_config()
    >>> sorted(cfg.components)[:2]
    ['ces', 'csm_sentiment']
    """
    if isinstance(config, dict):
        data, where = config, "<dict>"
    else:
        path = default_config_path() if config is None else Path(config)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as e:
            raise ConfigError(f"health config file not found: {config}") from e
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"health config {path} is not valid YAML: {e}") from e
        where = str(path)
    if not isinstance(data, dict):
        raise ConfigError(f"health config {where}: the top level must be a mapping")
    _unknown(data, TOP_KEYS, "")
    comps_raw = data.get("components")
    if not isinstance(comps_raw, dict) or not comps_raw:
        raise ConfigError("health config: 'components' must map at least one component to its spec")
    comps = {n: _component(n, s) for n, s in comps_raw.items()}
    if sum(c.weight for c in comps.values()) <= 0:
        raise ConfigError("health config: 'components.*.weight' must sum to a positive number")
    by_seg: dict[str, dict[str, float]] = {}
    for seg, ws in _section(data, "weights_by_segment").items():
        if not isinstance(ws, dict):
            raise ConfigError(f"health config: 'weights_by_segment.{seg}' must map components to weights")
        for c, w in ws.items():
            if c not in comps:
                raise ConfigError(f"health config: unknown component 'weights_by_segment.{seg}.{c}'; "
                                  f"configured: {', '.join(comps)}")
            _num(w, f"weights_by_segment.{seg}.{c}", 0)
        by_seg[str(seg)] = {c: float(w) for c, w in ws.items()}
        total = sum({**{c: x.weight for c, x in comps.items()}, **by_seg[str(seg)]}.values())
        if total <= 0:
            raise ConfigError(f"health config: 'weights_by_segment.{seg}' weights must sum to a positive number")
    miss = _section(data, "missing")
    _unknown(miss, {"policy", "neutral_points", "min_coverage"}, "missing.")
    policy = miss.get("policy", "renormalise")
    if policy not in POLICIES:
        raise ConfigError(f"health config: 'missing.policy' must be one of {', '.join(POLICIES)}, not {policy!r}")
    neutral = _num(miss.get("neutral_points", 50), "missing.neutral_points", 0)
    min_cov = _num(miss.get("min_coverage", 0), "missing.min_coverage", 0)
    if neutral > 100 or min_cov > 1:
        raise ConfigError("health config: 'missing.neutral_points' must be <= 100 and 'missing.min_coverage' <= 1")
    trend = _section(data, "trend")
    _unknown(trend, {"periods"}, "trend.")
    periods = trend.get("periods", 3)
    if not isinstance(periods, int) or isinstance(periods, bool) or periods < 1:
        raise ConfigError(f"health config: 'trend.periods' must be a whole number >= 1, not {periods!r}")
    inputs = _section(data, "inputs")
    check_input_options(inputs)  # the windows of account_month_features, checked now
    segment_by = data.get("segment_by", "segment")
    if not isinstance(segment_by, str) or not segment_by:
        raise ConfigError(f"health config: 'segment_by' must name a column, not {segment_by!r}")
    bands = _bands(data.get("bands"))
    return HealthConfig(
        components=comps, bands=bands, weights_by_segment=by_seg,
        missing_policy=policy, neutral_points=neutral, min_coverage=min_cov, trend_periods=periods,
        segment_by=segment_by, inputs=dict(inputs), source=where, band_margin=_margin(data, bands),
    )
