"""The kit's account-month columns at a month's snapshot, from a block's matrices.

:func:`kit_columns` repeats, for one month and every account of a block, what
:func:`csresearch.features.account.account_month_features` computes from the written
tables with its default windows (usage rate per observed day and its change against the
up to 3 previous months, latest NPS and CSM sentiment within 12 months, mean CES within 6,
tickets within 3, e-mail open rate within 6, on-time onboarding share, tenure). The same
arithmetic on the same counts gives the same floats, so the true linear predictor written to
``truth_risk.parquet`` is the one a reader computes from the tables (``tests/test_demo_dynamic.py``
checks it).

Example
-------
>>> snapshot(blk, truth, m=5, usage_scale=1.0)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from csresearch.demo.dynamic.block import Block, milestone_due
from csresearch.demo.dynamic.clock import MONTH_START, SNAPSHOT
from csresearch.demo.dynamic.truth import DynamicTruth, covariates, linear_predictor
from csresearch.demo.model import SEGMENTS


def _latest(values: np.ndarray, m: int, window: int) -> np.ndarray:
    """Per row, the latest non-missing value of columns ``m - window + 1 .. m``."""
    lo = max(m - window + 1, 0)
    win = values[:, lo:m + 1]
    has = ~np.isnan(win)
    last = win.shape[1] - 1 - np.argmax(has[:, ::-1], axis=1)
    out = win[np.arange(len(win)), last]
    return np.where(has.any(axis=1), out, np.nan)


def _window(x: np.ndarray, m: int, k: int) -> np.ndarray:
    """Per row, the sum of columns ``m - k + 1 .. m``."""
    return x[:, max(m - k + 1, 0):m + 1].sum(axis=1)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def kit_columns(blk: Block, m: int) -> dict[str, np.ndarray]:
    """The kit's columns (:data:`csresearch.demo.dynamic.truth.KIT_COLUMNS`) at month m's snapshot.

    Rows of accounts not on the grid yet (first month after m) hold meaningless values.

    Examples
    --------
    >>> kit_columns(blk, 3)["tickets"]  # doctest: +SKIP
    """
    snap, ms = SNAPSHOT[m], MONTH_START[m]
    on_grid = blk.m0 <= m
    blk.obs[:, m] = np.where(on_grid, snap - np.maximum(ms, blk.st) + 1, 0)
    obs = blk.obs[:, m].astype("float64")
    ev = blk.ev[:, m]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = ev / obs
        lo = max(m - 3, 0)
        base = blk.ev[:, lo:m].sum(axis=1) / blk.obs[:, lo:m].sum(axis=1).astype("float64")
        chg = 100 * (rate / base - 1)
    base = np.where(m > blk.m0, base, np.nan)
    chg = np.where((base == 0) & (rate == 0), 0.0, np.where(base == 0, np.nan, chg))
    _, due_m, on_time = milestone_due(blk)
    due = (due_m <= m).sum(axis=1).astype("float64")
    ontime = ((due_m <= m) & on_time).sum(axis=1).astype("float64")
    return {
        "usage_per_day": rate,
        "usage_change_pct": chg,
        "nps_latest": _latest(blk.nps, m, 12),
        "ces_mean": _ratio(_window(blk.ces_s, m, 6), _window(blk.ces_n, m, 6)),
        "tickets": _window(blk.tk, m, 3),
        "email_open_rate": _ratio(_window(blk.em_open, m, 6), _window(blk.em_sent, m, 6)),
        "onboarding_score": _ratio(ontime, due),
        "csm_sentiment_score": _latest(blk.csm, m, 12),
        "tenure_days": (snap - blk.st).astype("float64"),
    }


def snapshot(blk: Block, truth: DynamicTruth, m: int, usage_scale: float) -> None:
    """Measure month m's snapshot: ``lp[:, m]`` for the customers on it, and the flags that
    give a decision in month m + 1 its churn reason (detractor, usage down 30 %, champion
    left within 6 months)."""
    f = kit_columns(blk, m)
    snap = SNAPSHOT[m]
    customer = (blk.ep_start <= snap) & (blk.end_day > snap)
    seg = np.array(SEGMENTS)[blk.seg]
    x = covariates(f, seg, usage_scale, truth.usage_base)
    lp = linear_predictor(x, truth.coefficients)
    blk.lp[:, m] = np.where(customer, lp, np.nan)
    blk.dec_flags[:, 0] = f["nps_latest"] <= 6
    blk.dec_flags[:, 1] = f["usage_change_pct"] <= -30
    blk.dec_flags[:, 2] = m - blk.last_champion < 6
