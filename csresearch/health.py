"""Customer health score: a YAML-configured engine over per account-month inputs.

For every account and every month it was active the score is

    score = sum_c weight_c * points_c,      weight_c = w_c / sum(w of the components used)

where ``points_c`` in [0, 100] comes from the component's input (see
:data:`COMPONENTS`) by one of three methods:

* ``percentile``: mid-rank percentile within (month, segment): 100 * (below + equal/2) / n;
* ``thresholds``: ``points[i]`` for ``cuts[i-1] <= value < cuts[i]`` (cuts ascending);
* ``minmax``: 100 * (value - min) / (max - min), clipped; fixed ``min``/``max`` or, when
  absent, the observed ones within (month, segment) (all equal -> 50).

``direction: lower_is_better`` turns points p into 100 - p (thresholds without explicit
points get them evenly spaced in that direction). A missing input is either left out with
the remaining weights renormalised (``missing.policy: renormalise``) or scored
``neutral_points`` (``neutral``); ``coverage`` is the share of the weight whose input is
present either way. A row with no input at all, or coverage below ``min_coverage``, gets
no score (NaN) and the band ``'insufficient data'``. Bands are half-open ``[lo, hi)``
intervals covering 0..100 (the top one includes 100); ``trend`` = score - score
``trend.periods`` months earlier. The configuration rules are in :func:`load_health_config`.

Example
-------
>>> hist = health_history(open_source("data/demo"), "2025-12-31")  # doctest: +SKIP
>>> hist[["account_id", "period_start", "score", "band", "coverage", "trend"]].head(2)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from csresearch.account_features import DEFAULTS as INPUT_DEFAULTS
from csresearch.errors import ConfigError, DataValidationError

#: component -> input column of :func:`csresearch.account_features.account_month_features`
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
TOP_KEYS = {"inputs", "segment_by", "missing", "components", "weights_by_segment", "bands", "trend"}
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

    def weights(self, segment: str) -> dict[str, float]:
        """Component weights of ``segment`` (base weights with its overrides)."""
        w = {c: comp.weight for c, comp in self.components.items()}
        w.update(self.weights_by_segment.get(segment, {}))
        return w


# -- configuration ------------------------------------------------------------------------
def default_config_path() -> Path | resources.abc.Traversable:
    """``data/health.yaml`` under the working directory if present, else the packaged copy."""
    local = Path("data/health.yaml")
    return local if local.is_file() else resources.files("csresearch").joinpath("configs/health.yaml")


def _num(v: Any, key: str, lo: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ConfigError(f"health config: '{key}' must be a number, not {v!r}")
    if lo is not None and v < lo:
        raise ConfigError(f"health config: '{key}' must be >= {lo}, not {v!r}")
    return float(v)


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


def load_health_config(config: str | Path | dict | None = None) -> HealthConfig:
    """Read and check a health configuration (a YAML path, a dict, or None for the default).

    Refused with :class:`~csresearch.errors.ConfigError` naming the key: an unknown key or
    component, an unknown method or direction, a negative weight, weights not summing to a
    positive number (overall or for a segment), bad cuts/points/min/max, bands that overlap,
    leave a gap or do not cover 0..100, an unknown missing policy, a bad trend period.

    Example
    -------
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
    for seg, ws in (data.get("weights_by_segment") or {}).items():
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
    miss = data.get("missing") or {}
    _unknown(miss, {"policy", "neutral_points", "min_coverage"}, "missing.")
    policy = miss.get("policy", "renormalise")
    if policy not in POLICIES:
        raise ConfigError(f"health config: 'missing.policy' must be one of {', '.join(POLICIES)}, not {policy!r}")
    neutral = _num(miss.get("neutral_points", 50), "missing.neutral_points", 0)
    min_cov = _num(miss.get("min_coverage", 0), "missing.min_coverage", 0)
    if neutral > 100 or min_cov > 1:
        raise ConfigError("health config: 'missing.neutral_points' must be <= 100 and 'missing.min_coverage' <= 1")
    trend = data.get("trend") or {}
    _unknown(trend, {"periods"}, "trend.")
    periods = trend.get("periods", 3)
    if not isinstance(periods, int) or isinstance(periods, bool) or periods < 1:
        raise ConfigError(f"health config: 'trend.periods' must be a whole number >= 1, not {periods!r}")
    inputs = data.get("inputs") or {}
    _unknown(inputs, set(INPUT_DEFAULTS), "inputs.")
    return HealthConfig(
        components=comps, bands=_bands(data.get("bands")), weights_by_segment=by_seg,
        missing_policy=policy, neutral_points=neutral, min_coverage=min_cov, trend_periods=periods,
        segment_by=str(data.get("segment_by", "segment")), inputs=dict(inputs), source=where,
    )


# -- scoring ------------------------------------------------------------------------------
def _points(comp: Component, x: pd.Series, groups: list[pd.Series]) -> np.ndarray:
    v = x.to_numpy(dtype="float64")
    if comp.method == "thresholds":
        idx = np.searchsorted(np.asarray(comp.cuts), v, side="right")
        return np.where(np.isnan(v), np.nan, np.asarray(comp.points)[idx])
    g = x.groupby(groups, sort=False, dropna=False)
    if comp.method == "percentile":
        rank = g.rank(method="average").to_numpy()
        n = g.transform("count").to_numpy(dtype="float64")
        p = 100 * (rank - 0.5) / n
    elif comp.min is not None:
        p = 100 * np.clip((v - comp.min) / (comp.max - comp.min), 0, 1)
    else:
        lo, hi = g.transform("min").to_numpy(), g.transform("max").to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(hi > lo, 100 * (v - lo) / (hi - lo), 50.0)
        p = np.where(np.isnan(v), np.nan, p)
    p = np.clip(p, 0, 100)
    return 100 - p if comp.direction == "lower_is_better" else p


def score_health(features: pd.DataFrame, config: HealthConfig | str | Path | dict | None = None) -> pd.DataFrame:
    """Health per account-month from per account-month inputs (pure; ``features`` untouched).

    Parameters
    ----------
    features
        One row per account and month: ``account_id``, ``period_start``, the configured
        components' input columns (:data:`COMPONENTS`), the ``segment_by`` column and,
        optionally, ``active`` (rows with False are left out) and ``snapshot_date``.
    config
        A :class:`HealthConfig`, a YAML path or dict (see :func:`load_health_config`).

    Returns
    -------
    DataFrame: account_id, period_start, [snapshot_date], segment, score, band, coverage,
    trend, score_prev, band_prev, missing (components without input), then per component
    ``value_<c>``, ``points_<c>`` and ``weight_<c>`` (the effective share, summing to 1 over
    the components used), so that ``score == sum(weight_c * points_c)``.

    Example
    -------
    >>> f = pd.DataFrame({"account_id": ["a", "b"], "period_start": pd.to_datetime(["2025-01-01"] * 2),
    ...                   "segment": "smb", "nps_latest": [10, 3], "tickets": [0, np.nan]})
    >>> cfg = {"components": {"nps": {"weight": 2, "method": "thresholds", "cuts": [7, 9],
    ...        "points": [0, 50, 100]}, "tickets": {"weight": 1, "method": "minmax", "min": 0,
    ...        "max": 10, "direction": "lower_is_better"}}, "bands": {"red": [0, 50], "green": [50, 100]}}
    >>> score_health(f, cfg)[["account_id", "score", "band", "coverage"]]
      account_id  score   band  coverage
    0          a  100.0  green  1.000000
    1          b    0.0    red  0.666667
    """
    cfg = config if isinstance(config, HealthConfig) else load_health_config(config)
    seg_col = cfg.segment_by
    need = ["account_id", "period_start", seg_col] + [COMPONENTS[c] for c in cfg.components]
    missing_cols = [c for c in need if c not in features.columns]
    if missing_cols:
        raise DataValidationError(
            f"health inputs: missing column(s) {', '.join(missing_cols)}; build them with "
            "csresearch.account_features.account_month_features or drop those components from the config"
        )
    f = features.loc[features["active"].astype(bool)] if "active" in features.columns else features
    f = f.sort_values(["account_id", "period_start"], kind="stable").reset_index(drop=True)
    out = f[[c for c in ("account_id", "period_start", "snapshot_date") if c in f.columns]].copy()
    segment = f[seg_col].astype(object).where(f[seg_col].notna(), "(missing)").astype(str)
    out["segment"] = segment.to_numpy()
    groups = [f["period_start"], segment]
    names = list(cfg.components)
    seg_codes, seg_values = pd.factorize(segment)
    wmat = np.array([[cfg.weights(s)[c] for c in names] for s in seg_values]).reshape(len(seg_values), len(names))
    w = wmat[seg_codes] if len(f) else np.zeros((0, len(names)))
    pts = np.empty((len(f), len(names)))
    present = np.empty((len(f), len(names)), dtype=bool)
    for j, c in enumerate(names):
        x = pd.to_numeric(f[COMPONENTS[c]], errors="coerce").astype("float64")
        pts[:, j] = _points(cfg.components[c], x, groups)
        present[:, j] = x.notna().to_numpy()
        out[f"value_{c}"] = x.to_numpy()
    total = w.sum(axis=1)
    coverage = np.where(total > 0, (w * present).sum(axis=1) / np.where(total > 0, total, 1), 0.0)
    if cfg.missing_policy == "neutral":
        pts = np.where(present, pts, cfg.neutral_points)
        used = w
    else:
        used = w * present
    denom = used.sum(axis=1)
    eff = used / np.where(denom > 0, denom, 1)[:, None]
    score = (eff * np.nan_to_num(pts)).sum(axis=1)
    ok = ((w > 0) & present).any(axis=1) & (coverage >= cfg.min_coverage) & (denom > 0)
    out["score"] = np.where(ok, np.clip(score, 0, 100), np.nan)
    lows = np.array([b[1] for b in cfg.bands])
    band_names = np.array([b[0] for b in cfg.bands], dtype=object)
    bi = np.clip(np.searchsorted(lows, np.nan_to_num(out["score"].to_numpy()), side="right") - 1, 0, len(lows) - 1)
    out["band"] = np.where(ok, band_names[bi], NO_SCORE)
    out["coverage"] = coverage
    _add_history(out, cfg.trend_periods)
    miss = pd.Series("", index=out.index, dtype=object)
    for j, c in enumerate(names):
        miss = miss + np.where(present[:, j], "", c + ",")
    out["missing"] = miss.str.rstrip(",")
    for j, c in enumerate(names):
        out[f"points_{c}"] = np.where(present[:, j] | (cfg.missing_policy == "neutral"), pts[:, j], np.nan)
        out[f"weight_{c}"] = np.where(ok, eff[:, j], np.nan)
    out.attrs.update({"config": cfg.source, "components": names, "bands": [b[0] for b in cfg.bands],
                      "missing_policy": cfg.missing_policy, "trend_periods": cfg.trend_periods})
    return out


def _add_history(out: pd.DataFrame, periods: int) -> None:
    """score_prev / band_prev (previous month) and trend (score - score ``periods`` months ago)."""
    p = pd.DatetimeIndex(out["period_start"])
    m = p.year.to_numpy() * 12 + p.month.to_numpy()
    key = pd.MultiIndex.from_arrays([out["account_id"].to_numpy(), m])

    def back(k: int) -> np.ndarray:
        return key.get_indexer(pd.MultiIndex.from_arrays([out["account_id"].to_numpy(), m - k]))

    score = out["score"].to_numpy()
    i1, ik = back(1), back(periods)
    out["trend"] = np.where(ik >= 0, score - score[np.maximum(ik, 0)], np.nan)
    out["score_prev"] = np.where(i1 >= 0, score[np.maximum(i1, 0)], np.nan)
    out["band_prev"] = np.where(i1 >= 0, out["band"].to_numpy()[np.maximum(i1, 0)], None)


def health_history(src, as_of: str, config: HealthConfig | str | Path | dict | None = None) -> pd.DataFrame:
    """Health of every account for every month it was active, up to ``as_of``.

    Computes the inputs with :func:`csresearch.account_features.account_month_features`
    (windows from the config's ``inputs``) and scores them with :func:`score_health`.

    Example
    -------
    >>> h = health_history(src, "2025-12-31", "data/health.yaml")  # doctest: +SKIP
    """
    from csresearch.account_features import account_month_features

    cfg = config if isinstance(config, HealthConfig) else load_health_config(config)
    feats = account_month_features(src, as_of, cfg.inputs)
    if cfg.segment_by not in feats.columns:
        acc = src.df("accounts")
        if cfg.segment_by not in acc.columns:
            raise ConfigError(f"health config: 'segment_by' names '{cfg.segment_by}', not a column of accounts")
        feats[cfg.segment_by] = feats["account_id"].map(acc.drop_duplicates("account_id").set_index("account_id")[cfg.segment_by])
    out = score_health(feats, cfg)
    out.attrs.update({"as_of": feats.attrs.get("as_of"), "notes": feats.attrs.get("notes", [])})
    return out


# -- reporting helpers --------------------------------------------------------------------
def _names(health: pd.DataFrame) -> list[str]:
    return health.attrs.get("components") or [c[7:] for c in health.columns if c.startswith("points_")]


def contributions(health: pd.DataFrame) -> pd.DataFrame:
    """Long table of each component's contribution (weight x points) to each score.

    Columns: account_id, period_start, band, score, component, value, points, weight,
    contribution. The contributions of a row sum to its score.
    """
    names = _names(health)
    base = health[["account_id", "period_start", "band", "score"]]
    parts = [base.assign(component=c, value=health[f"value_{c}"], points=health[f"points_{c}"],
                         weight=health[f"weight_{c}"],
                         contribution=health[f"weight_{c}"] * health[f"points_{c}"].fillna(0))
             for c in names]
    if not parts:
        return base.assign(component=[], value=[], points=[], weight=[], contribution=[])
    return pd.concat(parts, ignore_index=True).sort_values(["account_id", "period_start", "component"],
                                                           ignore_index=True)


def movers(health: pd.DataFrame, period: str | None = None, n: int = 20) -> pd.DataFrame:
    """The ``n`` largest score drops from the previous month to ``period`` (default: the last).

    Columns: account_id, period_start, segment, score_prev, score, change, band_prev, band,
    top_component (the component whose contribution fell most), top_component_change (its
    contribution change, score points) and top_points_prev / top_points (its points).
    Accounts without a score in both months are left out.
    """
    per = pd.Timestamp(period) if period is not None else health["period_start"].max()
    per = per.to_period("M").to_timestamp()
    prev = per - pd.DateOffset(months=1)
    names = _names(health)
    cols = ["account_id", "score", "band"] + [f"{k}_{c}" for c in names for k in ("points", "weight")]
    now = health.loc[health["period_start"] == per, cols + ["segment", "period_start"]]
    before = health.loc[health["period_start"] == prev, cols]
    j = now.merge(before, on="account_id", suffixes=("", "_prev"))
    j = j.loc[j["score"].notna() & j["score_prev"].notna()]
    j = j.assign(change=j["score"] - j["score_prev"]).sort_values(["change", "account_id"]).head(n)
    if j.empty or not names:
        return j.reindex(columns=["account_id", "period_start", "segment", "score_prev", "score", "change",
                                  "band_prev", "band", "top_component", "top_component_change"])
    contrib = np.column_stack([j[f"weight_{c}"] * j[f"points_{c}"].fillna(0) for c in names])
    contrib_prev = np.column_stack([j[f"weight_{c}_prev"] * j[f"points_{c}_prev"].fillna(0) for c in names])
    delta = contrib - contrib_prev
    k = np.argmin(delta, axis=1)
    rows = np.arange(len(j))
    top = np.array(names, dtype=object)[k]
    res = j[["account_id", "period_start", "segment", "score_prev", "score", "change", "band_prev", "band"]].copy()
    res["top_component"] = top
    res["top_component_change"] = delta[rows, k]
    res["top_points_prev"] = [j[f"points_{c}_prev"].iloc[i] for i, c in enumerate(top)]
    res["top_points"] = [j[f"points_{c}"].iloc[i] for i, c in enumerate(top)]
    return res.reset_index(drop=True)
