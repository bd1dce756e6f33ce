"""Customer health score: a YAML-configured engine over per account-month inputs.

For every account and every month it was active (a paid interval of
:mod:`csresearch.data.timeline` overlaps the month) the score is

    score = sum_c weight_c * points_c,      weight_c = w_c / sum(w of the components used)

where ``points_c`` in [0, 100] comes from the component's input (see
:data:`COMPONENTS`) by one of three methods:

* ``percentile``: mid-rank percentile within (month, segment): 100 * (below + equal/2) / n;
* ``thresholds``: ``points[i]`` for ``cuts[i-1] <= value < cuts[i]`` (cuts ascending);
* ``minmax``: 100 * (value - min) / (max - min), clipped; fixed ``min``/``max`` or, when
  absent, the observed ones within (month, segment) (all equal -> 50).

``direction: lower_is_better`` turns points p into 100 - p; thresholds take explicit
``points`` as given (combining them with ``lower_is_better`` is refused as ambiguous) or,
without them, evenly spaced points in the direction. A missing input is either left out with
the remaining weights renormalised (``missing.policy: renormalise``) or scored
``neutral_points`` (``neutral``); ``coverage`` is the share of the weight whose input is
present either way. A row with no input at all, or coverage below ``min_coverage``, gets
no score (NaN) and the band ``'insufficient data'``. Bands are half-open ``[lo, hi)``
intervals covering 0..100 (the top one includes 100), with hysteresis: with
``hysteresis.margin: m`` an account keeps last month's band until its score leaves that band's
interval widened by ``m`` points on each side (``band_raw`` is the band without it); ``trend`` = score - score
``trend.periods`` months earlier (bands, hysteresis and the month-back columns:
:mod:`csresearch.health.bands`). The configuration rules are in :func:`load_health_config`
(:mod:`csresearch.health.config`, re-exported here). Rows are scored a chunk of whole months
at a time; :func:`score_recent` keeps the components of the last months only.

The history keeps every month an account was active, including the month it churned. The
current view (:func:`latest`; :func:`~csresearch.health.explain.movers` and
:func:`~csresearch.health.explain.contributions` of :func:`latest`)
takes ``customers``: the accounts that are customers on ``as_of``
(:func:`customers_on`, the timeline's ``active_on``), so an account that churned during the
last month is scored in its history but is neither in the current view nor counted as active.

Example
-------
>>> hist = health_history(open_source("data/demo"), "2025-12-31")  # doctest: +SKIP
>>> hist[["account_id", "period_start", "score", "band", "coverage", "trend"]].head(2)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from copy import deepcopy
from pathlib import Path

import numpy as np
import pandas as pd

from csresearch.errors import ConfigError, DataValidationError
from csresearch.features.grid import sorted_by_account
from csresearch.health.bands import band_of, history_columns, hysteresis
from csresearch.health.config import (
    COMP_KEYS,
    COMPONENTS,
    DIRECTIONS,
    METHODS,
    NO_SCORE,
    POLICIES,
    TOP_KEYS,
    Component,
    HealthConfig,
    default_config_path,
    load_health_config,
)

__all__ = [
    "COMPONENTS", "COMP_KEYS", "DIRECTIONS", "METHODS", "NO_SCORE", "POLICIES", "TOP_KEYS",
    "Component", "HealthConfig", "customers_on", "default_config_path",
    "health_features", "health_history", "latest", "load_health_config", "score_health", "score_recent",
    "scored_history",
]

# -- scoring ------------------------------------------------------------------------------
def _points(comp: Component, x: pd.Series, groups: np.ndarray) -> np.ndarray:
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
    DataFrame: account_id, period_start, [snapshot_date], segment, score, band_raw (the band
    of the score), band (with the configured hysteresis), coverage,
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
    return _frame(*_score(features, cfg), features.attrs, cfg)


def score_recent(features: pd.DataFrame, config: HealthConfig | str | Path | dict | None = None,
                 months: int | Collection = 13) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`score_health` for a caller that reads every month's scores but the components of
    some months only: (the scores of every month: key, segment, score, band_raw, band,
    coverage, trend, score_prev, band_prev; :func:`score_health`'s frame of the last ``months``
    months, or of the months whose first days ``months`` lists). Both hold exactly
    :func:`score_health`'s numbers for their rows; the components' values, points and weights
    of the other months are never all in memory (at a million accounts, gigabytes).

    Example
    -------
    >>> scores, recent = score_recent(feats, "data/health.yaml", months=13)  # doctest: +SKIP
    """
    cfg = config if isinstance(config, HealthConfig) else load_health_config(config)
    cols, detail = _score(features, cfg, months)
    scores = pd.DataFrame({c: cols[c] for c in _NARROW if c in cols}, copy=False)
    scores.attrs = deepcopy(features.attrs)
    pos = detail.pop("_rows")
    return scores, _frame({c: (v.iloc[pos].reset_index(drop=True) if isinstance(v, pd.Series) else v[pos])
                           for c, v in cols.items()}, detail, features.attrs, cfg)


#: the columns of :func:`score_health` that every month keeps in :func:`score_recent`
_NARROW = ("account_id", "period_start", "snapshot_date", "segment", "score", "band_raw", "band", "coverage",
           "trend", "score_prev", "band_prev")
#: rows per chunk of :func:`_score`: whole months, so that a chunk holds every row of its (month, segment) groups
CHUNK_ROWS = 1 << 19


def _score(features: pd.DataFrame, cfg: HealthConfig, months: int | Collection | None = None) -> tuple[dict, dict]:
    """The columns of :func:`score_health`: (those of every scored row, in :data:`_NARROW`; the
    components' value_, points_ and weight_ and missing of the rows of the last ``months``
    months or of the months ``months`` lists, every row when None, with ``_rows``, their
    positions, when ``months`` is given).
    Scored a chunk of whole months at a time: points are ranked within (month, segment), the
    rest is per row, so the chunks give the numbers of one pass over every row."""
    need = ["account_id", "period_start", cfg.segment_by] + [COMPONENTS[c] for c in cfg.components]
    missing_cols = [c for c in need if c not in features.columns]
    if missing_cols:
        raise DataValidationError(f"health inputs: missing column(s) {', '.join(missing_cols)}; build them with "
                                  "csresearch.features.account.account_month_features or drop those components "
                                  "from the config")
    rows = _rows_scored(features)  # positions of the rows scored, by account and month: columns are taken one at a time
    # the output's columns, made into a frame once at the end: setting a frame's column copies the array
    cols = {c: features[c].iloc[rows].reset_index(drop=True)
            for c in ("account_id", "period_start", "snapshot_date") if c in features.columns}
    seg = features[cfg.segment_by].iloc[rows]
    segment = seg.astype(object).where(seg.notna(), "(missing)").astype(str)
    cols["segment"] = segment.to_numpy()
    names = list(cfg.components)
    seg_codes, seg_values = pd.factorize(segment)
    month, month_values = pd.factorize(cols["period_start"], use_na_sentinel=False)
    groups = month * (len(seg_values) + 1) + seg_codes  # (month, segment)
    wmat = np.array([[cfg.weights(s)[c] for c in names] for s in seg_values]).reshape(len(seg_values), len(names))
    n, k = len(rows), len(names)
    start = pd.DatetimeIndex(month_values)
    if months is None:
        recent = np.ones(len(start), dtype=bool)
    elif isinstance(months, int):
        recent = start >= start.max() - pd.DateOffset(months=months - 1)
    else:
        recent = start.isin(pd.DatetimeIndex(pd.to_datetime(list(months))))
    dpos = np.flatnonzero(recent[month]) if months is not None else np.arange(n)
    slot = np.full(n, -1)
    slot[dpos] = np.arange(len(dpos))
    score, coverage, ok = np.empty(n), np.empty(n), np.empty(n, dtype=bool)
    detail = {"value": [np.empty(len(dpos)) for _ in names], "points": [np.empty(len(dpos)) for _ in names],
              "weight": [np.empty(len(dpos)) for _ in names], "present": np.empty((len(dpos), k), dtype=bool)}
    chunk = np.cumsum(np.bincount(month, minlength=len(start))) // CHUNK_ROWS  # per month: its chunk
    order = np.argsort(chunk[month], kind="stable")
    for pos in np.split(order, np.flatnonzero(np.diff(chunk[month][order])) + 1) if n else []:
        values = [pd.to_numeric(features[COMPONENTS[c]].iloc[rows[pos]], errors="coerce").astype("float64").to_numpy()
                  for c in names]
        points = [_points(cfg.components[c], pd.Series(x), groups[pos]) for c, x in zip(names, values, strict=True)]
        res = _combine(values, points, wmat, seg_codes[pos], cfg)  # points[j] become the output's points
        score[pos], coverage[pos], ok[pos] = res["score"], res["coverage"], res["ok"]
        d = slot[pos] >= 0
        at = slot[pos][d]
        detail["present"][at] = res["present"][d]
        for j in range(k):
            detail["value"][j][at], detail["points"][j][at] = values[j][d], points[j][d]
            detail["weight"][j][at] = res["weight"][j][d]
    cols["score"] = score
    cols["band_raw"] = band_of(score, ok, cfg.bands)
    cols["band"] = hysteresis(pd.DataFrame(cols, copy=False), cfg.bands, cfg.band_margin)
    cols["coverage"] = coverage
    cols.update(history_columns(pd.DataFrame(cols, copy=False), cfg.trend_periods))
    if months is not None:
        detail["_rows"] = dpos
    return cols, detail


def _frame(cols: dict, detail: dict, attrs: dict, cfg: HealthConfig) -> pd.DataFrame:
    """:func:`score_health`'s frame from :func:`_score`'s columns of the same rows."""
    names = list(cfg.components)
    out = {c: cols[c] for c in ("account_id", "period_start", "snapshot_date", "segment") if c in cols}
    out.update({f"value_{c}": detail["value"][j] for j, c in enumerate(names)})
    out.update({c: cols[c] for c in _NARROW[4:]})
    out["missing"] = _missing_names(detail["present"], names)
    for j, c in enumerate(names):
        out[f"points_{c}"] = detail["points"][j]
        out[f"weight_{c}"] = detail["weight"][j]
    frame = pd.DataFrame(out, copy=False)
    frame.attrs = deepcopy(attrs)  # as a frame taken from the features carries them
    frame.attrs.update({"config": cfg.source, "components": names, "bands": [b[0] for b in cfg.bands],
                        "missing_policy": cfg.missing_policy, "trend_periods": cfg.trend_periods,
                        "band_margin": cfg.band_margin})
    return frame


#: rows per block of :func:`_combine` (its (rows x components) matrices exist one block at a time)
BLOCK_ROWS = 1 << 16


def _combine(values: list, points: list, wmat: np.ndarray, seg_codes: np.ndarray, cfg: HealthConfig) -> dict:
    """Weights, coverage and score of each row from the components' values and points (one
    array per component), ``BLOCK_ROWS`` rows at a time: every step is per row, so the blocks
    give the numbers of one pass over all rows, with a fraction of its memory. ``points`` become
    the output's points in place (NaN without input; the neutral points with that policy)."""
    n, k = len(seg_codes), len(values)
    res = {"score": np.empty(n), "coverage": np.empty(n), "ok": np.empty(n, dtype=bool),
           "present": np.empty((n, k), dtype=bool), "weight": [np.empty(n) for _ in range(k)]}
    for a in range(0, n, BLOCK_ROWS):
        b = slice(a, min(a + BLOCK_ROWS, n))
        w = wmat[seg_codes[b]] if k else np.zeros((b.stop - a, 0))
        pts = np.column_stack([p[b] for p in points]) if k else np.zeros((b.stop - a, 0))
        present = ~np.isnan(np.column_stack([v[b] for v in values])) if k else np.zeros((b.stop - a, 0), dtype=bool)
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
        res["score"][b] = np.where(ok, np.clip(score, 0, 100), np.nan)
        res["coverage"][b], res["ok"][b], res["present"][b] = coverage, ok, present
        for j in range(k):
            points[j][b] = np.where(present[:, j] | (cfg.missing_policy == "neutral"), pts[:, j], np.nan)
            res["weight"][j][b] = np.where(ok, eff[:, j], np.nan)
    return res


def _rows_scored(features: pd.DataFrame) -> np.ndarray:
    """Positions of the rows :func:`score_health` scores (``active`` ones, all without the
    column), in the order of ``sort_values([account_id, period_start], kind="stable")``."""
    rows = (np.flatnonzero(features["active"].astype(bool).to_numpy()) if "active" in features.columns
            else np.arange(len(features)))
    acc, start = features["account_id"].to_numpy()[rows], features["period_start"].to_numpy()[rows]
    if sorted_by_account(acc, start):  # inputs come sorted
        return rows
    keys = pd.DataFrame({"account_id": acc, "period_start": start}, copy=False)
    return rows[keys.sort_values(["account_id", "period_start"], kind="stable").index.to_numpy()]


def _missing_names(present: np.ndarray, names: list[str]) -> np.ndarray:
    """Per row, the components without input, comma-joined in config order (one string per pattern)."""
    code = np.zeros(len(present), dtype="int64")
    for j in range(len(names)):
        code |= (~present[:, j]).astype("int64") << j
    text = np.empty(1 << len(names), dtype=object)  # by pattern (at most 2^8: COMPONENTS), no hash of every row
    for p in np.flatnonzero(np.bincount(code, minlength=1)):
        text[p] = ",".join(c for j, c in enumerate(names) if p >> j & 1)
    return text[code]


def health_features(src, as_of: str, config: HealthConfig | str | Path | dict | None = None,
                    usage=None) -> pd.DataFrame:
    """The scoring inputs: :func:`csresearch.features.account.account_month_features` (windows
    from the config's ``inputs``; ``usage`` as there) plus the ``segment_by`` column, taken from
    ``accounts`` when it is not a feature.

    Example
    -------
    >>> f = health_features(src, "2025-12-31", {**cfg, "segment_by": "plan"})  # doctest: +SKIP
    """
    from csresearch.features.account import account_month_features

    cfg = config if isinstance(config, HealthConfig) else load_health_config(config)
    feats = account_month_features(src, as_of, cfg.inputs, usage)
    if cfg.segment_by not in feats.columns:
        acc = src.df("accounts") if src.has("accounts") else pd.DataFrame(columns=["account_id"])
        if cfg.segment_by not in acc.columns:
            raise ConfigError(f"health config: 'segment_by' names '{cfg.segment_by}', not a column of accounts")
        seg = acc.drop_duplicates("account_id").set_index("account_id")[cfg.segment_by]
        feats[cfg.segment_by] = feats["account_id"].map(seg)
    return feats


def health_history(src, as_of: str, config: HealthConfig | str | Path | dict | None = None) -> pd.DataFrame:
    """Health of every account for every month it was active, up to ``as_of``.

    Scores :func:`health_features` with :func:`score_health`.

    Example
    -------
    >>> h = health_history(src, "2025-12-31", "data/health.yaml")  # doctest: +SKIP
    """
    cfg = config if isinstance(config, HealthConfig) else load_health_config(config)
    return scored_history(health_features(src, as_of, cfg), cfg)


def scored_history(features: pd.DataFrame, config: HealthConfig | str | Path | dict | None = None) -> pd.DataFrame:
    """:func:`score_health` of :func:`health_features` output, with its as_of and notes in ``attrs``
    (the history; a report scores its features once and shares them with the worklist)."""
    out = score_health(features, config)
    out.attrs.update({"as_of": features.attrs.get("as_of"), "notes": features.attrs.get("notes", [])})
    return out


# -- the current view ---------------------------------------------------------------------
def customers_on(src, as_of: str) -> pd.Index:
    """The accounts that are customers on ``as_of`` (:func:`csresearch.data.timeline.active_on`).

    Example
    -------
    >>> ids = customers_on(src, "2025-12-31")  # doctest: +SKIP
    >>> len(ids) == timeline.active_customers(src, "2025-12-31")  # doctest: +SKIP
    True
    """
    from csresearch.data import timeline

    ids = timeline.active_on(src, as_of).select("account_id").execute()["account_id"]
    return pd.Index(ids.astype(str), name="account_id").sort_values()


def _among(health: pd.DataFrame, customers) -> pd.DataFrame:
    if customers is None:
        return health
    return health.loc[health["account_id"].astype(str).isin(pd.Index(customers).astype(str))]


def latest(health: pd.DataFrame, customers=None) -> pd.DataFrame:
    """The rows of the last month in ``health``; with ``customers`` (e.g. :func:`customers_on`),
    only those accounts' rows.

    Example
    -------
    >>> now = latest(hist, customers_on(src, "2025-12-31"))  # doctest: +SKIP
    """
    last = health.loc[health["period_start"] == health["period_start"].max()]
    return _among(last, customers)
