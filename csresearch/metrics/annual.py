"""Annual retention figures: trailing-12-month GRR and NRR, and annualised logo churn.

Definitions (snapshots as in :mod:`csresearch.metrics.revenue`: MRR of an account on day d
is the sum of its subscriptions' ``mrr`` with ``start_date <= d < end_date``):

* **Trailing-12-month GRR and NRR** of a period ending on day ``E`` (the next period's first
  day) compare two snapshots, ``B = E - 12 months`` and ``E``, for the *cohort* of accounts
  active on ``B`` (MRR > 0):

  - ``grr_trailing_12m = sum(min(MRR_E, MRR_B)) / sum(MRR_B)``: the MRR those accounts
    kept, expansion not counted (an account that left and came back counts with what it has
    on ``E``, capped at its MRR on ``B``);
  - ``nrr_trailing_12m = sum(MRR_E) / sum(MRR_B)``: expansion included.

  Accounts that started after ``B`` are not in the cohort (they are new business, not
  retention). This is the textbook "cohort" definition, not a chain of 12 monthly rates: a
  chained product of monthly GRRs counts an account's downgrade-then-upgrade as a loss, and
  the cohort figure does not. The figure is NaN (with a ``note``) when fewer than 12 months of
  data lie before ``E`` or nothing was active on ``B``.
* **Logo retention over 12 months** = share of the accounts active on ``B`` that are active on
  ``E`` (``logo_churn_trailing_12m`` = 1 - that): observed, not annualised.
* **Annualised logo churn** of a period's rate ``m`` = ``1 - (1 - m) ** k`` with ``k`` = 12
  periods a year for months and 4 for quarters: the share of customers lost in a year if the
  period's rate held all year (:func:`annualise`).

Example
-------
>>> subs = pd.DataFrame({"subscription_id": ["s1", "s2"], "account_id": ["a", "b"],
...     "start_date": pd.to_datetime(["2024-01-01", "2024-01-01"]),
...     "end_date": pd.to_datetime([None, "2024-07-01"]), "mrr": [100.0, 50.0]})
>>> t = trailing_12m(subs, "2024-12-31")
>>> round(float(t["nrr_trailing_12m"].iloc[-1]), 4)  # 100 kept of 150 on 2024-01-01
0.6667
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csresearch.metrics.revenue import mrr_bridge, mrr_snapshots
from csresearch.periods import check_grain

PERIODS_PER_YEAR = {"month": 12, "quarter": 4}
WINDOW_MONTHS = 12


def annualise(rate: float | pd.Series, grain: str = "month") -> float | pd.Series:
    """A period's churn rate as a yearly one: ``1 - (1 - rate) ** k`` (k = 12 months, 4 quarters).

    >>> round(annualise(0.025), 4)  # 1 - 0.975 ** 12
    0.262
    """
    check_grain(grain)
    return 1 - (1 - rate) ** PERIODS_PER_YEAR[grain]


def _window_figures(snap: pd.DataFrame, begin: pd.Timestamp, end: pd.Timestamp) -> dict[str, float]:
    b = snap.loc[snap["snapshot_date"] == begin].set_index("account_id")["mrr"]
    e = snap.loc[snap["snapshot_date"] == end].set_index("account_id")["mrr"]
    cohort = b[b > 0]
    now = e.reindex(cohort.index).fillna(0.0)
    base = float(cohort.sum())
    if base <= 0:
        return {"grr_trailing_12m": np.nan, "nrr_trailing_12m": np.nan, "logo_churn_trailing_12m": np.nan,
                "accounts_12m_ago": 0, "mrr_12m_ago": 0.0}
    return {
        "grr_trailing_12m": float(np.minimum(now, cohort).sum()) / base,
        "nrr_trailing_12m": float(now.sum()) / base,
        "logo_churn_trailing_12m": 1 - float((now > 0).mean()),
        "accounts_12m_ago": int(len(cohort)),
        "mrr_12m_ago": base,
    }


def trailing_12m(subscriptions: pd.DataFrame, as_of: str, grain: str = "month") -> pd.DataFrame:
    """Trailing-12-month GRR, NRR and logo churn for every period of the MRR bridge.

    Returns period_start, period_end, window_start (= period_end - 12 months),
    accounts_12m_ago, mrr_12m_ago, grr_trailing_12m, nrr_trailing_12m,
    logo_churn_trailing_12m, logo_churn_rate (the period's), logo_churn_annualised and note
    (see the module docstring for the definitions).

    Example
    -------
    >>> trailing_12m(src.df("subscriptions"), "2025-12-31").iloc[-1]  # doctest: +SKIP
    """
    check_grain(grain)
    bridge = mrr_bridge(subscriptions, as_of, grain)
    out = bridge[["period_start", "period_end", "logo_churn_rate"]].copy()
    if out.empty:
        for c in ("window_start", "accounts_12m_ago", "mrr_12m_ago", "grr_trailing_12m", "nrr_trailing_12m",
                  "logo_churn_trailing_12m", "logo_churn_annualised", "note"):
            out[c] = pd.Series(dtype="float64")
        return out
    ends = pd.DatetimeIndex(out["period_end"])
    begins = ends - pd.DateOffset(months=WINDOW_MONTHS)
    first = pd.Timestamp(out["period_start"].iloc[0])
    dates = sorted(set(ends) | {b for b in begins if b >= first})
    snap = mrr_snapshots(subscriptions, dates)
    rows = []
    for b, e in zip(begins, ends, strict=True):
        if b < first:
            rows.append({"grr_trailing_12m": np.nan, "nrr_trailing_12m": np.nan, "logo_churn_trailing_12m": np.nan,
                         "accounts_12m_ago": 0, "mrr_12m_ago": np.nan,
                         "note": "fewer than 12 months of data before the period end"})
        else:
            rows.append({**_window_figures(snap, b, e), "note": ""})
    figs = pd.DataFrame(rows, index=out.index)
    figs.loc[figs["note"].eq("") & figs["grr_trailing_12m"].isna(), "note"] = "no account active 12 months earlier"
    out.insert(2, "window_start", begins)
    out = pd.concat([out, figs], axis=1)
    out["logo_churn_annualised"] = annualise(out["logo_churn_rate"], grain)
    cols = ["period_start", "period_end", "window_start", "accounts_12m_ago", "mrr_12m_ago", "grr_trailing_12m",
            "nrr_trailing_12m", "logo_churn_trailing_12m", "logo_churn_rate", "logo_churn_annualised", "note"]
    return out[cols]
