"""A simulated block as Arrow tables: the contract tables and ``truth_risk``, rows in account order.

Usage events are expanded here from the monthly counts (a day per event drawn with the
weekday weights over the account's active days of the month, a time of day, an event type
within the account's breadth of use that month, a user among its active seats). Ids that
run across blocks (tickets, subscriptions) start at the offsets given.

Example
-------
>>> tables = block_tables(blk, rng, offsets={"ticket": 0, "subscription": 0})  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from csresearch.demo.dynamic.block import Block
from csresearch.demo.dynamic.clock import MONTH_START, N_MONTHS, month_of, weighted_day_draw
from csresearch.demo.dynamic.truth import DynamicTruth
from csresearch.demo.model import (
    CATEGORIES,
    EVENT_TYPES,
    MILESTONES,
    N_DAYS,
    NOTES,
    NPS_COMMENTS,
    PRIORITIES,
    REASONS,
    START,
)

_T0 = START.astype("datetime64[s]")
TS = pa.timestamp("us")
SCHEMAS = {
    "usage_events": pa.schema([("account_id", pa.string()), ("occurred_at", TS), ("event_type", pa.string()),
                               ("user_id", pa.string()), ("quantity", pa.float64())]),
    "subscriptions": pa.schema([("subscription_id", pa.string()), ("account_id", pa.string()),
                                ("start_date", pa.date32()), ("end_date", pa.date32()), ("mrr", pa.float64()),
                                ("product", pa.string()), ("term_months", pa.int64())]),
    "nps_responses": pa.schema([("account_id", pa.string()), ("responded_at", TS), ("score", pa.int64()),
                                ("comment", pa.string())]),
    "ces_responses": pa.schema([("account_id", pa.string()), ("responded_at", TS), ("score", pa.int64()),
                                ("ticket_id", pa.string())]),
    "csat_responses": pa.schema([("account_id", pa.string()), ("responded_at", TS), ("score", pa.int64())]),
    "support_tickets": pa.schema([("ticket_id", pa.string()), ("account_id", pa.string()), ("opened_at", TS),
                                  ("closed_at", TS), ("priority", pa.string()), ("category", pa.string())]),
    "email_events": pa.schema([("account_id", pa.string()), ("sent_at", TS), ("opened", pa.bool_()),
                               ("clicked", pa.bool_())]),
    "onboarding_milestones": pa.schema([("account_id", pa.string()), ("milestone", pa.string()),
                                        ("due_at", TS), ("completed_at", TS)]),
    "csm_sentiment": pa.schema([("account_id", pa.string()), ("recorded_at", TS), ("sentiment", pa.string())]),
    "churn_reasons": pa.schema([("account_id", pa.string()), ("churned_at", TS), ("reason", pa.string()),
                                ("note", pa.string())]),
    "truth_risk": pa.schema([("account_id", pa.string()), ("period_start", pa.date32()),
                             ("linear_predictor", pa.float64())]),
}


def _ts(seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Timestamps (us) of seconds from START; null where ``mask`` is False."""
    t = (_T0 + np.asarray(seconds, dtype=np.int64).astype("timedelta64[s]")).astype("datetime64[us]")
    return pa.array(t, type=TS, mask=None if mask is None else ~np.asarray(mask))


def _dates(day: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    d = START + np.asarray(day, dtype=np.int64).astype("timedelta64[D]")
    return pa.array(d, type=pa.date32(), mask=None if mask is None else ~np.asarray(mask))


def _ids(prefix: str, first: int, n: int, width: int = 7) -> pa.Array:
    """``prefix`` + zero-padded numbers first+1 .. first+n."""
    num = pc.cast(pa.array(np.arange(first + 1, first + n + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(num, width, "0"), "")


def _cat(arrays: list, key: str | int) -> np.ndarray:
    return np.concatenate([a[key] for a in arrays]) if arrays else np.array([])


def usage_events(blk: Block, rng: np.random.Generator, truth: DynamicTruth) -> pa.Table:
    """Usage events: each month's count spread over its active days, sorted by account and time."""
    cnt = blk.ev.astype(np.int64).ravel()  # account-major, month-minor
    cell = np.repeat(np.arange(cnt.size), cnt)
    k = len(cell)
    day = weighted_day_draw(blk.a.ravel()[cell], blk.b.ravel()[cell], rng.random(k))
    secs = (8 * 3600 + rng.gamma(4.0, 2.6 * 3600, k)).astype(np.int64) % 86400
    key = (cell // N_MONTHS) << 27 | (day * 86400 + secs)  # account, then seconds (< 2^27)
    del cell, day, secs
    key.sort()
    acc, t = key >> 27, key & ((1 << 27) - 1)
    del key
    m = month_of(t // 86400)
    rel = blk.state[acc, m] - np.array(truth.state_mean)[blk.seg[acc]]
    breadth = np.clip(blk.breadth[acc] + np.round(1.5 * rel), 1, len(EVENT_TYPES))
    etype = np.minimum((rng.random(k) ** 1.6 * breadth).astype(np.int64), len(EVENT_TYPES) - 1)
    seats = np.maximum(1, np.round(blk.seats[acc] / (1 + np.exp(-(0.5 + rel))))).astype(np.int64)
    users = np.minimum((rng.random(k) ** 2 * seats).astype(np.int64), seats - 1)
    del rel, breadth, seats, m
    ids = pa.array(blk.ids).take(pa.array(acc))
    return pa.table({
        "account_id": ids,
        "occurred_at": _ts(t),
        "event_type": pa.array(EVENT_TYPES).take(pa.array(etype)),
        "user_id": pc.binary_join_element_wise(ids, pc.cast(pa.array(users), pa.string()), "-u"),
        "quantity": pa.array((1 + rng.poisson(0.3, k)).astype(np.float64)),
    }, schema=SCHEMAS["usage_events"])


def support_tables(blk: Block, first_ticket: int) -> dict[str, pa.Table]:
    """support_tickets, ces_responses and csat_responses, sorted by account and opening time."""
    t = blk.tickets
    cols = {k: _cat(t, k) for k in ("i", "opened", "closed", "is_open", "prio", "category", "ces_pick", "ces_at",
                                      "ces", "csat_pick", "csat_at", "csat")}
    order = np.lexsort((cols["opened"], cols["i"].astype(np.int64)))
    c = {k: v[order] for k, v in cols.items()}
    i = c["i"].astype(np.int64)
    ids = pa.array(blk.ids).take(pa.array(i))
    tid = _ids("T", first_ticket, len(i))
    tickets = pa.table({
        "ticket_id": tid, "account_id": ids, "opened_at": _ts(c["opened"]),
        "closed_at": _ts(c["closed"], ~c["is_open"].astype(bool)),
        "priority": pa.array(PRIORITIES).take(pa.array(c["prio"].astype(np.int64))),
        "category": pa.array(CATEGORIES).take(pa.array(c["category"].astype(np.int64))),
    }, schema=SCHEMAS["support_tickets"])
    cp, sp = c["ces_pick"].astype(bool), c["csat_pick"].astype(bool)
    ces = pa.table({"account_id": ids.filter(pa.array(cp)), "responded_at": _ts(c["ces_at"][cp]),
                    "score": pa.array(c["ces"][cp].astype(np.int64)), "ticket_id": tid.filter(pa.array(cp))},
                   schema=SCHEMAS["ces_responses"])
    csat = pa.table({"account_id": ids.filter(pa.array(sp)), "responded_at": _ts(c["csat_at"][sp]),
                     "score": pa.array(c["csat"][sp].astype(np.int64))}, schema=SCHEMAS["csat_responses"])
    return {"support_tickets": tickets, "ces_responses": ces, "csat_responses": csat}


def nps_table(blk: Block) -> pa.Table:
    """NPS answers, sorted by account and time (comments from the demo's word list)."""
    i = np.concatenate([a[0] for a in blk.answers]).astype(np.int64)
    at, score, com = (np.concatenate([a[j] for a in blk.answers]) for j in (1, 2, 3))
    order = np.lexsort((at, i))
    i, at, score, com = i[order], at[order], score[order], com[order]
    text = np.array(NPS_COMMENTS, dtype=object)[com.astype(np.int64)]
    return pa.table({"account_id": pa.array(blk.ids).take(pa.array(i)), "responded_at": _ts(at),
                     "score": pa.array(score.astype(np.int64)),
                     "comment": pa.array(text, type=pa.string(), mask=text == "")}, schema=SCHEMAS["nps_responses"])


def monthly_tables(blk: Block) -> dict[str, pa.Table]:
    """email_events (the 10th, 10:00), csm_sentiment (the 20th, 15:00) and truth_risk."""
    acc, m = np.nonzero(blk.em_sent > 0)
    email = pa.table({"account_id": pa.array(blk.ids).take(pa.array(acc)),
                      "sent_at": _ts((MONTH_START[m] + 9) * 86400 + 10 * 3600),
                      "opened": pa.array(blk.em_open[acc, m] > 0), "clicked": pa.array(blk.em_click[acc, m] > 0)},
                     schema=SCHEMAS["email_events"])
    acc, m = np.nonzero(~np.isnan(blk.csm))
    csm = pa.table({"account_id": pa.array(blk.ids).take(pa.array(acc)),
                    "recorded_at": _ts((MONTH_START[m] + 19) * 86400 + 15 * 3600),
                    "sentiment": pa.array(["red", "yellow", "green"]).take(pa.array(blk.csm[acc, m].astype(np.int64)))},
                   schema=SCHEMAS["csm_sentiment"])
    acc, m = np.nonzero(~np.isnan(blk.lp))
    risk = pa.table({"account_id": pa.array(blk.ids).take(pa.array(acc)), "period_start": _dates(MONTH_START[m]),
                     "linear_predictor": pa.array(blk.lp[acc, m])}, schema=SCHEMAS["truth_risk"])
    return {"email_events": email, "csm_sentiment": csm, "truth_risk": risk}


def milestones_table(blk: Block, rng: np.random.Generator) -> pa.Table:
    """Onboarding milestones due within the period, with their completion times."""
    n = blk.n
    due_off = np.array([d for _, d in MILESTONES])
    due = blk.st[:, None] + due_off[None, :]
    done = blk.st[:, None] + blk.done_day
    secs = rng.integers(9 * 3600, 18 * 3600, (n, len(MILESTONES)))
    ok = np.isfinite(done) & (done <= N_DAYS - 1)
    keep = (due <= N_DAYS - 1).ravel()
    acc = np.repeat(np.arange(n), len(MILESTONES))[keep]
    name = np.tile(np.arange(len(MILESTONES)), n)[keep]
    done_s = np.where(ok, done, 0).astype(np.int64).ravel()[keep] * 86400 + secs.ravel()[keep]
    return pa.table({"account_id": pa.array(blk.ids).take(pa.array(acc)),
                     "milestone": pa.array([k for k, _ in MILESTONES]).take(pa.array(name)),
                     "due_at": _ts(due.ravel()[keep] * 86400), "completed_at": _ts(done_s, ok.ravel()[keep])},
                    schema=SCHEMAS["onboarding_milestones"])


def episode_ends(blk: Block) -> tuple[np.ndarray, np.ndarray]:
    """(end day of the first episode, of the second) per account; ``BIG`` when open or absent."""
    from csresearch.demo.dynamic.block import BIG

    end0 = np.where(blk.ep == 0, blk.end_day, BIG)
    end1 = np.where(blk.ep == 1, blk.end_day, BIG)
    for i, ep, end, _ in blk.churns:
        end0[i[ep == 0]] = end[ep == 0]
    return end0, end1


def subscriptions_table(blk: Block, first_id: int) -> pa.Table:
    """Subscriptions: one row per account, episode and product between MRR changes."""
    acc, ep, prod, start, mrr, term = (np.concatenate([r[j] for r in blk.subs]) for j in range(6))
    acc, ep, prod, start = (x.astype(np.int64) for x in (acc, ep, prod, start))
    order = np.lexsort((prod, start, ep, acc))
    acc, ep, prod, start, mrr, term = (x[order] for x in (acc, ep, prod, start, mrr, term))
    end0, end1 = episode_ends(blk)
    ep_end = np.where(ep == 0, end0[acc], end1[acc])
    key = (acc * 2 + ep) * 2 + prod
    nxt = np.full(len(acc), -1, dtype=np.int64)
    same = np.zeros(len(acc), dtype=bool)
    by = np.lexsort((start, key))  # rows of one account, episode and product in start order
    same[by[:-1]] = key[by[1:]] == key[by[:-1]]
    nxt[by[:-1]] = start[by[1:]]
    end = np.where(same, nxt, ep_end)
    open_ = end > N_DAYS - 1
    return pa.table({"subscription_id": _ids("S", first_id, len(acc)), "account_id": pa.array(blk.ids).take(pa.array(acc)),
                     "start_date": _dates(start), "end_date": _dates(np.where(open_, 0, end), ~open_),
                     "mrr": pa.array(mrr.astype(np.float64)), "product": pa.array(["core", "analytics"]).take(pa.array(prod)),
                     "term_months": pa.array(term.astype(np.int64))}, schema=SCHEMAS["subscriptions"])


def reasons_table(blk: Block, rng: np.random.Generator) -> pa.Table:
    """A churn reason per churn (an episode's end within the period), weighted by what led to it."""
    from csresearch.demo.dynamic.block import BIG

    ended = [(i, e, f) for i, _, e, f in blk.churns]
    last = (blk.end_day < N_DAYS) & (blk.end_day < BIG)
    ended.append((np.flatnonzero(last), blk.end_day[last], blk.flags[last]))
    i = np.concatenate([x[0] for x in ended]).astype(np.int64)
    day = np.concatenate([x[1] for x in ended]).astype(np.int64)
    flags = np.concatenate([x[2] for x in ended]).reshape(-1, 3)
    order = np.lexsort((day, i))
    i, day, flags = i[order], day[order], flags[order]
    w = np.stack([1.0 + 3.0 * flags[:, 0], 1.0 + 3.0 * flags[:, 1] + 3.0 * flags[:, 2],
                  1.0 + 3.0 * (day - blk.st[i] < 270), np.full(len(i), 1.5), np.full(len(i), 0.5)], axis=1)
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    r = (rng.random(len(i))[:, None] > cum).sum(axis=1)
    j = rng.integers(0, 30, len(i))
    reasons = np.array(REASONS)[r]
    notes = [NOTES[x][k % len(NOTES[x])] if k % 3 else None for x, k in zip(reasons, j, strict=True)]
    return pa.table({"account_id": pa.array(blk.ids).take(pa.array(i)), "churned_at": _ts(day * 86400),
                     "reason": pa.array(reasons), "note": pa.array(notes, type=pa.string())},
                    schema=SCHEMAS["churn_reasons"])
