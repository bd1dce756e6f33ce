"""Survey scores: NPS (with a 95% interval), CES and CSAT, by period, account attribute or tenure.

* NPS = % promoters (9-10) - % detractors (0-6), in [-100, 100]. Its variance, as a
  difference of two proportions from one multinomial sample, is
  ``(p_pro + p_det - (p_pro - p_det)**2) / n``; the interval is the normal (Wald) one,
  ``nps +- z * 100 * sqrt(var)``, clipped to [-100, 100].
* CES: mean answer and share of "good" answers. The default scale is 1-7 agreement
  ("it was easy"), good = 5-7; ``direction='effort'`` (low is good) makes good = 1-3.
* CSAT = share of 4-5 answers on a 1-5 scale.

A group or period without answers gets NaN scores, ``n = 0`` and a ``reason``; never 0.

Example
-------
>>> float(nps([10, 9, 8, 3])["nps"])
25.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from csresearch.data.periods import (
    BEFORE_START,
    NO_SUBSCRIPTION,
    check_grain,
    months_between,
    parse_as_of,
    period_floor,
    period_starts,
    require_columns,
    rule_failures,
    tenure_band,
    to_dates,
)
from csresearch.errors import ConfigError, DataValidationError
from csresearch.metrics.revenue import attach_group, check_subscriptions

TENURE = "tenure_band"
KINDS = ("nps", "ces", "csat")
SCALES = {"nps": (0, 10), "ces": (1, 7), "csat": (1, 5)}
NO_ANSWERS = "no answers"


def _scores(scores, kind: str, scale: tuple[int, int] | None = None,
            frame: pd.DataFrame | None = None) -> np.ndarray:
    lo, hi = scale or SCALES[kind]
    x = pd.to_numeric(pd.Series(scores), errors="coerce").to_numpy(dtype="float64")
    bad = np.isnan(x) | (x < lo) | (x > hi) | (x != np.round(x))
    if bad.any() and frame is not None:  # a table: name it, the column and example rows
        rule_failures(frame, f"{kind}_responses", [
            ("score", f"{kind} scores: answer(s) are missing or not whole numbers in [{lo}, {hi}]", bad,
             "correct or remove those rows")])
    if bad.any():
        ex = pd.Series(scores)[bad].head(5).tolist()
        raise DataValidationError(
            f"{kind} scores: {int(bad.sum()):,} answer(s) are missing or not whole numbers in "
            f"[{lo}, {hi}], e.g. {ex}; correct or remove them in the {kind}_responses table"
        )
    return x


def _nps_from_counts(n, pro, det, confidence: float = 0.95) -> dict[str, np.ndarray]:
    n = np.asarray(n, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        pp = np.asarray(pro) / n
        pd_ = np.asarray(det) / n
        diff = pp - pd_
        se = 100 * np.sqrt(np.maximum(pp + pd_ - diff**2, 0) / n)
    z = norm.ppf(0.5 + confidence / 2)
    score = 100 * diff
    return {
        "nps": score,
        "nps_se": se,
        "nps_ci_low": np.clip(score - z * se, -100, 100),
        "nps_ci_high": np.clip(score + z * se, -100, 100),
    }


def nps(scores, confidence: float = 0.95) -> pd.Series:
    """NPS of one set of 0-10 answers, with n, counts, standard error and interval.

    Raises :class:`DataValidationError` when there is no answer (NPS is undefined) or an
    answer is outside 0-10.

    Example
    -------
    >>> r = nps([10, 9, 8, 3])   # 2 promoters, 1 passive, 1 detractor of 4 -> 50% - 25%
    >>> float(r["nps"]), int(r["n"])
    (25.0, 4)
    """
    x = _scores(scores, "nps")
    if len(x) == 0:
        raise DataValidationError("NPS of no answers is undefined: the answer set is empty")
    pro, det = (x >= 9).sum(), (x <= 6).sum()
    stats = _nps_from_counts([len(x)], [pro], [det], confidence)
    return pd.Series(
        {"n": float(len(x)), "promoters": float(pro), "passives": float(len(x) - pro - det),
         "detractors": float(det), **{k: float(v[0]) for k, v in stats.items()}},
        name="nps",
    )


def _good_range(kind: str, scale, direction: str, good) -> tuple[float, float]:
    lo, hi = scale
    if good is not None:
        return good
    if kind == "csat":
        return (hi - 1, hi)
    if direction not in ("agreement", "effort"):
        raise ConfigError(f"CES direction must be 'agreement' (high is good) or 'effort', not '{direction}'")
    return (hi - 2, hi) if direction == "agreement" else (lo, lo + 2)


def ces(scores, scale: tuple[int, int] = (1, 7), direction: str = "agreement", good=None) -> pd.Series:
    """CES mean and share of good answers (default 5-7 of 1-7; ``direction='effort'``: 1-3).

    Example
    -------
    >>> ces([7, 5, 4, 1])[["ces_mean", "ces_share_good"]].tolist()   # 17/4; 2 of 4 in 5-7
    [4.25, 0.5]
    """
    x = _scores(scores, "ces", scale)
    if len(x) == 0:
        raise DataValidationError("CES of no answers is undefined: the answer set is empty")
    g_lo, g_hi = _good_range("ces", scale, direction, good)
    return pd.Series(
        {"n": float(len(x)), "ces_mean": float(x.mean()),
         "ces_share_good": float(((x >= g_lo) & (x <= g_hi)).mean())},
        name="ces",
    )


def csat(scores, scale: tuple[int, int] = (1, 5), good=None) -> pd.Series:
    """CSAT = share of satisfied answers (default 4-5 of 1-5).

    Example
    -------
    >>> float(csat([5, 4, 3, 1])["csat"])
    0.5
    """
    x = _scores(scores, "csat", scale)
    if len(x) == 0:
        raise DataValidationError("CSAT of no answers is undefined: the answer set is empty")
    g_lo, g_hi = _good_range("csat", scale, "agreement", good)
    ok = (x >= g_lo) & (x <= g_hi)
    return pd.Series({"n": float(len(x)), "satisfied": float(ok.sum()), "csat": float(ok.mean())},
                     name="csat")


def _tenure(resp: pd.DataFrame, subscriptions: pd.DataFrame | None) -> pd.Series:
    if subscriptions is None:
        raise DataValidationError(f"by='{TENURE}' needs the subscriptions table; pass subscriptions=...")
    s = check_subscriptions(subscriptions)
    first = s.groupby("account_id")["start_date"].min()
    start = resp["account_id"].map(first)
    return tenure_band(months_between(start, resp["responded_at"]))


def survey_scores(
    responses: pd.DataFrame,
    kind: str,
    as_of: str,
    grain: str | None = "month",
    by: str | None = None,
    accounts: pd.DataFrame | None = None,
    subscriptions: pd.DataFrame | None = None,
    periods: pd.DatetimeIndex | None = None,
    confidence: float = 0.95,
    scale: tuple[int, int] | None = None,
    direction: str = "agreement",
    good: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Survey score (``kind`` 'nps', 'ces' or 'csat') per period and group.

    Parameters
    ----------
    responses
        An ``<kind>_responses`` table: account_id, responded_at, score.
    as_of
        ISO date. Periods run from the period of the first answer to the last one
        finishing on or before it (answers after it are ignored); with ``grain=None`` all answers up to ``as_of`` form one row.
    grain
        'month', 'quarter' or None.
    by
        None, a column of ``accounts`` (an account's current value), or ``'tenure_band'``:
        whole months from the account's first subscription start to the answer, banded
        0-3, 3-6, 6-12, 12-24, 24+ (plus 'before start' / 'no subscription' if any).
    periods
        Period starts to report instead of the derived ones (e.g. a revenue table's).
    scale, direction, good
        CES / CSAT scale, CES direction ('agreement' or 'effort') and the inclusive range of
        good answers; defaults per the module docstring.

    Returns
    -------
    DataFrame: [period_start], [by], n and the scores (NPS: promoters, passives, detractors,
    nps, nps_se, nps_ci_low, nps_ci_high; CES: ces_mean, ces_share_good; CSAT: satisfied, csat)
    and ``reason`` ('no answers' where n = 0, scores NaN). Every period x group is present.

    Example
    -------
    >>> survey_scores(nps_df, "nps", "2025-12-31", by="tenure_band", subscriptions=subs)  # doctest: +SKIP
    """
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}, not '{kind}'")
    table = f"{kind}_responses"
    require_columns(responses, table, ["account_id", "responded_at", "score"])
    cut = parse_as_of(as_of)
    r = responses[["account_id", "responded_at", "score"]].reset_index(drop=True)
    raw = r.copy()
    r["responded_at"] = to_dates(raw, table, "responded_at")  # whole days are all that is used
    rule_failures(raw, table, [("responded_at", "responded_at is missing", r["responded_at"].isna(),
                                "fill or remove those rows")])
    x = _scores(r["score"], kind, scale, frame=raw)
    r["score"] = x
    r = r.loc[r["responded_at"].dt.normalize() <= cut]
    keys: list[str] = []
    if grain is not None:
        check_grain(grain)
        if periods is None:
            if r.empty:
                raise DataValidationError(
                    f"table '{table}' has no answers on or before {cut.date()}: no period to report"
                )
            first = period_floor(pd.Series([r["responded_at"].min()]), grain).iloc[0]
            periods = period_starts(first, as_of, grain)
        periods = pd.DatetimeIndex(periods)
        r["period_start"] = period_floor(r["responded_at"], grain).to_numpy()
        r = r.loc[r["period_start"].isin(periods)]
        keys.append("period_start")
    groups: list = []
    if by == TENURE:
        r[TENURE] = _tenure(r, subscriptions).astype(str).to_numpy()
        present = set(r[TENURE])
        groups = [str(c) for c in tenure_band([0]).cat.categories
                  if c in present or c not in (BEFORE_START, NO_SUBSCRIPTION)]
        keys.append(TENURE)
    elif by is not None:
        r, gkeys, groups = attach_group(r, by, accounts)
        keys += gkeys
    out = _aggregate(r, kind, keys, periods if grain is not None else None, by, groups,
                     confidence, scale, direction, good)
    return out


def _aggregate(r, kind, keys, periods, by, groups, confidence, scale, direction, good):
    sc = r["score"]
    lo, hi = scale or SCALES[kind]
    g_lo, g_hi = _good_range(kind, (lo, hi), direction, good)
    parts = pd.DataFrame({"n": 1}, index=r.index)
    if kind == "nps":
        parts["promoters"] = (sc >= 9).astype(int)
        parts["detractors"] = (sc <= 6).astype(int)
    elif kind == "ces":
        parts["sum"] = sc
        parts["good"] = ((sc >= g_lo) & (sc <= g_hi)).astype(int)
    else:
        parts["satisfied"] = ((sc >= g_lo) & (sc <= g_hi)).astype(int)
    for k in keys:
        parts[k] = r[k]
    if keys:
        agg = parts.groupby(keys).sum().reset_index()
        axes = []
        names = []
        if periods is not None:
            axes.append(periods)
            names.append("period_start")
        if by is not None:
            axes.append(groups)
            names.append(keys[-1])
        grid = pd.MultiIndex.from_product(axes, names=names).to_frame(index=False)
        out = grid.merge(agg, on=keys, how="left")
    else:
        out = parts.sum().to_frame().T if len(parts) else pd.DataFrame({c: [0] for c in parts})
    value_cols = [c for c in parts.columns if c not in keys]
    out[value_cols] = out[value_cols].fillna(0).astype("int64")
    n = out["n"]
    empty = n == 0
    if kind == "nps":
        out["passives"] = n - out["promoters"] - out["detractors"]
        for k, v in _nps_from_counts(n, out["promoters"], out["detractors"], confidence).items():
            out[k] = v
        out = out[[*keys, "n", "promoters", "passives", "detractors", "nps", "nps_se",
                   "nps_ci_low", "nps_ci_high"]]
    elif kind == "ces":
        out["ces_mean"] = out["sum"] / n.where(~empty)
        out["ces_share_good"] = out["good"] / n.where(~empty)
        out = out[[*keys, "n", "ces_mean", "ces_share_good"]]
    else:
        out["csat"] = out["satisfied"] / n.where(~empty)
        out = out[[*keys, "n", "satisfied", "csat"]]
    out = out.copy()
    out["reason"] = np.where(empty, NO_ANSWERS, "")
    return out
