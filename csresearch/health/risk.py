"""The churn probability that ranks the worklist: observed outcomes of earlier scores.

For each monthly scoring date in the ``lookback_days`` before ``as_of`` whose outcome is seen
(scoring date + ``horizon_days`` <= ``as_of``), every customer on that date is one row: its
score, band, segment and MRR on the date, whether its contract term can end within the horizon
(:func:`term_ends`) and whether its paid episode ended within ``horizon_days``
(:func:`churned_within`, the timeline's churn day). From these rows (:func:`outcome_rows`):

* :func:`band_churn_rates`: the observed rate per (band, term_ends): what the report shows;
* :class:`ScoreChurnCurve`: the probability of churn within the horizon given the score, the
  segment and ln(MRR), per term_ends: a logistic regression whose score term is a decreasing
  spline, with the segments' outcomes pooled for its shape (an isotonic curve per cell where
  data are few). It is what ranks the worklist: finer than three band rates (within a band a
  score of 41 and one of 69 do not churn alike), monotone (more points never mean a higher
  probability), calibrated for the large accounts that revenue weighting picks, and computed
  from data up to ``as_of`` only.

``term_ends`` is ``within horizon`` when the next term anniversary (``days_to_renewal``) is at
most ``horizon_days`` away or unknown (no ``term_months``: the contract may end any day), and
``after horizon`` otherwise: an annual customer eight months before renewal rarely leaves
within six, whatever its score.

Example
-------
>>> rows = outcome_rows(feats, src, "2025-12-31")  # doctest: +SKIP
>>> items = pd.DataFrame({"score": [35.0], "term_ends": "within horizon", "segment": "smb", "mrr": 500.0})
>>> ScoreChurnCurve().fit(rows).predict(items)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings

import ibis
import numpy as np
import pandas as pd
from scipy.optimize import isotonic_regression

from csresearch.arrays import choose, take_rows
from csresearch.data.embedded import fetch
from csresearch.errors import DataQualityWarning

WITHIN, AFTER = "within horizon", "after horizon"
#: the columns of a history that :func:`outcome_rows` reads
OUTCOME_COLUMNS = ("account_id", "snapshot_date", "segment", "band", "score", "mrr", "days_to_renewal")


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
    df = fetch(cov)
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
    df = fetch(e.filter((e.start <= hi) & (e.end.isnull() | (e.end > lo))).select("account_id", "start", "end"))
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


#: knots of the logistic model's score term (a natural cubic spline): these quantiles of the cell's scores
SCORE_KNOTS = (0.05, 0.35, 0.65, 0.95)
#: churners (and non-churners) per parameter that a logistic fit needs; a cell with fewer keeps its
#: isotonic curve
EVENTS_PER_PARAMETER = 10


def spline_basis(x: np.ndarray, knots) -> np.ndarray:
    """Natural cubic spline basis of ``x`` (linear beyond the outer knots): x and ``len(knots) - 2``
    columns (truncated power form, as in Hastie, Tibshirani & Friedman, eq. 5.4-5.5).

    Example
    -------
    >>> spline_basis(np.array([0.0, 50, 100]), [10, 40, 60, 90]).shape
    (3, 3)
    """
    k = np.asarray(knots, dtype="float64")

    def d(j: int) -> np.ndarray:
        return (np.clip(x - k[j], 0, None) ** 3 - np.clip(x - k[-1], 0, None) ** 3) / (k[-1] - k[j])

    return np.column_stack([x, *(d(j) - d(len(k) - 2) for j in range(len(k) - 2))])


class ScoreChurnCurve:
    """P(churn within the horizon | score, cell, MRR): a logistic model per term, isotonic where
    data are few.

    A cell is a combination of the ``by`` columns (default term_ends and segment); a column
    absent from the rows is left out. For each value of the ``split`` columns (term_ends) one
    logistic regression (a grouped binomial GLM, statsmodels) of churned on

        a decreasing function of the score + one shift per other ``by`` value (segment) + b x ln(MRR)

    pools the segments' outcomes for the shape of the score: the score term is a natural cubic
    spline (knots :data:`SCORE_KNOTS`) projected onto decreasing functions (isotonic, weighted by
    rows), so more points never mean a higher probability. ln(MRR) enters because the worklist
    multiplies p by MRR: if large accounts churn less at the same score, the ranking would
    otherwise over-state their risk. A split value whose churners or non-churners number fewer
    than :data:`EVENTS_PER_PARAMETER` x its parameters, and a segment without both outcomes,
    keep the isotonic curve of its cell (decreasing isotonic fit of churned on the score, weighted
    by account-months, read by linear interpolation, constant beyond the ends).

    ``fit(rows)`` takes :func:`outcome_rows` (score, the ``by`` columns, churned and, when known,
    mrr) and returns self; ``curves_`` maps each cell to its isotonic (scores, probabilities);
    ``models_`` maps each split value to its logistic model (a dict: levels, knots, grid and
    score term, coefficients, median ln MRR per level). ``predict(items)`` gives NaN for a
    missing score or a cell without rows; a missing or non-positive MRR is read as its
    segment's median. ``summary``: one row per cell: rows, churned, model, p at the lowest and
    highest score (at the median MRR).

    Example
    -------
    >>> rows = pd.DataFrame({"score": [10.0, 10, 50, 90, 90], "term_ends": "within horizon",
    ...                      "churned": [True, False, True, False, False]})
    >>> c = ScoreChurnCurve().fit(rows)
    >>> c.predict(pd.DataFrame({"score": [10.0, 70.0], "term_ends": "within horizon"})).round(3).tolist()
    [0.667, 0.333]
    """

    def __init__(self, by: tuple[str, ...] = ("term_ends", "segment"), split: tuple[str, ...] = ("term_ends",)) -> None:
        self.by = by
        self.split = split

    def fit(self, rows: pd.DataFrame) -> ScoreChurnCurve:
        self.by_ = [c for c in self.by if c in rows.columns]
        self.split_ = [c for c in self.split if c in self.by_]
        self.levels_ = [c for c in self.by_ if c not in self.split_]
        self.base_rate_ = float(rows["churned"].mean()) if len(rows) else float("nan")
        ok = rows.loc[rows["score"].notna()] if "score" in rows else rows.iloc[:0]
        self.curves_, counts = _isotonic_curves(ok, self.by_)
        self.models_: dict[tuple, dict] = {}
        for key, g in (ok.groupby(self.split_) if self.split_ else [((), ok)]):
            model = _logistic(g, self.levels_)
            if model is not None:
                self.models_[tuple(map(str, key)) if isinstance(key, tuple) else (str(key),)] = model
        self.summary = self._summary(counts)
        return self

    def predict(self, items: pd.DataFrame) -> np.ndarray:
        """P(churn within the horizon) of each row of ``items`` (score, the ``by_`` columns, mrr)."""
        s = pd.to_numeric(items["score"], errors="coerce").to_numpy(dtype="float64")
        cols = {c: items[c].astype(str).to_numpy() for c in self.by_}  # a cell: the by_ values as text
        out = np.full(len(s), np.nan)
        for cell, (x, y) in self.curves_.items():
            m = ~np.isnan(s)
            for c, v in zip(self.by_, cell, strict=True):
                m &= cols[c] == v
            out[m] = np.interp(s[m], x, y)
        mrr = (pd.to_numeric(items["mrr"], errors="coerce").to_numpy(dtype="float64") if "mrr" in items
               else np.full(len(s), np.nan))
        lv = _level_keys(cols, self.levels_, len(s)) if self.models_ else None
        for key, model in self.models_.items():
            m = ~np.isnan(s)
            for c, v in zip(self.split_, key, strict=True):
                m &= cols[c] == v
            m &= np.isin(lv, model["levels"])
            if m.any():
                out[m] = _logistic_predict(model, s[m], lv[m], mrr[m])
        return out

    def _summary(self, counts: dict[tuple, tuple[int, int]]) -> pd.DataFrame:
        stats = []
        for cell, (x, _) in self.curves_.items():
            n, k = counts[cell]
            ends = pd.DataFrame({"score": [x[0], x[-1]], "mrr": np.nan, **dict(zip(self.by_, cell, strict=True))})
            p = self.predict(ends)
            key = tuple(cell[self.by_.index(c)] for c in self.split_)
            lv = "|".join(cell[self.by_.index(c)] for c in self.levels_)
            logit = key in self.models_ and lv in self.models_[key]["levels"]
            stats.append({**dict(zip(self.by_, cell, strict=True)), "rows": n, "churned": k,
                          "model": "logistic" if logit else "isotonic", "p_lowest_score": float(p[0]),
                          "p_highest_score": float(p[1])})
        return pd.DataFrame(stats, columns=[*self.by_, "rows", "churned", "model", "p_lowest_score", "p_highest_score"])


def _isotonic_curves(ok: pd.DataFrame, by: list[str]) -> tuple[dict, dict]:
    """Per cell of ``by``: the scores and the decreasing isotonic fit of churned on them (weighted
    by rows), and the cell's rows and churned."""
    curves, counts = {}, {}
    for key, g in (ok.groupby(by) if by else [((), ok)]):
        agg = g.groupby("score")["churned"].agg(["sum", "size"]).sort_index()
        fit = isotonic_regression((agg["sum"] / agg["size"]).to_numpy(dtype="float64"),
                                  weights=agg["size"].to_numpy(dtype="float64"), increasing=False).x
        cell = tuple(map(str, key)) if isinstance(key, tuple) else (str(key),)
        curves[cell] = (agg.index.to_numpy(dtype="float64"), fit)
        counts[cell] = (int(agg["size"].sum()), int(agg["sum"].sum()))
    return curves, counts


def _level_keys(cols: dict[str, np.ndarray], levels: list[str], n: int) -> np.ndarray:
    """The ``levels`` columns' values of ``n`` rows joined by '|' (one text per row; '' without levels)."""
    if len(levels) == 1:
        return cols[levels[0]].astype(object)
    out = np.full(n, "", dtype=object)
    for i, c in enumerate(levels):
        out = out + ("|" if i else "") + cols[c].astype(object)
    return out


def _ln_mrr(mrr: np.ndarray, fill) -> np.ndarray:
    """ln(MRR); a missing or non-positive MRR is read as ``fill`` (its level's median ln MRR)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mrr > 0, np.log(np.where(mrr > 0, mrr, 1.0)), fill)


def _design(model: dict, s: np.ndarray, code: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Intercept, the score's spline, one column per level but the first (``code``: the level's
    position in the model's levels), ln MRR (when used)."""
    parts = [np.ones((len(s), 1)), spline_basis(s, model["knots"])]
    parts += [(code == i).astype("float64")[:, None] for i in range(1, len(model["levels"]))]
    if model["uses_mrr"]:
        parts.append(lm[:, None])
    return np.hstack(parts)


def _logistic(g: pd.DataFrame, levels: list[str]) -> dict | None:
    """The logistic model of one split value's rows (see :class:`ScoreChurnCurve`), or None when
    its data are too few (fewer churners or non-churners than :data:`EVENTS_PER_PARAMETER` x
    parameters, too few distinct scores) or the fit fails (no convergence)."""
    from statsmodels.genmod.families import Binomial
    from statsmodels.genmod.generalized_linear_model import GLM

    codes, names = pd.factorize(_level_keys({c: g[c].astype(str).to_numpy() for c in levels}, levels, len(g)))
    y = g["churned"].to_numpy(dtype=bool)
    k_lv, n_lv = np.bincount(codes, weights=y, minlength=len(names)), np.bincount(codes, minlength=len(names))
    keep = sorted(str(v) for v in names[(k_lv > 0) & (k_lv < n_lv)])  # a level needs both outcomes
    code = np.array([keep.index(v) if v in keep else -1 for v in names], dtype="int64")[codes]
    m = code >= 0
    s, y, code = g["score"].to_numpy(dtype="float64")[m], y[m], code[m]
    mrr = pd.to_numeric(g["mrr"], errors="coerce").to_numpy(dtype="float64")[m] if "mrr" in g else np.full(len(s), np.nan)
    uses_mrr = bool((mrr > 0).any())
    knots = np.quantile(s, SCORE_KNOTS) if len(s) else np.zeros(0)
    n_params = len(SCORE_KNOTS) + len(keep) - 1 + uses_mrr  # intercept + spline (knots - 1) + levels + MRR
    if (not keep or np.unique(knots).size < len(SCORE_KNOTS)
            or min(y.sum(), (~y).sum()) < EVENTS_PER_PARAMETER * n_params):
        return None
    raw = _ln_mrr(mrr, np.nan)
    med = np.array([np.nanmedian(raw[code == i]) if (mrr[code == i] > 0).any() else np.nan for i in range(len(keep))])
    default = float(np.nanmedian(raw)) if uses_mrr else 0.0
    med = np.where(np.isnan(med), default, med)
    model = {"levels": keep, "knots": knots, "uses_mrr": uses_mrr, "default_ln_mrr": default,
             "median_ln_mrr": dict(zip(keep, med.tolist(), strict=True))}
    # grouped binomial: scores to half a point, ln MRR to 0.01 (1 % of MRR): the same fit from far fewer rows
    cells = pd.DataFrame({"code": code, "s": np.round(s * 2), "lm": np.round(_ln_mrr(mrr, med[code]) * 100),
                          "y": y}).groupby(["code", "s", "lm"], sort=False)["y"].agg(["sum", "size"]).reset_index()
    k, n = cells["sum"].to_numpy(dtype="float64"), cells["size"].to_numpy(dtype="float64")
    half = cells["s"].to_numpy() / 2
    x = _design(model, half, cells["code"].to_numpy(), cells["lm"].to_numpy() / 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation or no convergence: checked below, the isotonic curve stays
        try:
            res = GLM(np.column_stack([k, n - k]), x, family=Binomial()).fit()
        except (ValueError, np.linalg.LinAlgError):
            return None
    b = np.asarray(res.params, dtype="float64")
    if not (res.converged and np.isfinite(b).all()):
        return None
    grid, at = np.unique(half, return_inverse=True)
    term = spline_basis(grid, knots) @ b[1:len(knots)]  # the score's part of the linear predictor
    model.update(intercept=float(b[0]), grid=grid, coef=b,
                 score_term=isotonic_regression(term, weights=np.bincount(at, weights=n), increasing=False).x,
                 shift=dict(zip(keep, [0.0, *b[len(knots):len(knots) + len(keep) - 1]], strict=True)),
                 b_mrr=float(b[-1]) if uses_mrr else 0.0)
    return model


def _logistic_predict(model: dict, s: np.ndarray, lv: np.ndarray, mrr: np.ndarray) -> np.ndarray:
    """P(churn) of scores ``s`` at levels ``lv`` (all in the model) and MRR ``mrr`` (NaN: the median)."""
    fill = np.array([model["median_ln_mrr"].get(v, model["default_ln_mrr"]) for v in lv], dtype="float64")
    lm = _ln_mrr(mrr, fill) if model["uses_mrr"] else 0.0
    shift = np.array([model["shift"][v] for v in lv], dtype="float64")
    eta = model["intercept"] + np.interp(s, model["grid"], model["score_term"]) + shift + model["b_mrr"] * lm
    return 1.0 / (1.0 + np.exp(-eta))
