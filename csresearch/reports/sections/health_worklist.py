"""The health report's worklist: who to call this week and why, the full ranked list, band
stability and the back-test lift (helpers of :mod:`csresearch.reports.sections.health`).

The worklist is :func:`csresearch.health.worklist.worklist` (configured by the report's
``playbook_path`` and ``health_config_path``); band flips are
:func:`csresearch.health.score.band_flips` over the last ``FLIP_MONTHS`` months of the history.
"""

from __future__ import annotations

import pandas as pd

from csresearch.reports.context import ReportContext
from csresearch.reports.present import labels
from csresearch.reports.present import words as nv
from csresearch.reports.present.tables import Html, Section, esc
from csresearch.reports.sections.health_data import band_words, config, names

FLIP_MONTHS = 12
TOP_PER_OWNER = 3


def features(ctx: ReportContext) -> pd.DataFrame:
    """The playbooks' features as of ``as_of`` (:func:`csresearch.reports.sections.health_data.scored`)."""
    from csresearch.reports.sections.health_data import scored

    return scored(ctx)[2]


def worklist_of(ctx: ReportContext) -> pd.DataFrame:
    """The worklist as of ``as_of`` (once per run)."""
    from csresearch.health.worklist import worklist

    pb = ctx.params.get("playbook_path") or None
    cfg = ctx.params.get("health_config_path") or None
    return ctx.memo("worklist", lambda: worklist(ctx.source, ctx.as_of, playbook=pb, health_config=cfg,
                                                 features=features(ctx)))


def flip_rates(bands: pd.DataFrame) -> tuple[float, float]:
    """Monthly band flip rate over the last ``FLIP_MONTHS`` months of ``bands`` (the report's
    :func:`~csresearch.reports.sections.health_data.bands`): (with hysteresis, without)."""
    from csresearch.health.bands import band_flips

    def rate(col: str) -> float:
        t = band_flips(bands, col).tail(FLIP_MONTHS)
        return float(t["flipped"].sum() / t["scored"].sum()) if t["scored"].sum() else float("nan")

    return rate("band"), rate("band_raw") if "band_raw" in bands else float("nan")


def _lead(ctx: ReportContext, wl: pd.DataFrame) -> str:
    a, cap = wl.attrs, wl.attrs["capacity"]
    s = (f"Who to call this week: {labels.plural(a['worklist_size'], 'call')} within the capacity of "
         f"{nv.thousands(a['worklist_capacity'])} ({cap.per_owner_per_week} per CSM for "
         f"{labels.plural(a['owners'], 'CSM')}, {cap.pooled_per_week} for the pooled queue), the largest expected "
         f"MRR at risk first; {labels.plural(a['digital_size'], 'tech-touch account')} go to the digital campaign "
         f"and {nv.thousands(a['called'])} handed out in the last {labels.plural(a['cooldown_weeks'], 'week')} "
         f"are not raised again{_waiting(wl)}.")
    if a.get("watch"):
        s += (f" {labels.plural(a['watch'], 'account')} on the list are watched, not called: their churn risk "
              f"within {labels.plural(cap.horizon_days, 'day')} is under {nv.pct(a['risk_floor'])}, "
              f"{cap.min_risk_ratio:g} times the average customer's {nv.pct(a['base_rate'])}.")
    return s + _first_call(ctx, wl)


def _first_call(ctx: ReportContext, wl: pd.DataFrame) -> str:
    """' First: Daichi Ito calls Delta Bank LLC ($23,931 MRR, yellow): usage down 30 % ...' ('' when
    no one is to be called)."""
    people = wl.loc[wl["within_capacity"] & wl["queue"].ne("digital")]
    if not len(people):
        return ""
    top = people.iloc[0]
    name = names(ctx).get(top["account_id"], top["account_id"])
    return (f" First: {top['owner']} calls {name} ({nv.currency(top['mrr'], ctx.currency)} MRR, "
            f"{top['band']}): {top['reason']}.")


def _waiting(wl: pd.DataFrame) -> str:
    """'; 12 of this week's calls were on the list a week earlier, 37 earlier calls wait their turn' (the
    calls carried over from last week: within this week's capacity or not)."""
    carried = wl["status"].eq("waiting") & wl["queue"].ne("digital")
    now, later = int((carried & wl["within_capacity"]).sum()), int((carried & ~wl["within_capacity"]).sum())
    parts = ([f"{nv.thousands(now)} of this week's calls {'was' if now == 1 else 'were'} on the list a week "
             "earlier"] if now else []) + \
            ([f"{nv.thousands(later)} earlier {'call waits' if later == 1 else 'calls wait'} their turn"]
             if later else [])
    return "; " + ", ".join(parts) if parts else ""


def first_screen(ctx: ReportContext, s: Section, bands: pd.DataFrame) -> None:
    """Add who to call this week and why (a lead sentence and each owner's top items) to ``s``
    and record worklist_size, worklist_capacity, band_flip_rate (and band_flip_rate_raw) of the
    monthly ``bands`` (account_id, period_start, score, band, band_raw)."""
    wl = worklist_of(ctx)
    flips, raw = flip_rates(bands)
    ctx.record(worklist_size=int(wl.attrs["worklist_size"]), worklist_capacity=int(wl.attrs["worklist_capacity"]),
               worklist_digital=int(wl.attrs["digital_size"]), band_flip_rate=round(flips, 4),
               band_flip_rate_raw=round(raw, 4), calls_to_action=int(wl.attrs["calls"]))
    ctx.record(headline=f"{labels.plural(wl.attrs['worklist_size'], 'call').capitalize()} this week."
               + _first_call(ctx, wl))  # the index's line for this report
    s.add(Html(f'<p class="cs-lead"><strong>{esc(_lead(ctx, wl))}</strong></p>'))
    people = wl.loc[wl["within_capacity"] & wl["queue"].ne("digital")]
    top = people.groupby("owner", sort=True, group_keys=False).head(TOP_PER_OWNER)
    if len(top):
        t = top.assign(name=top["account_id"].map(names(ctx))).sort_values(["owner", "rank"])
        s.table(t[["owner", "rank", "name", "account_id", "mrr", "band", "score", "reason", "cta"]],
                formats={"mrr": "currency", "score": "float1", "rank": "int"}, top=None,
                labels={"reason": "why", "cta": "what to do"},
                caption=f"This week's calls: each owner's top {TOP_PER_OWNER} by expected MRR at risk (rank: "
                        "place on the whole list, 1 = the most MRR at risk)")
    margin = config(ctx).band_margin
    keeps = (f" An account keeps last month's band until its score leaves it by {nv.number(margin, 0)} points."
             if margin else "")
    s.note(f"Bands: {band_words(ctx, hysteresis=True)}.{keeps} Monthly band flip rate over the last {FLIP_MONTHS} "
           f"months: {nv.pct(flips)} (without hysteresis {nv.pct(raw)}).")


def lift(ctx: ReportContext) -> dict | None:
    """Back-test at the last month end ``horizon_days`` or more before as_of (once per run)."""
    from csresearch.health.worklist import worklist_lift

    def build() -> dict | None:
        horizon = worklist_of(ctx).attrs["capacity"].horizon_days
        day = (pd.Timestamp(ctx.as_of) - pd.Timedelta(days=horizon) + pd.Timedelta(days=1))
        day = (day.to_period("M").to_timestamp() - pd.Timedelta(days=1)).date().isoformat()
        pb = ctx.params.get("playbook_path") or None
        cfg = ctx.params.get("health_config_path") or None
        try:
            return worklist_lift(ctx.source, day, pb, cfg, features=features(ctx))  # the rows to day
        except (ValueError, KeyError):  # too little history before that day
            return None

    return ctx.memo("worklist_lift", build)


def full_list(ctx: ReportContext, s: Section) -> None:
    """The band probabilities, the ranked list (every call, queue, within capacity), the lift."""
    wl = worklist_of(ctx)
    rates = wl.attrs["rates"]
    by_queue = wl.groupby("queue").size()
    s.text(f"The playbooks' {nv.plural(wl.attrs['calls'], 'rule firing')} make "
           f"{labels.plural(len(wl), 'call')} (one per account): "
           + ", ".join(f"{nv.thousands(by_queue.get(q, 0))} for {w}" for q, w in
                       (("owner", "CSMs"), ("pooled", "the pooled queue"), ("digital", "the digital campaign")))
           + f". {nv.thousands(wl.attrs['new'])} are new (not on the list as of {wl.attrs['previous']}), "
           f"{nv.thousands(wl.attrs['called'])} were handed out in the last "
           f"{labels.plural(wl.attrs['cooldown_weeks'], 'week')} (replayed from the data), "
           f"{nv.thousands(wl.attrs.get('watch', 0))} are watched (churn risk under the floor of "
           f"{nv.pct(wl.attrs.get('risk_floor', 0))}); the "
           f"{nv.thousands(wl.attrs['worklist_size'])} within capacity are this week's calls, and "
           f"{labels.plural(wl.attrs['digital_size'], 'tech-touch account')} go to this week's digital campaign.")
    horizon = rates.attrs.get("horizon_days")
    if len(rates):
        s.table(rates.reset_index(), formats={"p_churn": "pct"}, top=None,
                labels={"accounts": "account-months", "churned": f"churned within {horizon} days",
                        "p_churn": "churn probability"},
                caption=f"Churn by band and contract term: observed churn within {horizon} days of the scoring "
                        f"dates {', '.join(rates.attrs['dates'])} (customers on each date, data up to {ctx.as_of}). "
                        "The list is ranked by a finer probability: the same outcomes fitted as a logistic "
                        "model of the score (decreasing), segment and MRR per term. The churn-drivers report's "
                        "probabilities (within 90 and 365 days) come from the first 90 days and the tenure "
                        "reached instead, so the two can differ for one account: this one is the fresher view.")
    t = wl.assign(name=wl["account_id"].map(names(ctx)), values=wl["reason"])
    s.table(t[["rank", "owner", "name", "account_id", "status", "within_capacity", "mrr", "band",
               "revenue_at_risk", "values", "cta"]],
            formats={"mrr": "currency", "revenue_at_risk": "currency"}, what="calls to action",
            order="by expected MRR at risk (churn probability x MRR)",
            labels={"values": "why", "cta": "what to do", "revenue_at_risk": "MRR at risk",
                    "within_capacity": "this week"})
    s.note(f"Status: new = not on the list a week earlier; waiting = on it a week earlier and not handed out "
           f"yet (served in rank order: this week when within capacity); called = handed out in the last "
           f"{labels.plural(wl.attrs['cooldown_weeks'], 'week')}, not raised again; watch = churn risk under the "
           "floor, kept on the list without a call. The whole list is exported by the command line's playbooks "
           "command (--format csv).")
    lf = lift(ctx)
    if lf is None or not lf["worklist"]:
        s.note("Lift: no back-test date with enough history and outcome before as_of.")
        return
    ctx.record(worklist_lift=round(lf["lift"], 3), worklist_lift_day=lf["day"])
    s.note(f"Back-test on {lf['day']}: of the {lf['worklist']} accounts on that week's worklist, "
           f"{nv.pct(lf['worklist_rate'])} churned within {lf['horizon_days']} days, against {nv.pct(lf['base_rate'])} "
           f"of all {nv.thousands(lf['customers'])} customers: lift {nv.number(lf['lift'], 2)}x "
           f"(the full list: {nv.pct(lf['full_list_rate'])}, {nv.number(lf['full_list_lift'], 2)}x).")
