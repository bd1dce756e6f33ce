"""The demo's voice-of-customer tables: tickets with CES and CSAT, NPS, e-mail, CSM sentiment,
churn reasons.

Example
-------
>>> tickets, ces, csat = support_tickets(rng, pop, life)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csresearch.demo.model import (
    CATEGORIES,
    LANDMARK,
    N_DAYS,
    NOTES,
    NPS_COMMENTS,
    PRIORITIES,
    REASONS,
    START,
    daily_index,
    ts,
)
from csresearch.demo.population import Life, Population

_LAST_SECOND = np.datetime64("2025-12-31T23:59:59")


def support_tickets(
    rng: np.random.Generator, pop: Population, life: Life
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Tickets over the whole active life (more in the first 90 days and before churn), then the
    CES and CSAT answers that follow closed tickets: ``(tickets, ces, csat)``."""
    ids, sat = pop.ids, pop.sat
    life_acc = np.concatenate([life.acc90, life.acc])
    life_day = np.concatenate([life.day90, life.day])
    life_rel = life_day - pop.start[life_acc]
    near = life.churned[life_acc] & (life.churn_day[life_acc] - life_day <= 90)
    trate = pop.ticket_rate[life_acc] * np.where(life_rel < LANDMARK, 1.5, 1.0) * np.where(near, 1.6, 1.0)
    tcnt = np.concatenate([life.t90, rng.poisson(trate[len(life.acc90):])])
    t_acc = np.repeat(life_acc, tcnt)
    t_day = np.repeat(life_day, tcnt)
    nt = len(t_acc)
    order = np.lexsort((t_day, t_acc))
    t_acc, t_day = t_acc[order], t_day[order]
    opened = ts(t_day, rng.integers(8 * 3600, 20 * 3600, nt))
    prio = rng.choice(4, nt, p=[0.3, 0.45, 0.2, 0.05])
    hours = rng.gamma(1.2, np.array([40.0, 24.0, 10.0, 4.0])[prio])
    closed = opened + (hours * 3600).astype("timedelta64[s]")
    still_open = closed > _LAST_SECOND
    tickets = pd.DataFrame(
        {
            "ticket_id": [f"T{j:07d}" for j in range(1, nt + 1)],
            "account_id": ids[t_acc],
            "opened_at": opened,
            "closed_at": pd.Series(closed).where(~still_open),
            "priority": np.array(PRIORITIES)[prio],
            "category": rng.choice(CATEGORIES, nt, p=[0.35, 0.25, 0.15, 0.15, 0.1]),
        }
    )
    ces_pick = (~still_open) & (rng.random(nt) < 0.5)
    ces_at = closed + rng.integers(3600, 2 * 86400, nt).astype("timedelta64[s]")
    ces_pick &= ces_at <= _LAST_SECOND
    ces_score = np.clip(np.round(rng.normal(6.0 - 0.025 * hours + 0.4 * sat[t_acc], 1.0)), 1, 7)
    ces = pd.DataFrame(
        {
            "account_id": ids[t_acc][ces_pick],
            "responded_at": ces_at[ces_pick],
            "score": ces_score[ces_pick].astype("int64"),
            "ticket_id": tickets.ticket_id.to_numpy()[ces_pick],
        }
    )
    csat_pick = (~still_open) & (rng.random(nt) < 0.3)
    csat_at = closed + rng.integers(600, 86400, nt).astype("timedelta64[s]")
    csat_pick &= csat_at <= _LAST_SECOND
    csat_score = np.clip(np.round(rng.normal(4.2 - 0.015 * hours + 0.3 * sat[t_acc], 0.8)), 1, 5)
    csat = pd.DataFrame(
        {
            "account_id": ids[t_acc][csat_pick],
            "responded_at": csat_at[csat_pick],
            "score": csat_score[csat_pick].astype("int64"),
        }
    )
    return tickets, ces, csat


def nps_responses(rng: np.random.Generator, pop: Population, life: Life) -> pd.DataFrame:
    """NPS: the first survey (everyone, the covariate ``nps_first``), then quarterly with 35 %
    response; scores rise with tenure and fall before churn."""
    n, start = pop.n, pop.start
    q_acc, q_k = daily_index(np.zeros(n, dtype=np.int64), np.full(n, 14))
    q_day = start[q_acc] + life.nps_day[q_acc] + 91 * q_k
    alive = (q_day < life.end1[q_acc]) | (
        life.react[q_acc] & (q_day >= life.r_start[q_acc]) & (q_day < N_DAYS)
    )
    answer = alive & ((q_k == 0) | (rng.random(len(q_acc)) < 0.35))
    tenure_m = (q_day - start[q_acc]) / 30.4
    mood = 6.2 + 0.6 * pop.onb[q_acc] + 1.0 * pop.sat[q_acc] + 1.4 * np.minimum(tenure_m, 12) / 12 - 0.55
    mood -= np.where(life.churned[q_acc] & (life.churn_day[q_acc] - q_day < 120), 1.5, 0)
    score = np.clip(np.round(rng.normal(mood, 1.6)), 0, 10)
    score = np.where(q_k == 0, life.nps_first[q_acc], score)
    comments = np.array(NPS_COMMENTS)
    cm = comments[rng.integers(0, len(comments), len(q_acc))]
    return pd.DataFrame(
        {
            "account_id": pop.ids[q_acc][answer],
            "responded_at": ts(q_day[answer], rng.integers(9 * 3600, 21 * 3600, answer.sum())),
            "score": score[answer].astype("int64"),
            "comment": pd.Series(cm[answer]).replace("", None),
        }
    ).sort_values(["account_id", "responded_at"], kind="stable").reset_index(drop=True)


def email_events(
    rng: np.random.Generator, pop: Population, life: Life
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A monthly newsletter on the 10th to every active account, opened and clicked.

    Returns the ``email_events`` table and the (account, day) of each send, which the CSM
    sentiment reuses.
    """
    n, start, sat, onb = pop.n, pop.start, pop.sat, pop.onb
    months = pd.date_range("2023-01-10", "2025-12-10", freq="MS") + pd.Timedelta(days=9)
    mdays = ((months.values - START) // np.timedelta64(1, "D")).astype(np.int64)
    e_acc = np.repeat(np.arange(n), len(mdays))
    e_day = np.tile(mdays, n)
    active = ((e_day >= start[e_acc]) & (e_day < life.end1[e_acc])) | (
        life.react[e_acc] & (e_day >= life.r_start[e_acc])
    )
    e_acc, e_day = e_acc[active], e_day[active]
    p_open = 1 / (1 + np.exp(-(-0.4 + 0.5 * sat[e_acc] + 0.3 * onb[e_acc])))
    p_open = p_open * np.where(life.churned[e_acc] & (life.churn_day[e_acc] - e_day < 90), 0.5, 1.0)
    op = rng.random(len(e_acc)) < p_open
    emails = pd.DataFrame(
        {
            "account_id": pop.ids[e_acc],
            "sent_at": ts(e_day, np.full(len(e_acc), 10 * 3600)),
            "opened": op,
            "clicked": op & (rng.random(len(e_acc)) < 0.3),
        }
    )
    return emails, e_acc, e_day


def csm_sentiment(
    rng: np.random.Generator, pop: Population, life: Life, e_acc: np.ndarray, e_day: np.ndarray
) -> pd.DataFrame:
    """CSM sentiment, monthly for high- and mid-touch accounts: the true risk plus noise."""
    s_m = (pop.seg[e_acc] < 2) & (e_day - pop.start[e_acc] >= 30)
    s_acc, s_day = e_acc[s_m], e_day[s_m] - 8
    risk = life.eta[s_acc] + rng.normal(0, 0.6, len(s_acc))
    risk += np.where(life.churned[s_acc] & (life.churn_day[s_acc] - s_day < 90), 1.2, 0)
    sentiment = np.where(risk > 0.2, "red", np.where(risk > -0.9, "yellow", "green"))
    return pd.DataFrame(
        {
            "account_id": pop.ids[s_acc],
            "recorded_at": ts(s_day, np.full(len(s_acc), 15 * 3600)),
            "sentiment": sentiment,
        }
    )


def churn_reasons(rng: np.random.Generator, pop: Population, life: Life) -> pd.DataFrame:
    """A churn reason per churned account, weighted by what led to it, with an optional note."""
    ci = np.flatnonzero(life.churned)
    w_reason = np.stack(
        [
            1.0 + 3.0 * (life.nps_first[ci] <= 6),  # product
            1.0 + 3.0 * (life.usage_trend[ci] < -0.3) + 1.5 * (pop.onboarding_complete[ci] == 0),  # adoption
            1.0 + 3.0 * (life.churn_day[ci] - pop.start[ci] < 270),  # expectation
            1.5 * np.ones(len(ci)),  # price
            0.5 * np.ones(len(ci)),  # other
        ],
        axis=1,
    )
    cum = np.cumsum(w_reason / w_reason.sum(axis=1, keepdims=True), axis=1)
    reason_idx = (rng.random(len(ci))[:, None] > cum).sum(axis=1)
    reasons = np.array(REASONS)[reason_idx]
    notes = [
        NOTES[r][j % len(NOTES[r])] if j % 3 else None
        for r, j in zip(reasons, rng.integers(0, 30, len(ci)), strict=True)
    ]
    return pd.DataFrame(
        {
            "account_id": pop.ids[ci],
            "churned_at": ts(life.churn_day[ci], np.zeros(len(ci), dtype=np.int64)),
            "reason": reasons,
            "note": notes,
        }
    )
