"""Customer Success metrics: MRR bridge, churn, GRR/NRR, renewals, cohorts, surveys, onboarding.

Every calculator is a pure function (DataFrames in, DataFrame/Series out, inputs untouched);
:func:`period_table` combines them per period (and group) for a data source, as the
``csresearch metrics`` command prints.

Example
-------
>>> from csresearch.data.sources import open_source
>>> period_table(open_source("data/demo"), as_of="2025-12-31", by="segment")  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csresearch.errors import ConfigError, DataQualityWarning
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
    start_churners,
)
from csresearch.metrics.surveys import TENURE, ces, csat, nps, survey_scores

if TYPE_CHECKING:  # pragma: no cover
    from csresearch.data.sources import DataSource

__all__ = [
    "ces",
    "cohort_retention",
    "cohort_table",
    "csat",
    "first_active_dates",
    "mrr_bridge",
    "mrr_movements",
    "start_churners",
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
        A :class:`~csresearch.data.sources.DataSource` (or a location for
        :func:`~csresearch.data.sources.open_source`).
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
        from csresearch.data.sources import open_source

        source = open_source(source)
    out = mrr_bridge(source, as_of, grain, by=by)  # in the engine, from the customer timeline
    accounts = source.df("accounts", [*dict.fromkeys(["account_id", by])]) if by else None
    subs = source.df("subscriptions") if by == TENURE else None
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
    out.attrs["notes"] = notes + _mark_after_data(out, source, as_of)
    return out


#: date columns that hold what is scheduled rather than what happened
_SCHEDULED = {("subscriptions", "end_date"), ("onboarding_milestones", "due_at")}


def observed_range(source: DataSource) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last date observed anywhere in ``source``: every contract date and timestamp
    column of every table, except scheduled ones (``subscriptions.end_date``,
    ``onboarding_milestones.due_at``), one engine aggregate per table."""
    from csresearch.data.schema import CONTRACT

    lows, highs = [], []
    for name in source.names:
        t = source.table(name)
        cols = [c.name for c in CONTRACT[name].columns if c.dtype in ("date", "timestamp")
                and (name, c.name) not in _SCHEDULED and c.name in t.columns]
        if cols:
            row = t.aggregate(**{f"lo{i}": t[c].min() for i, c in enumerate(cols)},
                              **{f"hi{i}": t[c].max() for i, c in enumerate(cols)}).execute()
            vals = pd.to_datetime(row.iloc[0], errors="coerce")
            lows += [v for k, v in vals.items() if k.startswith("lo") and pd.notna(v)]
            highs += [v for k, v in vals.items() if k.startswith("hi") and pd.notna(v)]
    return min(lows).normalize(), max(highs).normalize()


def _mark_after_data(out: pd.DataFrame, source: DataSource, as_of: str) -> list[str]:
    """Note the periods that start after the last observed date (nothing was seen in them:
    their figures only carry open subscriptions forward), with a DataQualityWarning; refuse
    an ``as_of`` whose every period is past the data. Returns the source-level notes."""
    if out.empty:
        return []
    first, last = observed_range(source)
    past = out["period_start"] > last
    if not past.any():
        return []
    if past.all():
        raise ConfigError(
            f"as_of {as_of}: every period starts after the data's last date {last.date()} (the "
            f"data runs from {first.date()} to {last.date()}); pick an as_of within that range"
        )
    n = int(out.loc[past, "period_start"].nunique())
    since = out.loc[past, "period_start"].min().date()
    text = (f"{n} period(s) from {since} start after the data's last date {last.date()} (data "
            f"from {first.date()}): nothing was observed in them, their figures only carry the "
            "open subscriptions forward; pick an as_of on or before the last date")
    warnings.warn(text, DataQualityWarning, stacklevel=3)
    mark = f"no data observed in this period (the data ends {last.date()})"
    out.loc[past, "note"] = [f"{mark}; {x}" if x else mark for x in out.loc[past, "note"]]
    return [text]
