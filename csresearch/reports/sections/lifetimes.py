"""The lifetime section of the retention report: Kaplan-Meier curves from the first paid day,
the at-risk table, the log-rank test (said to be unadjusted), the median lifetime with its
interval in words and the restricted mean.
"""

from __future__ import annotations

import pandas as pd

from csresearch.reports.context import ReportContext
from csresearch.reports.notebook import section
from csresearch.reports.present import figures as plots
from csresearch.reports.present import labels
from csresearch.reports.present import words as nv
from csresearch.reports.present.tables import Section

KM_TIMES = (0, 6, 12, 18, 24, 30, 36)
RMST_MONTHS = 24

UNADJUSTED = (
    "These curves are unadjusted: each segment is shown as it is, with everything else that differs between "
    "segments (support tickets, usage, NPS, onboarding) mixed in. The churn-drivers report adjusts for those "
    "(a Cox model), so it can find a segment churning faster at equal tickets and usage while the curves here "
    "do not differ detectably, or the other way round: both can be right."
)


@section
def lifetimes(ctx: ReportContext) -> Section:
    """Kaplan-Meier curves by segment from the first paid day, the at-risk table, log-rank test,
    median lifetime with its interval in words, and RMST."""
    from csresearch.reports.sections.retention import survival
    from csresearch.survival.curves import at_risk_table, km_curve
    from csresearch.survival.logrank import logrank

    st = survival(ctx)
    by = ctx.segment
    s = Section(f"Customer lifetime by {labels.words(by)}")
    d, e = "tenure_months", "churned"
    shown = st.assign(**{by: st[by].map(labels.value)})
    groups = shown[by].nunique()
    s.text("Time is counted from each customer's first paid day (the first day with MRR above 0) to the day "
           "they stopped paying, or to the as-of date for customers still with us.")
    s.figure(plots.km(km_curve(shown, d, e, by=by), f"Share of customers still active, by {labels.words(by)}",
                      "months since the first paid day"),
             f"Kaplan-Meier retention curves by {by}")
    times = [t for t in KM_TIMES if t <= st[d].max() + 1e-9]
    ar = at_risk_table(shown, d, e, times, by=by).reset_index()
    ar = ar[ar["measure"] == "at_risk"].drop(columns="measure")
    ar = ar.sort_values(ar.columns[0], key=lambda c: c.map(labels.value_key), kind="stable")
    ar.columns = [labels.words(by)] + [f"{c} mo" for c in ar.columns[1:]]
    s.table(ar, top=None, caption="Customers at risk at each month since the first paid day (still customers "
                                  "and still observed: not yet churned, and joined long enough ago)")
    s.bullets(median_sentences(shown, by))
    if groups >= 2:
        lr = logrank(shown, d, e, by=by).iloc[0]
        verdict = "differ" if lr["p"] < 0.05 else "do not differ detectably"
        s.text(
            f"Log-rank test: the curves {verdict} between the {groups} groups of {labels.words(by)} "
            f"(chi-square {lr['statistic']:,.1f} on {int(lr['df'])} df, {nv.p_value(lr['p'])}; "
            f"{nv.thousands(lr['n'])} customers, {nv.thousands(lr['events'])} churned)."
        )
        s.note(UNADJUSTED)
    _lifetime_table(s, shown, by)
    return s


def median_sentences(st: pd.DataFrame, by: str, d: str = "tenure_months", e: str = "churned") -> list[str]:
    """The median lifetime and its 95 % interval in words, for all customers and each group."""
    from csresearch.survival.curves import km_summary

    allc = km_summary(st, d, e).assign(group="all customers")
    rows = pd.concat([allc, km_summary(st, d, e, by=by)], ignore_index=True)
    out = []
    for r in rows.itertuples():
        who = "all customers" if r.group == "all customers" else f"{r.group} customers"
        longest = float(st[d].max() if r.group == "all customers" else st.loc[st[by] == r.group, d].max())
        if nv.is_missing(r.median):
            out.append(f"Median lifetime of {who}: not reached. Fewer than half have left within the "
                       f"{nv.months(longest)} observed so far, so half stay longer than that.")
            continue
        if nv.is_missing(r.median_upper):
            ci = (f"95 % interval: at least {nv.months(r.median_lower)}; too few customers have been followed "
                  "long enough to set an upper limit")
        else:
            ci = f"95 % interval {nv.months(r.median_lower)} to {nv.months(r.median_upper)}"
        out.append(f"Median lifetime of {who}: {nv.months(r.median)}, the time by which half had left ({ci}).")
    return out


def _lifetime_table(s: Section, st: pd.DataFrame, by: str, d: str = "tenure_months", e: str = "churned") -> None:
    from csresearch.survival.curves import km_summary, rmst

    summ = km_summary(st, d, e, by=by, at=[12, 24])
    rm = rmst(st, d, e, RMST_MONTHS, by=by)
    tab = summ.merge(rm[["group", "rmst", "lower", "upper"]], on="group", how="left")
    tab = tab.rename(columns={"group": by})
    s.heading("Median lifetime and restricted mean")
    s.text(
        f"The restricted mean (RMST) is the average number of months a customer stays within the first "
        f"{RMST_MONTHS} months; a median is shown only where more than half of a group has churned."
    )
    s.table(
        tab[[by, "n", "events", "median", "median_lower", "median_upper", "S_12", "S_24", "rmst", "lower", "upper"]],
        formats={"median": "float1", "median_lower": "float1", "median_upper": "float1", "S_12": "pct",
                 "S_24": "pct", "rmst": "float1", "lower": "float1", "upper": "float1"},
        labels={by: labels.words(by), "n": "customers", "events": "churned", "median": "median lifetime (months)",
                "median_lower": "median 95 % low", "median_upper": "median 95 % high",
                "S_12": "still active at 12 mo", "S_24": "still active at 24 mo",
                "rmst": f"RMST {RMST_MONTHS} mo (months)", "lower": "RMST 95 % low", "upper": "RMST 95 % high"},
        sort_by="rmst", ascending=False, what=f"groups of {labels.words(by)}",
    )
