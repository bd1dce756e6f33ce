"""Does a score predict churn? Concordance, bands, calibration, and learned vs configured weights.

A score (e.g. the health score, higher = healthier) measured on a date is checked against
what happened after that date: the input is one row per account with the score and the
time from the scoring date to churn or censoring (see :func:`scored_outcomes`).

* :func:`score_concordance`: the probability that, of two accounts whose order of churn is
  known, the one that churned first had the worse score (0.5 = chance, 1 = perfect);
* :func:`km_by_band`, :func:`churn_by_band`: Kaplan-Meier and churn rate by score band;
* :func:`calibration_table`: predicted vs observed churn probability by decile at a horizon;
* :class:`LearnedScore` and :func:`compare_weights`: weights fitted from churn history,
  compared with the configured weights on a later, held-out period.

Example
-------
>>> score_concordance(scored, "health", "duration", "event")  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from matplotlib.axes import Axes

from csresearch.errors import DataQualityWarning, DataValidationError, ModelError
from csresearch.reports.present import words as nv
from csresearch.survival.curves import km_summary, survival_band_at
from csresearch.survival.drivers import CoxModel
from csresearch.survival.efron import concordance_index
from csresearch.survival.landmark import brier_at, outcomes_after
from csresearch.survival.logrank import logrank
from csresearch.survival.tables import DURATION, EVENT, survival_frame

BAND_CUTS = (40.0, 70.0)
BAND_LABELS = ("red", "yellow", "green")


def scored_outcomes(scores: pd.DataFrame, survival: pd.DataFrame, date: str,
                    horizon_days: float | None = None, censor_at: str | None = None) -> pd.DataFrame:
    """Join scores taken on ``date`` (``account_id`` + score columns) to what happened after:
    the accounts active on ``date`` with ``duration`` (days) and ``event``. Accounts active
    without a score are counted in ``attrs['unscored']``; scores of inactive accounts are ignored."""
    out = outcomes_after(survival, date, horizon_days=horizon_days, censor_at=censor_at)
    res = out.merge(scores, on="account_id", how="inner")
    res.attrs["unscored"] = len(out) - len(res)
    if res.attrs["unscored"]:
        warnings.warn(f"{nv.plural(res.attrs['unscored'], 'account')} active on {date} without a score, left out",
                      DataQualityWarning, stacklevel=2)
    return res


def _sv(df, score, duration, event, dropna=False):
    return survival_frame(df, duration, event, numeric=[score], dropna=dropna)


def score_concordance(df: pd.DataFrame, score: str, duration: str, event: str,
                      higher_is_healthier: bool = True, dropna: bool = False) -> pd.DataFrame:
    """Concordance of a score with later churn (Harrell's C).

    Returns a one-row DataFrame ``score, n, events, concordance``.

    Examples
    --------
    >>> d = pd.DataFrame({"s": [10, 50, 90], "t": [1, 2, 3], "e": [1, 1, 0]})
    >>> score_concordance(d, "s", "t", "e")["concordance"].item()
    1.0
    """
    sv = _sv(df, score, duration, event, dropna)
    s = sv[score] if higher_is_healthier else -sv[score]
    c = concordance_index(sv[DURATION], s, sv[EVENT])
    return pd.DataFrame([{"score": score, "n": len(sv), "events": int(sv[EVENT].sum()), "concordance": c}])


def score_bands(values: pd.Series, cuts: Sequence[float] = BAND_CUTS,
                labels: Sequence[str] = BAND_LABELS) -> pd.Series:
    """Bands of a score: ``[-inf, c1)``, ``[c1, c2)``... ``[ck, inf)`` labelled in order."""
    if len(labels) != len(cuts) + 1:
        raise DataValidationError(f"{len(cuts)} cut points need {len(cuts) + 1} labels, not {len(labels)}")
    b = pd.cut(values, [-np.inf, *cuts, np.inf], labels=list(labels), right=False)
    return b.rename("band")


def km_by_band(df: pd.DataFrame, score: str, duration: str, event: str, at: Sequence[float] = (),
               cuts: Sequence[float] = BAND_CUTS, labels: Sequence[str] = BAND_LABELS,
               dropna: bool = False) -> pd.DataFrame:
    """Kaplan-Meier summary per score band (``km_summary`` columns) with the log-rank p-value
    across bands in ``attrs['logrank_p']``."""
    sv = _sv(df, score, duration, event, dropna)
    sv["band"] = score_bands(sv[score], cuts, labels).astype(str)
    out = km_summary(sv, DURATION, EVENT, by="band", at=at)
    order = {lab: i for i, lab in enumerate(labels)}
    out = out.sort_values("group", key=lambda g: g.map(order)).reset_index(drop=True)
    if sv["band"].nunique() > 1:
        out.attrs["logrank_p"] = float(logrank(sv, DURATION, EVENT, "band")["p"].item())
    return out


def churn_by_band(df: pd.DataFrame, score: str, duration: str, event: str, horizon: float,
                  cuts: Sequence[float] = BAND_CUTS, labels: Sequence[str] = BAND_LABELS,
                  dropna: bool = False) -> pd.DataFrame:
    """Churn by ``horizon`` per band: ``band, n, churned, churn_rate, lower, upper``.

    ``churned`` counts churns observed by the horizon; ``churn_rate`` = 1 - KM survival at the
    horizon (it accounts for accounts censored earlier), with its 95 % interval.
    """
    sv = _sv(df, score, duration, event, dropna)
    sv["band"] = score_bands(sv[score], cuts, labels)
    rows = []
    for lab in labels:
        g = sv[sv["band"] == lab]
        row = {"band": lab, "n": len(g), "churned": int(((g[DURATION] <= horizon) & (g[EVENT] == 1)).sum())}
        if len(g):
            s, lo, hi = survival_band_at(KaplanMeierFitter().fit(g[DURATION], g[EVENT]), horizon)
            row.update({"churn_rate": 1 - s, "lower": 1 - hi, "upper": 1 - lo})
        else:
            row.update({"churn_rate": np.nan, "lower": np.nan, "upper": np.nan})
        rows.append(row)
    return pd.DataFrame(rows)


def calibration_table(df: pd.DataFrame, predicted: str, duration: str, event: str, horizon: float,
                      n_bins: int = 10, dropna: bool = False) -> pd.DataFrame:
    """Predicted vs observed churn probability by ``horizon``, by bins (deciles) of the prediction.

    ``predicted`` holds each account's predicted P(churn by horizon). Observed = 1 - KM
    survival at the horizon within the bin (censoring-aware; NaN when the horizon lies beyond
    the bin's last observed time), its interval the KM band read as a step function there. Returns ``bin, n, events,
    predicted, observed, lower, upper``; the IPCW Brier score is in ``attrs['brier']``.
    """
    sv = _sv(df, predicted, duration, event, dropna)
    p = sv[predicted]
    if ((p < 0) | (p > 1)).any():
        raise DataValidationError(f"column '{predicted}': predictions must be probabilities in [0, 1]")
    sv["bin"] = pd.qcut(p.rank(method="first"), n_bins, labels=False) + 1
    rows = []
    for b, g in sv.groupby("bin"):
        s, lo, hi = survival_band_at(KaplanMeierFitter().fit(g[DURATION], g[EVENT]), horizon)
        rows.append({
            "bin": int(b), "n": len(g), "events": int(((g[DURATION] <= horizon) & (g[EVENT] == 1)).sum()),
            "predicted": float(g[predicted].mean()), "observed": 1 - s, "lower": 1 - hi, "upper": 1 - lo,
        })
    out = pd.DataFrame(rows)
    out.attrs["brier"] = brier_at(sv[DURATION].to_numpy(), sv[EVENT].to_numpy(), p.to_numpy(), horizon)
    return out


def score_probability(train: pd.DataFrame, test: pd.DataFrame, score: str, duration: str, event: str,
                      horizon: float) -> pd.Series:
    """P(churn by ``horizon``) implied by a score: a Cox model of churn on the score fitted on
    ``train`` (an earlier period), applied to ``test``; feed it to :func:`calibration_table`
    for an out-of-sample calibration check of a score that is not itself a probability."""
    from csresearch.survival.predict import conditional_churn_probability

    m = CoxModel([score]).fit(train, duration, event)
    p = conditional_churn_probability(m, test.assign(_t0=0.0), "_t0", [horizon]).iloc[:, 0]
    return p.rename(f"p_churn_{horizon:g}")


def plot_calibration(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Observed vs predicted by bin with intervals and the diagonal."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.errorbar(table["predicted"], table["observed"],
                yerr=[table["observed"] - table["lower"], table["upper"] - table["observed"]], fmt="o", capsize=3)
    top = float(max(table["upper"].max(), table["predicted"].max())) * 1.05
    ax.plot([0, top], [0, top], color="grey", ls="--", lw=1)
    ax.set_xlabel("predicted churn probability")
    ax.set_ylabel("observed (Kaplan-Meier)")
    return ax


# -- learned weights --------------------------------------------------------------------------
class LearnedScore:
    """Score weights learned from churn history (weights sum to 1, higher score = healthier).

    ``method="cox"``: a Cox model of churn on the components; ``method="logistic"``: a logistic
    regression of churn by ``horizon`` (accounts censored before it are left out, counted in
    ``n_unknown_`` and a warning; censored at or after it = stayed). A component's weight is its negative coefficient (it lowers churn) divided
    by the sum over components: ``w_j = -b_j / sum_k(-b_k)``; with components on the same 0-100
    scale the score stays on that scale. A negative weight means the component goes the
    other way (more of it, more churn); when significant (p < 0.05) it is reported as a warning.

    Attributes: ``coef_``, ``weights_`` (Series), ``summary`` (component, coef, p, weight).

    Examples
    --------
    >>> LearnedScore().fit(train, ["usage", "nps"], "duration", "event").weights_  # doctest: +SKIP
    """

    def __init__(self, method: str = "cox", horizon: float | None = None, penalizer: float = 0.0) -> None:
        if method not in ("cox", "logistic"):
            raise DataValidationError(f"method must be 'cox' or 'logistic', not {method!r}")
        if method == "logistic" and horizon is None:
            raise DataValidationError("method='logistic' needs a horizon (churn by when)")
        self.method, self.horizon, self.penalizer = method, horizon, penalizer

    def fit(self, df: pd.DataFrame, components: Sequence[str], duration: str, event: str) -> LearnedScore:
        comps = list(components)
        sv = survival_frame(df, duration, event, numeric=comps)
        if self.method == "cox":
            m = CoxModel(comps, penalizer=self.penalizer).fit(sv, DURATION, EVENT)
            s = m.summary.set_index("term")
            coef, p = s["coef"], s["p"]
            self.n_unknown_ = 0
        else:
            import statsmodels.api as sm

            # censored at or after the horizon: known to have stayed (follow-up capped at the
            # horizon ends exactly there); censored before it: unknown, left out and counted
            known = (sv[DURATION] >= self.horizon) | (sv[EVENT] == 1)
            self.n_unknown_ = int((~known).sum())
            if self.n_unknown_:
                warnings.warn(
                    f"logistic weights: {self.n_unknown_} of {len(sv)} row(s) are censored before the horizon "
                    f"({self.horizon:g}), so whether they churned by then is unknown; they are left out "
                    "(method='cox' uses them)",
                    DataQualityWarning, stacklevel=2,
                )
            d = sv[known]
            y = ((d[DURATION] <= self.horizon) & (d[EVENT] == 1)).astype(float)
            try:
                r = sm.Logit(y, sm.add_constant(d[comps])).fit(disp=0)
            except Exception as e:  # perfect separation, singular matrix
                raise ModelError(f"logistic regression of churn did not fit: {e}; try method='cox'") from e
            coef, p = r.params[comps], r.pvalues[comps]
        health = -coef
        total = float(health.sum())
        if total <= 0:
            raise ModelError(
                "the components together do not lower churn (sum of -coefficients <= 0), so no "
                "health weights sum to 1; check the components' direction (higher must be healthier)"
            )
        self.coef_ = coef.rename("coef")
        self.weights_ = (health / total).rename("weight")
        wrong = self.weights_[(self.weights_ < 0) & (p < 0.05).to_numpy()]
        if len(wrong):
            warnings.warn(
                "component(s) with a negative learned weight (higher value, more churn): "
                + ", ".join(f"'{c}' ({w:+.2f})" for c, w in wrong.items())
                + "; check their direction or drop them",
                DataQualityWarning, stacklevel=2,
            )
        self.components_ = comps
        self._p = p
        return self

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"component": self.components_, "coef": self.coef_.to_numpy(),
                             "p": self._p.to_numpy(), "weight": self.weights_.to_numpy()})

    def score(self, df: pd.DataFrame) -> pd.Series:
        """Weighted sum of the components with the learned weights."""
        return weighted_score(df, self.weights_.to_dict()).rename("learned_score")

    def plot(self, configured: Mapping[str, float] | None = None, ax: Axes | None = None) -> Axes:
        """Learned (and configured) weights per component as bars."""
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        w = pd.DataFrame({"learned": self.weights_})
        if configured:
            w["configured"] = pd.Series(_normalise(configured, self.components_))
        w.plot.barh(ax=ax)
        ax.set_xlabel("weight (sums to 1)")
        return ax


def _normalise(weights: Mapping[str, float], components: Sequence[str]) -> dict[str, float]:
    missing = [c for c in components if c not in weights]
    if missing:
        raise DataValidationError(f"configured weights lack component(s) {missing}")
    total = sum(float(weights[c]) for c in components)
    if total <= 0:
        raise DataValidationError("configured weights must sum to a positive number")
    return {c: float(weights[c]) / total for c in components}


def weighted_score(df: pd.DataFrame, weights: Mapping[str, float]) -> pd.Series:
    """``sum_j w_j x_j`` over the components named in ``weights``."""
    missing = [c for c in weights if c not in df.columns]
    if missing:
        raise DataValidationError(f"score components {missing} not found; present: {', '.join(map(str, df.columns))}")
    return sum(df[c].astype(float) * float(w) for c, w in weights.items())


def split_by_period(df: pd.DataFrame, date_col: str, split: str, duration: str = "duration",
                    event: str = "event") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): rows scored before ``split`` with outcomes censored at ``split`` (no
    peeking into the test period), and rows scored on or after it. Duration in days."""
    d = pd.to_datetime(df[date_col])
    S = pd.Timestamp(split)
    train = df[d < S].copy()
    room = (S - d[d < S]).dt.days.to_numpy(float)
    late = train[duration].to_numpy(float) > room
    train[duration] = np.where(late, room, train[duration])
    train[event] = np.where(late, 0, train[event])
    return train, df[d >= S].copy()


def compare_weights(train: pd.DataFrame, test: pd.DataFrame, components: Sequence[str],
                    configured: Mapping[str, float], duration: str, event: str,
                    method: str = "cox", horizon: float | None = None) -> pd.DataFrame:
    """Configured vs learned weights: learn on ``train`` (an earlier period), score both on
    ``test`` (a later, held-out period).

    Returns one row per score: ``score, concordance_test, concordance_train, n_test,
    events_test`` and the (normalised) weight of each component (``w_<component>``).
    """
    comps = list(components)
    learned = LearnedScore(method, horizon).fit(train, comps, duration, event)
    conf = _normalise(configured, comps)
    rows = []
    for name, w in (("configured", conf), ("learned", learned.weights_.to_dict())):
        c_test = score_concordance(test.assign(_s=weighted_score(test, w)), "_s", duration, event).iloc[0]
        c_train = score_concordance(train.assign(_s=weighted_score(train, w)), "_s", duration, event).iloc[0]
        rows.append({"score": name, "concordance_test": c_test["concordance"],
                     "concordance_train": c_train["concordance"], "n_test": c_test["n"],
                     "events_test": c_test["events"], **{f"w_{c}": w[c] for c in comps}})
    return pd.DataFrame(rows)
