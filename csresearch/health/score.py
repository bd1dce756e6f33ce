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
``trend.periods`` months earlier. The configuration rules are in :func:`load_health_config`
(:mod:`csresearch.health.config`, re-exported here).

The history keeps every month an account was active, including the month it churned. The
current view (:func:`latest`, :func:`movers` and :func:`contributions` of :func:`latest`)
takes ``customers``: the accounts that are customers on ``as_of``
(:func:`customers_on`, the timeline's ``active_on``), so an account that churned during the
last month is scored in its history but is neither in the current view nor counted as active.

Example
-------
>>> hist = health_history(open_source("data/demo"), "2025-12-31")  # doctest: +SKIP
>>> hist[["account_id", "period_start", "score", "band", "coverage", "trend"]].head(2)  # doctest: +SKIP
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path

import numpy as np
import pandas as pd

from csresearch.errors import ConfigError, DataValidationError
from csresearch.features.grid import sorted_by_account
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
    "Component", "HealthConfig", "band_flips", "contributions", "customers_on", "default_config_path",
    "health_features", "health_history", "latest", "load_health_config", "movers", "score_health", "scored_history",
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
    seg_col = cfg.segment_by
    need = ["account_id", "period_start", seg_col] + [COMPONENTS[c] for c in cfg.components]
    missing_cols = [c for c in need if c not in features.columns]
    if missing_cols:
        raise DataValidationError(f"health inputs: missing column(s) {', '.join(missing_cols)}; build them with "
                                  "csresearch.features.account.account_month_features or drop those components "
                                  "from the config")
    rows = _rows_scored(features)  # positions of the rows scored, by account and month: columns are taken one at a time
    # the output's columns, made into a frame once at the end: setting a frame's column copies the array
    cols = {c: features[c].iloc[rows].reset_index(drop=True)
            for c in ("account_id", "period_start", "snapshot_date") if c in features.columns}
    seg = features[seg_col].iloc[rows]
    segment = seg.astype(object).where(seg.notna(), "(missing)").astype(str)
    cols["segment"] = segment.to_numpy()
    names = list(cfg.components)
    seg_codes, seg_values = pd.factorize(segment)
    groups = pd.factorize(cols["period_start"], use_na_sentinel=False)[0] * (len(seg_values) + 1) + seg_codes  # (month, segment)
    wmat = np.array([[cfg.weights(s)[c] for c in names] for s in seg_values]).reshape(len(seg_values), len(names))
    values, points = [], []
    for c in names:
        x = pd.to_numeric(features[COMPONENTS[c]].iloc[rows], errors="coerce").astype("float64").to_numpy()
        values.append(x)
        points.append(_points(cfg.components[c], pd.Series(x), groups))
        cols[f"value_{c}"] = x
    del groups
    res = _combine(values, points, wmat, seg_codes, cfg)  # points[j] become the output's points
    cols["score"] = res["score"]
    cols["band_raw"] = _band_of(res["score"], res["ok"], cfg.bands)
    cols["band"] = _hysteresis(pd.DataFrame(cols, copy=False), cfg.bands, cfg.band_margin)
    cols["coverage"] = res["coverage"]
    cols.update(_history_columns(pd.DataFrame(cols, copy=False), cfg.trend_periods))
    cols["missing"] = _missing_names(res["present"], names)
    for j, c in enumerate(names):
        cols[f"points_{c}"] = points[j]
        cols[f"weight_{c}"] = res["weight"][j]
    out = pd.DataFrame(cols, copy=False)
    out.attrs = deepcopy(features.attrs)  # as a frame taken from features carries them
    out.attrs.update({"config": cfg.source, "components": names, "bands": [b[0] for b in cfg.bands],
                      "missing_policy": cfg.missing_policy, "trend_periods": cfg.trend_periods,
                      "band_margin": cfg.band_margin})
    return out


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


def _band_of(score: np.ndarray, ok: np.ndarray, bands: tuple) -> np.ndarray:
    """The band of each score (half-open intervals); ``NO_SCORE`` where not ``ok``."""
    lows = np.array([b[1] for b in bands])
    names = np.array([b[0] for b in bands], dtype=object)
    bi = np.clip(np.searchsorted(lows, np.nan_to_num(score), side="right") - 1, 0, len(lows) - 1)
    return np.where(ok, names[bi], NO_SCORE)


def _hysteresis(out: pd.DataFrame, bands: tuple, margin: float) -> np.ndarray:
    """Bands with hysteresis: an account keeps last month's band while its score stays within
    ``margin`` points beyond that band's edges (``lo - margin <= score < hi + margin``); else
    the band of its score. ``out`` is sorted by account and month; margin 0 changes nothing."""
    band = out["band_raw"].to_numpy(dtype=object).copy()
    if margin <= 0 or len(out) < 2:
        return band
    p = pd.DatetimeIndex(out["period_start"])
    m = p.year.to_numpy() * 12 + p.month.to_numpy()
    acc = out["account_id"].to_numpy()
    score = out["score"].to_numpy(dtype="float64")
    prev = np.r_[0, np.arange(len(out) - 1)]
    follows = np.r_[False, (acc[1:] == acc[:-1]) & (m[1:] - m[:-1] == 1)]
    lo, hi = (pd.Series({b[0]: b[j] + d for b in bands}, dtype="float64") for j, d in ((1, -margin), (2, margin)))
    cand = np.flatnonzero(follows & ~np.isnan(score))
    order = cand[np.argsort(m[cand], kind="stable")]
    cuts = np.flatnonzero(np.diff(m[order])) + 1
    for idx in np.split(order, cuts) if len(order) else []:  # in month order: last month's band is final
        before = band[prev[idx]]
        low, high = lo.reindex(before).to_numpy(), hi.reindex(before).to_numpy()
        keep = (score[idx] >= low) & (score[idx] < high)
        band[idx[keep]] = before[keep]
    return band


def band_flips(health: pd.DataFrame, column: str = "band") -> pd.DataFrame:
    """Monthly band flip rate: among accounts scored this month and the previous one, the share
    whose ``column`` (``band``, or ``band_raw`` for the bands without hysteresis) changed.

    Returns one row per month: period_start, scored (in both months), flipped, rate;
    ``attrs['rate']`` is flipped / scored over all months.

    Example
    -------
    >>> band_flips(hist)["rate"].mean()  # doctest: +SKIP
    """
    (i1,) = _rows_back(health, 1)
    scored = health["score"].notna().to_numpy()
    both = scored & (i1 >= 0) & scored[np.maximum(i1, 0)]
    vals = health[column].to_numpy(dtype=object)
    flip = both & (vals != vals[np.maximum(i1, 0)])
    t = pd.DataFrame({"period_start": health["period_start"].to_numpy(), "scored": both, "flipped": flip})
    t = t.groupby("period_start", as_index=False)[["scored", "flipped"]].sum()
    t = t.loc[t["scored"] > 0].reset_index(drop=True)
    t["rate"] = t["flipped"] / t["scored"]
    t.attrs["rate"] = float(t["flipped"].sum() / t["scored"].sum()) if len(t) else float("nan")
    return t


def _rows_back(rows: pd.DataFrame, *ks: int) -> list[np.ndarray]:
    """Per row, the row of the same account ``k`` months earlier (-1: none), for each of ``ks``
    (integer keys per account-month, each account a block of keys k months back never leaves)."""
    p = pd.DatetimeIndex(rows["period_start"])
    m = (p.year.to_numpy() - (p.year.min() if len(p) else 0)) * 12 + p.month.to_numpy()  # 1.. from the first year
    span = int(m.max(initial=0)) + max(ks) + 2
    key = pd.factorize(rows["account_id"].to_numpy(), use_na_sentinel=False)[0].astype("int64") * span + m
    if len(key) and np.all(key[1:] > key[:-1]):  # rows by account and month (a history): no hash table
        out = []
        for k in ks:
            pos = np.searchsorted(key, key - k)
            hit = key[np.minimum(pos, len(key) - 1)] == key - k
            out.append(np.where(hit, pos, -1))
        return out
    index = pd.Index(key)
    return [index.get_indexer(key - k) for k in ks]


def _history_columns(out: pd.DataFrame, periods: int) -> dict[str, np.ndarray]:
    """trend (score - score ``periods`` months ago), score_prev and band_prev (previous month)."""
    score = out["score"].to_numpy()
    i1, ik = _rows_back(out, 1, periods)
    return {"trend": np.where(ik >= 0, score - score[np.maximum(ik, 0)], np.nan),
            "score_prev": np.where(i1 >= 0, score[np.maximum(i1, 0)], np.nan),
            "band_prev": np.where(i1 >= 0, out["band"].to_numpy()[np.maximum(i1, 0)], None)}


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


def movers(health: pd.DataFrame, period: str | None = None, n: int = 20, customers=None) -> pd.DataFrame:
    """The ``n`` largest score drops from the previous month to ``period`` (default: the last).

    With ``customers`` (e.g. :func:`customers_on` of ``as_of``) only those accounts are ranked:
    an account that churned during the month has nobody to call.

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
    now = _among(health.loc[health["period_start"] == per, cols + ["segment", "period_start"]], customers)
    before = health.loc[health["period_start"] == prev, cols]  # the months' rows only: not a copy of the history
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
