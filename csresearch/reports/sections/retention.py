"""Sections of the retention report: headline, MRR bridge, cohorts, survival, churn reasons.

Each function takes a :class:`~csresearch.reports.context.ReportContext` and returns a
:class:`~csresearch.display.Section`; the numbers come from :mod:`csresearch.metrics` and
:mod:`csresearch.survival` (nothing is recomputed here).
"""

from __future__ import annotations

import pandas as pd

from csresearch import narrative as nv
from csresearch import plots
from csresearch.display import Section, cards
from csresearch.reports.context import ReportContext
from csresearch.reports.notebook import section

KM_TIMES = (0, 6, 12, 18, 24, 30, 36)
RMST_MONTHS = 24
COHORT_MONTHS = 24


def bridge_table(ctx: ReportContext) -> pd.DataFrame:
    from csresearch.metrics.revenue import mrr_bridge

    return ctx.memo("bridge", lambda: mrr_bridge(ctx.df("subscriptions"), ctx.as_of, ctx.grain))


def bridge_by_segment(ctx: ReportContext) -> pd.DataFrame:
    from csresearch.metrics.revenue import mrr_bridge

    return ctx.memo(
        "bridge_seg",
        lambda: mrr_bridge(ctx.df("subscriptions"), ctx.as_of, ctx.grain, by=ctx.segment, accounts=ctx.df("accounts")),
    )


def renewals(ctx: ReportContext) -> pd.DataFrame:
    from csresearch.metrics.revenue import renewal_rates

    return ctx.memo("renewals", lambda: renewal_rates(ctx.df("subscriptions"), ctx.as_of, ctx.grain))


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


@section
def summary(ctx: ReportContext) -> Section:
    """Headline figures of the last complete period and their change, said in words."""
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

    def sub(cur, before, kind):
        if nv.is_missing(cur) or nv.is_missing(before):
            return "no previous figure"
        d = float(cur) - float(before)
        size = nv.points(d) if kind == "pct" else nv.thousands(abs(d))
        if size in ("0.0 points", "0"):
            return "same as previous"
        return f"{'+' if d > 0 else '-'}{size} vs previous"

    mrr_sub = "no previous figure"
    if prev is not None:
        d = float(last["mrr_end"]) - float(prev["mrr_end"])
        mrr_sub = f"{'+' if d >= 0 else ''}{nv.currency(d, ctx.currency, short=True)} vs previous"
    s.add(cards([
        ("Customers at period end", nv.thousands(last["accounts_end"]), sub(last["accounts_end"], pv("accounts_end"), "count")),
        ("Logo churn", nv.pct(last["logo_churn_rate"]), sub(last["logo_churn_rate"], pv("logo_churn_rate"), "pct")),
        ("GRR", nv.pct(last["grr"]), sub(last["grr"], pv("grr"), "pct")),
        ("NRR", nv.pct(last["nrr"]), sub(last["nrr"], pv("nrr"), "pct")),
        ("Renewal rate", nv.pct(ren), sub(ren, ren_prev, "pct")),
        ("MRR at period end", nv.currency(last["mrr_end"], ctx.currency, short=True), mrr_sub),
    ]))
    bullets = [
        nv.change_sentence("The number of customers", last["accounts_end"], pv("accounts_end"), period, g, kind="count"),
        nv.change_sentence("Logo churn", last["logo_churn_rate"], pv("logo_churn_rate"), period, g),
        nv.change_sentence("Gross revenue retention (GRR)", last["grr"], pv("grr"), period, g),
        nv.change_sentence("Net revenue retention (NRR)", last["nrr"], pv("nrr"), period, g),
        nv.change_sentence("The renewal rate", ren, ren_prev, period, g),
    ]
    seg = bridge_by_segment(ctx)
    seg_last = seg[seg["period_start"] == period].dropna(subset=["logo_churn_rate"])
    if len(seg_last) > 1:
        worst = seg_last.sort_values("logo_churn_rate", ascending=False).iloc[0]
        bullets.append(
            f"Highest logo churn by {ctx.segment} in {when}: {worst[ctx.segment]} at "
            f"{nv.pct(worst['logo_churn_rate'])} ({nv.plural(worst['accounts_churned'], 'account')} of "
            f"{nv.thousands(worst['accounts_start'])})."
        )
    s.bullets(bullets)
    s.note(
        f"Period: {when} (the last complete {g} on or before {ctx.as_of}). Logo churn = accounts lost "
        "in the period / accounts active at its start; GRR and NRR are on MRR of the accounts active "
        "at the start. Renewal rate = contracts still active the day after their term ended / "
        "contracts that reached the end of a term in the period; a cancellation before the term "
        "ends counts in logo churn, not in the renewal rate."
    )
    return s


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
    cols = {"period_start": "period", "accounts_start": "customers at start", "accounts_churned": "customers churned",
            "mrr_start": "MRR start", "mrr_new": "new", "mrr_expansion": "expansion",
            "mrr_contraction": "contraction", "mrr_churned": "churned MRR", "mrr_end": "MRR end",
            "logo_churn_rate": "logo churn", "grr": "GRR", "nrr": "NRR"}
    t = b[list(cols)].sort_values("period_start", ascending=False)
    money = {c: "currency" for c in cols if c.startswith("mrr_")}
    s.table(t, formats={"period_start": "month", "logo_churn_rate": "pct", "grr": "pct", "nrr": "pct", **money},
            labels=cols, top=12, what="periods", order="newest first", caption="Bridge by period, newest first")
    return s


@section
def cohorts(ctx: ReportContext) -> Section:
    """Logo and MRR cohort retention heatmaps."""
    from csresearch.metrics.cohorts import cohort_retention

    subs = ctx.df("subscriptions")
    s = Section("Cohort retention")
    logo = cohort_retention(subs, ctx.as_of, COHORT_MONTHS, "logo")
    mrr = cohort_retention(subs, ctx.as_of, COHORT_MONTHS, "mrr")
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
    s.figure(plots.heatmap(mrr, "MRR retention by start month (net of expansion)", "months since start",
                           "cohort (start month)", vmax=vmax),
             "Heatmap of MRR retention by cohort")
    s.note("Blank cells are not observable yet at the as-of date. MRR retention can exceed 100 % (expansion).")
    return s


@section
def lifetimes(ctx: ReportContext) -> Section:
    """Kaplan-Meier curves by segment, at-risk table, log-rank test, median lifetime and RMST."""
    from csresearch.survival.curves import at_risk_table, km_curve, km_summary, logrank, rmst

    st = survival(ctx)
    by = ctx.segment
    s = Section(f"Customer lifetime by {by}")
    d, e = "tenure_months", "churned"
    groups = st[by].nunique()
    s.figure(plots.km(km_curve(st, d, e, by=by), f"Share of customers still active, by {by}"),
             f"Kaplan-Meier retention curves by {by}")
    times = [t for t in KM_TIMES if t <= st[d].max() + 1e-9]
    ar = at_risk_table(st, d, e, times, by=by).reset_index()
    ar = ar[ar["measure"] == "at_risk"].drop(columns="measure")
    ar.columns = [by] + [f"{c} mo" for c in ar.columns[1:]]
    s.table(ar, top=None, caption="Customers still at risk at each month (entered the curve and not yet churned or censored)")
    if groups >= 2:
        lr = logrank(st, d, e, by=by).iloc[0]
        verdict = "differ" if lr["p"] < 0.05 else "do not differ detectably"
        s.text(
            f"Log-rank test: the curves {verdict} between the {groups} groups of {by} "
            f"(chi-square {lr['statistic']:,.1f} on {int(lr['df'])} df, {nv.p_value(lr['p'])}; "
            f"{nv.thousands(lr['n'])} customers, {nv.thousands(lr['events'])} churned)."
        )
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
        tab[[by, "n", "events", "median", "S_12", "S_24", "rmst", "lower", "upper"]],
        formats={"median": "float1", "S_12": "pct", "S_24": "pct", "rmst": "float1", "lower": "float1", "upper": "float1"},
        labels={"n": "customers", "events": "churned", "median": "median lifetime (months)", "S_12": "still active at 12 mo",
                "S_24": "still active at 24 mo", "rmst": f"RMST {RMST_MONTHS} mo (months)", "lower": "RMST 95 % low",
                "upper": "RMST 95 % high"},
        sort_by="rmst", ascending=False, what=f"groups of {by}",
    )
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
    from csresearch.kpi import REASON_OWNERS

    return dict(REASON_OWNERS)


def _tree_rows(values: pd.DataFrame, period: pd.Timestamp, previous: pd.Timestamp | None) -> list[dict]:
    from csresearch.kpi import KPI_TREE

    now = values[values["period_start"] == period].set_index("node")
    before = values[values["period_start"] == previous].set_index("node") if previous is not None else None
    rows: list[dict] = []

    def walk(parent: str | None, depth: int) -> None:
        for node, par, team, unit, definition in KPI_TREE:
            if par != parent:
                continue
            v = now["value"].get(node, float("nan"))
            p = before["value"].get(node, float("nan")) if before is not None else float("nan")
            rows.append({"KPI": ("\u00a0\u00a0\u00a0\u00a0" * depth) + ("└\u00a0" if depth else "") + _kpi_name(node),
                         "team": team, "unit": unit, "value": v, "previous": p, "definition": definition,
                         "note": now["note"].get(node, "")})
            walk(node, depth + 1)

    walk(None, 0)
    return rows


ABBREVIATIONS = {"nrr": "NRR", "grr": "GRR", "mrr": "MRR", "ces": "CES", "nps": "NPS"}


def _kpi_name(node: str) -> str:
    """``mrr_churn_rate`` -> ``MRR churn rate``."""
    return " ".join(ABBREVIATIONS.get(w, w) for w in node.split("_"))


def _kpi_value(unit: str, x: float) -> str:
    """A KPI in its unit: shares as %, days to one decimal with 'days', scores with their scale."""
    if nv.is_missing(x):
        return nv.NA
    if unit in ("share", "ratio"):
        return nv.pct(x)
    if unit == "days":
        return f"{nv.number(x, 1)} days"
    if unit.startswith("score "):  # "score 1-7"
        return f"{nv.number(x, 2)} ({unit.removeprefix('score ')} scale)"
    if unit == "tickets":
        return f"{nv.number(x, 2)} per account"
    return f"{nv.number(x, 2)} {unit}"


@section
def kpi_tree(ctx: ReportContext) -> Section:
    """The KPI tree: churn and NRR broken down into the KPIs each team owns."""
    from csresearch.kpi import kpi_tree as build

    s = Section("KPI tree")
    values = ctx.memo("kpi", lambda: build(ctx.source, ctx.as_of, ctx.grain))
    periods = sorted(values["period_start"].unique())
    if not periods:
        return s.text("No complete period to show.")
    period = pd.Timestamp(periods[-1])
    previous = pd.Timestamp(periods[-2]) if len(periods) > 1 else None
    rows = pd.DataFrame(_tree_rows(values, period, previous))
    rows["this period"] = [_kpi_value(u, v) for u, v in zip(rows["unit"], rows["value"], strict=True)]
    rows["previous period"] = [_kpi_value(u, v) for u, v in zip(rows["unit"], rows["previous"], strict=True)]
    s.text(
        f"{nv.period_label(period, ctx.grain)}, with the period before. Logo churn is the sum of the churn "
        "rates by reason (each owned by the team named); NRR = 1 + expansion - contraction - churned MRR. "
        "The team KPIs under each branch are the levers that team pulls."
    )
    s.table(rows[["KPI", "team", "this period", "previous period", "definition"]], top=None, what="KPIs",
            formats={"this period": "text", "previous period": "text"})
    return s
