"""The churn probability that ranks the worklist: observed outcomes of earlier scores.

For each monthly scoring date in the ``lookback_days`` before ``as_of`` whose outcome is seen
(scoring date + ``horizon_days`` <= ``as_of``), every customer on that date is one row: its
score and band on the date, whether its contract term can end within the horizon
(:func:`term_ends`) and whether its paid episode ended within ``horizon_days``
(:func:`churned_within`, the timeline's churn day). From these rows (:func:`outcome_rows`):

* :func:`band_churn_rates`: the observed rate per (band, term_ends): what the report shows;
* :class:`ScoreChurnCurve`: the probability of churn within the horizon as a function of the
  score, per term_ends: a decreasing isotonic fit (``scipy.optimize.isotonic_regression``,
  weighted by account-months) of the observed outcome on the score, read between fitted points
  by linear interpolation. It is what ranks the worklist: finer than three band rates (within
  a band a score of 41 and one of 69 do not churn alike), monotone (more points never mean a
  higher probability), and computed from data up to ``as_of`` only.

``term_ends`` is ``within horizon`` when the next term anniversary (``days_to_renewal``) is at
most ``horizon_days`` away or unknown (no ``term_months``: the contract may end any day), and
``after horizon`` otherwise: an annual customer eight months before renewal rarely leaves
within six, whatever its score.

Example
-------
>>> rows = outcome_rows(feats, src, "2025-12-31")  # doctest: +SKIP
>>> ScoreChurnCurve().fit(rows).predict(pd.Series([35.0]), pd.Series(["within horizon"]))  # doctest: +SKIP
"""

from __future__ import annotations

import warnings

import ibis
import numpy as np
import pandas as pd
from scipy.optimize import isotonic_regression

from csresearch.arrays import choose, take_rows
from csresearch.errors import DataQualityWarning

WITHIN, AFTER = "within horizon", "after horizon"
#: the columns of a history that :func:`outcome_rows` reads
OUTCOME_COLUMNS = ("account_id", "snapshot_date", "segment", "band", "score", "days_to_renewal")


def churned_within(src, day: str, horizon_days: int) -> pd.Series:
    """The customers on ``day`` (account_id index): True when the paid episode covering ``day``
    ends within ``horizon_days`` after it (the timeline's churn day, read as of day + horizon).

    Example
    -------
    >>> churned_within(src, "2025-06-30", 180).mean()  # doctest: +SKIP
    """
    from csresearch.data import timeline

    d = pd.Timestamp(day)
    e = timeline.episodes(src, (d + pd.Timedelta(days=horizon_days)).date().isoformat())
    lit = ibis.literal(d.date())
    cov = e.filter((e.start <= lit) & (e.end.isnull() | (e.end > lit))).select("account_id", "churned")
    df = cov.execute()
    out = df.groupby(df["account_id"].astype(str))["churned"].max().astype(bool)
    return out.rename("churned").rename_axis("account_id")


def churned_within_days(src, days, horizon_days: int) -> dict[str, pd.Series]:
    """:func:`churned_within` of each of ``days`` (ISO dates), from one query: the episodes as of
    the last day + ``horizon_days``. Read that late, an episode covering a day ends on the same
    day when that is within the horizon and later (or not yet) otherwise, so each day's answer
    is the one read as of day + horizon.

    Example
    -------
    >>> churned_within_days(src, ["2025-05-31", "2025-06-30"], 180)["2025-06-30"].mean()  # doctest: +SKIP
    """
    from csresearch.data import timeline

    ds = sorted({pd.Timestamp(d) for d in days})
    if not ds:
        return {}
    e = timeline.episodes(src, (ds[-1] + pd.Timedelta(days=horizon_days)).date().isoformat())
    lo, hi = ibis.literal(ds[0].date()), ibis.literal(ds[-1].date())
    df = e.filter((e.start <= hi) & (e.end.isnull() | (e.end > lo))).select("account_id", "start", "end").execute()
    ids, start, end = df["account_id"].astype(str), pd.to_datetime(df["start"]), pd.to_datetime(df["end"])
    out = {}
    for d in ds:
        cov = ((start <= d) & (end.isna() | (end > d))).to_numpy()
        ch = pd.Series((end <= d + pd.Timedelta(days=horizon_days)).to_numpy()[cov], index=ids[cov].to_numpy())
        ch = ch.groupby(level=0).max().astype(bool)
        out[d.date().isoformat()] = ch.rename("churned").rename_axis("account_id")
    return out


def term_ends(rows: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """``after horizon`` where the next term anniversary (``days_to_renewal``) is more than
    ``horizon_days`` away, else ``within horizon`` (also when unknown: the contract may end any day).

    Example
    -------
    >>> term_ends(pd.DataFrame({"days_to_renewal": [20, 300, None]}), 180).tolist()
    ['within horizon', 'after horizon', 'within horizon']
    """
    if "days_to_renewal" not in rows.columns:
        return np.full(len(rows), WITHIN, dtype=object)
    days = pd.to_numeric(rows["days_to_renewal"], errors="coerce").to_numpy(dtype="float64")
    return choose([days > horizon_days], [AFTER], WITHIN)




def outcome_rows(history: pd.DataFrame, src, as_of: str, horizon_days: int = 180,
                 lookback_days: int = 365) -> pd.DataFrame:
    """One row per customer and seen scoring date: account_id, snapshot_date, band, score,
    term_ends, churned (within ``horizon_days``). See the module docstring for the dates.

    ``history``: account_id, snapshot_date, band and, when known, score and days_to_renewal
    (e.g. :func:`csresearch.health.playbooks.playbook_features`). ``attrs``: dates,
    horizon_days, lookback_days.

    Example
    -------
    >>> outcome_rows(feats, src, "2025-12-31")["churned"].mean()  # doctest: +SKIP
    """
    asof = pd.Timestamp(as_of)
    snaps = pd.to_datetime(pd.Series(history["snapshot_date"].unique()))
    ok = (snaps + pd.Timedelta(days=horizon_days) <= asof) & (snaps > asof - pd.Timedelta(days=lookback_days))
    cols = [c for c in OUTCOME_COLUMNS if c in history]
    parts = []
    churned = churned_within_days(src, [d.date().isoformat() for d in snaps[ok]], horizon_days)
    for d in sorted(snaps[ok]):
        ch = churned[d.date().isoformat()]
        rows = take_rows(history, (history["snapshot_date"] == d).to_numpy(), cols)
        ids = rows["account_id"].astype(str)
        rows = rows.loc[ids.isin(ch.index)]
        parts.append(rows.assign(term_ends=term_ends(rows, horizon_days),
                                 churned=rows["account_id"].astype(str).map(ch).to_numpy(dtype=bool)))
    out = (pd.concat(parts, ignore_index=True) if parts else
           pd.DataFrame(columns=[*cols, "term_ends", "churned"]).astype({"churned": bool}))
    out = out.drop(columns=["days_to_renewal"], errors="ignore")
    out.attrs.update({"dates": [d.date().isoformat() for d in sorted(snaps[ok])], "horizon_days": horizon_days,
                      "lookback_days": lookback_days})
    return out


def band_churn_rates(rows: pd.DataFrame, as_of: str = "") -> pd.DataFrame:
    """Observed churn within the horizon by (band, term_ends) from :func:`outcome_rows`.

    Per cell: account-months of customers on the dates, how many churned within the horizon,
    ``p_churn`` = churned / accounts (pooled over the dates). ``attrs``: dates, horizon_days,
    lookback_days, base_rate (all cells).

    Example
    -------
    >>> band_churn_rates(outcome_rows(feats, src, "2025-12-31"))["p_churn"]  # doctest: +SKIP
    """
    a = rows.attrs
    if rows.empty:
        warnings.warn(f"churn rates: no scoring date in the {a.get('lookback_days')} days before {as_of or 'as_of'} "
                      f"has {a.get('horizon_days')} days of outcome; p_churn is missing and the worklist is "
                      "ranked by MRR", DataQualityWarning, stacklevel=2)
        t = pd.DataFrame({"accounts": [], "churned": [], "p_churn": []},
                         index=pd.MultiIndex.from_tuples([], names=["band", "term_ends"]))
    else:
        t = rows.groupby(["band", "term_ends"]).agg(accounts=("churned", "size"), churned=("churned", "sum"))
        t["p_churn"] = t["churned"] / t["accounts"]
        t.attrs["base_rate"] = float(rows["churned"].mean())
    t.attrs.update({k: a[k] for k in ("dates", "horizon_days", "lookback_days") if k in a})
    return t


class ScoreChurnCurve:
    """P(churn within the horizon | score, cell): a decreasing isotonic fit per cell.

    A cell is a combination of the ``by`` columns (default term_ends and segment: the score is
    a percentile within the segment, and segments do not churn alike at the same percentile);
    a column absent from the rows is left out. ``fit(rows)`` takes :func:`outcome_rows`
    (score, the ``by`` columns, churned) and returns self; ``curves_`` maps each cell to
    (scores, fitted probabilities); ``predict(items)`` interpolates linearly between fitted
    points (constant beyond the ends; NaN for a missing score or a cell without rows).
    ``summary`` is one row per cell: rows, churned, p at the lowest and highest score.

    Example
    -------
    >>> rows = pd.DataFrame({"score": [10.0, 10, 50, 90, 90], "term_ends": "within horizon",
    ...                      "churned": [True, False, True, False, False]})
    >>> c = ScoreChurnCurve().fit(rows)
    >>> c.predict(pd.DataFrame({"score": [10.0, 70.0], "term_ends": "within horizon"})).round(3).tolist()
    [0.667, 0.333]
    """

    def __init__(self, by: tuple[str, ...] = ("term_ends", "segment")) -> None:
        self.by = by

    def fit(self, rows: pd.DataFrame) -> ScoreChurnCurve:
        self.by_ = [c for c in self.by if c in rows.columns]
        self.base_rate_ = float(rows["churned"].mean()) if len(rows) else float("nan")
        self.curves_: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        stats = []
        ok = rows.loc[rows["score"].notna()] if "score" in rows else rows.iloc[:0]
        for key, g in (ok.groupby(self.by_) if self.by_ else [((), ok)]):
            agg = g.groupby("score")["churned"].agg(["sum", "size"]).sort_index()
            fit = isotonic_regression((agg["sum"] / agg["size"]).to_numpy(dtype="float64"),
                                      weights=agg["size"].to_numpy(dtype="float64"), increasing=False).x
            key = tuple(map(str, key)) if isinstance(key, tuple) else (str(key),)
            self.curves_[key] = (agg.index.to_numpy(dtype="float64"), fit)
            stats.append({**dict(zip(self.by_, key, strict=True)), "rows": int(agg["size"].sum()),
                          "churned": int(agg["sum"].sum()), "p_lowest_score": float(fit[0]),
                          "p_highest_score": float(fit[-1])})
        self.summary = pd.DataFrame(stats, columns=[*self.by_, "rows", "churned", "p_lowest_score",
                                                    "p_highest_score"])
        return self

    def predict(self, items: pd.DataFrame) -> np.ndarray:
        """P(churn within the horizon) of each row of ``items`` (score and the ``by_`` columns)."""
        s = pd.to_numeric(items["score"], errors="coerce").to_numpy(dtype="float64")
        cols = [items[c].astype(str).to_numpy() for c in self.by_]  # a cell: the by_ values as text
        out = np.full(len(s), np.nan)
        for cell, (x, y) in self.curves_.items():
            m = ~np.isnan(s)
            for col, v in zip(cols, cell, strict=True):
                m &= col == v
            out[m] = np.interp(s[m], x, y)
        return out
