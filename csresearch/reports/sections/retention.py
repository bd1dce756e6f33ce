"""Sections of the retention report: headline, MRR bridge, cohorts, survival, churn reasons.

Each function takes a :class:`~csresearch.reports.context.ReportContext` and returns a
:class:`~csresearch.reports.present.tables.Section`; the numbers come from :mod:`csresearch.metrics` and
:mod:`csresearch.survival` (nothing is recomputed here).
"""

from __future__ import annotations

import pandas as pd

from csresearch.reports.context import ReportContext
from csresearch.reports.notebook import section
from csresearch.reports.present import figures as plots
from csresearch.reports.present import labels
from csresearch.reports.present import words as nv
from csresearch.reports.present.tables import Html, Section, cards, esc

COHORT_MONTHS = 24


def tables(ctx: ReportContext) -> dict:
    """The bridges and renewal rates the sections, the KPI tree and the goals share
    (:func:`csresearch.health.kpi.metric_table`'s memo: each computed once per run; the bridges
    of all accounts with those by the report's segment)."""
    from csresearch.health.kpi import SPLIT

    return ctx.memo("metric_tables", lambda: {SPLIT: ctx.segment, **({("df", "accounts"): ctx.df("accounts")}
                                                                     if ctx.has("accounts") else {})})


def bridge_table(ctx: ReportContext) -> pd.DataFrame:
    from csresearch.health.kpi import metric_table

    return metric_table(ctx.source, ctx.as_of, "bridge", ctx.grain, memo=tables(ctx))


def bridge_by_segment(ctx: ReportContext) -> pd.DataFrame:
    from csresearch.health.kpi import metric_table

    return metric_table(ctx.source, ctx.as_of, "bridge", ctx.grain, ctx.segment, tables(ctx))


def renewals(ctx: ReportContext) -> pd.DataFrame:
    from csresearch.health.kpi import metric_table

    return metric_table(ctx.source, ctx.as_of, "renewals", ctx.grain, memo=tables(ctx))


def renewals_by_term(ctx: ReportContext) -> str | None:
    """The last 12 months' renewal rate per contract term in words (recorded in the summary
    JSON as renewal_rate_annual_12m / renewal_rate_monthly_12m); None without term_months."""
    from csresearch.metrics.renewals import renewal_by_term

    if "term_months" not in ctx.source.raw("subscriptions").columns:
        return None
    t = renewal_by_term(ctx.source, ctx.as_of, memo=tables(ctx))
    if t.empty:
        return None
    for term in ("annual", "monthly"):
        if term in t.index:
            ctx.record(**{f"renewal_rate_{term}_12m": float(t.loc[term, "renewal_rate"])})
    since, until = (pd.Timestamp(t.attrs[k]).strftime("%B %Y") for k in ("since", "until"))
    parts = [f"{term} contracts {nv.pct(r['renewal_rate'])} ({nv.thousands(r['renewed'])} of "
             f"{nv.plural(r['up_for_renewal'], 'term end')})" for term, r in t.iterrows()]
    return f"Renewal by contract term, {since} to {until}: " + "; ".join(parts) + "."


def survival(ctx: ReportContext) -> pd.DataFrame:
    """The survival table with the report's segment column attached."""
    from csresearch.survival.tables import survival_table

    def build() -> pd.DataFrame:
        st = survival_table(ctx.source, ctx.as_of)
        if ctx.segment not in st.columns:
            acc = ctx.df("accounts")
            if ctx.segment not in acc.columns:
                from csresearch.errors import ConfigError

                raise ConfigError(
                    f"segment column '{ctx.segment}' is not in table 'accounts'; columns: {', '.join(acc.columns)}"
                )
            st = st.merge(acc[["account_id", ctx.segment]], on="account_id", how="left")
        st[ctx.segment] = st[ctx.segment].fillna("(missing)").astype(str)
        return st

    return ctx.memo("survival", build)


def _last_two(df: pd.DataFrame) -> tuple[pd.Series, pd.Series | None]:
    last = df.iloc[-1]
    prev = df.iloc[-2] if len(df) > 1 else None
    return last, prev


def monthly_bridge(ctx: ReportContext) -> pd.DataFrame:
    """The monthly bridge, whatever the report's grain (the summary JSON's figures are monthly)."""
    from csresearch.health.kpi import metric_table

    return metric_table(ctx.source, ctx.as_of, "bridge", "month", memo=tables(ctx))


def annual(ctx: ReportContext) -> pd.DataFrame:
    """Trailing-12-month GRR/NRR and annualised logo churn per month (once per run)."""
    from csresearch.metrics.annual import trailing_12m

    return ctx.memo("annual", lambda: trailing_12m(subscriptions(ctx), ctx.as_of, "month",
                                                   bridge=monthly_bridge(ctx)))


def subscriptions(ctx: ReportContext):
    """What the cohort and trailing-12-month metrics read: the report's data source (its engine
    reads the files; an in-memory copy of a million accounts' subscriptions held for the whole
    report left DuckDB's 3 GB too little for the bridge query)."""
    return ctx.source


PER = {"month": "monthly", "quarter": "quarterly"}
A = {"month": "a month", "quarter": "a quarter"}


def _record(ctx: ReportContext, ren: float | None) -> pd.Series | None:
    """The headline figures of the summary JSON (fractions; monthly = the last complete month)."""
    mb, yr = monthly_bridge(ctx), annual(ctx)
    if mb.empty:
        return None
    m, y = mb.iloc[-1], yr.iloc[-1]
    def f(x):
        return (None if nv.is_missing(x) else float(x))
    month_ren = ren
    if ctx.grain != "month":
        from csresearch.health.kpi import metric_table

        r = metric_table(ctx.source, ctx.as_of, "renewals", "month", memo=tables(ctx))
        month_ren = r["renewal_rate"].iloc[-1] if len(r) else None
    ctx.record(period=str(pd.Timestamp(m["period_start"]).date()), logo_churn_monthly=f(m["logo_churn_rate"]),
               logo_churn_annualised=f(y["logo_churn_annualised"]), grr_monthly=f(m["grr"]), nrr_monthly=f(m["nrr"]),
               grr_trailing_12m=f(y["grr_trailing_12m"]), nrr_trailing_12m=f(y["nrr_trailing_12m"]),
               renewal_rate=f(month_ren))
    return y


def headline(ctx: ReportContext, last: pd.Series, prev: pd.Series | None, year: pd.Series | None) -> str:
    """The report's answer in one sentence: churn now and its direction, a year's revenue kept,
    the segment that churned most."""
    g = ctx.grain
    rate = last["logo_churn_rate"]
    move = "was"
    if prev is not None and not nv.is_missing(prev["logo_churn_rate"]) and not nv.is_missing(rate):
        d = round(float(rate) - float(prev["logo_churn_rate"]), 3)
        move = "rose to" if d > 0 else "fell to" if d < 0 else "held at"
    from csresearch.metrics.annual import annualise

    out = (f"In {nv.period_label(last['period_start'], g)} logo churn {move} {nv.pct(rate)} {A[g]} "
           f"(about {nv.pct(annualise(rate, g), 0)} a year if it held)")
    if year is not None and not nv.is_missing(year["nrr_trailing_12m"]):
        out += (f", and customers of a year ago now pay {nv.pct(year['nrr_trailing_12m'], 0)} of what they paid "
                "then (NRR, trailing 12 months)")
    seg = bridge_by_segment(ctx)
    seg = seg[seg["period_start"] == last["period_start"]].dropna(subset=["logo_churn_rate"])
    if len(seg) > 1:
        worst = seg.sort_values("logo_churn_rate", ascending=False).iloc[0]
        out += f"; {labels.value(worst[ctx.segment])} churned most this {g}"
    return out + "."


def _sub(cur, before, kind: str) -> str:
    if nv.is_missing(cur) or nv.is_missing(before):
        return "no previous figure"
    d = float(cur) - float(before)
    size = nv.points(d) if kind == "pct" else nv.thousands(abs(d))
    if size in ("0.0 points", "0"):
        return "same as previous"
    return f"{'+' if d > 0 else '-'}{size} vs previous"


def _cards(ctx: ReportContext, last, prev, ren, ren_prev, year) -> list[tuple[str, str, str]]:
    g, per = ctx.grain, PER[ctx.grain]
    pv = (lambda c: prev[c]) if prev is not None else (lambda c: None)
    from csresearch.metrics.annual import annualise

    mrr_sub = "no previous figure"
    if prev is not None:
        d = float(last["mrr_end"]) - float(prev["mrr_end"])
        mrr_sub = f"{'+' if d >= 0 else ''}{nv.currency(d, ctx.currency, short=True)} vs previous"
    y = year if year is not None else pd.Series(dtype=float)
    since = nv.period_label(y["window_start"], "month") if "window_start" in y else nv.NA
    return [
        ("Customers at period end", nv.thousands(last["accounts_end"]), _sub(last["accounts_end"], pv("accounts_end"), "count")),
        (f"Logo churn ({per})", nv.pct(last["logo_churn_rate"]), _sub(last["logo_churn_rate"], pv("logo_churn_rate"), "pct")),
        ("Logo churn, annualised", nv.pct(annualise(last["logo_churn_rate"], g)),
         f"1 - (1 - {per} rate)^{12 if g == 'month' else 4}; observed over 12 months: "
         f"{nv.pct(y.get('logo_churn_trailing_12m'))}"),
        (f"GRR ({per})", nv.pct(last["grr"]), _sub(last["grr"], pv("grr"), "pct")),
        (f"NRR ({per})", nv.pct(last["nrr"]), _sub(last["nrr"], pv("nrr"), "pct")),
        ("GRR, trailing 12 months", nv.pct(y.get("grr_trailing_12m")), f"MRR kept from customers of {since}"),
        ("NRR, trailing 12 months", nv.pct(y.get("nrr_trailing_12m")), f"with expansion; customers of {since}"),
        (f"Renewal rate ({per})", nv.pct(ren), _sub(ren, ren_prev, "pct")),
        ("MRR at period end", nv.currency(last["mrr_end"], ctx.currency, short=True), mrr_sub),
    ]


@section
def summary(ctx: ReportContext) -> Section:
    """The answer in one sentence, headline figures (per period and over 12 months) and goals."""
    b = bridge_table(ctx)
    s = Section("Summary")
    if b.empty:
        return s.text("There is no complete period of data on or before the as-of date; nothing to report.")
    last, prev = _last_two(b)
    period = last["period_start"]
    when = nv.period_label(period, ctx.grain)
    g = ctx.grain
    pv = (lambda c: prev[c]) if prev is not None else (lambda c: None)
    r = renewals(ctx)
    r_last = r[r["period_start"] == period]
    r_prev = r[r["period_start"] == (prev["period_start"] if prev is not None else None)]
    ren = float(r_last["renewal_rate"].iloc[0]) if len(r_last) else None
    ren_prev = float(r_prev["renewal_rate"].iloc[0]) if len(r_prev) else None
    year = _record(ctx, ren)  # trailing 12 months to the end of the last complete month
    lead = headline(ctx, last, prev, year)
    ctx.record(headline=lead)  # also the index's line for this report
    s.add(Html(f'<p class="cs-lead"><strong>{esc(lead)}</strong></p>'))
    s.add(cards(_cards(ctx, last, prev, ren, ren_prev, year)))
    bullets = [
        nv.change_sentence("The number of customers", last["accounts_end"], pv("accounts_end"), period, g, kind="count"),
        nv.change_sentence("Logo churn", last["logo_churn_rate"], pv("logo_churn_rate"), period, g),
        nv.change_sentence("Gross revenue retention (GRR)", last["grr"], pv("grr"), period, g),
        nv.change_sentence("Net revenue retention (NRR)", last["nrr"], pv("nrr"), period, g),
        nv.change_sentence("The renewal rate", ren, ren_prev, period, g),
    ]
    by_term = renewals_by_term(ctx)
    if by_term:
        bullets.append(by_term)
    seg = bridge_by_segment(ctx)
    seg_last = seg[seg["period_start"] == period].dropna(subset=["logo_churn_rate"])
    if len(seg_last) > 1:
        worst = seg_last.sort_values("logo_churn_rate", ascending=False).iloc[0]
        bullets.append(
            f"Highest logo churn by {labels.words(ctx.segment)} in {when}: {labels.value(worst[ctx.segment])} at "
            f"{nv.pct(worst['logo_churn_rate'])} ({nv.plural(worst['accounts_churned'], 'account')} of "
            f"{nv.thousands(worst['accounts_start'])})."
        )
    bullets.append("Goals: " + _goals_line(ctx))  # e.g. "5 of 11 goals met; missed: ..."
    s.bullets(bullets)
    s.note(
        f"Period: {when} (the last complete {g} on or before {ctx.as_of}). Logo churn = accounts lost "
        f"in the period / accounts active at its start; GRR and NRR are on MRR of the accounts active "
        f"at the start. The trailing-12-month GRR and NRR compare the MRR of the customers active 12 months "
        f"before the period end with what the same customers pay at its end (GRR caps each at what it paid "
        f"then). Annualised logo churn = 1 - (1 - {PER[g]} rate)^{12 if g == 'month' else 4}: the share lost in "
        "a year if this period's rate held. Renewal rate = contracts still active the day after their term "
        "ended / contracts that reached the end of a term in the period; a cancellation before the term "
        "ends counts in logo churn, not in the renewal rate."
    )
    return s


def _goals_line(ctx: ReportContext) -> str:
    from csresearch.reports.sections.kpis import goal_table, goals_sentence

    return goals_sentence(goal_table(ctx)) + " Details under the KPI tree."


@section
def bridge(ctx: ReportContext) -> Section:
    """The MRR bridge of the last period as a waterfall, GRR/NRR over time and a bridge table."""
    b = bridge_table(ctx)
    s = Section("MRR bridge")
    if b.empty:
        return s.text("No complete period to show.")
    last = b.iloc[-1]
    when = nv.period_label(last["period_start"], ctx.grain)
    s.text(
        f"MRR went from {nv.currency(last['mrr_start'], ctx.currency)} to "
        f"{nv.currency(last['mrr_end'], ctx.currency)} in {when}: "
        f"{nv.currency(last['mrr_new'], ctx.currency)} new, {nv.currency(last['mrr_expansion'], ctx.currency)} "
        f"expansion, {nv.currency(last['mrr_reactivation'], ctx.currency)} reactivation, "
        f"{nv.currency(last['mrr_contraction'], ctx.currency)} contraction and "
        f"{nv.currency(last['mrr_churned'], ctx.currency)} churned."
    )
    s.figure(plots.bridge(last, f"MRR bridge, {when}", ctx.currency), f"MRR bridge waterfall for {when}")
    recent = b.tail(12)
    s.figure(
        plots.trend(recent, "period_start", {"grr": "GRR", "nrr": "NRR"}, f"GRR and NRR, last {len(recent)} periods",
                    "share of starting MRR (%)"),
        "GRR and NRR over the last periods",
    )
    cols = {"period_start": "period", "mrr_start": "MRR start", "mrr_new": "new", "mrr_expansion": "expansion",
            "mrr_reactivation": "reactivation", "mrr_contraction": "contraction", "mrr_churned": "churned MRR",
            "mrr_end": "MRR end", "logo_churn_rate": "logo churn", "grr": "GRR", "nrr": "NRR"}
    t = b[list(cols)].sort_values("period_start", ascending=False)
    money = {c: "currency" for c in cols if c.startswith("mrr_")}
    s.table(t, formats={"period_start": "month", "logo_churn_rate": "pct", "grr": "pct", "nrr": "pct", **money},
            labels=cols, top=12, what="periods", order="newest first",
            caption=f"Bridge by period, newest first: MRR start + new + expansion + reactivation - contraction - "
                    f"churned MRR = MRR end; logo churn, GRR and NRR are {PER[ctx.grain]} (customer counts: "
                    "the summary above)")
    return s


@section
def cohorts(ctx: ReportContext) -> Section:
    """Logo and MRR cohort retention heatmaps."""
    from csresearch.metrics.cohorts import cohort_table, retention_matrix

    long = cohort_table(subscriptions(ctx), ctx.as_of, COHORT_MONTHS)  # once for both measures
    s = Section("Cohort retention")
    logo = retention_matrix(long, COHORT_MONTHS, "logo")
    mrr = retention_matrix(long, COHORT_MONTHS, "mrr")
    if logo.empty:
        return s.text("No cohort has started on or before the as-of date.")
    m12 = logo[12].dropna() if 12 in logo.columns else pd.Series(dtype=float)
    if len(m12):
        s.text(
            f"Of the cohorts old enough to tell, {nv.pct(m12.mean())} of accounts were still customers "
            f"12 months after they started (cohort average; best {nv.pct(m12.max())}, worst {nv.pct(m12.min())})."
        )
    s.figure(plots.heatmap(logo, "Logo retention by start month", "months since start", "cohort (start month)"),
             "Heatmap of logo retention by cohort")
    vmax = float(max(1.0, min(1.6, mrr.max().max()))) if mrr.notna().any().any() else 1.0
    s.figure(plots.heatmap(mrr, "MRR retention by start month (with expansion, after contraction and churn)", "months since start",
                           "cohort (start month)", vmax=vmax),
             "Heatmap of MRR retention by cohort")
    s.note("Blank cells are not observable yet at the as-of date. MRR retention can exceed 100 % (expansion).")
    return s


@section
def churn_reasons(ctx: ReportContext, months: int = 12) -> Section:
    """Churn by reason and owning team over the last ``months`` months."""
    s = Section("Churn by reason and owning team")
    if not ctx.has("churn_reasons"):
        return s.unavailable("churn by reason", "the data source has no churn_reasons table")
    cr = ctx.df("churn_reasons")
    end = pd.Timestamp(ctx.as_of) + pd.Timedelta(days=1)
    start = end - pd.DateOffset(months=months)
    w = cr[(cr["churned_at"] >= start) & (cr["churned_at"] < end)]
    if w.empty:
        return s.text(f"No churn reason was recorded in the {months} months to {ctx.as_of}.")
    owners = _owners()
    counts = w["reason"].value_counts()
    t = counts.rename("churned accounts").to_frame()
    t["share"] = t["churned accounts"] / t["churned accounts"].sum()
    t["owning team"] = [owners.get(str(r), "stated (no owning team)") for r in t.index]
    t = t.rename_axis("reason").reset_index()
    top = t.iloc[0]
    s.text(
        f"{nv.plural(len(w), 'churned account')} recorded a reason in the {months} months to {ctx.as_of}. "
        f"The most common was '{top['reason']}' ({nv.pct(top['share'])}), owned by {top['owning team']}."
    )
    by_team = t.groupby("owning team")["churned accounts"].sum()
    s.figure(plots.bar(by_team, f"Churned accounts by owning team, last {months} months",
                       "churned accounts", "owning team"), "Bar chart of churned accounts by owning team")
    s.table(t, formats={"share": "pct"}, sort_by="churned accounts", what="reasons")
    return s


def _owners() -> dict[str, str]:
    from csresearch.health.kpi import REASON_OWNERS

    return dict(REASON_OWNERS)


# the KPI tree, the goals and the lifetimes live in their own modules; re-exported for the templates and tests
from csresearch.reports.sections.kpis import _kpi_name, _kpi_value, kpi_tree  # noqa: E402, F401
from csresearch.reports.sections.lifetimes import lifetimes, median_sentences  # noqa: E402, F401
