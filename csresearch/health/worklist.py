"""The worklist: the playbooks' calls to action ranked by expected MRR at risk, per owner, capped.

One item per account that a playbook rule fired for (:func:`csresearch.health.playbooks.run_playbook`;
several rules on one account make one call, its reasons joined, the action of the most urgent
rule). Each item is ranked by

    revenue_at_risk = p_churn x MRR

where ``p_churn`` is the probability of churn within ``horizon_days`` given the account's score,
segment, MRR and whether its contract term can end within the horizon: observed outcomes of the
scores of the last ``lookback_days`` (data up to ``as_of`` only), fitted as a logistic model,
decreasing in the score (:class:`csresearch.health.risk.ScoreChurnCurve`; the report also shows the rates by
band, :func:`~csresearch.health.risk.band_churn_rates`). MRR is the paid MRR on ``as_of``
(:func:`csresearch.health.segments.touch_tiers`).

Queues: tech-touch accounts (ARR below the playbook's ``low_touch_min``) go to the
digital-campaign list (``queue`` digital), not a person; other accounts to their CSM
(``accounts.csm_owner``, queue owner) or, without one, to the pooled queue. An item is
``new`` unless the account was on the list a week earlier (the same rules over the month that
was complete on ``as_of - 7 days``, for the customers on that day), else ``waiting``; an item
handed out (within capacity) in one of the ``cooldown_weeks`` weeks before is ``called`` and
takes no capacity. A person's item whose ``p_churn`` is under the risk floor
(``min_risk_ratio`` x the base rate: churn within the horizon among all customers of the
lookback's scoring dates) is ``watch``: it stays on the list and takes no capacity (a call is for an
account clearly more at risk than the average customer). The others take the weekly capacity of the playbook's ``capacity`` section
in rank order within each queue (``within_capacity``): this week's calls. An item beyond
capacity one week is served a later week while it stays on the list (nothing waits forever
behind a rule that fired before). The weeks before are replayed from the data (the lists as
of ``as_of - 7k`` days, ranked with this week's probability and MRR): the kit keeps no call
log, so "called" means "handed out by this worklist", not "reached".

Example
-------
>>> wl = worklist(open_source("data/demo"), "2025-12-31")  # doctest: +SKIP
>>> wl.loc[wl["within_capacity"], ["owner", "account_id", "mrr", "band", "reason", "cta"]]  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csresearch.arrays import choose, take_rows
from csresearch.health.playbooks import PRIORITIES, Capacity, Playbook
from csresearch.health.reasons import describe, join_reasons
from csresearch.health.risk import (
    OUTCOME_COLUMNS,
    ScoreChurnCurve,
    band_churn_rates,
    churned_within,
    outcome_rows,
    term_ends,
)
from csresearch.memory import release_freed_memory

QUEUES = ("owner", "pooled", "digital")
POOLED, DIGITAL = "pooled queue", "digital campaign"
COLUMNS = ["rank", "account_id", "owner", "queue", "status", "within_capacity", "queue_rank", "mrr",
           "score", "band", "term_ends", "p_churn", "revenue_at_risk", "reason", "cta", "rule", "priority", "team",
           "values", "tier", "period_start"]


# -- ranking and capacity --------------------------------------------------------------------
def _one_per_account(ctas: pd.DataFrame, text: bool = True) -> pd.DataFrame:
    c = ctas.assign(_p=ctas["priority"].map({p: i for i, p in enumerate(PRIORITIES)}))
    c = c.loc[c["account_id"].notna()].sort_values(["account_id", "_p", "rule"], kind="stable")
    g = c.groupby("account_id", sort=False)
    out = g.agg(priority=("priority", "first"), cta=("cta", "first"), team=("owner", "first"),
                score=("score", "first"), band=("band", "first"), period_start=("period_start", "max")).reset_index()
    out["rule"], out["reason"], out["values"] = ((_per_account(c, col, fn) if text else "") for col, fn in
                                                 (("rule", ", ".join), ("reason", join_reasons), ("values", join_reasons)))
    return out[["account_id", "rule", "priority", "cta", "team", "reason", "values", "score", "band", "period_start"]]


def _per_account(c: pd.DataFrame, col: str, fn) -> list:
    """``fn`` of each account's values of ``col``, ``c`` sorted by account: the groupby's order,
    without a pandas Series per account (the strings are joined in plain Python)."""
    acc, vals = c["account_id"].to_numpy(), c[col].tolist()
    if not vals:
        return []
    cut = np.r_[np.flatnonzero(np.r_[True, acc[1:] != acc[:-1]]), len(vals)]
    if fn is join_reasons and set(vals) == {""}:  # no reasons (the replayed weeks): nothing to join
        return [""] * (len(cut) - 1)
    return [fn(vals[a:b]) for a, b in zip(cut[:-1], cut[1:], strict=True)]


def rank_worklist(ctas: pd.DataFrame, accounts: pd.DataFrame, p_churn: pd.Series | ScoreChurnCurve,
                  capacity: Capacity, previous=(), called=(), text: bool = True) -> pd.DataFrame:
    """Rank and queue the calls to action (pure function).

    Parameters
    ----------
    ctas
        One row per account and rule: account_id, rule, priority, cta, owner (the rule's team),
        reason, values, score, band, period_start (:func:`describe` of ``run_playbook``).
    accounts
        account_id, mrr, csm_owner (missing: pooled queue), tier (tech-touch: digital) and,
        when known, days_to_renewal (for :func:`term_ends`).
    p_churn
        A fitted :class:`~csresearch.health.risk.ScoreChurnCurve` (score, term_ends, segment, mrr), or a
        churn probability by (band, term_ends) or by band (a Series); NaN where it has none.
    capacity
        New items per week per queue (:class:`csresearch.health.playbooks.Capacity`).
    previous
        The accounts on the list a week earlier (not ``new``: ``waiting``).
    called
        The accounts handed out in the weeks before (``called``: they take no capacity).
    text
        False: rule, reason and values are left empty (for a replay that reads who is called).

    Returns
    -------
    One row per account (:data:`COLUMNS`), by revenue_at_risk (highest first; then lower
    score, account id). ``attrs``: worklist_size (person queues within capacity),
    worklist_capacity (per_owner x CSMs + pooled), digital_size, new, waiting, called, watch
    (under the risk floor), base_rate and risk_floor (``capacity.min_risk_ratio`` x the base
    rate: the curve's ``base_rate_`` or a Series' ``attrs['base_rate']``; no floor without one), owners.

    Example
    -------
    >>> rank_worklist(ctas, accounts, pd.Series({("red", "within horizon"): 0.3}), Capacity())  # doctest: +SKIP
    """
    items = _one_per_account(ctas, text) if len(ctas) else pd.DataFrame(columns=[c for c in COLUMNS if c in
                                                                           ctas.columns or c == "team"])
    info = accounts.assign(account_id=accounts["account_id"].astype(str)).drop_duplicates("account_id")
    items = items.assign(account_id=items["account_id"].astype(str)).merge(
        info[[c for c in ("account_id", "mrr", "csm_owner", "tier", "days_to_renewal", "segment") if c in info]],
        on="account_id", how="left")
    person = items["csm_owner"].astype(object).where(items["csm_owner"].notna(), "").astype(str).str.strip()
    items["queue"] = choose([items["tier"].eq("tech-touch"), person.ne("")], ["digital", "owner"], "pooled")
    items["owner"] = np.select([items["queue"].eq("digital"), items["queue"].eq("owner")],
                               [DIGITAL, person], POOLED)
    items["term_ends"] = term_ends(items, capacity.horizon_days)
    if isinstance(p_churn, ScoreChurnCurve):
        items["p_churn"] = p_churn.predict(items)
    elif isinstance(p_churn.index, pd.MultiIndex):
        cell = pd.MultiIndex.from_arrays([items["band"], items["term_ends"]])
        items["p_churn"] = p_churn.reindex(cell).to_numpy(dtype="float64")
    else:
        items["p_churn"] = items["band"].map(p_churn).astype("float64")
    items["revenue_at_risk"] = items["p_churn"] * pd.to_numeric(items["mrr"], errors="coerce")
    items = items.sort_values(["revenue_at_risk", "score", "account_id"], ascending=[False, True, True],
                              na_position="last", kind="stable").reset_index(drop=True)
    items["rank"] = np.arange(1, len(items) + 1)
    new = ~items["account_id"].isin(pd.Index(list(previous)).astype(str))
    done = items["account_id"].isin(pd.Index(list(called)).astype(str))
    base = _base_rate(p_churn)
    floor = capacity.min_risk_ratio * base if np.isfinite(base) else 0.0
    low = ~done & items["queue"].ne("digital") & items["p_churn"].lt(floor)  # NaN p_churn: not held back
    items["status"] = choose([done, low, new], ["called", "watch", "new"], "waiting")
    items["queue_rank"] = items.loc[~done & ~low].groupby("owner").cumcount() + 1
    cap = items["queue"].map({"owner": capacity.per_owner_per_week, "pooled": capacity.pooled_per_week,
                              "digital": capacity.digital_per_week}).astype("float64").fillna(np.inf)
    items["within_capacity"] = ~done & ~low & (items["queue_rank"] <= cap)
    owners = int(person.loc[person.ne("")].nunique()) if "csm_owner" in info else 0
    n_owners = len({o.strip() for o in info["csm_owner"].dropna().astype(str).unique()} - {""})
    people = items["within_capacity"] & items["queue"].ne("digital")
    items.attrs.update({
        "worklist_size": int(people.sum()), "digital_size": int((items["within_capacity"] & ~people).sum()),
        "worklist_capacity": n_owners * capacity.per_owner_per_week + capacity.pooled_per_week,
        "owners": n_owners, "owners_with_items": owners, "new": int((new & ~done & ~low).sum()),
        "waiting": int((~new & ~done & ~low).sum()), "called": int(done.sum()), "watch": int(low.sum()),
        "base_rate": base, "risk_floor": floor,
    })
    return items[COLUMNS]


def _base_rate(p_churn) -> float:
    """Churn within the horizon among all customers of the outcome rows (NaN when unknown)."""
    if isinstance(p_churn, ScoreChurnCurve):
        return float(getattr(p_churn, "base_rate_", float("nan")))
    return float(getattr(p_churn, "attrs", {}).get("base_rate", float("nan")))


# -- from a source ----------------------------------------------------------------------------
def _accounts(src, as_of: str, pb: Playbook) -> pd.DataFrame:
    """account_id, mrr (paid, on as_of), tier, csm_owner (NaN when the column or value is absent)."""
    from csresearch.health.segments import touch_tiers

    t = touch_tiers(src, as_of, pb.high_touch_min, pb.low_touch_min)
    acc = src.df("accounts") if src.has("accounts") else pd.DataFrame(columns=["account_id"])
    owner = acc.drop_duplicates("account_id").set_index(acc["account_id"].drop_duplicates().astype(str))
    csm = owner["csm_owner"] if "csm_owner" in owner.columns else pd.Series(dtype=object)
    return t.assign(account_id=t["account_id"].astype(str), csm_owner=t["account_id"].astype(str).map(csm))


def _with_renewal(accounts: pd.DataFrame, feats: pd.DataFrame) -> pd.DataFrame:
    """``accounts`` with each account's days_to_renewal and segment at its latest snapshot in ``feats``."""
    cols = [c for c in ("days_to_renewal", "segment") if c in feats.columns and c not in accounts.columns]
    last = feats[["account_id", "snapshot_date", *cols]]  # only the columns read are sorted
    last = last.sort_values("snapshot_date", kind="stable").drop_duplicates("account_id", keep="last")
    last = last.set_index(last["account_id"].astype(str))
    ids = accounts["account_id"].astype(str)
    return accounts.assign(**{c: ids.map(last[c]) for c in cols})


def columns_read(playbook: Playbook) -> set[str]:
    """The columns of the playbook features that :func:`worklist` reads (the rules', the
    reasons', the churn curve's and the queues'); a caller holding the features for several
    worklists can keep only these.

    Example
    -------
    >>> "band" in columns_read(load_playbook())  # doctest: +SKIP
    True
    """
    from csresearch.health.reasons import PHRASE_CONTEXT

    return {"account_id", "period_start", "snapshot_date", "active_at_snapshot", "segment", "score", "band",
            "days_to_renewal", *OUTCOME_COLUMNS, *PHRASE_CONTEXT, *(c.feature for r in playbook.rules for c in r.when)}


def _window(feats: pd.DataFrame, as_of: str, pb: Playbook, months: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The parts of ``feats`` that the worklist as of ``as_of`` reads: the rows of
    :func:`~csresearch.features.account.features_as_of` from the earliest replayed week's
    ``months`` months on, with the columns of the rules and the reasons (the rules' rows), and
    the rows of the scoring dates whose outcome is seen, with the columns of
    :func:`~csresearch.health.risk.outcome_rows` (the churn curve's rows). Every step filters
    these rows as it did the whole frame, in the same order: the same list from less data."""
    from csresearch.features.account import features_as_of

    cap = pb.capacity
    read = columns_read(pb)
    asof = pd.Timestamp(as_of)
    snap, start = feats["snapshot_date"], feats["period_start"]
    first = start.loc[snap <= asof - pd.Timedelta(days=7 * max(cap.cooldown_weeks, 1))].max()
    keep = (snap <= asof) & (start > first - pd.DateOffset(months=months) if pd.notna(first) else True)
    recent = take_rows(feats, keep.to_numpy(), [c for c in feats.columns if c in read])
    days = pd.to_datetime(pd.Series(snap.unique()))
    seen = days[(days + pd.Timedelta(days=cap.horizon_days) <= asof) & (days > asof - pd.Timedelta(days=cap.lookback_days))]
    scored = take_rows(feats, snap.isin(seen).to_numpy(), [c for c in feats.columns if c in OUTCOME_COLUMNS])
    return features_as_of(recent, as_of), scored


def _lists_before(feats: pd.DataFrame, src, as_of: str, pb: Playbook, months: int,
                  weeks: int) -> list[tuple[str, pd.DataFrame]]:
    """The rule firings as of ``as_of - 7k`` days, k = ``max(weeks, 1)`` .. 1 (oldest first)."""
    from csresearch.data import timeline
    from csresearch.health.playbooks import run_playbook

    out = []
    days = [(pd.Timestamp(as_of) - pd.Timedelta(days=7 * k)).date().isoformat() for k in range(max(weeks, 1), 0, -1)]
    customers = timeline.active_on_days(src, days)
    # the rules read each day's last `months` months: only rows from the earliest day's window on
    first = feats.loc[feats["snapshot_date"] <= pd.Timestamp(days[0]), "period_start"].max()
    if pd.notna(first):
        feats = feats.loc[feats["period_start"] > first - pd.DateOffset(months=months)]
    snaps = np.sort(feats["snapshot_date"].unique())
    fired: dict = {}  # days that read the same snapshots fire the same rules: run once, keep each day's customers
    for day in days:
        last = snaps[snaps <= np.datetime64(pd.Timestamp(day))]
        if not len(last):
            out.append((day, pd.DataFrame(columns=["account_id", "rule", "priority", "cta", "owner", "score",
                                                   "band", "period_start", "reason", "values"])))
            continue
        if last[-1] not in fired:
            fired[last[-1]] = run_playbook(feats.loc[feats["snapshot_date"] <= last[-1]], pb, months, values=False)
        ctas = fired[last[-1]]
        ctas = ctas.loc[ctas["account_id"].astype(str).isin(customers[day].astype(str))].reset_index(drop=True)
        out.append((day, ctas.assign(reason="", values="")))
    return out


def _replay(lists: list[tuple[str, pd.DataFrame]], accounts: pd.DataFrame, curve, cap: Capacity) -> pd.DataFrame:
    """The calls handed out in the last ``cap.cooldown_weeks`` weeks of ``lists`` (oldest first):
    account_id, queue, day (one row per account and week)."""
    handed: list[pd.DataFrame] = []
    for day, ctas in lists:
        recent = set(pd.concat(handed[-cap.cooldown_weeks:])["account_id"]) if cap.cooldown_weeks and handed else ()
        wl = rank_worklist(ctas, accounts, curve, cap, called=recent, text=False)
        handed.append(wl.loc[wl["within_capacity"], ["account_id", "queue"]].assign(day=day))
    keep = handed[-cap.cooldown_weeks:] if cap.cooldown_weeks else []
    return (pd.concat(keep, ignore_index=True) if keep else
            pd.DataFrame({"account_id": pd.Series(dtype=str), "queue": pd.Series(dtype=str), "day": pd.Series(dtype=str)}))


def worklist(src, as_of: str, playbook=None, health_config=None, months: int = 1,
             features: pd.DataFrame | None = None, text: bool = True) -> pd.DataFrame:
    """The ranked, queued and capped calls to action as of ``as_of`` (see the module docstring).

    The rules run as :func:`csresearch.health.playbooks.playbook_ctas` (the last ``months`` months,
    customers on ``as_of``); the list a week earlier decides what is new. ``attrs``: those of
    :func:`rank_worklist`, plus as_of, previous (the day a week earlier), active_customers,
    calls (rule firings), rates (:func:`band_churn_rates`), capacity and playbook.

    ``features``: :func:`csresearch.health.playbooks.playbook_features` of the same configurations as
    of ``as_of`` or a later day, when already computed (its rows up to ``as_of`` are the same:
    :func:`csresearch.features.account.features_as_of`); computed here when None (only the
    columns of :func:`columns_read` are read). ``text`` False leaves rule, reason and values empty
    (as :func:`rank_worklist`; for a back-test that reads who is called, not why).

    Example
    -------
    >>> wl = worklist(src, "2025-12-31")  # doctest: +SKIP
    >>> wl.attrs["worklist_size"], wl.attrs["worklist_capacity"]  # doctest: +SKIP
    """
    from csresearch.features.account import check_input_options
    from csresearch.health.playbooks import load_playbook, playbook_features, run_playbook
    from csresearch.health.score import HealthConfig, customers_on, load_health_config

    pb = playbook if isinstance(playbook, Playbook) else load_playbook(playbook)
    cfg = health_config if isinstance(health_config, HealthConfig) else load_health_config(health_config)
    feats = playbook_features(src, as_of, cfg, pb) if features is None else features
    feats, scored = _window(feats, as_of, pb, months)
    accounts = _with_renewal(_accounts(src, as_of, pb), feats)
    ids = customers_on(src, as_of)
    ctas = run_playbook(feats, pb, months, customers=ids, values=text)
    cap = pb.capacity
    rows = outcome_rows(scored, src, as_of, cap.horizon_days, cap.lookback_days)
    rates, curve = band_churn_rates(rows, as_of), ScoreChurnCurve().fit(rows)
    del scored, rows
    release_freed_memory()  # each step's temporaries go back before the next (a report holds much else)
    lists = _lists_before(feats, src, as_of, pb, months, cap.cooldown_weeks)
    handed = _replay(lists, accounts, curve, cap)
    release_freed_memory()
    called = set(handed["account_id"])
    ctas = describe(ctas, feats, pb, check_input_options(cfg.inputs), src) if text else ctas.assign(reason="")
    previous = lists[-1][1]["account_id"] if lists else ()
    out = rank_worklist(ctas, accounts, curve, cap, previous, called, text=text)
    prev_day = (pd.Timestamp(as_of) - pd.Timedelta(days=7)).date().isoformat()
    out.attrs.update({"as_of": as_of, "previous": prev_day, "active_customers": len(ids), "calls": len(ctas),
                      "rates": rates, "curve": curve, "capacity": cap, "cooldown_weeks": cap.cooldown_weeks,
                      "handed_out": handed,
                      "playbook": pb.source, "band_margin": cfg.band_margin})
    return out


def worklist_meta(wl: pd.DataFrame) -> dict:
    """Plain figures of :func:`worklist`'s attrs (for an export's metadata or a report)."""
    a, rates = wl.attrs, wl.attrs.get("rates")
    keys = ("worklist_size", "worklist_capacity", "digital_size", "new", "waiting", "called", "watch", "owners",
            "calls", "previous", "cooldown_weeks", "base_rate", "risk_floor")
    out = {k: a[k] for k in keys if k in a}
    cap = a.get("capacity")
    if cap is not None:
        out.update({f"capacity_{k}": v for k, v in vars(cap).items()})
    if rates is not None:
        out["p_churn_by_band"] = {(", term ends ".join(map(str, k)) if isinstance(k, tuple) else str(k)):
                                  round(float(p), 4) for k, p in rates["p_churn"].items()}
        out["p_churn_dates"] = list(rates.attrs.get("dates", []))
    return out


def worklist_lift(src, day: str, playbook=None, health_config=None, features: pd.DataFrame | None = None) -> dict:
    """Back-test: churn within the capacity's horizon after ``day`` among the accounts on the
    worklist of ``day`` (within capacity, person queues: ``lift``), among those and the calls
    handed out to persons in the ``cooldown_weeks`` before (still customers on ``day``: the
    month's calls, ``month_lift``), on the full list, and among all customers on ``day`` (the
    base rate); lift = rate / base rate. Needs data to day + horizon.
    ``features``: as for :func:`worklist` (e.g. those as of the report's as_of, which hold ``day``).

    Example
    -------
    >>> worklist_lift(src, "2025-06-30")["lift"]  # doctest: +SKIP
    """
    wl = worklist(src, day, playbook, health_config, features=features, text=False)
    horizon = wl.attrs["capacity"].horizon_days
    ch = churned_within(src, day, horizon)
    base = float(ch.mean()) if len(ch) else float("nan")
    picked = wl.loc[wl["within_capacity"] & wl["queue"].ne("digital"), "account_id"]

    def rate(ids: pd.Series) -> tuple[int, float]:
        hit = ch.reindex(pd.Index(ids.astype(str)))
        return int(hit.notna().sum()), float(hit.dropna().astype(float).mean()) if hit.notna().any() else float("nan")

    n_w, r_w = rate(picked)
    n_f, r_f = rate(wl["account_id"])
    before = wl.attrs["handed_out"]
    month = pd.concat([picked, before.loc[before["queue"].ne("digital"), "account_id"]]).drop_duplicates()
    n_m, r_m = rate(month)
    return {"day": day, "horizon_days": horizon, "customers": len(ch), "base_rate": base,
            "worklist": n_w, "worklist_rate": r_w, "lift": r_w / base if base else float("nan"),
            "month_calls": n_m, "month_rate": r_m, "month_lift": r_m / base if base else float("nan"),
            "full_list": n_f, "full_list_rate": r_f, "full_list_lift": r_f / base if base else float("nan")}
