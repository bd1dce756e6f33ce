"""Back-test of the health score: does it rank the accounts that churn next?

At a back-test date ``since`` (``train_until`` when weights are learned; otherwise 12
months before ``as_of``) every account-month scored on a snapshot ``s`` in ``(since,
as_of)`` whose account is a customer on ``s`` is followed to its churn day (the timeline's
episode end) for at most ``horizon_days``, censored at ``as_of``
(:func:`csresearch.health.learn.scored_months`). For each score (configured, learned,
the oracle when ``truth_risk.parquet`` is given, and each component's points alone):

* **concordance**: Harrell's C of the score with the time to churn (follow-up capped at
  the horizon, censored at ``as_of``; pooled over the account-months; 0.5 = chance), and the
  gain over chance relative to the oracle's, ``(C - 0.5) / (C_oracle - 0.5)``;
* **by band**: churn within the horizon per band (Kaplan-Meier, censoring-aware);
* **calibration**: predicted vs observed P(churn within the horizon) by decile, for the
  learned model (the only score that is a probability);
* **flips**: the monthly band flip rate, the share of account-months whose band differs
  from the previous month's (both scored).

Example
-------
>>> rep = health_validation(open_source("data/demo"), "2025-12-31", train_until="2024-12-31")  # doctest: +SKIP
>>> rep["concordance"]  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from csresearch.errors import DataQualityWarning, DataValidationError
from csresearch.health.config import NO_SCORE, HealthConfig, load_health_config
from csresearch.health.learn import HORIZON_DAYS, check_dates, scored_months
from csresearch.survival.validation import calibration_table, churn_by_band, score_concordance

ORACLE_TIME = ("period_start", "month", "snapshot_date", "date")
ORACLE_RISK = ("linear_predictor", "lp", "risk", "eta")


def oracle_scores(rows: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """The true linear predictor (higher = riskier) of each row, from a ``truth_risk`` frame.

    ``truth`` has ``account_id``, a risk column (one of :data:`ORACLE_RISK`) and, for a
    time-varying truth, a month column (one of :data:`ORACLE_TIME`, matched on the month of
    ``rows['period_start']``); without one the risk is static per account.

    Example
    -------
    >>> r = pd.DataFrame({"account_id": ["a", "b"], "period_start": pd.to_datetime(["2025-01-01"] * 2)})
    >>> oracle_scores(r, pd.DataFrame({"account_id": ["a", "b"], "lp": [0.5, -1.0]})).tolist()
    [0.5, -1.0]
    """
    risk = next((c for c in ORACLE_RISK if c in truth.columns), None)
    if "account_id" not in truth.columns or risk is None:
        raise DataValidationError(
            f"truth_risk: needs account_id and one of {', '.join(ORACLE_RISK)}; present: {', '.join(truth.columns)}")
    t = truth.assign(account_id=truth["account_id"].astype(str))
    key = rows[["account_id", "period_start"]].assign(account_id=lambda x: x["account_id"].astype(str))
    when = next((c for c in ORACLE_TIME if c in truth.columns), None)
    if when is None:
        m = key.merge(t.drop_duplicates("account_id")[["account_id", risk]], on="account_id", how="left")
    else:
        key["_m"] = pd.to_datetime(key["period_start"]).dt.to_period("M")
        t = t.assign(_m=pd.to_datetime(t[when]).dt.to_period("M")).drop_duplicates(["account_id", "_m"])
        m = key.merge(t[["account_id", "_m", risk]], on=["account_id", "_m"], how="left")
    return pd.Series(m[risk].to_numpy(float), index=rows.index, name="oracle")


def flip_rate(band: pd.Series, band_prev: pd.Series) -> tuple[float, int]:
    """(share of rows whose band differs from the previous month's, rows with both scored).

    Example
    -------
    >>> flip_rate(pd.Series(["red", "green", "green"]), pd.Series(["red", "red", None]))
    (0.5, 2)
    """
    ok = band.notna() & band_prev.notna() & (band != NO_SCORE) & (band_prev != NO_SCORE)
    n = int(ok.sum())
    return (float((band[ok] != band_prev[ok]).mean()) if n else float("nan")), n


def validation_summary(rows: pd.DataFrame, scores: dict[str, bool], horizon_days: float,
                       bands: tuple, probability: str | None = None) -> dict[str, pd.DataFrame]:
    """Concordance, churn by band, calibration and flips of the score columns of ``rows``.

    Parameters
    ----------
    rows
        :func:`~csresearch.health.learn.scored_months` rows (``duration``, ``event``) with one
        column per score; ``band_<name>`` / ``band_prev_<name>`` columns where a score has bands.
    scores
        score column -> higher is healthier (False for a risk such as the oracle's).
    bands
        ``HealthConfig.bands`` (name, low, high) for the churn-by-band table.
    probability
        A column holding P(churn within the horizon) for the calibration table, if any.

    Example
    -------
    >>> d = pd.DataFrame({"s": [10.0, 50.0, 90.0], "duration": [1.0, 2.0, 180.0], "event": [1, 1, 0]})
    >>> validation_summary(d, {"s": True}, 180, (("red", 0, 50), ("green", 50, 100)))["concordance"]["concordance"].item()
    1.0
    """
    conc = []
    for col, healthier in scores.items():
        with warnings.catch_warnings():  # rows without this score are left out on purpose; n says how many remain
            warnings.simplefilter("ignore", DataQualityWarning)
            c = score_concordance(rows, col, "duration", "event", higher_is_healthier=healthier, dropna=True).iloc[0]
        conc.append({"score": col, "n": int(c["n"]), "events": int(c["events"]), "concordance": float(c["concordance"])})
    conc = pd.DataFrame(conc)
    oracle = conc.loc[conc["score"] == "oracle", "concordance"]
    c_or = float(oracle.iloc[0]) if len(oracle) else np.nan
    conc["gain_vs_oracle"] = (conc["concordance"] - 0.5) / (c_or - 0.5) if c_or > 0.5 else np.nan
    cuts, labels = [b[1] for b in bands[1:]], [b[0] for b in bands]
    by_band, flips = [], []
    for col in scores:
        if f"band_{col}" not in rows.columns:
            continue
        by_band.append(churn_by_band(rows, col, "duration", "event", horizon_days, cuts, labels, dropna=True)
                       .assign(score=col))
        rate, n = flip_rate(rows[f"band_{col}"], rows[f"band_prev_{col}"])
        flips.append({"score": col, "n": n, "flip_rate": rate})
    out = {"concordance": conc,
           "by_band": pd.concat(by_band, ignore_index=True) if by_band else pd.DataFrame(),
           "flips": pd.DataFrame(flips, columns=["score", "n", "flip_rate"])}
    out["calibration"] = (calibration_table(rows, probability, "duration", "event", horizon_days, dropna=True)
                          .assign(score=probability) if probability else pd.DataFrame())
    return out


def _scored(feats: pd.DataFrame, cfg: HealthConfig, name: str) -> pd.DataFrame:
    from csresearch.health.score import score_health

    h = score_health(feats, cfg)
    keep = ["account_id", "period_start", "score", "band", "band_prev"]
    return h[keep + [c for c in h.columns if c.startswith("points_")]].rename(
        columns={"score": name, "band": f"band_{name}", "band_prev": f"band_prev_{name}"})


def health_validation(src, as_of: str, train_until: str | None = None,
                      config: HealthConfig | str | Path | dict | None = None,
                      weights: str | Path | None = None, horizon_days: float = HORIZON_DAYS,
                      truth_risk: pd.DataFrame | None = None, penalty: float = 1.0,
                      allow_flip: bool = False) -> dict:
    """Back-test the configured score (and the learned one, and the oracle) on ``(since, as_of]``.

    ``since`` is ``train_until`` or, without it, 12 months before ``as_of``. The learned score
    is fitted on months up to ``train_until`` (:func:`csresearch.health.learn.learn_weights`)
    or read from ``weights`` (a learned config; then no probability, so no calibration).
    Returns :func:`validation_summary`'s tables plus ``meta`` (a dict) and ``learned``.

    Example
    -------
    >>> rep = health_validation(src, "2025-12-31", "2024-12-31")  # doctest: +SKIP
    """
    from csresearch.data import timeline
    from csresearch.health.learn import learn_weights, learned_config
    from csresearch.health.score import health_features

    cfg = config if isinstance(config, HealthConfig) else load_health_config(config)
    since = train_until or str((pd.Timestamp(as_of) - pd.DateOffset(months=12)).date())
    check_dates(as_of, since)
    feats = health_features(src, as_of, cfg)
    hist = _scored(feats, cfg, "configured")
    scores, lw, lcfg = {"configured": True}, None, None
    if train_until is not None:
        lw = learn_weights(src, as_of, train_until, config, horizon_days, penalty, allow_flip)
        lcfg = load_health_config(learned_config(config if config is not None else cfg.source, lw))
    elif weights is not None:
        lcfg = load_health_config(weights)
    if lcfg is not None:
        ln = _scored(feats, lcfg, "learned").drop(columns=[c for c in hist.columns if c.startswith("points_")])
        hist = hist.merge(ln, on=["account_id", "period_start"], how="left")
        scores["learned"] = True
    eps = timeline.episodes(src, as_of).execute()
    rows = scored_months(hist.assign(score=hist["configured"], snapshot_date=_snapshots(hist)), eps, as_of,
                         horizon_days)
    rows = rows.loc[rows["snapshot_date"] > pd.Timestamp(since)].reset_index(drop=True)
    if rows.empty:
        raise DataValidationError(f"no scored customer-month after {since} and before {as_of}: nothing to validate")
    if "learned" in scores:  # the configured score on the rows the learned one scores too
        rows["configured_on_learned_rows"] = rows["configured"].where(rows["learned"].notna())
        scores["configured_on_learned_rows"] = True
    if truth_risk is not None:
        rows["oracle"] = oracle_scores(rows, truth_risk)
        scores["oracle"] = False
    comps = [c[7:] for c in rows.columns if c.startswith("points_")]
    rows = rows.assign(**{f"component_{c}": rows[f"points_{c}"] for c in comps})
    scores.update({f"component_{c}": True for c in comps})
    prob = None
    if lw is not None:
        rows["p_churn"] = lw.probability(rows)
        prob = "p_churn"
    out = validation_summary(rows, scores, horizon_days, cfg.bands, prob)
    out["meta"] = {"as_of": as_of, "since": since, "train_until": train_until, "horizon_days": horizon_days,
                   "window": f"scores of ({since}, {as_of}), churn within {horizon_days:g} days, censored at {as_of}",
                   "concordance": "Harrell's C of score vs time to churn (capped at the horizon), pooled account-months",
                   "oracle": "truth_risk given" if truth_risk is not None else "no truth_risk.parquet: no oracle, no gain"}
    out["meta"]["worklist_lift"] = {name: pooled_lift(src, as_of, since, c, horizon_days)
                                    for name, c in (("configured", cfg), ("learned", lcfg)) if c is not None}
    out["learned"] = lw
    if truth_risk is None:
        warnings.warn("no truth_risk: the gain over chance relative to the oracle is not computed",
                      DataQualityWarning, stacklevel=2)
    return out


def pooled_lift(src, as_of: str, since: str, config: HealthConfig, horizon_days: float = HORIZON_DAYS,
                dates: int = 3) -> dict:
    """The worklist's lift pooled over the last ``dates`` month ends in ``(since, as_of - horizon]``.

    For each back-test day the worklist of that day (:func:`csresearch.health.worklist.worklist_lift`:
    this week's calls within capacity, person queues; and the month's: those plus the calls
    handed out in the cooldown weeks before) and churn within the horizon after it; pooled:
    churned / called over all days, divided by the base rate of all customers on those days
    (one 45-call list holds a dozen churners: one date alone is noisy).

    Example
    -------
    >>> pooled_lift(src, "2025-12-31", "2024-12-31", cfg)["lift"]  # doctest: +SKIP
    """
    from csresearch.health.worklist import worklist_lift

    last = (pd.Timestamp(as_of) - pd.Timedelta(days=horizon_days)).to_period("M").to_timestamp() - pd.Timedelta(days=1)
    days = [d for d in pd.date_range(end=last, periods=dates, freq="ME") if d > pd.Timestamp(since)]
    runs = [worklist_lift(src, d.date().isoformat(), None, config) for d in days]
    customers = sum(r["customers"] for r in runs)
    base = sum(r["customers"] * r["base_rate"] for r in runs) / customers if customers else float("nan")

    def pooled(n: str, rate: str) -> tuple[int, float]:
        listed = sum(r[n] for r in runs)
        churned = sum(r[n] * r[rate] for r in runs if r[n])
        return int(listed), churned / listed if listed else float("nan")

    (n_w, r_w), (n_m, r_m) = pooled("worklist", "worklist_rate"), pooled("month_calls", "month_rate")
    return {"dates": [d.date().isoformat() for d in days], "worklisted": n_w, "worklist_rate": r_w,
            "base_rate": base, "lift": r_w / base if base else float("nan"),
            "per_date": [round(r["lift"], 3) for r in runs], "month_calls": n_m, "month_rate": r_m,
            "month_lift": r_m / base if base else float("nan")}


def _snapshots(hist: pd.DataFrame) -> pd.Series:
    """Each month's snapshot: its last day."""
    return pd.to_datetime(hist["period_start"]) + pd.offsets.MonthEnd(0)


def validation_table(report: dict) -> pd.DataFrame:
    """The report's tables stacked long (``section, score, group, metric, value``) for export.

    Example
    -------
    >>> t = validation_table({"flips": pd.DataFrame({"score": ["configured"], "n": [10], "flip_rate": [0.3]})})
    >>> t[["section", "metric", "value"]].values.tolist()
    [['flips', 'n', 10.0], ['flips', 'flip_rate', 0.3]]
    """
    parts = []
    for section, group in (("concordance", None), ("by_band", "band"), ("calibration", "bin"), ("flips", None)):
        df = report.get(section)
        if df is None or df.empty:
            continue
        g = df[group].astype(str) if group else pd.Series("", index=df.index)
        num = [c for c in df.columns if c not in ("score", group) and pd.api.types.is_numeric_dtype(df[c])]
        long = df.assign(group=g)[["score", "group", *num]].melt(["score", "group"], var_name="metric")
        parts.append(long.assign(section=section))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["score", "group", "metric", "value"])
    return out[["section", "score", "group", "metric", "value"]].assign(value=lambda d: d["value"].astype(float))
