"""Annual retention figures: trailing-12-month GRR and NRR, and annualised logo churn.

Definitions (snapshots as in :mod:`csresearch.metrics.revenue`: MRR of an account on day d
is the sum of its paid subscriptions' ``mrr`` with ``start_date <= d < end_date``, read as of
``as_of``; a customer on d is one of :func:`csresearch.data.timeline.active_on`). The work runs in
the engine of the data source; a pandas subscriptions frame is wrapped into DuckDB.

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

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csresearch.data.periods import check_grain
from csresearch.metrics import _engine as eng
from csresearch.metrics._engine import MICRO
from csresearch.metrics.revenue import mrr_bridge, source_of

if TYPE_CHECKING:  # pragma: no cover
    from csresearch.data.sources import DataSource

PERIODS_PER_YEAR = {"month": 12, "quarter": 4}
WINDOW_MONTHS = 12


def annualise(rate: float | pd.Series, grain: str = "month") -> float | pd.Series:
    """A period's churn rate as a yearly one: ``1 - (1 - rate) ** k`` (k = 12 months, 4 quarters).

    >>> round(annualise(0.025), 4)  # 1 - 0.975 ** 12
    0.262
    """
    check_grain(grain)
    return 1 - (1 - rate) ** PERIODS_PER_YEAR[grain]


def _window_figures(parts: pd.DataFrame, w: int) -> dict[str, float]:
    """The figures of window ``w`` from :func:`csresearch.metrics._engine.trailing_parts`."""
    row = parts.loc[parts["w"] == w]
    base = float(row["mrr_b"].iloc[0]) if len(row) else 0.0
    if base <= 0:
        return {"grr_trailing_12m": np.nan, "nrr_trailing_12m": np.nan, "logo_churn_trailing_12m": np.nan,
                "accounts_12m_ago": 0, "mrr_12m_ago": 0.0}
    r = row.iloc[0]
    return {
        "grr_trailing_12m": float(r["mrr_min"]) / base,
        "nrr_trailing_12m": float(r["mrr_e"]) / base,
        "logo_churn_trailing_12m": 1 - int(r["kept_accounts"]) / int(r["accounts"]),
        "accounts_12m_ago": int(r["accounts"]),
        "mrr_12m_ago": base / MICRO,
    }


def trailing_12m(
    subscriptions: DataSource | pd.DataFrame, as_of: str, grain: str = "month", bridge: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Trailing-12-month GRR, NRR and logo churn for every period of the MRR bridge.

    Returns period_start, period_end, window_start (= period_end - 12 months),
    accounts_12m_ago, mrr_12m_ago, grr_trailing_12m, nrr_trailing_12m,
    logo_churn_trailing_12m, logo_churn_rate (the period's), logo_churn_annualised and note
    (see the module docstring for the definitions). ``bridge``: :func:`mrr_bridge` of the same
    arguments when already computed (a report's), else computed here.

    Example
    -------
    >>> trailing_12m(src, "2025-12-31").iloc[-1]  # doctest: +SKIP
    """
    check_grain(grain)
    src = source_of(subscriptions)
    bridge = mrr_bridge(src, as_of, grain) if bridge is None else bridge
    out = bridge[["period_start", "period_end", "logo_churn_rate"]].copy()
    if out.empty:
        for c in ("window_start", "accounts_12m_ago", "mrr_12m_ago", "grr_trailing_12m", "nrr_trailing_12m",
                  "logo_churn_trailing_12m", "logo_churn_annualised", "note"):
            out[c] = pd.Series(dtype="float64")
        return out
    ends = pd.DatetimeIndex(out["period_end"])
    begins = ends - pd.DateOffset(months=WINDOW_MONTHS)
    first = pd.Timestamp(out["period_start"].iloc[0])
    windows = pd.DataFrame({"w": np.arange(len(ends)), "begin": begins, "end": ends})
    parts = eng.trailing_parts(src, as_of, windows[windows["begin"] >= first])
    rows = []
    for w, b in enumerate(begins):
        if b < first:
            rows.append({"grr_trailing_12m": np.nan, "nrr_trailing_12m": np.nan, "logo_churn_trailing_12m": np.nan,
                         "accounts_12m_ago": 0, "mrr_12m_ago": np.nan,
                         "note": "fewer than 12 months of data before the period end"})
        else:
            rows.append({**_window_figures(parts, w), "note": ""})
    figs = pd.DataFrame(rows, index=out.index)
    figs.loc[figs["note"].eq("") & figs["grr_trailing_12m"].isna(), "note"] = "no account active 12 months earlier"
    out.insert(2, "window_start", begins)
    out = pd.concat([out, figs], axis=1)
    out["logo_churn_annualised"] = annualise(out["logo_churn_rate"], grain)
    cols = ["period_start", "period_end", "window_start", "accounts_12m_ago", "mrr_12m_ago", "grr_trailing_12m",
            "nrr_trailing_12m", "logo_churn_trailing_12m", "logo_churn_rate", "logo_churn_annualised", "note"]
    return out[cols]
