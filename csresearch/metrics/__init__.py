"""Customer Success metrics: MRR bridge, churn, GRR/NRR, renewals, cohorts, surveys, onboarding.

Every calculator is a pure function (DataFrames in, DataFrame/Series out, inputs untouched);
:func:`period_table` combines them per period (and group) for a data source, as the
``csresearch metrics`` command prints.

Example
-------
>>> from csresearch.sources import open_source
>>> period_table(open_source("data/demo"), as_of="2025-12-31", by="segment")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csresearch.metrics.cohorts import cohort_retention, cohort_table
from csresearch.metrics.onboarding import (
    onboarding_completion,
    onboarding_score,
    share_finished_within,
)
from csresearch.metrics.revenue import (
    first_active_dates,
    mrr_bridge,
    mrr_movements,
    mrr_snapshots,
    renewal_events,
    renewal_rates,
)
from csresearch.metrics.surveys import ces, csat, nps, survey_scores

if TYPE_CHECKING:  # pragma: no cover
    from csresearch.sources import DataSource

__all__ = [
    "ces",
    "cohort_retention",
    "cohort_table",
    "csat",
    "first_active_dates",
    "mrr_bridge",
    "mrr_movements",
    "mrr_snapshots",
    "nps",
    "onboarding_completion",
    "onboarding_score",
    "period_table",
    "renewal_events",
    "renewal_rates",
    "share_finished_within",
    "survey_scores",
]

#: survey kind -> (columns taken from survey_scores, their names in the period table)
_SURVEY_COLUMNS = {
    "nps": {"nps": "nps", "n": "nps_responses", "nps_ci_low": "nps_ci_low",
            "nps_ci_high": "nps_ci_high"},
    "ces": {"ces_mean": "ces_mean", "ces_share_good": "ces_share_good", "n": "ces_responses"},
    "csat": {"csat": "csat", "n": "csat_responses"},
}


def period_table(
    source: DataSource | str, as_of: str, grain: str = "month", by: str | None = None
) -> pd.DataFrame:
    """One row per period (and ``by`` group): the MRR bridge, churn, GRR/NRR and survey scores.

    Parameters
    ----------
    source
        A :class:`~csresearch.sources.DataSource` (or a location for
        :func:`~csresearch.sources.open_source`).
    as_of
        ISO date; periods run from the first full period of subscription data to the last one
        finishing on or before it.
    grain
        'month' or 'quarter'.
    by
        Optional column of ``accounts`` to split every metric by.

    Returns
    -------
    DataFrame with the columns of :func:`~csresearch.metrics.revenue.mrr_bridge` followed by
    nps, nps_responses, nps_ci_low, nps_ci_high, ces_mean, ces_share_good, ces_responses,
    csat, csat_responses, and ``note`` (why a value is empty). ``df.attrs["notes"]`` lists
    source-level notes, e.g. an absent survey table (whose columns are then empty).

    Example
    -------
    >>> t = period_table(src, "2025-12-31", grain="quarter")  # doctest: +SKIP
    >>> t[["period_start", "nrr", "nps"]]  # doctest: +SKIP
    """
    if isinstance(source, str):
        from csresearch.sources import open_source

        source = open_source(source)
    accounts = source.df("accounts")
    subs = source.df("subscriptions")
    out = mrr_bridge(subs, as_of, grain, by=by, accounts=accounts)
    keys = ["period_start", *([by] if by else [])]
    periods = pd.DatetimeIndex(out["period_start"].drop_duplicates())
    notes: list[str] = []
    for kind, cols in _SURVEY_COLUMNS.items():
        table = f"{kind}_responses"
        if not source.has(table):
            notes.append(f"table '{table}' is absent: {', '.join(cols.values())} are empty")
            for c in cols.values():
                out[c] = np.nan
            continue
        sc = survey_scores(source.df(table), kind, as_of, grain, by=by, accounts=accounts,
                           subscriptions=subs, periods=periods)
        sc = sc[[*keys, *cols, "reason"]].rename(columns={**cols, "reason": f"_{kind}_note"})
        out = out.merge(sc, on=keys, how="outer")
        # a group seen only in survey answers has no bridge row; an absent answer set, no score
        out[f"_{kind}_note"] = np.where(out[f"_{kind}_note"].fillna("x") != "",
                                        f"no {kind.upper()} answers", "")
    out["note"] = out["note"].fillna("no subscription in this group")
    note_cols = ["note", *[c for c in out.columns if c.startswith("_")]]
    out["note"] = out[note_cols].agg(lambda r: "; ".join(x for x in r if x), axis=1)
    out = out.drop(columns=note_cols[1:]).sort_values(keys, ignore_index=True)
    out = out[[c for c in out.columns if c != "note"] + ["note"]]
    out.attrs["notes"] = notes
    return out
