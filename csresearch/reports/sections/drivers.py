"""Sections of the churn-drivers report: hazard ratios, the proportional-hazards check,
cross-validated concordance, partial effects, extrapolation; the churn risk of active accounts
and its calibration by tenure band are in :mod:`csresearch.reports.sections.drivers_predict`.

Works on a data source (the survival table as of ``as_of``) or on a flat one-row-per-customer
table (``duration`` and ``event`` parameters, e.g. the Telco table: ``tenure``, ``Churn=Yes``).
The hazard ratios come from :class:`csresearch.survival.drivers.CoxModel`; model terms are shown
in words through :mod:`csresearch.reports.present.labels` (``tickets_90d`` -> "support tickets in the first 90
days (per extra ticket in the first 90 days)").
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from dataclasses import dataclass, field

import pandas as pd

from csresearch.errors import ConfigError, DataQualityWarning
from csresearch.reports.context import ReportContext
from csresearch.reports.notebook import section
from csresearch.reports.present import figures as plots
from csresearch.reports.present import labels as lb
from csresearch.reports.present import words as nv
from csresearch.reports.present.tables import Section, cards

SOURCE_COVARIATES = ["segment", "industry", "region"]
WINDOW_DAYS = 90
WINDOW_COVARIATES = ["segment", "usage_trend", "nps_first", "tickets_90d", "onboarding_complete"]


@dataclass
class DriverData:
    """The table the model is fitted on and how to read it."""

    df: pd.DataFrame
    duration: str
    event: str
    unit: str
    covariates: list[str]
    id_column: str | None
    value_column: str | None
    group: str | None
    #: active customers of the survival table (first stays) and those left out for a short history
    counts: dict = field(default_factory=dict)


def data(ctx: ReportContext) -> DriverData:
    """The survival table with its duration, event, covariates (computed once per run)."""

    def build() -> DriverData:
        p = ctx.params
        cov = list(p.get("covariates") or [])
        if ctx.flat is not None:
            if not p.get("duration") or not p.get("event"):
                raise ConfigError("a flat table needs the parameters duration (e.g. tenure) and event (e.g. Churn=Yes)")
            df = ctx.flat
            if not cov:
                raise ConfigError("a flat table needs the parameter covariates (e.g. Contract,MonthlyCharges)")
            ctx.params["time_unit"] = unit = str(p.get("time_unit") or "months")  # provenance: the unit used
            return DriverData(df, p["duration"], p["event"], unit, cov,
                              p.get("id_column") or None, p.get("value_column") or None, p.get("segment") or None)
        from csresearch.survival import tables

        duration, covariates = "tenure_days", cov or SOURCE_COVARIATES
        window = getattr(tables, "start_window_covariates", None)
        if window is not None and not cov:
            # covariates measured in each account's first 90 days; time counted from day 90; the
            # other columns of the survival table and the counts of active customers beside them
            st = window(ctx.source, ctx.as_of, WINDOW_DAYS, survival_columns=True)
            counts = {"active_first_stay": st.attrs["active"], "short_history": st.attrs["active_short"]}
            st.attrs.clear()  # a plain table, as the merged one it replaces
            duration, covariates = "days_after_window", WINDOW_COVARIATES
            st, covariates = no_answer_term(st, covariates)
        else:
            st = tables.survival_table(ctx.source, ctx.as_of)
            counts = {"active_first_stay": int((st["churned"] == 0).sum()), "short_history": 0}
        seg = ctx.segment
        if seg not in st.columns:
            acc = ctx.df("accounts")
            if seg not in acc.columns:
                raise ConfigError(f"segment column '{seg}' is not in table 'accounts'")
            st = st.merge(acc[["account_id", seg]], on="account_id", how="left")
        if seg not in covariates and not cov:
            covariates = [seg, *[c for c in covariates if c != "segment"]]
        ctx.params["time_unit"] = "days"  # a data source counts days, whatever the template's default says
        return DriverData(st, duration, "churned", "days", list(covariates), "account_id", "mrr_as_of", seg, counts)

    return ctx.memo("driver_data", build)


def no_answer_term(st: pd.DataFrame, covariates: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Customers who gave no NPS answer in their first 90 days have no first answer to read: rather
    than leave them out of the model (a quarter of the demo's customers), 'no answer' is a term of
    its own (``nps_first_none`` = 1) and their ``nps_first`` is set to the median answer, so that the
    term compares them with a customer who answered the median. Not added when everyone (or no one)
    answered. The table is copied, never changed in place."""
    if "nps_first" not in covariates or "nps_first" not in st.columns:
        return st, covariates
    none = st["nps_first"].isna()
    if not none.any() or none.all():
        return st, covariates
    st = st.assign(nps_first=st["nps_first"].fillna(float(st["nps_first"].median())),
                   nps_first_none=none.astype("int64"))
    i = covariates.index("nps_first") + 1
    return st, [*covariates[:i], "nps_first_none", *covariates[i:]]


def model(ctx: ReportContext):
    """The fitted Cox model (once per run)."""
    from csresearch.survival.drivers import CoxModel

    d = data(ctx)

    def fit():
        if ctx.source is None:  # a flat table: the caveat names its own columns
            return CoxModel(d.covariates, dropna=True).fit(d.df, d.duration, d.event)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="dropped ", category=DataQualityWarning)
            fitted = CoxModel(d.covariates, dropna=True).fit(d.df, d.duration, d.event)
        _say_missing_inputs(d, len(d.df) - int(fitted.n_))
        return fitted

    return ctx.memo("cox", fit)


def _say_missing_inputs(d: DriverData, n: int) -> None:
    """The ``n`` customers the model left out (its table's rows less those it was fitted on), in
    words (a caveat of the section that fits the model): '2,122 of 8,603 past and present customers
    (24.7 %) are not in the model: an input is missing or unreadable (2,122 with no usage trend in
    the first 90 days)...'."""
    if n <= 0:
        return
    miss = d.df[[c for c in d.covariates if c in d.df.columns]].isna()
    parts = "; ".join(f"{int(k):,} with no {lb.words(c)}" for c, k in miss.sum().items() if k)
    warnings.warn(f"{n:,} of {len(d.df):,} past and present customers ({nv.pct(n / len(d.df))}) are not in "
                  f"the model: an input is missing or unreadable{f' ({parts})' if parts else ''}. If they churn "
                  "differently from the others, the hazard ratios describe the others only.",
                  DataQualityWarning, stacklevel=2)


def _significant(summary: pd.DataFrame) -> pd.DataFrame:
    s = summary[summary["p"] < 0.05].copy()
    s["strength"] = s["coef"].abs()
    return s.sort_values("strength", ascending=False)


def term_words(name: str, reference: dict | None = None, yes_no: Collection[str] = ()) -> str:
    """A model term in words with what one step of it is, from the label registry:
    ``'SMB segment (against enterprise)'``, ``'support tickets in the first 90 days (per extra
    ticket in the first 90 days)'``; a 0/1 column of ``yes_no`` that the registry does not know:
    ``'senior citizen (yes against no)'``."""
    col = name.split("[", 1)[0]
    if name in yes_no and not (name in lb.LABELS and lb.LABELS[name].per):
        return f"{lb.words(name)} (yes against no)"
    return lb.term(name, (reference or {}).get(col))


def yes_no_columns(ctx: ReportContext) -> set[str]:
    """The model's numeric covariates that hold only 0 and 1 (a flat table's SeniorCitizen)."""
    d = data(ctx)
    out = set()
    for c in d.covariates:
        if c in d.df.columns and pd.api.types.is_numeric_dtype(d.df[c]) and not pd.api.types.is_bool_dtype(d.df[c]):
            seen = set(pd.unique(d.df[c].dropna()))
            if seen == {0, 1}:
                out.add(c)
    return out


def _effect(row: pd.Series, reference: dict | None = None, yes_no: Collection[str] = ()) -> str:
    hr = float(row["hr"])
    text = lb.title(term_words(str(row["term"]), reference, yes_no))
    if hr >= 1:
        return f"{text}: churn hazard x{hr:.2f} ({nv.pct(hr - 1)} higher)"
    return f"{text}: churn hazard x{hr:.2f} ({nv.pct(1 - hr)} lower)"


@section
def summary(ctx: ReportContext) -> Section:
    """Headline: what drives churn, how well the model ranks customers."""
    d = data(ctx)
    m = model(ctx)
    cv = cv_table(ctx)
    s = Section("Summary")
    sig = _significant(m.summary)
    from csresearch.reports.sections.drivers_predict import first_calls

    calls = first_calls(ctx)
    if calls:
        s.text(calls)
        ctx.record(headline=first_calls(ctx, pointer=False))  # the index's line for this report
    s.add(cards([
        ("Customers in the model", nv.thousands(m.n_), f"{nv.thousands(m.events_)} churned; past and present customers"),
        ("Drivers with a clear effect", f"{len(sig)} of {len(m.summary)}", "p < 0.05"),
        ("Cross-validated concordance", nv.number(cv.attrs["mean"], 3), "0.5 = coin toss, 1 = perfect ranking"),
    ]))
    if len(sig):
        s.text("Strongest drivers (a hazard ratio above 1 means customers churn sooner):")
        yn = yes_no_columns(ctx)
        s.bullets([_effect(r, m.reference_, yn) for _, r in sig.head(5).iterrows()])
        s.text(adjusted_sentence(ctx).split(":")[0] + ", holding the other terms fixed.")
    else:
        s.text("No covariate has a clear effect on churn (every p >= 0.05).")
    s.note(f"Model: Cox proportional hazards on {nv.join_words([lb.words(c) for c in d.covariates])}; "
           f"time: {_duration_label(d)}; event: {_event_words(d.event)}."
           + (f" Covariates are measured in each account's first {WINDOW_DAYS} days; accounts that left "
              f"before day {WINDOW_DAYS} are not in the model and time is counted from day {WINDOW_DAYS}."
              if d.duration == "days_after_window" else ""))
    return s


def adjusted_sentence(ctx: ReportContext) -> str:
    """Why these hazard ratios can disagree with unadjusted curves (the retention report's)."""
    covs = list(data(ctx).covariates)
    text = ("These hazard ratios are adjusted: each compares customers who are alike in the other "
            f"terms of the model ({nv.join_words([lb.words(c) for c in covs])}).")
    if ctx.source is not None and "segment" in covs:
        text += (" The retention report's survival curves by segment are unadjusted, so a segment can "
                 "churn faster here while those curves do not differ detectably: both can be right.")
    return text


@section
def hazard_ratios(ctx: ReportContext) -> Section:
    """Forest plot and table of hazard ratios."""
    m = model(ctx)
    s = Section("Hazard ratios")
    ax = m.plot()
    ax.set_title("")
    ax.set_yticks(ax.get_yticks(), [lb.title(lb.words(t.get_text())) for t in ax.get_yticklabels()])
    ax.set_title("Hazard ratio of each term (95 % interval)", loc="left")
    ax.set_xlabel("hazard ratio (log scale; > 1 = churns sooner)")
    plots.ratio_axis(ax, "x")
    s.figure(ax, "Forest plot of hazard ratios")
    s.text(adjusted_sentence(ctx))
    ref = getattr(m, "reference_", {}) or {}
    if ref:
        s.note("Reference levels: " + "; ".join(f"{lb.words(k)} = {lb.value(v)}" for k, v in ref.items()) + ".")
    rows = m.summary[["term", "hr", "hr_lower", "hr_upper", "p"]].copy()
    yn = yes_no_columns(ctx)
    rows["term"] = [lb.title(term_words(t, ref, yn)) for t in rows["term"]]
    s.table(rows,
            formats={"hr": "float3", "hr_lower": "float3", "hr_upper": "float3", "p": "p"},
            labels={"term": "driver (per what)", "hr": "hazard ratio", "hr_lower": "95 % low",
                    "hr_upper": "95 % high"},
            sort_by="p", ascending=True, what="terms")
    return s


TRANSFORM_WORDS = {
    "km": "the Kaplan-Meier scale of time (1 - S(t), R's default)",
    "rank": "the rank of the event times",
    "identity": "time itself",
}


@section
def ph_check(ctx: ReportContext, transform: str = "km") -> Section:
    """Proportional-hazards check (Grambsch-Therneau score test, as R's cox.zph)."""
    m = model(ctx)
    s = Section("Proportional-hazards check")
    t = m.ph_test(transform)
    terms = t[t["term"] != "GLOBAL"]
    bad = terms[~terms["ph_ok"]]
    if bad.empty:
        s.text("No term shows evidence that its hazard ratio changes over time (every p >= 0.05).")
    else:
        s.text(f"{nv.plural(len(bad), 'term')} may have a hazard ratio that changes over time: "
               f"{nv.join_words([lb.words(t) for t in bad['term']])}. Read their hazard ratios as averages "
               "over time. The churn probabilities of active customers therefore come from whichever model is "
               "better calibrated out of sample across the bands of tenure (see the calibration section).")
    s.note(f"Test: the Grambsch-Therneau score test as R's survival::cox.zph (version 3 or later) computes it, "
           f"with the time transform '{transform}': residuals tested against {TRANSFORM_WORDS[transform]}. "
           "A categorical covariate is tested as a whole (df = its number of levels - 1); "
           "GLOBAL tests every term together.")
    t = t.assign(term=[x if x == "GLOBAL" else lb.title(lb.words(x)) for x in t["term"]])
    s.table(t, formats={"statistic": "float2", "df": "int", "p": "p"}, labels={"ph_ok": "assumption holds"},
            sort_by="p", ascending=True, what="terms")
    return s


def cv_table(ctx: ReportContext) -> pd.DataFrame:
    d = data(ctx)
    # model(ctx) is fitted on this very table: no refit before the folds
    return ctx.memo("cv", lambda: model(ctx).cross_validate(d.df, d.duration, d.event, k=5, seed=0, refit=False))


@section
def concordance(ctx: ReportContext) -> Section:
    """Cross-validated concordance (5 folds)."""
    cv = cv_table(ctx)
    s = Section("How well the model ranks customers")
    s.text(f"Across 5 folds, the model put the customer who churned first at higher risk "
           f"{nv.pct(cv.attrs['mean'])} of the time (concordance {nv.number(cv.attrs['mean'], 3)}, "
           f"standard deviation {nv.number(cv.attrs['sd'], 3)}; in-sample {nv.number(model(ctx).concordance_, 3)}).")
    s.table(cv, formats={"concordance": "float3"}, labels={"n_test": "customers held out", "events_test": "churned"},
            top=None)
    return s


@section
def partial_effects(ctx: ReportContext, top: int = 2) -> Section:
    """Survival curves at different values of the strongest terms, the others held at their mean."""
    m = model(ctx)
    d = data(ctx)
    s = Section("Partial effects of the top drivers")
    sig = _significant(m.summary).head(top)
    if sig.empty:
        return s.text("No term has a clear effect to show.")
    design = m.model_.params_.index
    for term in sig["term"]:
        if term not in design:
            continue
        col = m._data[term] if hasattr(m, "_data") else None
        if col is not None and set(pd.unique(col)) <= {0, 1}:
            values = [0, 1]
        elif col is not None:
            values = sorted({float(col.quantile(q)) for q in (0.1, 0.5, 0.9)})
        else:
            continue
        ax = m.model_.plot_partial_effects_on_outcome(covariates=term, values=values, plot_baseline=False)
        name = lb.words(term)
        shown = [f"not {name}", name] if values == [0, 1] else [f"{name} = {v:,.3g}" for v in values]
        ax.legend(ax.get_lines()[:len(values)], shown, frameon=False)
        plots.pct_axis(ax)
        plots.label(ax, f"Survival by {name}, other terms at their mean", _duration_label(d),
                    "still a customer (%)")
        s.figure(ax, f"Partial effect of {name} on survival")
    if not s.figures:
        return s.text("The strongest terms cannot be drawn one at a time (none is a single column of the model).")
    s.note("These curves come from the single Cox model behind the hazard ratios: for a term whose hazard ratio "
           "changes over time (see the proportional-hazards check) they show an average effect, and near the "
           "longest tenure they rest on few churns. The churn probabilities of active customers come from "
           "whichever model is better calibrated out of sample across the bands of tenure (see the calibration "
           "section).")
    return s


def _event_words(event: str) -> str:
    col, _, val = event.partition("=")
    return f"{lb.words(col)} is {lb.value(val)}" if val else lb.words(col)


def _duration_label(d: DriverData) -> str:
    if d.duration == "days_after_window":
        return f"days after the first {WINDOW_DAYS} days"
    return f"{d.duration} ({d.unit})"


@section
def extrapolation(ctx: ReportContext) -> Section:
    """Parametric extrapolation of the survival curve beyond the observed time."""
    from csresearch.survival.predict import ParametricSurvival

    d = data(ctx)
    s = Section("Beyond the observed time: parametric extrapolation")
    ps = ctx.memo("parametric", lambda: ParametricSurvival().fit(d.df, d.duration, d.event, zero_offset=0.5))
    s.text(ps.choice_)
    ax = ps.plot(d.df, d.duration, d.event)
    plots.pct_axis(ax)
    plots.label(ax, "Share still a customer: Kaplan-Meier and parametric fits",
                f"{_duration_label(d)}; right of the dotted line is extrapolation", "still a customer (%)")
    s.figure(ax, "Kaplan-Meier curve with Weibull, log-normal and log-logistic fits")
    s.table(ps.aic_table_, formats={"aic": "float1", "delta_aic": "float1", "log_likelihood": "float1",
                                    "n_params": "int"},
            labels={"distribution": "distribution", "aic": "AIC", "delta_aic": "AIC above the best",
                    "log_likelihood": "log-likelihood", "n_params": "parameters"}, top=None)
    return s


# the at-risk list and its calibration live in drivers_predict (they need data() and model() above)
from csresearch.reports.sections.drivers_predict import at_risk, calibration, horizons  # noqa: E402, F401
