"""The demo's accounts and their lives: traits, the first 90 days, churn from the truth.

Each function draws from the one random generator in a fixed order (see
:func:`csresearch.demo.generator.generate`); changing the order, the methods or the sizes of
the draws changes every file the demo writes.

Example
-------
>>> rng = np.random.default_rng(1)
>>> accounts, pop = draw_accounts(rng, 20)
>>> len(accounts), pop.n
(20, 20)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from csresearch.demo.model import (
    COMPANY_A,
    COMPANY_B,
    CSMS,
    EVENT_TYPES,
    INDUSTRIES,
    LANDMARK,
    MILESTONES,
    N_DAYS,
    REGIONS,
    SEGMENTS,
    SUFFIX,
    Truth,
    daily_index,
    ts,
)


@dataclass
class Population:
    """Per-account arrays: ids, first start day, segment code and the latent traits.

    ``seg`` is 0, 1, 2 for enterprise, mid_market, smb; ``done_day`` holds the day (since the
    first start) each onboarding milestone completes, ``inf`` when it never does.
    """

    ids: np.ndarray
    start: np.ndarray
    seg: np.ndarray
    base_rate: np.ndarray | None = None
    slope: np.ndarray | None = None
    onb: np.ndarray | None = None
    sat: np.ndarray | None = None
    ticket_rate: np.ndarray | None = None
    breadth: np.ndarray | None = None
    seats: np.ndarray | None = None
    done_day: np.ndarray | None = None
    onboarding_complete: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of accounts."""
        return len(self.ids)


@dataclass
class Life:
    """The first 90 days (covariates), churn and reactivation, and the active days after day 90.

    ``acc90``/``day90``/``cnt90``/``t90`` are the (account, day) rows of days 0..89 with their
    usage-event and ticket counts; ``acc``/``day`` the active days from day 90 on (first episode,
    then any reactivation). ``end1`` is the exclusive end of the first episode (capped at the
    period end); ``r_start``/``r_end`` the reactivation episode where ``react``.
    """

    acc90: np.ndarray
    day90: np.ndarray
    cnt90: np.ndarray
    t90: np.ndarray
    nps_day: np.ndarray
    nps_first: np.ndarray
    usage_trend: np.ndarray
    tickets_90d: np.ndarray
    eta: np.ndarray | None = None
    churn_day: np.ndarray | None = None
    churned: np.ndarray | None = None
    end1: np.ndarray | None = None
    react: np.ndarray | None = None
    r_start: np.ndarray | None = None
    r_end: np.ndarray | None = None
    acc: np.ndarray | None = None
    day: np.ndarray | None = None


def draw_accounts(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, Population]:
    """The accounts table: growing monthly cohorts, segments, names, plans and CSM owners.

    Parameters
    ----------
    rng
        The generator's random stream.
    n
        Number of accounts.

    Returns
    -------
    (pandas.DataFrame, Population)
        The ``accounts`` table and the population (ids, start days, segments; no traits yet).
    """
    ids = np.array([f"A{i:06d}" for i in range(1, n + 1)])
    w = 1.0 + 1.5 * np.arange(N_DAYS) / N_DAYS
    start = np.sort(rng.choice(N_DAYS, size=n, p=w / w.sum()))
    seg = rng.choice(3, size=n, p=[0.12, 0.33, 0.55])
    seg_name = np.array(SEGMENTS)[seg]
    names = np.array(
        [
            f"{COMPANY_A[a]} {COMPANY_B[b]} {SUFFIX[c]}"
            for a, b, c in zip(
                rng.integers(0, len(COMPANY_A), n),
                rng.integers(0, len(COMPANY_B), n),
                rng.integers(0, len(SUFFIX), n),
                strict=True,
            )
        ],
        dtype=object,
    )
    names[min(7, n - 1)] = "<script>alert(1)</script> Testing & Co."
    plan = np.where(
        seg == 0, "enterprise", np.where(seg == 1, rng.choice(["growth", "business"], n),
                                         rng.choice(["starter", "growth"], n, p=[0.7, 0.3]))
    )
    csm = np.array([None] * n, dtype=object)
    for s, people in CSMS.items():
        m = seg_name == s
        csm[m] = rng.choice(people, m.sum())
    created = ts(start, -rng.integers(0, 21 * 86400, n))
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "name": names,
            "segment": seg_name,
            "plan": plan,
            "industry": rng.choice(INDUSTRIES, n),
            "region": rng.choice(REGIONS, n, p=[0.4, 0.2, 0.2, 0.2]),
            "csm_owner": csm,
            "created_at": created,
        }
    )
    return accounts, Population(ids=ids, start=start, seg=seg)


def draw_traits(rng: np.random.Generator, pop: Population) -> None:
    """Latent traits (usage level and trend, onboarding propensity, satisfaction, ticket rate,
    breadth of use, seats) and the onboarding milestone days, set on ``pop`` in place."""
    n, seg = pop.n, pop.seg
    pop.base_rate = np.array([3.0, 1.2, 0.5])[seg] * rng.lognormal(0, 0.45, n)
    pop.slope = rng.normal(0.0, 0.10, n)  # log-rate change per 30 days
    pop.onb = rng.normal(0, 1, n)  # onboarding propensity
    pop.sat = rng.normal(0, 1, n)  # satisfaction
    pop.ticket_rate = np.array([2.0, 1.2, 0.5])[seg] * rng.gamma(2.0, 0.5, n) / 30  # per day
    pop.breadth = rng.integers(2, len(EVENT_TYPES) + 1, n)
    pop.seats = np.maximum(1, np.round(np.array([60, 18, 5])[seg] * rng.lognormal(0, 0.4, n))).astype(int)
    done_day = np.zeros((n, len(MILESTONES)))
    for k, (_, due) in enumerate(MILESTONES):
        delay = rng.gamma(1.5, 6.0 * np.exp(-0.6 * pop.onb)) - 5
        never = rng.random(n) < 0.03 + 0.05 * (pop.onb < -1.2)
        done_day[:, k] = np.where(never, np.inf, np.maximum(1, np.round(due + delay)))
    pop.done_day = done_day
    pop.onboarding_complete = (done_day < LANDMARK).all(axis=1).astype(float)


def draw_first_90_days(rng: np.random.Generator, pop: Population, usage_scale: float) -> Life:
    """Usage-event and ticket counts per day on days 0..89 and the first NPS answer.

    These fix the covariates the churn hazard reads (``usage_trend``, ``tickets_90d``,
    ``nps_first``). ``usage_scale`` multiplies the expected usage events per day.
    """
    n, start, onb = pop.n, pop.start, pop.onb
    acc90, day90 = daily_index(start, np.minimum(start + LANDMARK, N_DAYS))
    rel90 = day90 - start[acc90]
    dow90 = (day90 + 6) % 7  # 2023-01-01 was a Sunday -> Monday = 0
    rate90 = pop.base_rate[acc90] * np.exp(pop.slope[acc90] * rel90 / 30) * np.where(dow90 >= 5, 0.3, 1.0)
    rate90 *= 0.5 + 0.5 * np.minimum(1, rel90 / 30 + 0.4 * (onb[acc90] > 0))
    rate90 *= usage_scale  # exact at 1.0: the files stay byte-identical
    cnt90 = rng.poisson(rate90)
    e0 = np.bincount(acc90, weights=cnt90 * (rel90 < 30), minlength=n)
    e2 = np.bincount(acc90, weights=cnt90 * (rel90 >= 60), minlength=n)
    t90 = rng.poisson(pop.ticket_rate[acc90] * 1.5)
    nps_day = rng.integers(30, 80, n)
    nps_first = np.clip(np.round(rng.normal(6.2 + 0.6 * onb + 1.0 * pop.sat, 1.6)), 0, 10)
    return Life(
        acc90=acc90,
        day90=day90,
        cnt90=cnt90,
        t90=t90,
        nps_day=nps_day,
        nps_first=nps_first,
        usage_trend=np.log2((e2 + 1) / (e0 + 1)),
        tickets_90d=np.bincount(acc90, weights=t90, minlength=n),
    )


def draw_churn(rng: np.random.Generator, pop: Population, life: Life, truth: Truth) -> None:
    """Churn days from the Weibull proportional-hazards truth, reactivations, and the active
    days from day 90 on; set on ``life`` in place."""
    n, seg, start = pop.n, pop.seg, pop.start
    b = truth.coefficients
    life.eta = (
        b["segment[enterprise]"] * (seg == 0)
        + b["segment[mid_market]"] * (seg == 1)
        + b["usage_trend"] * life.usage_trend
        + b["nps_first"] * life.nps_first
        + b["tickets_90d"] * life.tickets_90d
        + b["onboarding_complete"] * pop.onboarding_complete
    )
    u = rng.random(n)
    t_after = truth.weibull_scale_days * (-np.log(u) / np.exp(life.eta)) ** (1 / truth.weibull_shape)
    life.churn_day = start + LANDMARK + np.ceil(t_after).astype(np.int64)
    life.churned = life.churn_day <= N_DAYS - 1  # churn day = first inactive day, on or before END
    life.end1 = np.where(life.churned, life.churn_day, N_DAYS)  # exclusive end of the first episode
    # reactivation: some churned accounts come back
    react = life.churned & (rng.random(n) < 0.08)
    life.r_start = life.churn_day + rng.integers(30, 181, n)
    life.react = react & (life.r_start < N_DAYS - 1)
    life.r_end = np.full(n, N_DAYS)
    acc, day = daily_index(start + LANDMARK, life.end1)
    if life.react.any():
        ra, rd = daily_index(np.where(life.react, life.r_start, 0), np.where(life.react, life.r_end, 0))
        acc, day = np.concatenate([acc, ra]), np.concatenate([day, rd])
    life.acc, life.day = acc, day
