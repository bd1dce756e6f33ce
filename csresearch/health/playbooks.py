"""Playbooks: YAML rules over per account-month features that emit calls-to-action (CTAs).

A rule is a name, a list of conditions that must all hold (``when``), the CTA text, the
owning team and a priority::

    - name: renewal_at_risk
      when:
        - {feature: days_to_renewal, op: "<=", value: 60}
        - {feature: band, op: in, value: [yellow, red]}
      cta: Plan the renewal call; agree a success plan
      owner: sales
      priority: high

Operators: ``<  <=  >  >=  ==  !=`` (a number or a text), ``in`` / ``not in`` (a list),
``is null`` / ``not null`` (no value). A comparison with a missing feature value is false
(only ``is null`` matches it). Feature names are checked against :data:`FEATURES` when the
playbook is loaded and against the frame's columns when it runs; nothing is evaluated as
Python. The features are those of :func:`playbook_features`: the account-month inputs
(:mod:`csresearch.features.account`), the health score columns (score, band, band_prev,
score_prev, trend, coverage) and the touch ``tier`` of the month's ARR.

A CTA is one row per account and rule (de-duplicated over the evaluated months: the latest
firing is kept, with ``first_fired`` and ``times_fired``), with the values that triggered it.

Examples
--------
>>> pb = load_playbook()
>>> [r.name for r in pb.rules][:2]
['band_turned_red', 'early_detractor']
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from csresearch.errors import ConfigError, DataValidationError
from csresearch.health.segments import touch_tier

OPS = ("<", "<=", ">", ">=", "==", "!=", "in", "not in", "is null", "not null")
PRIORITIES = ("high", "medium", "low")
FEATURES = (
    "segment", "tier", "mrr", "arr", "tenure_days", "active", "active_at_snapshot",
    "usage_events", "usage_active_days", "usage_event_types", "usage_active_users", "usage_trend_ln",
    "usage_per_day", "usage_change_pct", "nps_latest", "nps_first", "nps_first_days", "ces_mean",
    "tickets", "email_open_rate", "onboarding_score", "onboarding_overdue", "csm_sentiment_score",
    "days_to_renewal", "score", "band", "band_prev", "score_prev", "trend", "coverage",
)
RULE_KEYS = {"name", "description", "when", "cta", "owner", "priority"}


@dataclass(frozen=True)
class Condition:
    feature: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Rule:
    name: str
    when: tuple[Condition, ...]
    cta: str
    owner: str
    priority: str
    description: str = ""


@dataclass(frozen=True)
class Capacity:
    """How many NEW calls a week each queue takes (:mod:`csresearch.health.worklist`), and the horizon of
    the churn probability that ranks them. ``digital_per_week`` None: the digital-campaign list
    (tech-touch accounts) is not capped."""

    per_owner_per_week: int = 5
    pooled_per_week: int = 10
    digital_per_week: int | None = None
    horizon_days: int = 180
    lookback_days: int = 365
    cooldown_weeks: int = 4
    min_risk_ratio: float = 3.0


@dataclass(frozen=True)
class Playbook:
    rules: tuple[Rule, ...]
    high_touch_min: float = 50_000
    low_touch_min: float = 10_000
    source: str = "<dict>"
    capacity: Capacity = Capacity()


def default_playbook_path() -> Path | resources.abc.Traversable:
    """The packaged default (``csresearch/configs/playbooks.yaml``); never a file found through the
    working directory: a project names its own copy (``csresearch init`` writes one)."""
    return resources.files("csresearch").joinpath("configs/playbooks.yaml")


def _condition(c: Any, key: str) -> Condition:
    if not isinstance(c, dict) or set(c) - {"feature", "op", "value"} or "feature" not in c or "op" not in c:
        raise ConfigError(f"playbook: '{key}' must be {{feature: name, op: '<', value: 30}}, not {c!r}")
    feat, op, val = c["feature"], c["op"], c.get("value")
    if feat not in FEATURES:
        raise ConfigError(f"playbook: '{key}.feature' {feat!r} is not a known feature; known: {', '.join(FEATURES)}")
    if op not in OPS:
        raise ConfigError(f"playbook: '{key}.op' must be one of {', '.join(OPS)}, not {op!r}")
    if op in ("is null", "not null"):
        if val is not None:
            raise ConfigError(f"playbook: '{key}.value' must be absent for op '{op}'")
    elif op in ("in", "not in"):
        if not isinstance(val, list) or not val:
            raise ConfigError(f"playbook: '{key}.value' must be a non-empty list for op '{op}'")
    elif op in ("<", "<=", ">", ">="):
        if isinstance(val, bool) or not isinstance(val, int | float):
            raise ConfigError(f"playbook: '{key}.value' must be a number for op '{op}', not {val!r}")
    elif not isinstance(val, int | float | str) or isinstance(val, bool):
        raise ConfigError(f"playbook: '{key}.value' must be a number or a text for op '{op}', not {val!r}")
    return Condition(feat, op, tuple(val) if isinstance(val, list) else val)


def _capacity(raw: Any) -> Capacity:
    """The ``capacity`` section: whole numbers (``digital_per_week`` may be null: no cap)."""
    if raw is None:
        return Capacity()
    if not isinstance(raw, dict):
        raise ConfigError(f"playbook: 'capacity' must be a mapping, e.g. {{per_owner_per_week: 5}}, not {raw!r}")
    keys = set(Capacity.__dataclass_fields__)
    if set(raw) - keys:
        raise ConfigError(f"playbook: unknown key 'capacity.{sorted(set(raw) - keys)[0]}'; allowed: "
                          f"{', '.join(sorted(keys))}")
    least = {"horizon_days": 1, "lookback_days": 1}
    for k, v in raw.items():
        if v is None and k == "digital_per_week":
            continue
        if k == "min_risk_ratio":
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < float("inf"):
                raise ConfigError(f"playbook: 'capacity.min_risk_ratio' must be a number >= 0 (0: no floor), "
                                  f"not {v!r}")
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < least.get(k, 0):
            raise ConfigError(f"playbook: 'capacity.{k}' must be a whole number >= {least.get(k, 0)}, not {v!r}")
    cap = Capacity(**raw)
    if cap.lookback_days <= cap.horizon_days:
        raise ConfigError(f"playbook: 'capacity.lookback_days' ({cap.lookback_days}) must exceed "
                          f"'capacity.horizon_days' ({cap.horizon_days}): the churn rates need outcomes seen")
    return cap


def load_playbook(config: str | Path | dict | None = None) -> Playbook:
    """Read and check a playbook (YAML path, dict, or None for the default).

    Refused with :class:`~csresearch.errors.ConfigError` naming the key: unknown keys, a rule
    without name/when/cta/owner, duplicate rule names, unknown features or operators, values
    of the wrong kind, a priority outside high/medium/low, bad touch tier cut points, a
    ``capacity`` key unknown or not a whole number (``capacity.per_owner_per_week`` ...).
    """
    if isinstance(config, dict):
        data, where = config, "<dict>"
    else:
        path = default_playbook_path() if config is None else Path(config)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError as e:
            raise ConfigError(f"playbook file not found: {config}") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"playbook {path} is not valid YAML: {e}") from e
        where = str(path)
    top = {"rules", "touch_tiers", "capacity"}
    if not isinstance(data, dict) or set(data) - top:
        bad = sorted(set(data) - top) if isinstance(data, dict) else data
        raise ConfigError(f"playbook: unknown top-level key(s) {bad}; use 'rules', 'touch_tiers' and 'capacity'")
    tiers = data.get("touch_tiers") or {}
    if set(tiers) - {"high_touch_min", "low_touch_min"}:
        raise ConfigError(f"playbook: unknown key(s) in 'touch_tiers': {sorted(set(tiers) - {'high_touch_min', 'low_touch_min'})}")
    hi, lo = tiers.get("high_touch_min", 50_000), tiers.get("low_touch_min", 10_000)
    for k, v in (("high_touch_min", hi), ("low_touch_min", lo)):
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise ConfigError(f"playbook: 'touch_tiers.{k}' must be a number >= 0, not {v!r}")
    if not lo < hi:
        raise ConfigError("playbook: 'touch_tiers.low_touch_min' must be below 'touch_tiers.high_touch_min'")
    raw = data.get("rules")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("playbook: 'rules' must be a non-empty list")
    rules, seen = [], set()
    for i, r in enumerate(raw):
        key = f"rules[{i}]"
        if not isinstance(r, dict):
            raise ConfigError(f"playbook: '{key}' must be a mapping")
        if set(r) - RULE_KEYS:
            raise ConfigError(f"playbook: unknown key '{key}.{sorted(set(r) - RULE_KEYS)[0]}'; allowed: {', '.join(sorted(RULE_KEYS))}")
        for k in ("name", "cta", "owner"):
            if not isinstance(r.get(k), str) or not r[k].strip():
                raise ConfigError(f"playbook: '{key}.{k}' must be a non-empty text")
        if r["name"] in seen:
            raise ConfigError(f"playbook: '{key}.name' {r['name']!r} is used twice")
        seen.add(r["name"])
        pr = r.get("priority", "medium")
        if pr not in PRIORITIES:
            raise ConfigError(f"playbook: '{key}.priority' must be one of {', '.join(PRIORITIES)}, not {pr!r}")
        when = r.get("when")
        if not isinstance(when, list) or not when:
            raise ConfigError(f"playbook: '{key}.when' must be a non-empty list of conditions")
        conds = tuple(_condition(c, f"{key}.when[{j}]") for j, c in enumerate(when))
        rules.append(Rule(r["name"], conds, r["cta"].strip(), r["owner"], pr, str(r.get("description", "")).strip()))
    return Playbook(tuple(rules), float(hi), float(lo), where, _capacity(data.get("capacity")))


def _mask(col: pd.Series, c: Condition) -> np.ndarray:
    if c.op == "is null":
        return col.isna().to_numpy()
    if c.op == "not null":
        return col.notna().to_numpy()
    if c.op in ("in", "not in"):
        hit = col.isin(list(c.value)).to_numpy()
        return (hit if c.op == "in" else ~hit) & col.notna().to_numpy()
    numeric = isinstance(c.value, int | float)
    x = pd.to_numeric(col, errors="coerce") if numeric else col.astype(object)
    ok = x.notna().to_numpy()
    with np.errstate(invalid="ignore"):
        res = {"<": x < c.value, "<=": x <= c.value, ">": x > c.value, ">=": x >= c.value,
               "==": x == c.value, "!=": x != c.value}[c.op]
    return np.asarray(res, dtype=bool) & ok


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return "null" if np.isnan(v) else f"{v:.4g}"
    return "null" if v is None or v is pd.NA else str(v)


def run_playbook(features: pd.DataFrame, playbook: Playbook | str | Path | dict | None = None,
                 months: int = 1, customers=None, values: bool = True) -> pd.DataFrame:
    """CTAs from the rules over the last ``months`` months of ``features`` (pure function).

    Only rows of customers on their snapshot day (``active_at_snapshot``, from the timeline,
    when the column exists) are evaluated and, with ``customers`` (the accounts that are
    customers on ``as_of``: :func:`csresearch.health.score.customers_on`), only those accounts: an
    account that churned since its last snapshot gets no call. Returns account_id, period_start (latest firing), rule, priority, owner, cta,
    values (``feature=value; ...`` that triggered it), first_fired, times_fired, segment,
    score, band - sorted by priority, rule and account. ``values`` False leaves the values
    empty (for a caller that does not show them: formatting them is the costliest step).
    """
    pb = playbook if isinstance(playbook, Playbook) else load_playbook(playbook)
    if not isinstance(months, int) or months < 1:
        raise ConfigError(f"months must be a whole number >= 1, not {months!r}")
    used = sorted({c.feature for r in pb.rules for c in r.when})
    missing = [c for c in ["account_id", "period_start", *used] if c not in features.columns]
    if missing:
        raise DataValidationError(f"playbook features: missing column(s) {', '.join(missing)}; build "
                                  "them with csresearch.health.playbooks.playbook_features")
    last = features["period_start"].max()
    keep = (features["period_start"] > last - pd.DateOffset(months=months)).to_numpy()
    if "active_at_snapshot" in features.columns:
        keep &= features["active_at_snapshot"].astype(bool).to_numpy()
    if customers is not None:
        keep &= features["account_id"].astype(str).isin(pd.Index(customers).astype(str)).to_numpy()
    read = ["account_id", "period_start", *used, "segment", "score", "band"]  # only what the CTAs show
    f = features.loc[keep, [c for c in features.columns if c in read]]
    parts = []
    for r in pb.rules:
        m = np.ones(len(f), dtype=bool)
        for c in r.when:
            m &= _mask(f[c.feature], c)
        hit = f.loc[m]
        if hit.empty:
            continue
        vals = pd.Series("", index=hit.index)
        for k, c in enumerate(dict.fromkeys(c.feature for c in r.when) if values else ()):
            vals = vals + ("; " if k else "") + c + "=" + hit[c].map(_fmt)
        extra = {k: hit[k] if k in hit.columns else np.nan for k in ("segment", "score", "band")}
        parts.append(pd.DataFrame({"account_id": hit["account_id"], "period_start": hit["period_start"],
                                   "rule": r.name, "priority": r.priority, "owner": r.owner, "cta": r.cta,
                                   "values": vals, **extra}))
    cols = ["account_id", "period_start", "rule", "priority", "owner", "cta", "values", "first_fired",
            "times_fired", "segment", "score", "band"]
    if not parts:
        return pd.DataFrame(columns=cols)
    allf = pd.concat(parts, ignore_index=True).sort_values(["account_id", "rule", "period_start"])
    g = allf.groupby(["account_id", "rule"], sort=False)
    out = g.tail(1).copy()
    out["first_fired"] = g["period_start"].transform("min").loc[out.index]
    out["times_fired"] = g["period_start"].transform("size").loc[out.index]
    out["_p"] = out["priority"].map({p: i for i, p in enumerate(PRIORITIES)})
    return out.sort_values(["_p", "rule", "account_id"])[cols].reset_index(drop=True)


def playbook_features(src, as_of: str, health_config=None, playbook: Playbook | None = None) -> pd.DataFrame:
    """Per account-month features for rules: inputs, health columns and the touch tier.

    Example
    -------
    >>> f = playbook_features(src, "2025-12-31")  # doctest: +SKIP
    """
    from csresearch.health.score import (
        HealthConfig,
        health_features,
        load_health_config,
        score_health,
    )

    cfg = health_config if isinstance(health_config, HealthConfig) else load_health_config(health_config)
    feats = health_features(src, as_of, cfg)
    return with_scores(feats, score_health(feats, cfg), playbook or load_playbook())


#: the columns of a health history that :func:`with_scores` adds to the features (with the keys)
SCORE_COLUMNS = ("account_id", "period_start", "score", "band", "band_prev", "score_prev", "trend", "coverage")


def with_scores(features: pd.DataFrame, health: pd.DataFrame, playbook: Playbook) -> pd.DataFrame:
    """The health inputs ``features`` with their scores (``health``: :func:`csresearch.health.score.score_health`
    of them) and the touch tier: :func:`playbook_features` from parts already computed (pure).
    When the scores line up with the inputs' rows the result shares the inputs' columns (no copy
    of them): change it in place only after ``.copy()``."""
    keep = list(SCORE_COLUMNS)
    out = _scores_of_rows(features, health, keep)
    if out is None:
        out = features.merge(health[keep], on=["account_id", "period_start"], how="left")
    out["tier"] = touch_tier(out["arr"], playbook.high_touch_min, playbook.low_touch_min).to_numpy()
    out.attrs.update(features.attrs)
    return out


def _scores_of_rows(features: pd.DataFrame, health: pd.DataFrame, keep: list[str]) -> pd.DataFrame | None:
    """``features.merge(health[keep], on=[account_id, period_start], how="left")`` without copying
    ``features`` (the result shares its columns) or ``health``, when ``health`` holds the rows of ``features``
    that are ``active`` in the same order (as :func:`~csresearch.health.score.score_health`
    leaves them) and each account-month is one row; None otherwise."""
    from csresearch.features.grid import sorted_by_account

    cols = [c for c in keep if c not in ("account_id", "period_start")]
    if (any(c in features.columns for c in cols) or not all(health[c].dtype in ("float64", object) for c in cols)
            or not features.index.equals(pd.RangeIndex(len(features)))):
        return None
    acc, start = features["account_id"].to_numpy(), features["period_start"].to_numpy()
    on = features["active"].astype(bool).to_numpy() if "active" in features.columns else np.ones(len(acc), bool)
    if (on.sum() != len(health) or not sorted_by_account(acc, start)
            or ((acc[1:] == acc[:-1]) & (start[1:] == start[:-1])).any()  # an account-month twice
            or not np.array_equal(acc[on], health["account_id"].to_numpy())
            or not np.array_equal(start[on], health["period_start"].to_numpy())):
        return None
    out = features.copy(deep=False)  # new columns go to the copy only
    for c in cols:
        v = health[c].to_numpy()
        a = np.full(len(acc), np.nan, dtype=v.dtype)  # NaN where not active, as the merge
        a[on] = v
        out[c] = a
    return out


def playbook_ctas(src, as_of: str, playbook=None, health_config=None, months: int = 1) -> pd.DataFrame:
    """:func:`playbook_features` then :func:`run_playbook` for the customers on ``as_of``
    (the timeline's ``active_on``): the CTA list as of ``as_of``.

    ``attrs['active_customers']`` is their number (the timeline's "active customers on as_of").

    Example
    -------
    >>> ctas = playbook_ctas(src, "2025-12-31")  # doctest: +SKIP
    """
    from csresearch.health.score import customers_on

    pb = playbook if isinstance(playbook, Playbook) else load_playbook(playbook)
    ids = customers_on(src, as_of)
    out = run_playbook(playbook_features(src, as_of, health_config, pb), pb, months, customers=ids)
    out.attrs.update({"as_of": as_of, "playbook": pb.source, "months": months,
                      "active_customers": len(ids)})
    return out
