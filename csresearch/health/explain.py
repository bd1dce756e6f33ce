"""Why a score is what it is: each component's contribution to it, and the largest drops from
one month to the next with the component that moved (for a history of
:func:`csresearch.health.score.score_health`).

Example
-------
>>> movers(hist, customers=customers_on(src, "2025-12-31")).head(3)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csresearch.arrays import take_rows
from csresearch.health.score import _among

__all__ = ["contributions", "movers"]


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
    start = health["period_start"].to_numpy()  # the two months' rows and columns only: not a copy of the history
    now = _among(take_rows(health, start == per, cols + ["segment", "period_start"]), customers)
    before = take_rows(health, start == prev, cols)
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
