"""Sections of the health report: score and bands, movers, components, predictive power,
playbook CTAs, the signal ladder and NPS by tenure.

Scores come from :mod:`csresearch.health.score` (configured by the report's ``health_config_path``);
survey scores from :mod:`csresearch.metrics.surveys`.
"""

from __future__ import annotations

import pandas as pd

from csresearch.arrays import take_rows
from csresearch.reports.context import ReportContext
from csresearch.reports.notebook import section
from csresearch.reports.present import figures as plots
from csresearch.reports.present import labels
from csresearch.reports.present import words as nv
from csresearch.reports.present.tables import Html, Section, cards, esc
from csresearch.reports.sections import health_worklist as hw
from csresearch.reports.sections.health_data import (
    HORIZON_DAYS,
    LOOKBACK_MONTHS,
    band_words,
    config,
    customers,
    history,
    latest,
    mrr_now,
    names,
)
from csresearch.reports.sections.health_data import (
    bands as band_history,
)

BAND_ORDER = ("red", "yellow", "green", "insufficient data")


@section
def summary(ctx: ReportContext) -> Section:
    """Headline: who to call this week and why (the worklist), scored accounts, band shares."""
    now = latest(ctx)
    s = Section("Summary")
    if now.empty:
        return s.text("No account was active in the last complete month; there is no score to report.")
    hw.first_screen(ctx, s, band_history(ctx))
    month = nv.period_label(now["period_start"].iloc[0])
    bands = now["band"].value_counts()
    scored = now["score"].notna()
    red = int(bands.get("red", 0))
    prev_red = int((now["band_prev"] == "red").sum()) if "band_prev" in now else None
    new_red = int(((now["band"] == "red") & (now["band_prev"] != "red") & now["band_prev"].notna()).sum())
    mrr = mrr_now(ctx)
    red_mrr = float(mrr.reindex(now.loc[now["band"] == "red", "account_id"]).fillna(0).sum())
    all_mrr = float(mrr.reindex(now["account_id"]).fillna(0).sum())
    red_share = f"{nv.pct(red_mrr / all_mrr)} of active MRR; " if all_mrr > 0 else ""
    lead = (f"{labels.plural(red, 'account')} ({nv.pct(red / max(int(scored.sum()), 1))} of those scored, "
            f"{nv.currency(red_mrr, ctx.currency, short=True)} of MRR) {'is' if red == 1 else 'are'} red in {month}, "
            f"{nv.thousands(new_red)} of them newly.")
    s.add(Html(f'<p class="cs-lead"><strong>{esc(lead)}</strong></p>'))
    s.add(cards([
        ("Accounts scored", nv.thousands(scored.sum()),
         f"in {month}, of {nv.thousands(ctx.summary.get('active_customers', len(now)))} active customers on {ctx.as_of}"),
        ("Mean score", nv.number(now["score"].mean(), 1), "0-100, higher is healthier"),
        ("Red accounts", nv.thousands(red), f"{nv.pct(red / max(int(scored.sum()), 1))} of scored; {nv.thousands(new_red)} newly red"),
        ("MRR in red accounts", nv.currency(red_mrr, ctx.currency, short=True),
         f"{red_share}per month, as of {ctx.as_of}"),
    ]))
    items = [
        f"{nv.share_sentence(red, int(scored.sum()), 'scored accounts')} are red in {month}"
        + (f" (previous month: {nv.thousands(prev_red)})." if prev_red is not None else "."),
        f"{labels.plural(new_red, 'account')} turned red this month: start with the movers below.",
    ]
    wl = hw.worklist_of(ctx)
    if len(wl):
        items.append(f"The playbooks raised {nv.plural(len(wl), 'call')} to action (one per account); this week's "
                     f"{nv.thousands(wl.attrs['worklist_size'])} are the highest-ranked that fit the capacity and "
                     "were not handed out in the weeks before; the ranked list is below.")
    if not scored.all():
        items.append(f"{labels.plural(int((~scored).sum()), 'account')} with too little data to score (band "
                     "'insufficient data').")
    s.bullets(items)
    return s


@section
def distribution(ctx: ReportContext) -> Section:
    """Score distribution and bands by segment."""
    now = latest(ctx)
    s = Section("Score distribution and bands by segment")
    if now.empty:
        return s.text("No scores.")
    now = now.assign(segment=now["segment"].map(labels.value))
    s.figure(plots.histogram(now["score"].dropna(), f"Health score, {nv.period_label(now['period_start'].iloc[0])}",
                             "health score (0-100)", hue=now.loc[now["score"].notna(), "segment"], bins=20,
                             hue_label="segment"),
             "Histogram of health scores by segment")
    t = pd.crosstab(now["segment"], now["band"])
    t = t.loc[sorted(t.index, key=labels.value_key)]
    t = t.reindex(columns=[b for b in BAND_ORDER if b in t.columns])
    shares = t.div(t.sum(axis=1), axis=0)
    out = t.copy()
    for b in t.columns:
        out[f"{b} %"] = shares[b]
    out["mean score"] = now.groupby("segment")["score"].mean()
    out = out.rename_axis("segment").reset_index()
    s.table(out, formats={**{f"{b} %": "pct" for b in t.columns}, "mean score": "float1"}, top=None,
            caption=f"Accounts per band and segment (bands: {band_words(ctx, hysteresis=True)})")
    return s


@section
def movers(ctx: ReportContext, n: int = 20) -> Section:
    """Largest score drops since the previous month, with the component that moved."""
    from csresearch.health.explain import movers as health_movers

    s = Section("Movers: largest drops since last month")
    h = history(ctx)
    active = customers(ctx)
    last = h["account_id"][(h["period_start"] == h["period_start"].max()).to_numpy()]
    gone = last.loc[~last.isin(active)].nunique()
    m = health_movers(h, n=n, customers=active)
    if m.empty:
        return s.text(f"No account active on {ctx.as_of} has a score in both of the last two months.")
    m = m.assign(name=m["account_id"].map(names(ctx)), segment=m["segment"].map(labels.value),
                 top_component=m["top_component"].map(lambda x: x if nv.is_missing(x) else labels.component(x)))
    s.text(
        f"The {labels.plural(len(m), 'largest drop')} among accounts still customers on {ctx.as_of}. The "
        "component named is the one whose contribution to the score fell most; that is where to look first."
    )
    if gone:
        s.note(f"{labels.plural(gone, 'account')} scored in the last month but no longer a customer on "
               f"{ctx.as_of} {'is' if gone == 1 else 'are'} left out: there is nobody to call.")
    cols = ["name", "account_id", "segment", "score_prev", "score", "change", "band", "top_component",
            "top_component_change"]
    s.table(m[cols], formats={"score_prev": "float1", "score": "float1", "change": "float1",
                              "top_component_change": "float1"},
            labels={"score_prev": "score last month", "change": "change (points)", "top_component": "component that moved",
                    "top_component_change": "its change (points)"},
            sort_by="change", ascending=True, what="accounts")
    return s


@section
def components(ctx: ReportContext) -> Section:
    """Average contribution of each component to the score, by band."""
    from csresearch.health.explain import contributions

    now = latest(ctx)
    s = Section("What makes up the score")
    c = contributions(now)
    if c.empty:
        return s.text("No component contributed to any score.")
    avg = c.groupby(["band", "component"])["contribution"].mean().reset_index()
    avg = avg[avg["band"].isin(BAND_ORDER[:3])]
    avg["component"] = avg["component"].map(labels.component)
    s.figure(plots.grouped_bar(avg, "component", "band", "contribution", "Average contribution to the score by band",
                               "component", "score points (0-100 scale)",
                               palette=plots.BANDS, hue_order=list(BAND_ORDER[:3])),
             "Bar chart of component contributions by band")
    wide = avg.pivot(index="component", columns="band", values="contribution")
    wide = wide[[b for b in BAND_ORDER[:3] if b in wide.columns]].reset_index()  # red, yellow, green as in the plot
    s.table(wide, formats={b: "float1" for b in BAND_ORDER}, top=None,
            caption="Mean contribution in score points (weight x points) per band; a band's column sums to "
                    "its mean score")
    return s


def outcomes(ctx: ReportContext) -> pd.DataFrame:
    """Scores of the month ``LOOKBACK_MONTHS`` before the last, joined to what happened after."""
    from csresearch.survival.tables import survival_table
    from csresearch.survival.validation import scored_outcomes

    def build() -> pd.DataFrame:
        h = history(ctx)
        months = sorted(h["period_start"].unique())
        if not months:
            return pd.DataFrame()
        when = pd.Timestamp(months[max(0, len(months) - 1 - LOOKBACK_MONTHS)])
        scores = take_rows(h, (h["period_start"] == when).to_numpy(),
                           ["account_id", "score", "band", "value_ces", "value_nps", "snapshot_date"])
        date = str(pd.Timestamp(scores["snapshot_date"].iloc[0]).date())
        st = ctx.memo("survival_table", lambda: survival_table(ctx.source, ctx.as_of))
        out = scored_outcomes(scores.drop(columns="snapshot_date"), st, date)
        out.attrs["date"] = date
        return out

    return ctx.memo("outcomes", build)


def _cuts(ctx: ReportContext) -> tuple[list[float], list[str]]:
    bands = config(ctx).bands
    return [b[1] for b in bands[1:]], [b[0] for b in bands]


@section
def predictive(ctx: ReportContext) -> Section:
    """Whether the score predicts churn: concordance, curves by band, calibration."""
    from csresearch.survival.curves import km_curve
    from csresearch.survival.drivers import CoxModel
    from csresearch.survival.predict import conditional_churn_probability
    from csresearch.survival.validation import (
        calibration_table,
        churn_by_band,
        plot_calibration,
        score_bands,
        score_concordance,
    )

    s = Section("Does the score predict churn?")
    out = outcomes(ctx).dropna(subset=["score"])
    if out.empty or out["event"].sum() < 5:
        return s.text("Too few churns after the scoring date to tell (fewer than 5).")
    date = out.attrs.get("date", "")
    c = score_concordance(out, "score", "duration", "event").iloc[0]
    cuts, labels = _cuts(ctx)
    s.text(
        f"Scores of {date} against what happened over the following months to {ctx.as_of}: of two accounts "
        f"whose order of churn is known, the one that churned first had the lower score {nv.pct(c['concordance'])} "
        f"of the time (concordance {nv.number(c['concordance'], 3)}; 0.5 = no better than chance; "
        f"{nv.thousands(c['n'])} accounts, {nv.thousands(c['events'])} churned)."
    )
    banded = out.assign(band=score_bands(out["score"], cuts, labels).astype(str))
    curves = km_curve(banded, "duration", "event", by="band")
    s.figure(plots.km(curves, f"Share still a customer after {date}, by health band", "days after scoring", palette=plots.BANDS, order=labels),
             "Kaplan-Meier curves by health band")
    cb = churn_by_band(out, "score", "duration", "event", HORIZON_DAYS, cuts, labels)
    s.table(cb, formats={"churn_rate": "pct", "lower": "pct", "upper": "pct"}, top=None,
            labels={"churned": f"churned within {HORIZON_DAYS} days", "churn_rate": f"churn within {HORIZON_DAYS} days",
                    "lower": "95 % low", "upper": "95 % high"},
            caption=f"Churn within {HORIZON_DAYS} days of the scoring date, by band (Kaplan-Meier)")
    cox = CoxModel(["score"]).fit(out, "duration", "event")
    pred = conditional_churn_probability(cox, out.assign(t0=0.0), "t0", [HORIZON_DAYS])
    col = f"p_churn_{HORIZON_DAYS:g}"
    cal = calibration_table(out.assign(**{col: pred[col].to_numpy()}), col, "duration", "event", HORIZON_DAYS,
                            n_bins=5)
    ax = plot_calibration(cal)
    plots.pct_axis(ax, "x")
    plots.pct_axis(ax, "y")
    plots.label(ax, f"Calibration at {HORIZON_DAYS} days", "predicted churn (%)", "observed churn, Kaplan-Meier (%)")
    s.figure(ax, "Calibration of churn predicted from the score")
    s.note(f"Calibration: the score turned into a probability of churn within {HORIZON_DAYS} days by a Cox model "
           f"fitted on these accounts (in-sample), in five bins; Brier score {nv.number(cal.attrs['brier'], 3)}.")
    return s


@section
def signal_ladder(ctx: ReportContext) -> Section:
    """CES -> NPS -> health -> churn: from the earliest, widest signal to the latest, narrowest."""
    from csresearch.survival.validation import score_concordance

    s = Section("Signal ladder: CES, NPS, health, churn")
    out = outcomes(ctx)
    if out.empty:
        return s.text("No scores to compare.")
    n = len(out)
    rows = []
    for label, col in (("CES (mean answer, last 6 months)", "value_ces"), ("NPS (latest answer)", "value_nps"),
                       ("health score", "score")):
        have = out[col].notna()
        sub = out.loc[have]
        conc = (score_concordance(sub, col, "duration", "event").iloc[0]["concordance"]
                if len(sub) and sub["event"].sum() else float("nan"))
        rows.append({"signal": label, "accounts with the signal": int(have.sum()), "reach": have.mean(),
                     "concordance with churn": conc})
    churned = int(out["event"].sum())
    rows.append({"signal": "churn (the outcome)", "accounts with the signal": churned, "reach": churned / n,
                 "concordance with churn": float("nan")})
    t = pd.DataFrame(rows)
    reach = ", ".join(f"{r['signal'].split(' (')[0]} {nv.pct(r['reach'])}" for r in rows[:3])
    s.text(
        f"{_first_stays(ctx, out, out.attrs.get('date', ''))}: the share each signal reached ({reach}) and how well "
        f"it ranked who churned first in the following months (concordance; 0.5 = chance). "
        f"{nv.thousands(churned)} of them ({nv.pct(churned / n)}) churned by {ctx.as_of}, counting those who came "
        "back later (the retention report's logo churn observed over 12 months counts them as kept): the outcome "
        "the earlier signals try to catch in time."
    )
    s.table(t, formats={"reach": "pct", "concordance with churn": "float3"}, top=None)
    return s


def _first_stays(ctx: ReportContext, out: pd.DataFrame, date: str) -> str:
    """'Of the M active customers on <date>, the N followed here' and who the others are: customers
    who had come back after churning (churn is followed over the first stay, the survival table's)
    and first stays without a score (``out.attrs['unscored']``)."""
    from csresearch.data import timeline

    total, n, unscored = timeline.active_customers(ctx.source, date), len(out), int(out.attrs.get("unscored", 0))
    returned = total - n - unscored
    if not returned and not unscored:
        return f"Of the {nv.thousands(n)} active customers on {date}"
    why = ([f"{nv.thousands(returned)} had come back after churning (churn is followed over the first stay)"]
           if returned else []) + ([f"{nv.thousands(unscored)} had no score"] if unscored else [])
    return f"Of the {nv.thousands(total)} active customers on {date}, the {nv.thousands(n)} followed here ({'; '.join(why)})"


@section
def playbook_ctas(ctx: ReportContext) -> Section:
    """The worklist: every call to action ranked by expected MRR at risk, queue, this week's
    calls, the band churn probabilities and the back-test lift."""
    s = Section("Calls to action: the worklist")
    if hw.worklist_of(ctx).empty:
        return s.text("No playbook rule fired for the last month.")
    hw.full_list(ctx, s)
    return s


@section
def nps_by_tenure(ctx: ReportContext) -> Section:
    """NPS by tenure band, with n and a 95 % interval."""
    from csresearch.metrics.surveys import survey_scores

    s = Section("NPS by tenure")
    if not ctx.has("nps_responses"):
        return s.unavailable("NPS by tenure", "the data source has no nps_responses table")
    window = ctx.params.get("nps_months", 12)
    r = ctx.df("nps_responses")
    start = pd.Timestamp(ctx.as_of) + pd.Timedelta(days=1) - pd.DateOffset(months=int(window))
    r = r[r["responded_at"] >= start]
    t = survey_scores(r, "nps", ctx.as_of, grain=None, by="tenure_band", subscriptions=ctx.df("subscriptions"))
    t = t[t["n"] > 0]
    if t.empty:
        return s.text(f"No NPS answer in the {window} months to {ctx.as_of}.")
    low = t.sort_values("nps").iloc[0]
    s.text(
        f"NPS of answers in the {window} months to {ctx.as_of}, by how long the customer had been with us "
        f"when answering. Lowest: {low['tenure_band']} months at {nv.number(low['nps'], 1)} "
        f"(n = {nv.thousands(low['n'])})."
    )
    ax = plots.bar(t.set_index("tenure_band")["nps"], "NPS by tenure at the time of answering",
                   "NPS (-100 to 100)", "tenure (months)", kind="number1", sort=False)
    s.figure(ax, "Bar chart of NPS by tenure band")
    s.table(t[["tenure_band", "n", "promoters", "passives", "detractors", "nps", "nps_ci_low", "nps_ci_high"]],
            formats={"nps": "float1", "nps_ci_low": "float1", "nps_ci_high": "float1"},
            labels={"tenure_band": "tenure (months)", "nps_ci_low": "95 % low", "nps_ci_high": "95 % high"}, top=None)
    return s
