"""Bands and the month-to-month view of a health history: the band of a score, hysteresis,
the monthly band flip rate, the previous month's score and band, and the trend.

A history is one row per account and month (:func:`csresearch.health.score.score_health`);
the row of the same account ``k`` months earlier is found by integer keys per account-month
(:func:`rows_back`): by binary search when the rows are by account and month, as a history's
are, else by a hash look-up.

Example
-------
>>> band_flips(hist)["rate"].mean()  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csresearch.health.config import NO_SCORE

__all__ = ["band_flips", "band_of", "history_columns", "hysteresis", "rows_back"]


def band_of(score: np.ndarray, ok: np.ndarray, bands: tuple) -> np.ndarray:
    """The band of each score (half-open intervals); ``NO_SCORE`` where not ``ok``."""
    lows = np.array([b[1] for b in bands])
    names = np.array([b[0] for b in bands], dtype=object)
    bi = np.clip(np.searchsorted(lows, np.nan_to_num(score), side="right") - 1, 0, len(lows) - 1)
    return np.where(ok, names[bi], NO_SCORE)


def hysteresis(out: pd.DataFrame, bands: tuple, margin: float) -> np.ndarray:
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
    (i1,) = rows_back(health, 1)
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


def rows_back(rows: pd.DataFrame, *ks: int) -> list[np.ndarray]:
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


def history_columns(out: pd.DataFrame, periods: int) -> dict[str, np.ndarray]:
    """trend (score - score ``periods`` months ago), score_prev and band_prev (previous month)."""
    score = out["score"].to_numpy()
    i1, ik = rows_back(out, 1, periods)
    return {"trend": np.where(ik >= 0, score - score[np.maximum(ik, 0)], np.nan),
            "score_prev": np.where(i1 >= 0, score[np.maximum(i1, 0)], np.nan),
            "band_prev": np.where(i1 >= 0, out["band"].to_numpy()[np.maximum(i1, 0)], None)}
