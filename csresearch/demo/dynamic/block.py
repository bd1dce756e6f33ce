"""One block of accounts of the dynamic demo: its traits, its month-by-month state and records.

A :class:`Block` holds, for a few thousand accounts, the traits drawn once (usage size,
ticket propensity, e-mail affinity, onboarding, long-run engagement), the current status
(episode, end day, decided to leave) and account x month matrices the simulation fills
(:mod:`csresearch.demo.dynamic.simulate`): active day range, usage events, tickets, CES
sums, e-mails, NPS and CSM answers, the state and the true linear predictor.

Example
-------
>>> import numpy as np
>>> from csresearch.demo.dynamic.truth import DynamicTruth
>>> b = new_block(np.random.default_rng(1), np.array(["A000001"]), np.array([10]),
...               np.array([2]), np.array([1]), DynamicTruth())
>>> b.n, b.ev.shape
(1, (1, 36))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from csresearch.demo.dynamic.clock import N_MONTHS, month_of
from csresearch.demo.dynamic.truth import DynamicTruth
from csresearch.demo.model import EVENT_TYPES, MILESTONES, N_DAYS

BIG = 10**6  # "no end yet" as a day number


@dataclass
class Block:
    """Per-account arrays (length n) and account x month matrices (n x 36) of one block."""

    ids: np.ndarray
    st: np.ndarray  # first start day (the first paid day)
    seg: np.ndarray  # 0 enterprise, 1 mid_market, 2 smb
    term: np.ndarray  # contract term in months (1 or 12)
    m0: np.ndarray
    mu: np.ndarray
    onb: np.ndarray
    size: np.ndarray
    tick: np.ndarray
    email_aff: np.ndarray
    csm_bias: np.ndarray
    seats: np.ndarray
    breadth: np.ndarray
    nps_off: np.ndarray
    mrr0: np.ndarray
    done_day: np.ndarray  # n x 4 milestone completion day since start (inf: never)
    # status of the current episode
    ep: np.ndarray = field(default=None)
    ep_start: np.ndarray = field(default=None)
    end_day: np.ndarray = field(default=None)
    leaving: np.ndarray = field(default=None)
    react_day: np.ndarray = field(default=None)
    react_mrr: np.ndarray = field(default=None)
    s: np.ndarray = field(default=None)
    has_addon: np.ndarray = field(default=None)
    mrr: np.ndarray = field(default=None)
    flags: np.ndarray = field(default=None)  # reasons at the decision: detractor, usage drop, champion
    last_champion: np.ndarray = field(default=None)
    dec_flags: np.ndarray = field(default=None)  # the same flags at the last snapshot
    bad_month: np.ndarray = field(default=None)
    # account x month
    a: np.ndarray = field(default=None)
    b: np.ndarray = field(default=None)
    obs: np.ndarray = field(default=None)
    ev: np.ndarray = field(default=None)
    tk: np.ndarray = field(default=None)
    ces_s: np.ndarray = field(default=None)
    ces_n: np.ndarray = field(default=None)
    em_sent: np.ndarray = field(default=None)
    em_open: np.ndarray = field(default=None)
    em_click: np.ndarray = field(default=None)
    nps: np.ndarray = field(default=None)
    csm: np.ndarray = field(default=None)
    lp: np.ndarray = field(default=None)
    state: np.ndarray = field(default=None)
    # records appended month by month
    tickets: list = field(default_factory=list)
    answers: list = field(default_factory=list)
    subs: list = field(default_factory=list)
    churns: list = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of accounts in the block."""
        return len(self.ids)


def new_block(rng: np.random.Generator, ids: np.ndarray, st: np.ndarray, seg: np.ndarray,
              term: np.ndarray, truth: DynamicTruth) -> Block:
    """Draw the traits of a block's accounts and allocate its matrices.

    Parameters
    ----------
    rng
        The block's own random stream.
    ids, st, seg, term
        Account ids, first start days, segment codes (0 enterprise, 1 mid_market, 2 smb) and
        contract terms in months.
    truth
        The generating model.

    Returns
    -------
    Block
    """
    n, t = len(ids), truth
    mu = np.array(t.state_mean)[seg] + rng.normal(0, t.state_sd_account, n)
    onb = rng.normal(0, 1, n)
    blk = Block(
        ids=ids, st=st, seg=seg, term=term, m0=month_of(st), mu=mu, onb=onb,
        size=rng.lognormal(0, t.usage_size_sd, n),
        tick=np.array(t.ticket_base)[seg] * rng.gamma(2.0, 0.5, n),
        email_aff=rng.normal(0, t.email_account_sd, n),
        csm_bias=rng.normal(0, t.csm_bias_sd, n),
        seats=np.maximum(1, np.round(np.array([60, 18, 5])[seg] * rng.lognormal(0, 0.4, n))).astype(np.int64),
        breadth=rng.integers(2, len(EVENT_TYPES) + 1, n),
        nps_off=rng.integers(20, 80, n),
        mrr0=np.round(np.array([6000, 1400, 180])[seg] * rng.lognormal(0, 0.35, n)),
        done_day=_milestone_days(rng, onb),
    )
    blk.ep = np.zeros(n, dtype=np.int64)
    blk.ep_start = st.astype(np.int64).copy()
    blk.end_day = np.full(n, BIG, dtype=np.int64)
    blk.leaving = np.zeros(n, dtype=bool)
    blk.react_day = np.full(n, BIG, dtype=np.int64)
    blk.react_mrr = np.zeros(n)
    blk.s = np.zeros(n)
    blk.has_addon = np.zeros(n, dtype=bool)
    blk.mrr = blk.mrr0.copy()
    blk.flags = np.zeros((n, 3), dtype=bool)
    blk.dec_flags = np.zeros((n, 3), dtype=bool)
    blk.bad_month = np.zeros(n, dtype=bool)
    blk.last_champion = np.full(n, -99, dtype=np.int64)
    shape = (n, N_MONTHS)
    for name in ("a", "b", "obs"):
        setattr(blk, name, np.zeros(shape, dtype=np.int64))
    for name in ("ev", "tk", "ces_s", "ces_n", "em_sent", "em_open", "em_click", "state"):
        setattr(blk, name, np.zeros(shape))
    for name in ("nps", "csm", "lp"):
        setattr(blk, name, np.full(shape, np.nan))
    return blk


def _milestone_days(rng: np.random.Generator, onb: np.ndarray) -> np.ndarray:
    """Completion day (since the start) of each onboarding milestone; ``inf`` when never done."""
    n = len(onb)
    done_day = np.zeros((n, len(MILESTONES)))
    for k, (_, due) in enumerate(MILESTONES):
        delay = rng.gamma(1.5, 3.5 * np.exp(-0.7 * onb)) - 7
        never = rng.random(n) < 0.03 + 0.05 * (onb < -1.2)
        done_day[:, k] = np.where(never, np.inf, np.maximum(1, np.round(due + delay)))
    return done_day


def milestone_due(blk: Block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(due day, month of the due day, done on time) per account and milestone (n x 4);
    milestones due after the period end are not written, so their month is past the last.

    Examples
    --------
    >>> from csresearch.demo.dynamic.truth import DynamicTruth
    >>> b = new_block(np.random.default_rng(1), np.array(["A1"]), np.array([0]), np.array([2]),
    ...               np.array([1]), DynamicTruth())
    >>> milestone_due(b)[0].tolist()
    [[7, 30, 45, 60]]
    """
    due = blk.st[:, None] + np.array([d for _, d in MILESTONES])[None, :]
    written = due <= N_DAYS - 1
    due_m = np.where(written, month_of(np.minimum(due, N_DAYS - 1)), N_MONTHS + 99)
    on_time = blk.done_day <= np.array([d for _, d in MILESTONES])[None, :]
    return due, due_m, on_time
