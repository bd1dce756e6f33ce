"""Churn-drivers report: predictions for active customers, from a model chosen by calibration.

The hazard ratios come from one Cox model over the whole tenure range; the horizon predictions
("calls to make first") come from the candidate that is best calibrated out of sample
(:func:`csresearch.survival.calibration.choose_model`): that Cox model, or a Cox model per band
of current tenure fitted on the customers still there at the band's start
(:class:`csresearch.survival.horizon.TenureLandmarkCox`), which lets every hazard ratio change
with tenure. No number is shown where the data cannot support one (tenure + horizon beyond the
longest observed tenure, or too few customers observed that long).

The calibration section checks the horizon predictions by band of current tenure: a landmark
check, out of sample (5-fold cross-validation; observed = Kaplan-Meier on the whole table), and
records it in the summary JSON as ``calibration``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csresearch.reports.context import ReportContext
from csresearch.reports.notebook import section
from csresearch.reports.present import figures as plots
from csresearch.reports.present import labels as lb
from csresearch.reports.present import words as nv
from csresearch.reports.present.tables import Section, cards
from csresearch.reports.sections.drivers import (
    WINDOW_DAYS,
    DriverData,
    _duration_label,
    data,
    model,
)

PH_NAME = "one Cox proportional-hazards model over the whole tenure range"
LANDMARK_NAME = "a Cox model per band of current tenure (landmark)"


def horizons(d: DriverData) -> tuple[float, float]:
    """90 and 365 days in the model's time unit (3 and 12 for months)."""
    return (3.0, 12.0) if d.unit.startswith("month") else (90.0, 365.0)


def _h(x: float) -> str:
    return f"{x:g}"


def _frame(d: DriverData) -> pd.DataFrame:
    """The model's rows: every covariate, the duration and the event present."""
    from csresearch.survival.tables import parse_event

    need = [c for c in [*d.covariates, d.duration, parse_event(d.event)[0]] if c in d.df.columns]
    return d.df.dropna(subset=need)


def prediction_model(ctx: ReportContext) -> dict:
    """The candidates compared by out-of-sample calibration, the chosen one fitted on all rows."""
    from csresearch.survival.calibration import choose_model
    from csresearch.survival.drivers import CoxModel
    from csresearch.survival.horizon import TenureLandmarkCox

    def build() -> dict:
        d = data(ctx)
        long = horizons(d)[1]
        frame = _frame(d)
        # checked in model(ctx); its cross-validation folds are the same as the calibration's (same
        # rows, seed and k): their fits are taken, not refitted
        reuse = getattr(model(ctx), "cv_fits_", ())
        cands = {PH_NAME: lambda: CoxModel(d.covariates, dropna=True, checks=False, reuse=reuse),
                 LANDMARK_NAME: lambda: TenureLandmarkCox(d.covariates, horizon=long)}
        choice = choose_model(cands, frame, d.duration, d.event, long, unit=d.unit)
        name = choice["name"]
        fitted = model(ctx) if name == PH_NAME else cands[name]().fit(frame, d.duration, d.event)
        return {**choice, "model": fitted, "frame": frame, "horizon": long}

    return ctx.memo("prediction_model", build)


def predictions(ctx: ReportContext) -> pd.DataFrame:
    """Active customers with P(churn) within both horizons (NaN and a reason where the data
    cannot support a number) and the revenue at stake."""
    from csresearch.survival.calibration import horizon_probability
    from csresearch.survival.predict import horizon_support
    from csresearch.survival.tables import event_indicator

    def build() -> pd.DataFrame:
        d = data(ctx)
        pm = prediction_model(ctx)
        frame = pm["frame"]
        active = frame.loc[event_indicator(frame, d.event) == 0]
        t0 = pd.to_numeric(active[d.duration]).to_numpy(float)
        lead = [c for c in (d.id_column, d.duration, d.value_column) if c and c in active.columns]
        out = active[lead].copy()
        durations = pd.to_numeric(frame[d.duration]).to_numpy(float)
        for h in horizons(d):
            out[f"p_churn_{_h(h)}"] = horizon_probability(pm["model"], active, t0, h)
            sup = horizon_support(durations, t0, h)
            out.loc[~sup["ok"].to_numpy(), f"p_churn_{_h(h)}"] = np.nan
            if h == horizons(d)[1]:
                out["no_number"] = sup["reason"].to_numpy()
        if d.value_column and d.value_column in active.columns:
            mrr = pd.to_numeric(active[d.value_column], errors="coerce")
            for h in horizons(d):
                out[f"revenue_at_stake_{_h(h)}"] = out[f"p_churn_{_h(h)}"] * mrr * 12
        return out

    return ctx.memo("predictions", build)


def scope_sentence(ctx: ReportContext, scored: int) -> tuple[str, int]:
    """'N of the M active customers have a churn probability' and why the others have none (on
    a flat snapshot table: that it has no dates, so active means not churned in the table); and M."""
    from csresearch.survival.tables import event_indicator

    d = data(ctx)
    in_table = int((event_indicator(d.df, d.event) == 0).sum())
    modelled = int((event_indicator(_frame(d), d.event) == 0).sum())
    if ctx.source is None:
        total, why = in_table, []
        head = (f"{scored:,} of the {total:,} active customers in the table have a churn probability "
                "(snapshot table, no dates: active means not churned in the table)")
    else:
        from csresearch.data import timeline

        total = ctx.summary.get("active_customers")
        if total is None:
            total = timeline.active_customers(ctx.source, ctx.as_of)
            ctx.record(active_customers=total)
        head = f"{scored:,} of the {total:,} active customers on {ctx.as_of} have a churn probability"
        returned = total - d.counts.get("active_first_stay", total)
        short = d.counts.get("short_history", 0)
        why = [f"{short:,} with fewer than {WINDOW_DAYS} days of history (the model's inputs are measured in "
               f"each customer's first {WINDOW_DAYS} days)" if short else "",
               f"{returned:,} who came back after churning (the model follows each customer's first stay)"
               if returned > 0 else ""]
    missing = in_table - modelled  # short histories are not in the table (their first days have not ended)
    why += [f"{missing:,} with a model input missing" if missing > 0 else "",
            f"{modelled - scored:,} whose tenure is past what the data supports (see the note under the list)"
            if modelled > scored else ""]
    why = [w for w in why if w]
    return head + (". Left out: " + "; ".join(why) if why else "") + ".", total


@section
def at_risk(ctx: ReportContext, top: int = 20) -> Section:
    """Churn probability within both horizons for active customers, the top list, revenue at stake."""
    d = data(ctx)
    s = Section("Active customers at risk")
    pred = predictions(ctx)
    short, long = horizons(d)
    unit = d.unit
    p2, r2 = f"p_churn_{_h(long)}", f"revenue_at_stake_{_h(long)}"
    scored = pred.dropna(subset=[p2])
    sentence, total = scope_sentence(ctx, len(scored))
    s.text(sentence)
    if pred.empty:
        return s.text("No active customer to score.")
    e2 = float(scored[p2].sum())
    items = [("Active customers with a churn probability", nv.thousands(len(scored)),
              f"of {nv.thousands(total)} active customers"),
             (f"Expected churns within {_h(long)} {unit}", nv.thousands(e2),
              nv.pct(e2 / len(scored)) if len(scored) else "no customer with a number")]
    if r2 in pred.columns:
        items.append((f"Revenue at stake within {_h(long)} {unit}", nv.currency(scored[r2].sum(), ctx.currency, short=True),
                      "P(churn) x monthly revenue x 12 months"))
    s.add(cards(items))
    pm = prediction_model(ctx)
    s.text(f"The probabilities come from {pm['name']}, chosen because it is the better calibrated out of "
           "sample (see the calibration section). They are conditional on each customer having stayed so far: "
           f"P(churn within the next {_h(long)} {unit} | still a customer at the current tenure).")
    rank = r2 if r2 in pred.columns else p2
    s.text(f"The list starts with the customers with the most revenue at stake within {_h(long)} {unit} "
           "(probability of churn x monthly revenue x 12 months): the calls to make first."
           if rank == r2 else f"The list starts with the customers most likely to churn within {_h(long)} {unit}.")
    _top_table(ctx, s, scored, top, rank)
    _no_number_note(s, pred, d, long)
    if ctx.source is not None:
        s.note("The health report's worklist gives the same customers another churn probability: within its "
               "playbook's horizon (180 days by default), "
               "from this month's health score, segment and MRR. That one reads the latest signals; this one the "
               "first 90 days and the tenure reached. Where they disagree, the health report's is the fresher "
               "view of the account, this one the longer one.")
    return s


def _top_table(ctx: ReportContext, s: Section, scored: pd.DataFrame, top: int, rank: str) -> None:
    d = data(ctx)
    short, long = horizons(d)
    unit = d.unit
    p1, p2 = f"p_churn_{_h(short)}", f"p_churn_{_h(long)}"
    t = _with_who(ctx, scored)
    cols = [c for c in ["name", d.id_column, "segment_words", "owner", d.duration, d.value_column, p1, p2,
                        f"revenue_at_stake_{_h(short)}", f"revenue_at_stake_{_h(long)}"] if c and c in t.columns]
    money = {c: "currency" for c in cols if c.startswith("revenue_at_stake") or c == d.value_column}
    dur = pd.to_numeric(t[d.duration], errors="coerce").dropna()
    whole = bool(len(dur)) and bool((dur == dur.round()).all())  # 60 months, 507 days: no ".0"
    s.table(t[cols], formats={p1: "pct", p2: "pct", d.duration: "int" if whole else "float1", **money},
            labels={p1: f"P(churn within {_h(short)} {unit})", p2: f"P(churn within {_h(long)} {unit})",
                    f"revenue_at_stake_{_h(short)}": f"at stake, {_h(short)} {unit}",
                    f"revenue_at_stake_{_h(long)}": f"at stake, {_h(long)} {unit}",
                    d.duration: _duration_label(d), d.value_column or "": "monthly revenue",
                    d.id_column or "": "customer", "segment_words": "segment", "owner": "CSM"},
            sort_by=rank, ascending=False, top=top, what="active customers with a number")


def _with_who(ctx: ReportContext, scored: pd.DataFrame) -> pd.DataFrame:
    """The scored rows with the account's name, segment (in words) and CSM, on a data source."""
    d = data(ctx)
    t = scored.copy()
    if not (d.id_column and d.id_column in t.columns and ctx.source is not None):
        return t
    acc = ctx.df("accounts").drop_duplicates("account_id").set_index("account_id")
    ids = t[d.id_column]
    t.insert(0, "name", ids.map(acc["name"]))
    if d.group and d.group in acc.columns:
        t["segment_words"] = [lb.value(v) if pd.notna(v) else "" for v in ids.map(acc[d.group])]
    if "csm_owner" in acc.columns:
        from csresearch.health.worklist import POOLED

        t["owner"] = ids.map(acc["csm_owner"]).fillna(POOLED)
    return t


def first_calls(ctx: ReportContext, n: int = 3, pointer: bool = True) -> str:
    """'Call first (most revenue at stake): Hoshi Logistics Ltd. (SMB, Daichi Ito): 38.8 % within
    365 days, $43,167 at stake; ...': the ``n`` active customers with the most revenue at stake (or
    the likeliest to churn), for the first screen (``pointer``: naming the list below); empty when
    no customer has a number or the table names no customer (no ``id_column``)."""
    d = data(ctx)
    long = horizons(d)[1]
    pred = predictions(ctx)
    p2, r2 = f"p_churn_{_h(long)}", f"revenue_at_stake_{_h(long)}"
    if pred.empty or p2 not in pred.columns or not d.id_column:
        return ""
    scored = pred.dropna(subset=[p2])
    rank = r2 if r2 in scored.columns else p2
    top = _with_who(ctx, scored.nlargest(n, rank))
    if top.empty:
        return ""
    who = []
    for _, r in top.iterrows():
        name = r.get("name") if isinstance(r.get("name"), str) else str(r.get(d.id_column, ""))
        about = ", ".join(str(r[c]) for c in ("segment_words", "owner") if c in top.columns and pd.notna(r[c]))
        at_stake = (f", {nv.currency(r[r2], ctx.currency)} at stake" if rank == r2 else "")
        who.append(f"{name}{f' ({about})' if about else ''}: {nv.pct(r[p2])} within {_h(long)} {d.unit}{at_stake}")
    head = "most revenue at stake" if rank == r2 else "likeliest to churn"
    where = "; the list under 'Active customers at risk'" if pointer else ""
    return f"Call first ({head}{where}): " + "; ".join(who) + "."


def _no_number_note(s: Section, pred: pd.DataFrame, d: DriverData, long: float) -> None:
    none = pred[pred[f"p_churn_{_h(long)}"].isna()]
    if none.empty:
        return
    longest = float(pd.to_numeric(data_frame_durations(d)).max())
    why = none["no_number"].str.startswith("beyond")
    parts = []
    if why.any():
        parts.append(f"for {nv.thousands(int(why.sum()))}, {_h(long)} more {d.unit} would go past the longest "
                     f"tenure in the data ({longest:,g} {d.unit}), where nothing has been observed")
    if (~why).any():
        parts.append(f"for {nv.thousands(int((~why).sum()))}, too few customers have been observed for that long")
    s.note(f"No {_h(long)}-{d.unit.rstrip('s')} churn probability for {nv.plural(len(none), 'customer')}: "
           + "; ".join(parts) + ". Any number there would be an extrapolation, so they are not ranked.")


def data_frame_durations(d: DriverData) -> pd.Series:
    return pd.to_numeric(d.df[d.duration], errors="coerce").dropna()


def calibration_rows(ctx: ReportContext) -> pd.DataFrame:
    """The chosen model's band calibration (out of sample), recorded in the summary JSON."""
    pm = prediction_model(ctx)
    bands = pm["results"][pm["name"]]["bands"]
    ctx.record(calibration=[{"band": r.band, "predicted": round(float(r.predicted), 4),
                             "observed": round(float(r.observed), 4), "n": int(r.n)}
                            for r in bands.itertuples()],
               calibration_horizon=pm["horizon"], prediction_model=pm["name"])
    return bands


@section
def calibration(ctx: ReportContext) -> Section:
    """Predicted vs observed churn within the horizon by band of current tenure (landmark, out of sample)."""
    from csresearch.survival.calibration import MIN_BAND

    d = data(ctx)
    pm = prediction_model(ctx)
    bands = calibration_rows(ctx)
    h, unit = _h(pm["horizon"]), d.unit
    s = Section("Are the predictions right? Calibration by tenure band")
    big = bands[bands["n"] >= MIN_BAND]
    worst = float((big["predicted"] - big["observed"]).abs().max()) if len(big) else np.nan
    s.text(f"For each band of tenure, the customers still there at its start were scored as if their tenure were "
           f"the band's start, by models fitted without them (5-fold cross-validation), and the average "
           f"predicted churn within {h} {unit} is compared with what happened: the Kaplan-Meier churn within "
           f"{h} {unit} of everyone still there at that point (customers still active count until their "
           f"current tenure). In bands of at least {MIN_BAND} customers, predictions are within "
           f"{nv.number(100 * worst, 1)} percentage points of what was observed." if len(big) else
           "No band has enough customers for a check.")
    ax = _calibration_plot(bands, h, unit, f"band of {_duration_label(d)}")
    s.figure(ax, "Predicted and observed churn by band of tenure")
    s.table(bands[["band", "n", "predicted", "observed", "difference"]],
            formats={"n": "int", "predicted": "pct", "observed": "pct",
                     "difference": lambda x: f"{100 * x:+.1f} points"},
            labels={"band": f"band of {_duration_label(d)}", "n": "customers at its start",
                    "predicted": f"predicted churn within {h} {unit}",
                    "observed": f"observed (Kaplan-Meier) within {h} {unit}", "difference": "predicted minus observed"},
            top=None)
    _riskiest(s, pm, h, unit, f"band of {_duration_label(d)}")
    err = ["band_max", "group_max", "group_mean"]
    t = pm["table"].assign(**{c: pm["table"][c] * 100 for c in err})
    s.text("How the prediction model was chosen: both candidates were checked the same way, also within fifths "
           "of predicted risk in each band (the riskiest fifth is where the calls to make first come from); "
           f"the one with the smallest worst error there is used: {pm['name']}.")
    t = t if t["note"].astype(bool).any() else t.drop(columns="note")
    s.table(t, formats={c: "float1" for c in err},
            labels={"model": "candidate", "band_max": "largest error in a band (points)",
                    "group_max": "largest error in a risk fifth (points)",
                    "group_mean": "mean error in risk fifths (points)"}, top=None)
    return s


def _riskiest(s: Section, pm: dict, h: str, unit: str, band_label: str) -> None:
    """The riskiest fifth of each band: the customers the list of calls is drawn from."""
    g = pm["results"][pm["name"]]["groups"]
    bands = pm["results"][pm["name"]]["bands"].set_index("start")["band"]
    top = g[g["group"] == g["group"].max()] if len(g) else g
    if top.empty:
        return
    s.text(f"The same check for the riskiest fifth of customers in each band (where the calls to make first "
           f"come from), against their own Kaplan-Meier churn within {h} {unit}:")
    s.table(top.assign(band=top["start"].map(bands))[["band", "n", "predicted", "observed"]],
            formats={"n": "int", "predicted": "pct", "observed": "pct"},
            labels={"band": band_label, "n": "customers in the riskiest fifth",
                    "predicted": "predicted (out of sample)", "observed": "observed (Kaplan-Meier)"}, top=None)


def _calibration_plot(bands: pd.DataFrame, h: str, unit: str, band_label: str):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 3.8))
    x = np.arange(len(bands))
    ax.bar(x - 0.2, bands["predicted"], 0.4, label="predicted (out of sample)", color="C0")
    ax.bar(x + 0.2, bands["observed"], 0.4, label="observed (Kaplan-Meier)", color="C7")
    ax.set_xticks(x, bands["band"].str.replace(f" {unit}", "", regex=False))
    plots.pct_axis(ax)
    plots.label(ax, f"Churn within {h} {unit} by band", band_label, f"churn within {h} {unit} (%)")
    top = float(np.nanmax(bands[["predicted", "observed"]].to_numpy())) if len(bands) else 0.0
    ax.set_ylim(0, max(top, 0.01) * 1.3)  # room for the legend above the bars
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))  # whole percents: 4 %, not 2.5 %
    ax.legend(loc="upper center", ncol=2, frameon=False)
    return ax
