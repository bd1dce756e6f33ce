"""Horizon predictions where the model fits: a Cox model per band of current tenure.

A single Cox model assumes every hazard ratio is the same at every tenure. When that fails
(Telco: month-to-month contracts churn far more in the first year than at five years), its
predictions for long-tenured customers multiply a baseline estimated from the few late churns
by a hazard ratio estimated mostly from early ones, and can be wildly off (85-97 % predicted
where 11 % is observed). :class:`TenureLandmarkCox` fits where it predicts instead:

* band ``b`` of current tenure (``[b, b + width)``, width = the horizon by default) has its own
  Cox model, fitted on the customers still there at ``b`` (the landmark), with time counted
  from ``b`` and follow-up cut at ``b + width + horizon`` (the longest time it is asked about);
* every coefficient may therefore change from band to band (a piecewise-constant time
  interaction), and the baseline of the band is estimated from that band's risk set only;
* a customer with tenure ``t`` in band ``b`` gets ``P(churn in (t, t + h] | alive at t) =
  1 - S_b(t - b + h) / S_b(t - b)``.

No number is given where the data cannot support one (:func:`csresearch.survival.predict.
horizon_support`): ``t + h`` beyond the longest observed tenure, or fewer than ``min_at_risk``
customers observed until ``t + h``.

Example
-------
>>> m = TenureLandmarkCox(["Contract", "MonthlyCharges"], horizon=12).fit(telco, "tenure", "Churn=Yes")  # doctest: +SKIP
>>> m.probability(active, active["tenure"].to_numpy(), 12)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from csresearch.errors import DataQualityWarning, DataValidationError, ModelError
from csresearch.survival.drivers import CoxModel
from csresearch.survival.predict import MIN_AT_RISK, conditional_churn_probability, horizon_support
from csresearch.survival.tables import event_indicator

LM_DURATION, LM_EVENT, LM_T0 = "_lm_duration", "_lm_event", "_lm_t0"
MIN_BAND_EVENTS = 10  # a band with fewer churns in its window gets no model of its own


class TenureLandmarkCox:
    """One Cox model per band of current tenure, each fitted on the customers at risk at the
    band's start (see the module docstring). The band models skip :class:`CoxModel`'s pre-fit
    checks (``checks=False``); for those, fit the whole-table :class:`CoxModel` on the same
    covariates first.

    Parameters
    ----------
    covariates
        Model columns (numeric or categorical), as :class:`CoxModel`.
    horizon
        The longest horizon predictions are asked for (in the duration's unit).
    width
        Band width (default: ``horizon``).
    penalizer
        A small ridge penalty (default 0.01): within a band a level can have no churn at all
        (Telco: no two-year contract leaves in its first year), which would make the plain fit
        run away.
    min_at_risk
        Fewest customers observed until ``t + h`` for a number to be given (and fewest
        customers at a band's start for the band to have a model of its own).

    Attributes (after ``fit``)
    --------------------------
    models_ : dict band start -> CoxModel; bands_ : DataFrame ``start, end, n, events, fitted``;
    durations_ : the observed durations (for :func:`horizon_support`); last_ : the longest.

    Examples
    --------
    >>> TenureLandmarkCox(["x"], horizon=12).fit(df, "t", "e").bands_  # doctest: +SKIP
    """

    def __init__(self, covariates: Sequence[str], horizon: float, width: float | None = None,
                 categorical: Sequence[str] = (), reference: Mapping[str, object] | None = None,
                 penalizer: float = 0.01, min_at_risk: int = MIN_AT_RISK) -> None:
        if horizon <= 0 or (width is not None and width <= 0):
            raise DataValidationError(f"horizon ({horizon}) and band width ({width}) must be > 0")
        self.covariates, self.horizon = list(covariates), float(horizon)
        self.width = float(width if width is not None else horizon)
        self.categorical, self.reference = list(categorical), dict(reference or {})
        self.penalizer, self.min_at_risk = penalizer, min_at_risk

    def fit(self, df: pd.DataFrame, duration: str, event: str) -> TenureLandmarkCox:
        """Fit one Cox model per band start ``0, width, 2 width, ...`` below the longest duration."""
        dur = pd.to_numeric(df[duration], errors="coerce").to_numpy(float)
        if np.isnan(dur).any() or (dur < 0).any():
            raise DataValidationError(f"column '{duration}': {int((np.isnan(dur) | (dur < 0)).sum())} "
                                      "duration(s) missing or negative; durations must be numbers >= 0")
        ev = event_indicator(df, event).to_numpy()
        self.durations_, self.last_ = dur, float(dur.max())
        self.models_, rows, self.warnings_ = {}, [], []
        window = self.width + self.horizon
        for b in np.arange(0.0, self.last_, self.width):
            at = dur > b
            end = b + window
            w = df.loc[at, self.covariates].copy()
            w[LM_DURATION] = np.minimum(dur[at], end) - b
            w[LM_EVENT] = ((ev[at] == 1) & (dur[at] <= end)).astype(int)
            n_ev = int(w[LM_EVENT].sum())
            fitted = len(w) >= self.min_at_risk and n_ev >= MIN_BAND_EVENTS
            if fitted:
                fitted = self._fit_band(float(b), w)
            rows.append({"start": float(b), "end": float(b + self.width), "n": int(at.sum()),
                         "events": n_ev, "fitted": fitted})
        self.bands_ = pd.DataFrame(rows)
        if not self.models_:
            raise ModelError("no tenure band has enough customers and churns for a model of its own "
                             f"(at least {self.min_at_risk} customers and {MIN_BAND_EVENTS} churns)")
        return self

    def _fit_band(self, b: float, w: pd.DataFrame) -> bool:
        m = CoxModel(self.covariates, categorical=self.categorical, reference=self.reference,
                     penalizer=self.penalizer, dropna=True, checks=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataQualityWarning)
            try:
                m.fit(w, LM_DURATION, LM_EVENT)
            except ModelError as e:
                self.warnings_.append(f"band from {b:g}: {e}")
                return False
        self.warnings_ += [f"band from {b:g}: {c.message}" for c in caught]
        self.models_[b] = m
        return True

    def band_of(self, t0: np.ndarray) -> np.ndarray:
        """The start of the fitted band each tenure falls in (the last band takes the rest)."""
        starts = np.array(sorted(self.models_))
        i = np.searchsorted(starts, np.asarray(t0, float), side="right") - 1
        return starts[np.clip(i, 0, len(starts) - 1)]

    def probability(self, df: pd.DataFrame, t0: np.ndarray, horizon: float) -> np.ndarray:
        """P(churn in (t0, t0 + horizon] | alive at t0) per row; NaN where the data cannot
        support a number (see :func:`csresearch.survival.predict.horizon_support`)."""
        t0 = np.asarray(t0, float)
        out = np.full(len(df), np.nan)
        band = self.band_of(t0)
        for b, m in self.models_.items():
            sel = band == b
            if not sel.any():
                continue
            part = df.loc[sel, self.covariates].copy()
            part[LM_T0] = t0[sel] - b
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataQualityWarning)
                p = conditional_churn_probability(m, part, LM_T0, [horizon])
            out[sel] = p.iloc[:, 0].to_numpy()
        ok = horizon_support(self.durations_, t0, horizon, self.min_at_risk)["ok"].to_numpy()
        return np.where(ok, out, np.nan)
