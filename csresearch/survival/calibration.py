"""Are horizon predictions right? A landmark calibration by band of current tenure, out of sample.

For a snapshot table (one row per customer, churned or still active, no dates) the usual check
is a landmark one. For each band of current tenure starting at ``b`` (``b + h`` within the
data):

* the customers still there at ``b`` (duration > ``b``) are scored as if their tenure were
  ``b``: ``P(churn in (b, b + h] | alive at b)``, each by a model fitted **without them**
  (k-fold cross-validation, fixed seed), and averaged -> ``predicted``;
* ``observed`` is the Kaplan-Meier conditional churn ``1 - S(b + h) / S(b)`` of the whole
  table (customers still active are censored at their tenure);
* ``n`` is the number of customers still there at ``b``.

:func:`risk_group_calibration` splits each band's customers into fifths of predicted risk and
compares each fifth with its own Kaplan-Meier curve: an average can be right while the riskiest
customers (the calls to make first) are not. :func:`choose_model` compares candidate models on
both and keeps the one with the smallest out-of-sample error.

Example
-------
>>> oof = out_of_fold(lambda: CoxModel(cov), telco, "tenure", "Churn=Yes", starts=[0, 12], horizon=12)  # doctest: +SKIP
>>> band_calibration(oof, telco, "tenure", "Churn=Yes", 12)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter

from csresearch.errors import DataQualityWarning, DataValidationError, ModelError
from csresearch.survival.tables import event_indicator

MIN_BAND = 200  # bands with fewer customers at their start are shown but not held to the 0.05 target
FIFTHS = 5


def _arrays(df: pd.DataFrame, duration: str, event: str) -> tuple[np.ndarray, np.ndarray]:
    dur = pd.to_numeric(df[duration], errors="coerce").to_numpy(float)
    if np.isnan(dur).any():
        raise DataValidationError(f"column '{duration}': {int(np.isnan(dur).sum())} duration(s) missing")
    return dur, event_indicator(df, event).to_numpy()


def band_starts(durations: np.ndarray, width: float, horizon: float) -> list[float]:
    """``0, width, 2 width, ...`` while ``start + horizon`` is within the longest duration.

    >>> band_starts(np.array([3.0, 72]), 12, 12)
    [0.0, 12.0, 24.0, 36.0, 48.0, 60.0]
    """
    last = float(np.max(durations))
    return [float(b) for b in np.arange(0.0, last, width) if b + horizon <= last]


def km_conditional(durations: np.ndarray, events: np.ndarray, start: float, horizon: float,
                   km: KaplanMeierFitter | None = None) -> float:
    """Kaplan-Meier ``1 - S(start + horizon) / S(start)`` (NaN past the last observed time);
    ``km``: the Kaplan-Meier fit of these very durations and events, if already made."""
    if not len(durations) or start + horizon > np.max(durations):
        return np.nan
    km = km if km is not None else KaplanMeierFitter().fit(durations, events)
    s = km.survival_function_at_times([start, start + horizon]).to_numpy()
    return float(1 - s[1] / s[0]) if s[0] > 0 else np.nan


def horizon_probability(model, df: pd.DataFrame, t0: np.ndarray, horizon: float) -> np.ndarray:
    """``P(churn in (t0, t0 + h] | alive at t0)`` from a TenureLandmarkCox or any model
    :func:`csresearch.survival.predict.conditional_churn_probability` accepts."""
    if hasattr(model, "probability"):
        return model.probability(df, t0, horizon)
    from csresearch.survival.predict import conditional_churn_probability

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        p = conditional_churn_probability(model, df.assign(_cal_t0=np.asarray(t0, float)), "_cal_t0", [horizon])
    return p.iloc[:, 0].to_numpy()


def out_of_fold(make_model: Callable[[], object], df: pd.DataFrame, duration: str, event: str,
                starts: Sequence[float], horizon: float, k: int = 5, seed: int = 0) -> pd.DataFrame:
    """Landmark predictions from models fitted without the scored customers (k folds).

    Returns one row per (band start, customer at risk there): ``start, row`` (position in
    ``df``), ``duration, event, predicted``.
    """
    dur, ev = _arrays(df, duration, event)
    folds = np.array_split(np.random.default_rng(seed).permutation(len(df)), k)
    parts = []
    for test in folds:
        held = np.zeros(len(df), dtype=bool)
        held[test] = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            model = make_model().fit(df[~held], duration, event)
        for b in starts:
            rows = np.flatnonzero(held & (dur > b))
            if not len(rows):
                continue
            p = horizon_probability(model, df.iloc[rows], np.full(len(rows), float(b)), horizon)
            parts.append(pd.DataFrame({"start": float(b), "row": rows, "duration": dur[rows],
                                       "event": ev[rows], "predicted": p}))
    return pd.concat(parts, ignore_index=True).sort_values(["start", "row"], ignore_index=True)


def band_calibration(oof: pd.DataFrame, df: pd.DataFrame, duration: str, event: str, horizon: float,
                     width: float | None = None, unit: str = "") -> pd.DataFrame:
    """Predicted (mean out-of-fold) vs observed (whole-table KM) churn within ``horizon`` per band.

    Returns ``band, start, n, predicted, observed, difference, scored`` (``scored``: customers
    with a prediction; the others are past what the data supports).
    """
    dur, ev = _arrays(df, duration, event)
    width = width or horizon
    rows = []
    km = KaplanMeierFitter().fit(dur, ev) if len(dur) else None  # one curve for every band
    for b, g in oof.groupby("start"):
        end = f"{b + width:g}"
        rows.append({"band": f"{b:g}-{end}" + (f" {unit}" if unit else ""), "start": float(b),
                     "n": int((dur > b).sum()), "predicted": float(g["predicted"].mean()),
                     "observed": km_conditional(dur, ev, float(b), horizon, km),
                     "scored": int(g["predicted"].notna().sum())})
    out = pd.DataFrame(rows)
    out.insert(5, "difference", out["predicted"] - out["observed"])
    out.attrs.update({"horizon": horizon, "width": width})
    return out


def risk_group_calibration(oof: pd.DataFrame, horizon: float, groups: int = FIFTHS,
                           min_band: int = MIN_BAND) -> pd.DataFrame:
    """Per band (with at least ``min_band`` customers scored) and fifth of predicted risk: mean
    predicted vs the fifth's own KM ``1 - S(b + h) / S(b)``. ``start, group, n, predicted, observed``."""
    rows = []
    for b, g in oof.dropna(subset=["predicted"]).groupby("start"):
        if len(g) < min_band:
            continue
        q = pd.qcut(g["predicted"].rank(method="first"), groups, labels=False) + 1
        for grp, gg in g.groupby(q):
            rows.append({"start": float(b), "group": int(grp), "n": len(gg),
                         "predicted": float(gg["predicted"].mean()),
                         "observed": km_conditional(gg["duration"].to_numpy(), gg["event"].to_numpy(),
                                                    float(b), horizon)})
    return pd.DataFrame(rows, columns=["start", "group", "n", "predicted", "observed"])


def calibration_error(bands: pd.DataFrame, groups: pd.DataFrame, min_band: int = MIN_BAND) -> dict:
    """``band_max`` (largest |predicted - observed| over bands with >= ``min_band`` customers),
    ``group_max`` and ``group_mean`` (largest and customer-weighted mean |predicted - observed|
    over the risk fifths)."""
    big = bands[bands["n"] >= min_band]
    gerr = (groups["predicted"] - groups["observed"]).abs()
    ok = gerr.notna()
    return {"band_max": float((big["predicted"] - big["observed"]).abs().max()),
            "group_max": float(gerr[ok].max()) if ok.any() else np.nan,
            "group_mean": float(np.average(gerr[ok], weights=groups["n"][ok])) if ok.any() else np.nan}


def choose_model(candidates: Mapping[str, Callable[[], object]], df: pd.DataFrame, duration: str,
                 event: str, horizon: float, width: float | None = None, k: int = 5, seed: int = 0,
                 unit: str = "") -> dict:
    """Compare candidate models by out-of-sample landmark calibration; keep the best.

    Score: the largest absolute error over the fifths of predicted risk within tenure bands
    (the riskiest fifth is where the list of calls comes from), then the mean over fifths, then
    the largest band error. A candidate that cannot be fitted is listed with its reason in
    ``note``. Returns ``name`` (the chosen one), ``table`` (one row per candidate: ``model,
    band_max, group_max, group_mean, note``) and, per candidate, ``oof``, ``bands`` and
    ``groups`` under ``results[name]``.
    """
    dur, _ = _arrays(df, duration, event)
    width = width or horizon
    starts = band_starts(dur, width, horizon)
    if not starts:
        raise DataValidationError(f"no tenure band has {horizon:g} of follow-up in the data "
                                  f"(longest duration {dur.max():g}); use a shorter horizon")
    results, rows = {}, []
    for name, make in candidates.items():
        try:
            oof = out_of_fold(make, df, duration, event, starts, horizon, k=k, seed=seed)
        except (ModelError, DataValidationError) as e:
            rows.append({"model": name, "band_max": np.nan, "group_max": np.nan, "group_mean": np.nan,
                         "note": f"could not be fitted: {str(e).split('. ')[0]}"})
            continue
        bands = band_calibration(oof, df, duration, event, horizon, width, unit)
        groups = risk_group_calibration(oof, horizon)
        err = calibration_error(bands, groups)
        results[name] = {"oof": oof, "bands": bands, "groups": groups, **err}
        rows.append({"model": name, **err, "note": ""})
    if not results:
        raise ModelError("no candidate model could be fitted: " + "; ".join(r["note"] for r in rows))
    table = pd.DataFrame(rows)
    fitted = table.loc[table["model"].isin(list(results))]  # never a candidate that could not be fitted
    order = fitted.sort_values(["group_max", "group_mean", "band_max"], na_position="last", kind="stable")
    return {"name": str(order["model"].iloc[0]), "table": table, "results": results}
