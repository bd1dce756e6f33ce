"""Landmark models: churn models refitted at landmark dates on usage measured then.

Usage changes over time, so a model on covariates measured at the start goes stale. At each
landmark date ``L`` the landmark approach takes the accounts still active at ``L``, measures
their covariates in the last complete month before ``L``, and models the time from ``L`` to
churn (censored at ``L + horizon`` and, for training, at a cut-off date, so no outcome after
the cut-off is used). :func:`compare_static_landmark` checks on a later, held-out landmark
whether this beats the static model (concordance and Brier score at the horizon).

Inputs are plain frames, so this module does not depend on how features are built:

* ``survival``: one row per account with ``account_id, start_date, tenure_days, churned``
  (e.g. :func:`csresearch.survival.tables.survival_table`) plus any static columns;
* ``features``: one row per account and month, ``account_id, month`` (a date in the month,
  a ``YYYY-MM`` string or a period) and feature columns (events, active_days, trend...).

Example
-------
>>> lm = LandmarkModel(["events", "trend"]).fit(st, feats, ["2024-07-01", "2025-01-01"])  # doctest: +SKIP
>>> lm.summary  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from matplotlib.axes import Axes

from csresearch.errors import DataQualityWarning, DataValidationError
from csresearch.reports.present import words as nv
from csresearch.survival.drivers import CoxModel
from csresearch.survival.efron import concordance_index
from csresearch.survival.predict import conditional_churn_probability

ID, START, TENURE, CHURNED = "account_id", "start_date", "tenure_days", "churned"


def _require(df: pd.DataFrame, cols: Sequence[str], name: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"{name}: columns not found: {missing}; present: {', '.join(map(str, df.columns))}"
        )


def _months(s: pd.Series) -> pd.PeriodIndex:
    if isinstance(s.dtype, pd.PeriodDtype):
        return pd.PeriodIndex(s).asfreq("M")
    return pd.PeriodIndex(pd.to_datetime(s.astype(str) if s.dtype == object else s), freq="M")


def outcomes_after(
    survival: pd.DataFrame,
    date: str,
    static: Sequence[str] = (),
    horizon_days: float | None = None,
    censor_at: str | None = None,
) -> pd.DataFrame:
    """The accounts active on ``date`` and what happened after it.

    Active: ``start_date <= date < start_date + tenure_days``. Returns ``account_id,
    landmark, tenure_at_landmark, duration`` (days from ``date`` to churn or censoring, capped
    at ``horizon_days``; outcomes after ``censor_at`` unused) ``, event`` and ``static`` columns.
    """
    _require(survival, [ID, START, TENURE, CHURNED, *static], "survival table")
    L = pd.Timestamp(date)
    start = pd.to_datetime(survival[START])
    stop = start + pd.to_timedelta(survival[TENURE], unit="D")
    ev = survival[CHURNED].astype(int).to_numpy()
    active = ((start <= L) & (stop > L)).to_numpy()
    if not active.any():
        raise DataValidationError(f"no account is active at the landmark {date}")
    end_obs = stop
    if censor_at is not None:
        C = pd.Timestamp(censor_at)
        if C <= L:
            raise DataValidationError(f"censor_at {censor_at} must be after the landmark {date}")
        late = (stop > C).to_numpy()
        end_obs = stop.where(~late, C)
        ev = np.where(late, 0, ev)
    dur = (end_obs - L).dt.days.to_numpy(float)
    if horizon_days is not None:
        over = dur > horizon_days
        dur = np.where(over, horizon_days, dur)
        ev = np.where(over, 0, ev)
    base = pd.DataFrame(
        {
            ID: survival[ID].to_numpy(),
            "landmark": L,
            "tenure_at_landmark": (L - start).dt.days.to_numpy(float),
            "duration": dur,
            "event": ev,
        },
        index=survival.index,
    )
    for c in static:
        base[c] = survival[c].to_numpy()
    return base[active].reset_index(drop=True)


def landmark_frame(
    survival: pd.DataFrame,
    features: pd.DataFrame,
    landmark: str,
    feature_cols: Sequence[str],
    static: Sequence[str] = (),
    horizon_days: float | None = None,
    censor_at: str | None = None,
    fill_value: float | None = None,
) -> pd.DataFrame:
    """The accounts active at ``landmark`` with covariates measured then and time from it.

    Parameters
    ----------
    survival
        One row per account: ``account_id, start_date, tenure_days, churned`` (+ ``static``).
    features
        ``account_id, month`` and ``feature_cols``; the month used is the last complete
        month before the landmark (``landmark``'s month - 1).
    landmark
        ISO date. Active at it: ``start_date <= landmark < start_date + tenure_days``.
    horizon_days
        Censor the time from the landmark at this many days (the prediction horizon).
    censor_at
        ISO date after which outcomes are not used (training data for a later test window).
    fill_value
        Value for an active account without a features row that month (e.g. 0 when a missing
        row means no usage). Default: such accounts are left out, with a warning saying how many.

    Returns
    -------
    DataFrame ``account_id, landmark, tenure_at_landmark, duration, event`` + features + static.

    Examples
    --------
    >>> landmark_frame(st, feats, "2024-07-01", ["events"], horizon_days=180)  # doctest: +SKIP
    """
    _require(features, [ID, "month", *feature_cols], "features")
    L = pd.Timestamp(landmark)
    base = outcomes_after(survival, landmark, static, horizon_days, censor_at)
    month = L.to_period("M") - 1
    f = features.loc[_months(features["month"]) == month, [ID, *feature_cols]]
    if f[ID].duplicated().any():
        raise DataValidationError(f"features: {int(f[ID].duplicated().sum())} duplicate (account_id, month) rows for {month}")
    out = base.merge(f, on=ID, how="left")
    missing = out[list(feature_cols)].isna().any(axis=1)
    if missing.any():
        if fill_value is None:
            warnings.warn(
                f"landmark {landmark}: {int(missing.sum())} of {nv.plural(len(out), 'active account')} without "
                f"features for {month} (or missing values); they are left out. Pass fill_value=0 "
                "if a missing row means no usage",
                DataQualityWarning, stacklevel=2,
            )
            out = out[~missing]
        else:
            out[list(feature_cols)] = out[list(feature_cols)].fillna(fill_value)
    out.attrs.update({"landmark": landmark, "feature_month": str(month), "left_out": int(missing.sum()) if fill_value is None else 0})
    return out.reset_index(drop=True)


class LandmarkModel:
    """One Cox model per landmark date, on covariates measured at the landmark.

    Parameters
    ----------
    covariates
        Feature columns (measured in the month before each landmark).
    static
        Columns of the survival table (segment, plan...) used as they are.
    horizon_days
        Time from the landmark is censored at this horizon.
    include_tenure
        Add ``tenure_at_landmark`` (days) as a covariate.

    Attributes (after ``fit``): ``models_`` (landmark -> :class:`CoxModel`), ``n_`` (rows per
    landmark), ``summary`` (all hazard ratios with a ``landmark`` column).

    Examples
    --------
    >>> LandmarkModel(["events"]).fit(st, feats, ["2024-07-01"]).summary  # doctest: +SKIP
    """

    def __init__(self, covariates: Sequence[str], static: Sequence[str] = (), categorical: Sequence[str] = (),
                 reference: dict | None = None, horizon_days: float = 365, include_tenure: bool = True,
                 penalizer: float = 0.0, fill_value: float | None = None) -> None:
        self.covariates, self.static = list(covariates), list(static)
        self.categorical, self.reference = list(categorical), dict(reference or {})
        self.horizon_days, self.include_tenure = horizon_days, include_tenure
        self.penalizer, self.fill_value = penalizer, fill_value

    @property
    def terms(self) -> list[str]:
        return [*self.covariates, *self.static, *(["tenure_at_landmark"] if self.include_tenure else [])]

    def _cox(self) -> CoxModel:
        return CoxModel(self.terms, categorical=self.categorical, reference=self.reference, penalizer=self.penalizer)

    def frame(self, survival, features, landmark, censor_at=None) -> pd.DataFrame:
        return landmark_frame(survival, features, landmark, self.covariates, self.static,
                              self.horizon_days, censor_at, self.fill_value)

    def fit(self, survival: pd.DataFrame, features: pd.DataFrame, landmarks: Sequence[str],
            censor_at: str | None = None) -> LandmarkModel:
        """Fit one model per landmark (outcomes after ``censor_at`` unused); returns self."""
        self.models_, self.n_ = {}, {}
        for L in landmarks:
            fr = self.frame(survival, features, L, censor_at)
            self.models_[L] = self._cox().fit(fr, "duration", "event")
            self.n_[L] = (len(fr), int(fr["event"].sum()))
        return self

    @property
    def summary(self) -> pd.DataFrame:
        return pd.concat(
            [m.summary.assign(landmark=L, n=self.n_[L][0], events=self.n_[L][1]) for L, m in self.models_.items()],
            ignore_index=True,
        )[["landmark", "n", "events", "term", "coef", "se", "hr", "hr_lower", "hr_upper", "p"]]

    def predict(self, survival: pd.DataFrame, features: pd.DataFrame, landmark: str,
                horizons: Sequence[float] = (30, 90, 180), model_landmark: str | None = None) -> pd.DataFrame:
        """P(churn within h days of ``landmark``) for the accounts active at it, from the model
        of ``model_landmark`` (default: the latest fitted landmark on or before ``landmark``)."""
        if model_landmark is None:
            earlier = [L for L in self.models_ if pd.Timestamp(L) <= pd.Timestamp(landmark)]
            if not earlier:
                raise DataValidationError(f"no model fitted at or before {landmark}; fitted: {list(self.models_)}")
            model_landmark = max(earlier, key=pd.Timestamp)
        fr = landmark_frame(survival, features, landmark, self.covariates, self.static, None, None, self.fill_value)
        p = conditional_churn_probability(self.models_[model_landmark], fr.assign(_t0=0.0), "_t0", horizons)
        return pd.concat([fr[[ID, "tenure_at_landmark"]], p], axis=1)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Hazard ratio of each covariate across landmarks: how its effect changes over time."""
        s = self.summary
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        for term, g in s.groupby("term", sort=False):
            x = pd.to_datetime(g["landmark"])
            ax.errorbar(x, g["hr"], yerr=[g["hr"] - g["hr_lower"], g["hr_upper"] - g["hr"]], marker="o", capsize=3, label=term)
        ax.axhline(1, color="grey", lw=1, ls="--")
        ax.set_yscale("log")
        ax.set_ylabel("hazard ratio at the landmark")
        ax.legend(fontsize=8)
        return ax


# -- evaluation at a horizon ------------------------------------------------------------------
def brier_at(duration: np.ndarray, event: np.ndarray, p_churn: np.ndarray, horizon: float) -> float:
    """Brier score at ``horizon`` with inverse-probability-of-censoring weights (Graf et al. 1999).

    ``mean_i [ p_i^2 1(alive at h) / G(h-) + (1 - p_i)^2 1(T_i <= h, event) / G(T_i-) ]`` where
    ``p_i`` = predicted P(churn by h) and ``G`` the Kaplan-Meier curve of the censoring times.
    An account censored exactly at ``h`` (e.g. follow-up capped at the horizon) is known to be
    alive at ``h``, so "alive at h" is ``T_i > h`` or (``T_i = h`` and censored), and its weight
    uses ``G(h-)``: censorings at ``h`` itself do not hide anyone's status at ``h``.

    Examples
    --------
    >>> float(brier_at(np.array([1, 4]), np.array([1, 0]), np.array([0.9, 0.1]), 4))  # (0.01 + 0.01) / 2
    0.01
    """
    d, e, p = (np.asarray(x, float) for x in (duration, event, p_churn))
    G = KaplanMeierFitter().fit(d, 1 - e)
    g_h = float(G.predict(horizon - 1e-9))
    g_t = np.asarray(G.predict(np.maximum(d - 1e-9, 0)), float)
    after = (d > horizon) | ((d == horizon) & (e == 0))
    died = (d <= horizon) & (e == 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(after, p**2 / g_h, 0.0) + np.where(died, (1 - p) ** 2 / g_t, 0.0)
    return float(terms.mean())


def _first_month_features(survival: pd.DataFrame, features: pd.DataFrame, cols: Sequence[str],
                          before: str, what: str) -> pd.DataFrame:
    """``survival`` with each account's first-month features, from months complete before
    ``before`` (no look-ahead); accounts without such a month are left out with a warning."""
    m = _months(features["month"])
    keep = np.asarray(m < pd.Timestamp(before).to_period("M"))
    f = features.loc[keep, [ID, *cols]].assign(_m=m[keep])
    first = f.sort_values("_m").groupby(ID, as_index=False).first()
    out = survival.merge(first[[ID, *cols]], on=ID, how="inner")
    if len(out) < len(survival):
        warnings.warn(
            f"{what}: {len(survival) - len(out)} of {nv.plural(len(survival), 'account')} without features for a month "
            f"complete before {before}; they are left out of the static model",
            DataQualityWarning, stacklevel=3,
        )
    return out


def compare_static_landmark(
    survival: pd.DataFrame,
    features: pd.DataFrame,
    covariates: Sequence[str],
    train_landmarks: Sequence[str],
    test_landmark: str,
    horizon_days: float = 180,
    static: Sequence[str] = (),
    fill_value: float | None = None,
    penalizer: float = 0.0,
) -> pd.DataFrame:
    """Static vs landmark model on a later, held-out landmark.

    * **static**: one Cox model on the features of each account's first month (measured at
      the start) with time from the start, fitted on outcomes up to ``test_landmark``; it
      predicts ``P(churn within h | survived the tenure at the test landmark)``.
    * **landmark**: one Cox model on the stacked training landmarks (features of the month
      before each, time from it, censored at the horizon and at ``test_landmark``), with
      ``tenure_at_landmark`` as a covariate; it predicts ``P(churn within h of the landmark)``.

    Both are scored on the accounts active at ``test_landmark`` with their features of the
    month before it, on what happened in the ``horizon_days`` after it: concordance (higher
    is better) and IPCW Brier score at the horizon (lower is better).

    Returns
    -------
    DataFrame ``model, concordance, brier, n_test, events_test``.
    """
    if any(pd.Timestamp(L) >= pd.Timestamp(test_landmark) for L in train_landmarks):
        raise DataValidationError("every training landmark must be before the test landmark")
    # landmark model on stacked training landmarks, no outcome after the test landmark
    lm = LandmarkModel(covariates, static, horizon_days=horizon_days, penalizer=penalizer, fill_value=fill_value)
    train = pd.concat([lm.frame(survival, features, L, censor_at=test_landmark) for L in train_landmarks], ignore_index=True)
    lm_model = lm._cox().fit(train, "duration", "event")
    # static model: first-month features, time from start, censored at the test landmark
    T = pd.Timestamp(test_landmark)
    started = survival[pd.to_datetime(survival[START]) < T]
    st = _first_month_features(started, features, covariates, test_landmark, "static model, training").copy()
    stop = pd.to_datetime(st[START]) + pd.to_timedelta(st[TENURE], unit="D")
    late = stop > T
    st["_dur"] = np.where(late, (T - pd.to_datetime(st[START])).dt.days, st[TENURE]).astype(float)
    st["_ev"] = np.where(late, 0, st[CHURNED]).astype(int)
    static_model = CoxModel([*covariates, *static], penalizer=penalizer).fit(st, "_dur", "_ev")
    # held-out test landmark
    test = lm.frame(survival, features, test_landmark)
    test_static = _first_month_features(test.drop(columns=list(covariates)), features, covariates,
                                        test_landmark, "static model, test landmark")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # flat baseline beyond data is expected here
        p_lm = conditional_churn_probability(lm_model, test.assign(_t0=0.0), "_t0", [horizon_days]).iloc[:, 0]
        p_st = conditional_churn_probability(static_model, test_static, "tenure_at_landmark", [horizon_days]).iloc[:, 0]
    rows = []
    for name, fr, p in (("static (covariates at start)", test_static, p_st), ("landmark (covariates at landmark)", test, p_lm)):
        ok = p.notna().to_numpy()
        d, e, q = fr["duration"].to_numpy()[ok], fr["event"].to_numpy()[ok], p.to_numpy()[ok]
        rows.append({"model": name, "concordance": concordance_index(d, -q, e),
                     "brier": brier_at(d, e, q, horizon_days), "n_test": int(ok.sum()), "events_test": int(e.sum())})
    out = pd.DataFrame(rows)
    out.attrs.update({"test_landmark": test_landmark, "horizon_days": horizon_days,
                      "train_landmarks": list(train_landmarks), "n_train_landmark_rows": len(train)})
    return out
