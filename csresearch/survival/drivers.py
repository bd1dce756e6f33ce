"""Churn drivers: a Cox proportional-hazards model with checks before and after fitting.

Before fitting, :class:`CoxModel` names and explains what would make the model wrong or
impossible (:func:`prefit_checks`, in :mod:`csresearch.survival.checks` with the design matrix):

* missing values -> :class:`DataValidationError` (or dropped with a count, ``dropna=True``);
* a constant covariate, exactly collinear covariates -> :class:`DataValidationError`;
* nearly collinear covariates (VIF > 10) -> :class:`DataQualityWarning`;
* a covariate nearly determined by the duration (leakage: |Spearman| > 0.8 with the
  duration, or R^2 >= 0.95 on duration and duration x the other covariates, 0.3 above what
  the other covariates alone explain, like Telco's TotalCharges ~ tenure x MonthlyCharges)
  -> :class:`DataQualityWarning`;
* fewer than 10 events per estimated coefficient -> :class:`DataQualityWarning`.

A fit that does not converge (complete separation, huge coefficients) raises
:class:`ModelError` saying which covariate and what to try.

Example
-------
>>> m = CoxModel(["MonthlyCharges", "Contract"], reference={"Contract": "Month-to-month"})
>>> m.fit(telco, "tenure", "Churn=Yes").summary  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from matplotlib.axes import Axes

from csresearch.errors import DataQualityWarning, DataValidationError, ModelError
from csresearch.survival.checks import (  # noqa: F401  (design matrix and pre-fit checks, importable from here too)
    LEAK_R2,
    LEAK_SPEARMAN,
    MAX_LEVELS,
    MIN_EPV,
    VIF_WARN,
    _is_categorical,
    encode,
    levels_and_reference,
    prefit_checks,
)
from csresearch.survival.efron import (  # lifelines' fit and concordance, faster
    FastCoxPHFitter as CoxPHFitter,
)
from csresearch.survival.efron import concordance_index
from csresearch.survival.tables import DURATION, EVENT, parse_event, survival_frame

HUGE_COEF = 10.0  # |log hazard ratio| above this (HR > 22,000) means the fit ran away


def _warn(msg: str) -> None:
    warnings.warn(msg, DataQualityWarning, stacklevel=3)


# -- the model ------------------------------------------------------------------------------
class CoxModel:
    """Cox proportional-hazards model of churn with pre-fit checks and tidy outputs.

    Parameters
    ----------
    covariates
        Columns to use (numeric, or categorical: text columns are categorical automatically).
    formula
        Alternatively a formulaic right-hand side (``"MonthlyCharges + C(Contract)"``).
    categorical
        Columns to treat as categorical even if numeric.
    reference
        Reference level per categorical column (``{"Contract": "Month-to-month"}``); default
        the first level in sorted order. Hazard ratios compare each level with it.
    strata
        Columns to stratify on (a baseline per stratum, no coefficient).
    penalizer, l1_ratio
        lifelines' elastic-net penalty (``penalizer > 0`` helps separation and collinearity).
    dropna
        Drop rows with missing values (with a warning stating how many) instead of raising.
    checks
        Run the pre-fit checks (default). Refits of an already checked model on parts of the
        same data (cross-validation folds, tenure bands) may skip them: they are the slow part.
    reuse
        Fits to take instead of fitting again: ``(training table, settings, lifelines model)``
        triples, such as another model's ``cv_fits_``. One whose training table (the design with
        the duration and event) equals this fit's and whose settings (penalizer, l1_ratio,
        alpha, strata) are this model's is used as it is (the same data gives the same fit).

    Attributes (after ``fit``)
    --------------------------
    model_ : lifelines.CoxPHFitter (:class:`csresearch.survival.efron.FastCoxPHFitter`)
    params_ : Series of coefficients (log hazard ratios) by term
    concordance_, log_likelihood_, aic_, n_, events_ : float / int
    reference_ : dict of the reference level of each categorical covariate
    warnings_ : list of the pre-fit warnings issued
    cv_concordance_ : mean k-fold concordance after :meth:`cross_validate`
    cv_fits_ : the folds' fits that converged cleanly, for ``reuse`` (after :meth:`cross_validate`)

    Examples
    --------
    >>> m = CoxModel(["x"]).fit(df, "t", "e")  # doctest: +SKIP
    >>> m.summary.columns.tolist()  # doctest: +SKIP
    ['term', 'coef', 'se', 'hr', 'hr_lower', 'hr_upper', 'p']
    """

    def __init__(
        self,
        covariates: Sequence[str] | None = None,
        formula: str | None = None,
        categorical: Sequence[str] = (),
        reference: Mapping[str, object] | None = None,
        strata: Sequence[str] | None = None,
        penalizer: float = 0.0,
        l1_ratio: float = 0.0,
        alpha: float = 0.05,
        dropna: bool = False,
        min_epv: float = MIN_EPV,
        checks: bool = True,
        reuse: Sequence[tuple] = (),
    ) -> None:
        if (covariates is None) == (formula is None):
            raise DataValidationError("give either covariates (a column list) or a formula, not both/neither")
        self.covariates = list(covariates) if covariates is not None else None
        self.formula = formula
        self.categorical = list(categorical)
        self.reference = dict(reference or {})
        self.strata = list(strata or [])
        self.penalizer = penalizer
        self.l1_ratio = l1_ratio
        self.alpha = alpha
        self.dropna = dropna
        self.min_epv = min_epv
        self.checks = checks
        self.reuse = list(reuse)

    # -- preparation ----------------------------------------------------------------------
    def _columns(self, df: pd.DataFrame) -> list[str]:
        if self.covariates is not None:
            return self.covariates
        from formulaic import Formula

        return sorted(Formula(self.formula).required_variables)

    def _prepare(self, df: pd.DataFrame, duration: str, event: str) -> pd.DataFrame:
        cols = self._columns(df)
        missing = [c for c in [*cols, *self.strata] if c not in df.columns]
        if missing:
            raise DataValidationError(
                f"Cox model: column(s) {missing} not found; present: {', '.join(map(str, df.columns))}"
            )
        cat = [c for c in cols if c in self.categorical or _is_categorical(df[c])]
        num = [c for c in cols if c not in cat]
        try:
            sv = survival_frame(df, duration, event, numeric=num, keep=[*cat, *self.strata], dropna=self.dropna)
        except DataValidationError as e:
            raise DataValidationError(f"the Cox model cannot be fitted with missing values: {e}") from e
        self._cat, self._num = cat, num
        return sv

    def design(self, df: pd.DataFrame) -> pd.DataFrame:
        """The numeric design matrix of ``df`` with the fitted encoding (same columns as at fit)."""
        if self.formula is not None:
            from formulaic import model_matrix

            mm = self._spec_.get_model_matrix(df) if hasattr(self, "_spec_") else model_matrix(self.formula, df)
            X = pd.DataFrame(mm).drop(columns=["Intercept"], errors="ignore").astype(float)
            if not hasattr(self, "_spec_"):
                self._spec_ = mm.model_spec
            return X
        return encode(df, self.covariates, self._cat, self.levels_, self.reference_)

    # -- fitting --------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, duration: str, event: str) -> CoxModel:
        """Check, encode and fit; returns self. ``event`` is a 0/1 column or ``column=value``."""
        sv = self._prepare(df, duration, event)
        self.levels_, self.reference_ = {}, {}
        self.__dict__.pop("_spec_", None)
        if self.formula is None:
            self.levels_, self.reference_ = levels_and_reference(sv, self._cat, self.reference)
        X = self.design(sv)
        self.duration_name_, self.event_name_ = duration, parse_event(event)[0]
        self.warnings_ = prefit_checks(
            X, sv[DURATION], sv[EVENT],
            numeric=[c for c in X.columns if c in self._num or (self.formula and "[" not in c)],
            duration_name=duration, min_epv=self.min_epv,
        ) if self.checks else []
        data = pd.concat([X, sv[[DURATION, EVENT, *self.strata]]], axis=1)
        self.model_ = self._fit_lifelines(data)
        self._data = data
        m = self.model_
        self.params_ = m.params_.copy()
        self.__dict__.pop("_concordance", None)  # the in-sample concordance: on first use (concordance_)
        self.log_likelihood_ = float(m.log_likelihood_)
        self.aic_ = float(m.AIC_partial_)
        self.n_, self.events_ = len(data), int(data[EVENT].sum())
        self.terms_ = list(X.columns)
        return self

    @property
    def concordance_(self) -> float:
        """In-sample concordance of the fitted model, computed on first use: a refit that never
        reads it (a cross-validation fold, a calibration candidate) does not pay for it."""
        if "_concordance" not in self.__dict__:
            self._concordance = float(self.model_.concordance_index_)
        return self._concordance

    def _settings(self, alpha: float | None = None) -> tuple:
        return (self.penalizer, self.l1_ratio, self.alpha if alpha is None else alpha, tuple(self.strata))

    def _fit_lifelines(self, data: pd.DataFrame) -> CoxPHFitter:
        for train, settings, fitted in self.reuse:
            if settings == self._settings() and train.equals(data) and not (fitted.params_.abs() > HUGE_COEF).any():
                return fitted
        cph = CoxPHFitter(penalizer=self.penalizer, l1_ratio=self.l1_ratio, alpha=self.alpha)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            try:
                cph.fit(data, DURATION, EVENT, strata=self.strata or None)
            except (ConvergenceError, np.linalg.LinAlgError, ValueError) as e:
                raise ModelError(self._diagnose(data, None, f"lifelines stopped: {str(e).splitlines()[0]}")) from e
        notes = [str(w.message).splitlines()[0] for w in caught if issubclass(w.category, ConvergenceWarning)]
        runaway = cph.params_.abs() > HUGE_COEF
        failed = [n for n in notes if "converge" in n.lower() or "separation" in n.lower()]
        if runaway.any() or failed:
            raise ModelError(self._diagnose(data, cph, "; ".join(failed)))
        return cph

    def _diagnose(self, data: pd.DataFrame, cph: CoxPHFitter | None, note: str) -> str:
        X = data.drop(columns=[DURATION, EVENT, *self.strata])
        e = data[EVENT].to_numpy() == 1
        suspects = []
        for c in X.columns:
            x = X[c].to_numpy()
            if len(np.unique(x)) <= 2:
                hi = x == x.max()
                if e[hi].all() and hi.sum() > 0 or (~e[hi]).all() and e.any():
                    suspects.append(f"'{c}' (all {int(hi.sum())} rows with {c}={x.max():g} "
                                    + ("churned" if e[hi].all() else "stayed") + ")")
                    continue
            if cph is not None and abs(cph.params_.get(c, 0)) > HUGE_COEF:
                suspects.append(f"'{c}' (coefficient {cph.params_[c]:+.1f}, hazard ratio ~{np.exp(min(700, cph.params_[c])):.1e})")
        why = (
            "the Cox model did not converge"
            + (f" ({note})" if note else "")
            + ". Likely cause: complete separation - a covariate (almost) perfectly predicts the "
            "event, so its coefficient runs off to infinity"
        )
        if suspects:
            why += "; suspect covariate(s): " + ", ".join(suspects)
        return why + (
            ". What to try: add a penalizer (e.g. penalizer=0.1, --penalizer 0.1), drop or merge "
            "the suspect covariate, or check whether it is recorded after churn (leakage)"
        )

    # -- results --------------------------------------------------------------------------
    @property
    def summary(self) -> pd.DataFrame:
        """Hazard ratios with intervals: ``term, coef, se, hr, hr_lower, hr_upper, p``."""
        s = self.model_.summary
        lo, hi = [c for c in s.columns if c.startswith("coef lower")][0], [c for c in s.columns if c.startswith("coef upper")][0]
        return pd.DataFrame(
            {
                "term": s.index.astype(str),
                "coef": s["coef"].to_numpy(),
                "se": s["se(coef)"].to_numpy(),
                "hr": np.exp(s["coef"]).to_numpy(),
                "hr_lower": np.exp(s[lo]).to_numpy(),
                "hr_upper": np.exp(s[hi]).to_numpy(),
                "p": s["p"].to_numpy(),
            }
        )

    def ph_test(self, transform: str = "km", alpha: float = 0.05) -> pd.DataFrame:
        """Proportional-hazards test as R's ``cox.zph`` (survival >= 3): one row per term (a
        categorical's dummies tested together) and a ``GLOBAL`` row.

        ``transform`` is the time scale the residuals are tested against: ``"km"`` (R's
        default), ``"rank"`` or ``"identity"`` (see :mod:`csresearch.survival.zph`).
        Returns ``term, statistic, df, p, ph_ok`` (``ph_ok`` = p >= alpha: no evidence that the
        hazard ratio changes over time); ``attrs["transform"]`` names the transform. A failing
        term calls for strata, a time interaction, or a landmark model.

        Examples
        --------
        >>> CoxModel(["x"]).fit(df, "t", "e").ph_test().columns.tolist()  # doctest: +SKIP
        ['term', 'statistic', 'df', 'p', 'ph_ok']
        """
        from csresearch.survival.zph import ph_test

        out = ph_test(self, transform=transform)
        out["ph_ok"] = out["p"] >= alpha
        return out

    def predict_log_partial_hazard(self, df: pd.DataFrame) -> pd.Series:
        """``(x - mean) . beta`` for new rows (the mean of the training design, as lifelines)."""
        X = self.design(df)
        return pd.Series(
            (X[self.terms_].to_numpy() - self.model_._norm_mean.to_numpy()) @ self.params_.to_numpy(),
            index=df.index, name="log_partial_hazard",
        )

    def cross_validate(
        self, df: pd.DataFrame, duration: str, event: str, k: int = 5, seed: int = 0, refit: bool = True
    ) -> pd.DataFrame:
        """k-fold cross-validated concordance (fixed seed): one row per fold plus the mean.

        The model is (re)fitted on ``df`` first, which sets the encoding (levels, reference);
        ``refit=False`` skips that for a model already fitted on this very ``df``, ``duration``
        and ``event`` (it is the same fit);
        each fold then refits on the other folds and scores the held-out rows (higher risk =
        churns sooner). A fold whose fit does not converge, or whose held-out rows have no
        comparable pair, is stated in a warning (its concordance is NaN in the latter case).
        Sets ``cv_concordance_`` (mean over the folds with a value).
        """
        if refit or not hasattr(self, "_data"):
            self.fit(df, duration, event)
        data = self._data
        folds = np.array_split(np.random.default_rng(seed).permutation(len(data)), k)
        rows, self.cv_fits_ = [], []
        for i, test_idx in enumerate(folds):
            held = np.zeros(len(data), dtype=bool)
            held[test_idx] = True
            train, test = data[~held], data[held]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                cph = CoxPHFitter(penalizer=self.penalizer, l1_ratio=self.l1_ratio).fit(
                    train, DURATION, EVENT, strata=self.strata or None
                )
            if any(issubclass(w.category, ConvergenceWarning) for w in caught):
                _warn(f"cross-validation fold {i + 1} of {k}: the Cox fit on the other folds did not converge "
                      "cleanly; its concordance is unreliable (add a penalizer or use fewer folds)")
            else:
                self.cv_fits_.append((train, self._settings(alpha=0.05), cph))  # lifelines' default alpha
            risk = cph.predict_log_partial_hazard(test)
            try:
                c = concordance_index(test[DURATION], -risk, test[EVENT])
            except ZeroDivisionError:
                _warn(f"cross-validation fold {i + 1} of {k}: its {len(test)} held-out rows have no comparable "
                      f"pair ({int(test[EVENT].sum())} events), so no concordance; use fewer folds")
                c = np.nan
            rows.append({"fold": i + 1, "n_test": len(test), "events_test": int(test[EVENT].sum()),
                         "concordance": c})
        out = pd.DataFrame(rows)
        self.cv_concordance_ = float(out["concordance"].mean())
        out.attrs.update({"k": k, "seed": seed, "mean": self.cv_concordance_, "sd": float(out["concordance"].std())})
        return out

    def plot(self, ax: Axes | None = None) -> Axes:
        """Forest plot: hazard ratio and interval of every term on a log scale."""
        s = self.summary.iloc[::-1]
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.4 * len(s) + 1.2))
        y = np.arange(len(s))
        ax.errorbar(s["hr"], y, xerr=[s["hr"] - s["hr_lower"], s["hr_upper"] - s["hr"]],
                    fmt="o", color="C0", capsize=3)
        ax.axvline(1, color="grey", lw=1, ls="--")
        ax.set_xscale("log")
        ax.set_yticks(y, s["term"])
        ax.set_xlabel(f"hazard ratio ({int(100 * (1 - self.alpha))}% interval); > 1 = churns sooner")
        refs = ", ".join(f"{c}={v}" for c, v in self.reference_.items())
        ax.set_title("Churn drivers (Cox)" + (f"; reference {refs}" if refs else ""))
        return ax
