"""The dynamic demo month by month: decisions, state, observables, snapshot, contracts.

For each month ``m`` of a :class:`~csresearch.demo.dynamic.block.Block`, in this order (the
order of the draws is part of the output):

1. **decisions**: an account that was a customer on the last snapshot and has not decided
   yet decides to leave with probability ``1 - exp(-baseline_per_month * exp(lp[m - 1]))``
   (grouped-time proportional hazards); a monthly contract then ends at its anniversary in
   month m, an annual one at the next anniversary after a uniform day of month m, and
   meanwhile its engagement drifts down;
2. **reactivations** that start this month (a new episode, a new subscription);
3. **state**: ``s_m = L_m + phi (s_{m-1} - L_{m-1}) + sigma e - shocks`` (a champion
   leaving, a bad support month, the drift of an account that decided to leave);
4. **observables** over the month's active days: usage, tickets with CES/CSAT, NPS (on
   the account's survey day), the newsletter on the 10th, CSM sentiment on the 20th of every
   third month (a quarterly business review);
5. **snapshot**: the kit's columns at the month's last day
   (:mod:`csresearch.demo.dynamic.measure`) and the true linear predictor ``lp[m]``;
6. **contracts**: MRR changes (and the enterprise add-on) on term anniversaries.

Example
-------
>>> simulate(blk, rng, truth, usage_scale=1.0)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from csresearch.demo.dynamic.block import BIG, Block
from csresearch.demo.dynamic.clock import (
    MONTH_LEN,
    MONTH_START,
    N_MONTHS,
    add_months,
    month_of,
    next_anniversary,
    weighted_days,
)
from csresearch.demo.dynamic.measure import snapshot
from csresearch.demo.dynamic.truth import DynamicTruth
from csresearch.demo.model import N_DAYS

_LAST_SECOND = N_DAYS * 86400 - 1  # 2025-12-31 23:59:59 in seconds from START
_PRIORITY_HOURS = np.array([40.0, 24.0, 10.0, 4.0])


def simulate(blk: Block, rng: np.random.Generator, truth: DynamicTruth, usage_scale: float) -> None:
    """Run months 0..35 on ``blk`` in place (see the module docstring for the order)."""
    for m in range(N_MONTHS):
        _decide(blk, rng, truth, m)
        _reactivate(blk, m)
        act = _active_range(blk, m)
        _state(blk, rng, truth, m, act)
        _usage(blk, rng, truth, m, act, usage_scale)
        _tickets(blk, rng, truth, m, act)
        _surveys(blk, rng, truth, m, act)
        snapshot(blk, truth, m, usage_scale)
        _contracts(blk, rng, m)


def _decide(blk: Block, rng: np.random.Generator, truth: DynamicTruth, m: int) -> None:
    """Decisions to leave in month m from the linear predictor at the last snapshot.

    A monthly contract is not renewed at its anniversary in month m; an annual one is
    decided on a uniform day of month m and ends at the next anniversary after it.
    """
    n, ms = blk.n, MONTH_START[m]
    u, u_day = rng.random(n), rng.random(n)
    back = rng.random(n) < truth.reactivation_p
    gap = rng.integers(45, 181, n)
    factor = rng.uniform(0.7, 1.1, n)
    if m == 0:
        return
    lp = blk.lp[:, m - 1]
    elig = ~np.isnan(lp) & ~blk.leaving
    p = np.zeros(n)
    p[elig] = -np.expm1(-truth.baseline_per_month * np.exp(lp[elig]))
    dec = elig & (u < p)
    anchor = np.minimum(blk.ep_start, N_DAYS - 1)
    monthly_end = add_months(anchor, np.maximum(m - month_of(anchor), 0))
    day = ms + np.floor(u_day * MONTH_LEN[m]).astype(np.int64)
    end = np.where(blk.term == 1, monthly_end, next_anniversary(anchor, day, np.maximum(blk.term, 1)))
    blk.end_day = np.where(dec, end, blk.end_day)
    blk.leaving |= dec & (blk.term != 1)
    blk.flags[dec] = blk.dec_flags[dec]
    again = dec & back & (blk.ep == 0)
    blk.react_day = np.where(again, blk.end_day + gap, blk.react_day)
    blk.react_mrr = np.where(again, np.round(blk.mrr0 * factor), blk.react_mrr)


def _reactivate(blk: Block, m: int) -> None:
    """Episodes that start again this month: a fresh start on the account's contract term."""
    ms, me = MONTH_START[m], MONTH_START[m + 1]
    r = (blk.react_day >= ms) & (blk.react_day < me) & (blk.react_day < N_DAYS)
    if not r.any():
        return
    i = np.flatnonzero(r)
    blk.churns.append((i, blk.ep[i].copy(), blk.end_day[i].copy(), blk.flags[i].copy()))
    blk.ep[i] = 1
    blk.ep_start[i] = blk.react_day[i]
    blk.end_day[i] = BIG
    blk.leaving[i] = False
    blk.has_addon[i] = False
    blk.mrr[i] = blk.react_mrr[i]
    blk.react_day[i] = BIG
    blk.subs.append((i, blk.ep[i].copy(), np.zeros(len(i), dtype=np.int64), blk.ep_start[i].copy(),
                     blk.mrr[i].copy(), blk.term[i].copy()))


def _active_range(blk: Block, m: int) -> np.ndarray:
    """The active days [a, b) of month m; new first episodes get their first subscription."""
    ms, me = MONTH_START[m], MONTH_START[m + 1]
    a = np.maximum(ms, blk.ep_start)
    b = np.minimum(me, blk.end_day)
    act = a < b
    blk.a[:, m], blk.b[:, m] = np.where(act, a, 0), np.where(act, b, 0)
    new = act & (blk.m0 == m) & (blk.ep == 0)
    if new.any():
        i = np.flatnonzero(new)
        blk.subs.append((i, np.zeros(len(i), dtype=np.int64), np.zeros(len(i), dtype=np.int64),
                         blk.st[i].astype(np.int64), blk.mrr0[i].copy(), blk.term[i].copy()))
    return act


def _level(blk: Block, truth: DynamicTruth, day: np.ndarray) -> np.ndarray:
    """The long-run level L of each account on ``day``: mu_i plus the segment's adoption ramp."""
    months = np.clip((day - blk.st) / 30.4375, 0, 12)
    return blk.mu + np.array(truth.ramp)[blk.seg] * months / 12


def _state(blk: Block, rng: np.random.Generator, truth: DynamicTruth, m: int, act: np.ndarray) -> None:
    """The engagement state of month m (AR(1) around the level, shocks, the leavers' drift)."""
    n, t, mid = blk.n, truth, MONTH_START[m] + 15
    e = rng.normal(0, 1, n)
    champ = rng.random(n) < np.array(t.champion_p)[blk.seg]
    bad = rng.random(n) < t.bad_support_p
    level, level_prev = _level(blk, t, mid), _level(blk, t, mid - 30)
    s = level + t.phi * (blk.s - level_prev) + t.sigma * e
    s -= t.champion_drop * champ + t.bad_support_drop * bad + t.leaving_drift * blk.leaving
    fresh = act & (blk.ep_start >= MONTH_START[m])
    start = np.where(blk.ep == 0, blk.mu + t.start_onboarding * blk.onb, blk.mu) + t.start_sd * e
    s = np.where(fresh, start, s)
    blk.s = np.where(act, s, blk.s)
    blk.state[:, m] = np.where(act, blk.s, np.nan)
    blk.last_champion = np.where(act & champ, m, blk.last_champion)
    blk.bad_month = act & bad


def _usage(blk: Block, rng: np.random.Generator, truth: DynamicTruth, m: int, act: np.ndarray,
           usage_scale: float) -> None:
    """Usage events of the month: a Poisson count over the weighted active days."""
    t = truth
    rel = blk.s - np.array(t.state_mean)[blk.seg]
    noise = rng.normal(0, t.usage_month_sd, blk.n)
    rate = np.array(t.usage_base)[blk.seg] * blk.size * np.exp(t.usage_state * rel + noise) * usage_scale
    w = weighted_days(blk.a[:, m], blk.b[:, m])
    blk.ev[:, m] = np.where(act, rng.poisson(rate * w), 0)


def _tickets(blk: Block, rng: np.random.Generator, truth: DynamicTruth, m: int, act: np.ndarray) -> None:
    """Tickets opened this month, their closing and the CES and CSAT answers that follow."""
    t = truth
    a, b = blk.a[:, m], blk.b[:, m]
    rel = blk.s - np.array(t.state_mean)[blk.seg]
    early = np.where(a - blk.st < 90, 1.5, 1.0)
    lam = blk.tick * np.exp(t.ticket_state * rel) * np.where(blk.bad_month, t.ticket_bad_factor, 1.0)
    cnt = np.where(act, rng.poisson(lam * early * np.maximum(b - a, 0) / 30.4375), 0)
    blk.tk[:, m] = cnt
    i = np.repeat(np.arange(blk.n), cnt)
    k = len(i)
    day = a[i] + np.floor(rng.random(k) * (b[i] - a[i])).astype(np.int64)
    opened = day * 86400 + rng.integers(8 * 3600, 20 * 3600, k)
    prio = rng.choice(4, k, p=[0.3, 0.45, 0.2, 0.05])
    hours = rng.gamma(1.2, _PRIORITY_HOURS[prio])
    closed = opened + (hours * 3600).astype(np.int64)
    is_open = closed > _LAST_SECOND
    ces_at = closed + rng.integers(3600, 2 * 86400, k)
    ces_pick = ~is_open & (rng.random(k) < t.ces_response_p) & (ces_at <= _LAST_SECOND)
    mean = t.ces_mean + t.ces_state * blk.s[i] + t.ces_bad * blk.bad_month[i] + t.ces_hours * hours
    ces = np.clip(np.round(rng.normal(mean, t.ces_sd)), 1, 7)
    csat_at = closed + rng.integers(600, 86400, k)
    csat_pick = ~is_open & (rng.random(k) < 0.3) & (csat_at <= _LAST_SECOND)
    csat = np.clip(np.round(rng.normal(4.2 - 0.015 * hours + 0.3 * blk.s[i], 0.8)), 1, 5)
    category = rng.choice(5, k, p=[0.35, 0.25, 0.15, 0.15, 0.1])
    cm = np.minimum(ces_at // 86400, N_DAYS - 1)
    np.add.at(blk.ces_s, (i[ces_pick], month_of(cm[ces_pick])), ces[ces_pick])
    np.add.at(blk.ces_n, (i[ces_pick], month_of(cm[ces_pick])), 1.0)
    blk.tickets.append({"i": i, "opened": opened, "closed": closed, "is_open": is_open, "prio": prio,
                        "category": category, "ces_pick": ces_pick, "ces_at": ces_at, "ces": ces,
                        "csat_pick": csat_pick, "csat_at": csat_at, "csat": csat})


def _surveys(blk: Block, rng: np.random.Generator, truth: DynamicTruth, m: int, act: np.ndarray) -> None:
    """NPS on the account's survey day, the newsletter on the 10th, CSM sentiment quarterly (the 20th)."""
    n, t, ms = blk.n, truth, MONTH_START[m]
    a, b = blk.a[:, m], blk.b[:, m]
    u_nps, z_nps, secs, comment = rng.random(n), rng.normal(0, 1, n), rng.integers(9 * 3600, 21 * 3600, n), rng.integers(0, 9, n)
    u_open, u_click, z_csm = rng.random(n), rng.random(n), rng.normal(0, t.csm_noise_sd, n)
    first = blk.ep_start + blk.nps_off
    k = np.maximum(-((first - ms) // 91), 0)  # ceil((ms - first) / 91), at least 0
    sday = first + 91 * k
    p = np.where((k == 0) & (blk.ep == 0), 0.75, t.nps_response_p)
    ans = act & (sday >= a) & (sday < b) & (u_nps < p)
    lo = max(m - 6, 0)
    cn = blk.ces_n[:, lo:m].sum(axis=1)
    ces6 = np.where(cn > 0, blk.ces_s[:, lo:m].sum(axis=1) / np.where(cn > 0, cn, 1), t.ces_mean)
    tenure = np.clip((sday - blk.st) / 30.4375, 0, 12) / 12
    mean = t.nps_mean + t.nps_state * blk.s + t.nps_ces * (ces6 - t.ces_mean) + t.nps_tenure * tenure
    score = np.clip(np.round(mean + t.nps_sd * z_nps), 0, 10)
    blk.nps[:, m] = np.where(ans, score, np.nan)
    i = np.flatnonzero(ans)
    blk.answers.append((i, sday[i] * 86400 + secs[i], score[i], comment[i]))
    d10 = ms + 9
    sent = act & (a <= d10) & (b > d10)
    p_open = 1 / (1 + np.exp(-(t.email_intercept + t.email_state * blk.s + blk.email_aff)))
    opened = sent & (u_open < p_open)
    blk.em_sent[:, m] = sent
    blk.em_open[:, m] = opened
    blk.em_click[:, m] = opened & (u_click < 0.3)
    d20 = ms + 19
    rec = act & (blk.seg < 2) & (a <= d20) & (b > d20) & ((m - blk.m0) % 3 == 2)
    r = blk.s - np.array(t.state_mean)[blk.seg] + blk.csm_bias + z_csm
    sentiment = np.where(r < t.csm_cuts[0], 0.0, np.where(r > t.csm_cuts[1], 2.0, 1.0))
    blk.csm[:, m] = np.where(rec, sentiment, np.nan)


def _contracts(blk: Block, rng: np.random.Generator, m: int) -> None:
    """MRR changes on term anniversaries in month m (annual: half of them; monthly: 3 %), and
    the analytics add-on for enterprise accounts at an annual renewal (30 %)."""
    n, ms, me = blk.n, MONTH_START[m], MONTH_START[m + 1]
    u_change, u_up, f_up, f_down, u_addon = (rng.random(n), rng.random(n), rng.uniform(1.05, 1.4, n),
                                             rng.uniform(0.7, 0.95, n), rng.random(n))
    start_m = month_of(np.minimum(blk.ep_start, N_DAYS - 1))
    k = np.maximum((m - start_m) // blk.term, 0)
    ann = add_months(np.minimum(blk.ep_start, N_DAYS - 1), k * blk.term)
    due = (k >= 1) & ((m - start_m) % blk.term == 0) & (ann >= ms) & (ann < me)
    due &= (blk.ep_start <= ann) & (blk.end_day > ann) & ~blk.leaving & (blk.ep_start < N_DAYS)
    p_change = np.where(blk.term == 1, 0.03, 0.5)
    rel = blk.s - blk.mu
    up = u_up < 1 / (1 + np.exp(-(1.5 * rel + 0.5)))
    change = due & (u_change < p_change)
    new_mrr = np.maximum(20.0, np.round(blk.mrr * np.where(up, f_up, f_down)))
    if change.any():
        i = np.flatnonzero(change)
        blk.mrr[i] = new_mrr[i]
        blk.subs.append((i, blk.ep[i].copy(), np.zeros(len(i), dtype=np.int64), ann[i], blk.mrr[i].copy(),
                         blk.term[i].copy()))
    addon = due & (blk.seg == 0) & (blk.term == 12) & ~blk.has_addon & (u_addon < 0.3)
    if addon.any():
        i = np.flatnonzero(addon)
        blk.has_addon[i] = True
        blk.subs.append((i, blk.ep[i].copy(), np.ones(len(i), dtype=np.int64), ann[i],
                         np.round(blk.mrr0[i] * 0.25), np.full(len(i), 12)))
