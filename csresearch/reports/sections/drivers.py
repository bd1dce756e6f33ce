"""Sections of the churn-drivers report: hazard ratios, the proportional-hazards check,
cross-validated concordance, partial effects, churn risk of active accounts, extrapolation.

Works on a data source (the survival table as of ``as_of``) or on a flat one-row-per-customer
table (``duration`` and ``event`` parameters, e.g. the Telco table: ``tenure``, ``Churn=Yes``).
The model is :class:`csresearch.survival.drivers.CoxModel`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from csresearch import narrative as nv
from csresearch import plots
from csresearch.display import Section, cards
from csresearch.errors import ConfigError
from csresearch.reports.context import ReportContext
from csresearch.reports.notebook import section

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
            return DriverData(df, p["duration"], p["event"], str(p.get("time_unit") or "months"), cov,
                              p.get("id_column") or None, p.get("value_column") or None, p.get("segment") or None)
        from csresearch.survival import tables

        st = tables.survival_table(ctx.source, ctx.as_of)
        duration, covariates = "tenure_days", cov or SOURCE_COVARIATES
        window = getattr(tables, "start_window_covariates", None)
        if window is not None and not cov:
            # covariates measured in each account's first 90 days; time counted from day 90
            w = window(ctx.source, ctx.as_of, WINDOW_DAYS)
            st = w.merge(st[["account_id", *[c for c in st.columns if c not in w.columns]]],
                         on="account_id", how="left")
            duration, covariates = "days_after_window", WINDOW_COVARIATES
        seg = ctx.segment
        if seg not in st.columns:
            acc = ctx.df("accounts")
            if seg not in acc.columns:
                raise ConfigError(f"segment column '{seg}' is not in table 'accounts'")
            st = st.merge(acc[["account_id", seg]], on="account_id", how="left")
        if seg not in covariates and not cov:
            covariates = [seg, *[c for c in covariates if c != "segment"]]
        return DriverData(st, duration, "churned", "days", list(covariates), "account_id", "mrr_as_of", seg)

    return ctx.memo("driver_data", build)


def model(ctx: ReportContext):
    """The fitted Cox model (once per run)."""
    from csresearch.survival.drivers import CoxModel

    d = data(ctx)
    return ctx.memo("cox", lambda: CoxModel(d.covariates, dropna=True).fit(d.df, d.duration, d.event))


def _significant(summary: pd.DataFrame) -> pd.DataFrame:
    s = summary[summary["p"] < 0.05].copy()
    s["strength"] = s["coef"].abs()
    return s.sort_values("strength", ascending=False)


def _effect(row: pd.Series) -> str:
    hr = float(row["hr"])
    if hr >= 1:
        return f"{row['term']}: churn hazard x{hr:.2f} ({nv.pct(hr - 1)} higher)"
    return f"{row['term']}: churn hazard x{hr:.2f} ({nv.pct(1 - hr)} lower)"


@section
def summary(ctx: ReportContext) -> Section:
    """Headline: what drives churn, how well the model ranks customers."""
    d = data(ctx)
    m = model(ctx)
    cv = cv_table(ctx)
    s = Section("Summary")
    sig = _significant(m.summary)
    s.add(cards([
        ("Customers", nv.thousands(m.n_), f"{nv.thousands(m.events_)} churned"),
        ("Drivers with a clear effect", f"{len(sig)} of {len(m.summary)}", "p < 0.05"),
        ("Cross-validated concordance", nv.number(cv.attrs["mean"], 3), "0.5 = coin toss, 1 = perfect ranking"),
    ]))
    if len(sig):
        s.text("Strongest drivers (a hazard ratio above 1 means customers churn sooner):")
        s.bullets([_effect(r) for _, r in sig.head(5).iterrows()])
    else:
        s.text("No covariate has a clear effect on churn (every p >= 0.05).")
    s.note(f"Model: Cox proportional hazards on {nv.join_words(d.covariates)}; duration {d.duration} ({d.unit}), "
           f"event {d.event}."
           + (f" Covariates are measured in each account's first {WINDOW_DAYS} days; accounts that left "
              f"before day {WINDOW_DAYS} are not in the model and time is counted from day {WINDOW_DAYS}."
              if d.duration == "days_after_window" else ""))
    return s


@section
def hazard_ratios(ctx: ReportContext) -> Section:
    """Forest plot and table of hazard ratios."""
    m = model(ctx)
    s = Section("Hazard ratios")
    ax = m.plot()
    ax.set_title("")
    ax.set_title("Hazard ratio of each term (95 % interval)", loc="left")
    ax.set_xlabel("hazard ratio (log scale; > 1 = churns sooner)")
    plots.ratio_axis(ax, "x")
    s.figure(ax, "Forest plot of hazard ratios")
    ref = getattr(m, "reference_", {}) or {}
    if ref:
        s.note("Reference levels: " + "; ".join(f"{k} = {v}" for k, v in ref.items()) + ".")
    s.table(m.summary[["term", "hr", "hr_lower", "hr_upper", "p"]],
            formats={"hr": "float3", "hr_lower": "float3", "hr_upper": "float3", "p": "p"},
            labels={"hr": "hazard ratio", "hr_lower": "95 % low", "hr_upper": "95 % high"},
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
               f"{nv.join_words(bad['term'].tolist())}. Read their hazard ratios as averages over time; "
               "a stratified or landmark model is the remedy.")
    s.note(f"Test: the Grambsch-Therneau score test as R's survival::cox.zph (version 3 or later) computes it, "
           f"with the time transform '{transform}': residuals tested against {TRANSFORM_WORDS[transform]}. "
           "A categorical covariate is tested as a whole (df = its number of levels - 1); "
           "GLOBAL tests every term together.")
    s.table(t, formats={"statistic": "float2", "df": "int", "p": "p"}, labels={"ph_ok": "assumption holds"},
            sort_by="p", ascending=True, what="terms")
    return s


def cv_table(ctx: ReportContext) -> pd.DataFrame:
    d = data(ctx)
    return ctx.memo("cv", lambda: model(ctx).cross_validate(d.df, d.duration, d.event, k=5, seed=0))


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
        plots.pct_axis(ax)
        plots.label(ax, f"Survival by {term}, other terms at their mean", _duration_label(d),
                    "still a customer (%)")
        s.figure(ax, f"Partial effect of {term} on survival")
    if not s.figures:
        s.text("The strongest terms cannot be drawn one at a time (none is a single column of the model).")
    return s


def _duration_label(d: DriverData) -> str:
    if d.duration == "days_after_window":
        return f"days after the first {WINDOW_DAYS} days"
    return f"{d.duration} ({d.unit})"


def horizons(d: DriverData) -> tuple[float, float]:
    """90 and 365 days in the model's time unit (3 and 12 for months)."""
    return (3.0, 12.0) if d.unit.startswith("month") else (90.0, 365.0)


def _h(x: float) -> str:
    return f"{x:g}"


def predictions(ctx: ReportContext) -> tuple[pd.DataFrame, int]:
    """Churn probability within both horizons for active customers, with revenue at stake."""
    from csresearch.survival.predict import predict_accounts

    def build():
        d = data(ctx)
        m = model(ctx)
        from csresearch.survival.tables import event_indicator

        ev = event_indicator(d.df, d.event)
        active = d.df.loc[ev == 0]
        usable = active.dropna(subset=[c for c in d.covariates if c in active.columns])
        mrr = d.value_column if d.value_column and d.value_column in usable.columns else None
        ids = d.id_column if d.id_column and d.id_column in usable.columns else None
        out = predict_accounts(m, usable, tenure=d.duration, mrr=mrr, horizons=horizons(d),
                               remaining_horizon=None, id_col=ids)
        return out, len(active) - len(usable)

    return ctx.memo("predictions", build)


@section
def at_risk(ctx: ReportContext, top: int = 20) -> Section:
    """Churn probability at 90 and 365 days for active accounts, top at-risk list, MRR at stake."""
    d = data(ctx)
    s = Section("Active customers at risk")
    pred, dropped = predictions(ctx)
    if pred.empty:
        return s.text("No active customer to score.")
    short, long = horizons(d)
    unit = d.unit
    p1, p2 = f"p_churn_{_h(short)}", f"p_churn_{_h(long)}"
    expected1, expected2 = float(pred[p1].sum()), float(pred[p2].sum())
    items = [("Active customers scored", nv.thousands(len(pred)), "every active customer" if not dropped
              else f"{nv.plural(dropped, 'customer')} left out: a model input is missing"),
             (f"Expected churns within {_h(short)} {unit}", nv.thousands(expected1), nv.pct(expected1 / len(pred))),
             (f"Expected churns within {_h(long)} {unit}", nv.thousands(expected2), nv.pct(expected2 / len(pred)))]
    r2 = f"revenue_at_stake_{_h(long)}"
    if r2 in pred.columns:
        items.append((f"Revenue at stake within {_h(long)} {unit}", nv.currency(pred[r2].sum(), ctx.currency, short=True),
                      "P(churn) x MRR x 12 months"))
    s.add(cards(items))
    rank = r2 if r2 in pred.columns else p2
    s.text(f"Probabilities are conditional on each customer having stayed so far ({d.duration} = time survived). "
           + (f"The list starts with the customers with the most revenue at stake within {_h(long)} {unit} "
              "(probability of churn x MRR x 12 months): the calls to make first."
              if rank == r2 else f"The list starts with the customers most likely to churn within {_h(long)} {unit}."))
    t = pred.copy()
    if d.id_column and d.id_column in t.columns and ctx.source is not None:
        names = ctx.df("accounts").drop_duplicates("account_id").set_index("account_id")["name"]
        t.insert(0, "name", t[d.id_column].map(names))
    longest = float(pd.to_numeric(d.df[d.duration], errors="coerce").max())
    t["beyond"] = t[d.duration] + long > longest
    cols = [c for c in ["name", d.id_column, d.duration, d.value_column, p1, p2,
                        f"revenue_at_stake_{_h(short)}", r2, "beyond"] if c and c in t.columns]
    money = {c: "currency" for c in cols if c.startswith("revenue_at_stake") or c == d.value_column}
    dur = pd.to_numeric(t[d.duration], errors="coerce").dropna()
    whole = bool(len(dur)) and bool((dur == dur.round()).all())  # 60 months, 507 days: no ".0"
    s.table(t[cols], formats={p1: "pct", p2: "pct", d.duration: "int" if whole else "float1", **money},
            labels={p1: f"P(churn within {_h(short)} {unit})", p2: f"P(churn within {_h(long)} {unit})",
                    f"revenue_at_stake_{_h(short)}": f"at stake, {_h(short)} {unit}",
                    r2: f"at stake, {_h(long)} {unit}", d.duration: _duration_label(d),
                    d.value_column or "": "MRR", "beyond": "past observed data"},
            sort_by=rank, ascending=False, top=top, what="active customers")
    n_beyond = int(t["beyond"].sum())
    if n_beyond:
        s.note(f"Column 'past observed data': for {nv.plural(n_beyond, 'customer')} the "
               f"{_h(long)}-{unit.rstrip('s')} horizon reaches past the longest observed {d.duration} "
               f"({longest:g} {unit}), where the model has no data; read their probabilities with the caveat below.")
    return s


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
            labels={"delta_aic": "AIC above the best", "n_params": "parameters"}, top=None)
    return s
