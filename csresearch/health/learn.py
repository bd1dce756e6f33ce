"""Learn health-score weights from the past only, and write them as a health config.

The configured score (:mod:`csresearch.health.score`) turns each component's input into 0..100
points; this module learns how much each component's points should weigh from what
happened after earlier scores, without looking ahead:

* **rows**: the account-months scored on a snapshot ``s <= train_until`` whose account is a
  customer on ``s`` (the timeline's episode covering ``s``: ``start <= s < end``);
* **outcome**: churn (the episode's end, the timeline's churn day) within ``horizon_days``
  after ``s``; outcomes are read as of ``train_until + horizon_days`` (capped at ``as_of``),
  so nothing after that day is used: every row's horizon is fully observed;
* **fit**: a ridge-penalised logistic regression of that outcome on the standardised
  points (a missing input counts as the mean), with non-negative health coefficients
  (more points never means more churn) unless ``allow_flip`` lets a component that goes
  the other way change direction. A coefficient ``g_j`` on the standardised points is the
  weight ``g_j / sd_j`` on the points; the weights are rescaled to sum to 100.

:func:`learned_config` writes them into a copy of the base configuration (same schema,
same normalisations and bands; the per-segment weight overrides are dropped since the
learned weights replace them), which :func:`csresearch.health.score.load_health_config` reads.

Example
-------
>>> res = learn_health(open_source("data/demo"), "2025-12-31", "2024-12-31")  # doctest: +SKIP
>>> res.weights  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import minimize

from csresearch.errors import ConfigError, DataValidationError, ModelError
from csresearch.health.config import HealthConfig, default_config_path, load_health_config

HORIZON_DAYS = 180


def check_dates(as_of: str, train_until: str) -> None:
    """Refuse a ``train_until`` that is not an ISO date strictly before ``as_of``.

    Example
    -------
    >>> check_dates("2025-12-31", "2024-12-31")
    """
    try:
        d, t = pd.Timestamp(as_of), pd.Timestamp(train_until)
    except ValueError as e:
        raise ConfigError(f"as_of {as_of!r} / train_until {train_until!r}: not ISO dates ('YYYY-MM-DD')") from e
    if t >= d:
        raise ConfigError(f"train_until ({train_until}) must be before as_of ({as_of}): the later window "
                          "(train_until, as_of] is where the learned weights are validated")


def scored_months(hist: pd.DataFrame, episodes: pd.DataFrame, censor_at: str,
                  horizon_days: float = HORIZON_DAYS) -> pd.DataFrame:
    """The scored account-months whose account is a customer on the snapshot, with what happened after.

    Parameters
    ----------
    hist
        :func:`csresearch.health.score.health_history` rows (``account_id``, ``snapshot_date``,
        ``score``, ``points_<c>``...).
    episodes
        :func:`csresearch.data.timeline.episodes` as a frame: ``account_id, start, end`` (end NaT
        when open).
    censor_at
        Outcomes after this day are not used (rows scored on or after it are left out).

    Returns
    -------
    ``hist`` columns plus ``duration`` (days from the snapshot to the churn day, to
    ``censor_at`` or to the horizon, whichever is first), ``event`` (1 = churned by then) and
    ``known`` (the horizon is fully observed or the account churned).

    Example
    -------
    >>> h = pd.DataFrame({"account_id": ["a", "b"], "snapshot_date": pd.to_datetime(["2024-01-31"] * 2),
    ...                   "score": [20.0, 80.0]})
    >>> e = pd.DataFrame({"account_id": ["a", "b"], "start": pd.to_datetime(["2023-01-01"] * 2),
    ...                   "end": pd.to_datetime(["2024-03-01", None])})
    >>> scored_months(h, e, "2024-12-31")[["account_id", "duration", "event", "known"]]
      account_id  duration  event  known
    0          a      30.0      1   True
    1          b     180.0      0   True
    """
    C = pd.Timestamp(censor_at)
    h = hist.loc[hist["score"].notna() & (pd.to_datetime(hist["snapshot_date"]) < C)].reset_index(drop=True)
    e = episodes[["account_id", "start", "end"]].assign(account_id=lambda x: x["account_id"].astype(str))
    j = h.assign(_row=np.arange(len(h)), account_id=h["account_id"].astype(str)).merge(e, on="account_id")
    snap = pd.to_datetime(j["snapshot_date"])
    start, end = pd.to_datetime(j["start"]), pd.to_datetime(j["end"])
    j = j.loc[(start <= snap) & (end.isna() | (end > snap))]
    snap, end = pd.to_datetime(j["snapshot_date"]), pd.to_datetime(j["end"])
    stop = end.where(end.notna() & (end <= C), C)
    dur = (stop - snap).dt.days.to_numpy(float)
    ev = (end.notna() & (end <= C)).to_numpy()
    over = dur > horizon_days
    out = j.drop(columns=["_row", "start", "end"]).assign(
        duration=np.where(over, float(horizon_days), dur), event=np.where(over, 0, ev).astype(int))
    out["known"] = (out["event"] == 1) | (out["duration"] >= horizon_days)
    out.attrs["horizon_days"] = float(horizon_days)
    return out.reset_index(drop=True)


@dataclass
class LearnedWeights:
    """A fitted logistic model of churn within the horizon on standardised component points.

    ``weights`` are on the points scale and sum to 100; ``coef`` are the health coefficients
    on the standardised points (>= 0 unless flipped); ``flipped`` lists the components whose
    direction was reversed.
    """

    weights: dict[str, float]
    coef: dict[str, float]
    mean: dict[str, float]
    sd: dict[str, float]
    intercept: float
    n: int
    events: int
    n_unknown: int
    penalty: float
    flipped: list[str] = field(default_factory=list)
    cut: str = ""

    def probability(self, rows: pd.DataFrame) -> pd.Series:
        """P(churn within the horizon) of each row from its ``points_<c>`` columns.

        Example
        -------
        >>> lw = LearnedWeights({"x": 100.0}, {"x": 1.0}, {"x": 50.0}, {"x": 10.0}, -2.0, 10, 2, 0, 1.0)
        >>> round(float(lw.probability(pd.DataFrame({"points_x": [50.0]})).iloc[0]), 3)  # 1 / (1 + e^2)
        0.119
        """
        eta = np.full(len(rows), self.intercept)
        for c, g in self.coef.items():
            p = rows[f"points_{c}"].to_numpy(float)
            p = 100 - p if c in self.flipped else p
            eta -= g * np.nan_to_num((p - self.mean[c]) / self.sd[c])
        return pd.Series(1 / (1 + np.exp(-eta)), index=rows.index, name="p_churn")


def _design(rows: pd.DataFrame, comps: list[str]) -> tuple[np.ndarray, list[str], dict, dict]:
    X, used, mean, sd = [], [], {}, {}
    for c in comps:
        x = rows[f"points_{c}"].to_numpy(float)
        m, s = np.nanmean(x) if np.isfinite(x).any() else np.nan, np.nanstd(x) if np.isfinite(x).any() else 0.0
        if not np.isfinite(s) or s <= 0:
            continue  # never observed or constant: nothing to learn, weight 0
        X.append(np.nan_to_num((x - m) / s))
        used.append(c)
        mean[c], sd[c] = float(m), float(s)
    return (np.column_stack(X) if X else np.zeros((len(rows), 0))), used, mean, sd


def _logistic(X: np.ndarray, y: np.ndarray, penalty: float, nonneg: bool) -> tuple[float, np.ndarray]:
    """Minimise sum(log-loss) + penalty/2 * |g|^2 for logit = a - X @ g (g >= 0 if nonneg)."""
    k = X.shape[1]

    def f(theta):
        a, g = theta[0], theta[1:]
        eta = a - X @ g
        loss = np.sum(np.logaddexp(0, eta) - y * eta) + 0.5 * penalty * g @ g
        r = 1 / (1 + np.exp(-eta)) - y
        return loss, np.concatenate([[r.sum()], -(X.T @ r) + penalty * g])

    p0 = min(max(y.mean(), 1e-6), 1 - 1e-6)
    bounds = [(None, None)] + [(0.0, None) if nonneg else (None, None)] * k
    res = minimize(f, np.r_[np.log(p0 / (1 - p0)), np.zeros(k)], jac=True, method="L-BFGS-B", bounds=bounds)
    if not np.all(np.isfinite(res.x)):
        raise ModelError(f"the logistic fit of churn on the components did not converge: {res.message}")
    return float(res.x[0]), res.x[1:]


def fit_weights(rows: pd.DataFrame, components: list[str], penalty: float = 1.0,
                allow_flip: bool = False) -> LearnedWeights:
    """Fit :class:`LearnedWeights` on :func:`scored_months` rows (those with a ``known`` outcome).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"points_a": rng.uniform(0, 100, 400), "points_b": rng.uniform(0, 100, 400)})
    >>> d["event"] = (rng.uniform(0, 100, 400) > d["points_a"] + 30).astype(int); d["known"] = True
    >>> lw = fit_weights(d, ["a", "b"])
    >>> lw.weights["a"] > 80
    True
    """
    known = rows.loc[rows["known"].astype(bool)]
    y = known["event"].to_numpy(float)
    if y.sum() == 0 or y.sum() == len(y):
        raise ModelError(f"cannot learn weights: {int(y.sum())} of {len(y)} training rows churned within the horizon; "
                         "both churners and stayers are needed (train on a longer history)")
    X, used, mean, sd = _design(known, list(components))
    if not used:
        raise ModelError("cannot learn weights: no component has varying points in the training rows")
    flipped: list[str] = []
    if allow_flip:
        _, g0 = _logistic(X, y, penalty, nonneg=False)
        flipped = [c for c, g in zip(used, g0, strict=True) if g < 0]
        X = X * np.where([c in flipped for c in used], -1.0, 1.0)
        mean = {c: (100 - m if c in flipped else m) for c, m in mean.items()}
    a, g = _logistic(X, y, penalty, nonneg=True)
    raw = {c: float(gj / sd[c]) for c, gj in zip(used, g, strict=True)}
    total = sum(raw.values())
    if total <= 0:
        raise ModelError("no component lowers churn in the training rows (all learned weights are 0); "
                         "check the components' direction or pass allow_flip")
    weights = {c: round(100 * raw.get(c, 0.0) / total, 4) for c in components}
    return LearnedWeights(weights, {c: float(gj) for c, gj in zip(used, g, strict=True)}, mean, sd, a,
                          len(known), int(y.sum()), int((~rows["known"].astype(bool)).sum()), penalty, flipped)


def _raw_config(config: HealthConfig | str | Path | dict | None) -> dict:
    """The base configuration as a plain mapping (YAML re-read so unknown-to-us keys survive)."""
    if isinstance(config, dict):
        return copy.deepcopy(config)
    if isinstance(config, HealthConfig):
        if config.source == "<dict>":
            raise ConfigError("learned_config: pass the base configuration as a path or a dict, not a "
                              "HealthConfig built from a dict (its YAML cannot be re-read)")
        config = config.source
    path = default_config_path() if config is None else Path(config)
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def learned_config(base: HealthConfig | str | Path | dict | None, learned: LearnedWeights) -> dict:
    """The base configuration with the learned weights (and directions), as a dict.

    Example
    -------
    >>> lw = LearnedWeights({"nps": 100.0}, {"nps": 1.0}, {"nps": 50.0}, {"nps": 10.0}, -2.0, 10, 2, 0, 1.0)
    >>> learned_config({"components": {"nps": {"weight": 3, "method": "minmax", "min": 0, "max": 10}},
    ...                 "bands": {"red": [0, 50], "green": [50, 100]}}, lw)["components"]
    {'nps': {'weight': 100.0, 'method': 'minmax', 'min': 0, 'max': 10}}
    """
    data = _raw_config(base)
    comps = data.get("components") or {}
    for c, spec in comps.items():
        spec["weight"] = float(learned.weights.get(c, 0.0))
        if c in learned.flipped:
            if spec.get("method") == "thresholds" and "points" in spec:
                spec["points"] = [100 - float(p) for p in spec["points"]]
            else:
                was = spec.get("direction", "higher_is_better")
                spec["direction"] = "lower_is_better" if was == "higher_is_better" else "higher_is_better"
    data.pop("weights_by_segment", None)
    load_health_config(data)  # refuse now, not when the file is read
    return data


def write_config(data: dict, out: str | Path, header: list[str]) -> Path:
    """Write ``data`` as YAML with ``# `` comment lines ``header`` on top; return the path.

    Example
    -------
    >>> write_config(cfg, "weights.yaml", ["learned on 2024-12-31"])  # doctest: +SKIP
    """
    out = Path(out)
    text = "".join(f"# {line}\n" for line in header) + "\n" + yaml.safe_dump(data, sort_keys=False)
    out.write_text(text, encoding="utf-8")
    return out


def training_rows(hist: pd.DataFrame, episodes: pd.DataFrame, train_until: str, as_of: str,
                  horizon_days: float = HORIZON_DAYS) -> pd.DataFrame:
    """The training rows: months scored on or before ``train_until``, outcomes censored at
    ``min(train_until + horizon_days, as_of)``; nothing later can change them.

    Example
    -------
    >>> h = pd.DataFrame({"account_id": ["a", "a"], "score": [50.0, 40.0],
    ...                   "snapshot_date": pd.to_datetime(["2024-11-30", "2025-01-31"])})
    >>> e = pd.DataFrame({"account_id": ["a"], "start": pd.to_datetime(["2024-01-01"]),
    ...                   "end": pd.to_datetime(["2025-12-01"])})
    >>> training_rows(h, e, "2024-12-31", "2025-12-31")[["duration", "event"]].values.tolist()
    [[180.0, 0.0]]
    """
    cut = min(pd.Timestamp(train_until) + pd.Timedelta(days=horizon_days), pd.Timestamp(as_of))
    h = hist.loc[pd.to_datetime(hist["snapshot_date"]) <= pd.Timestamp(train_until)]
    end = pd.to_datetime(episodes["end"])
    e = episodes.assign(end=end.where(end <= cut))  # an end after the cut is not known yet
    return scored_months(h, e, str(cut.date()), horizon_days)


def learn_weights(src, as_of: str, train_until: str, config: HealthConfig | str | Path | dict | None = None,
                  horizon_days: float = HORIZON_DAYS, penalty: float = 1.0, allow_flip: bool = False) -> LearnedWeights:
    """Learn the weights from the months up to ``train_until``, outcomes read as of
    ``min(train_until + horizon_days, as_of)``: the features are computed as of
    ``train_until`` and the timeline as of that day, so later data cannot enter.

    Example
    -------
    >>> lw = learn_weights(open_source("data/demo"), "2025-12-31", "2024-12-31")  # doctest: +SKIP
    """
    from csresearch.data import timeline
    from csresearch.health.score import health_history

    check_dates(as_of, train_until)
    cfg = config if isinstance(config, HealthConfig) else load_health_config(config)
    cut = min(pd.Timestamp(train_until) + pd.Timedelta(days=horizon_days), pd.Timestamp(as_of))
    cut_s = str(cut.date())
    try:
        hist = health_history(src, train_until, cfg)
    except DataValidationError as e:
        raise DataValidationError(f"no health history up to {train_until} to learn from ({e}); "
                                  "choose a later --train-until") from e
    if hist.empty or hist["score"].notna().sum() == 0:
        raise DataValidationError(f"no health history up to {train_until}: nothing to learn from; "
                                  "choose a later --train-until")
    rows = training_rows(hist, timeline.episodes(src, cut_s).execute(), train_until, cut_s, horizon_days)
    lw = fit_weights(rows, list(cfg.components), penalty, allow_flip)
    lw.cut = cut_s
    return lw


def learn_health(src, as_of: str, train_until: str, config: HealthConfig | str | Path | dict | None = None,
                 horizon_days: float = HORIZON_DAYS, penalty: float = 1.0, allow_flip: bool = False,
                 truth_risk: pd.DataFrame | None = None, source_name: str = "") -> tuple[dict, list[str], dict]:
    """Learn on ``<= train_until``, validate on ``(train_until, as_of)``; return (config dict,
    header lines for :func:`write_config`, the validation report of
    :func:`csresearch.health.validation.health_validation`).

    Example
    -------
    >>> data, header, rep = learn_health(src, "2025-12-31", "2024-12-31")  # doctest: +SKIP
    >>> write_config(data, "weights.yaml", header)  # doctest: +SKIP
    """
    from csresearch.health.validation import health_validation

    rep = health_validation(src, as_of, train_until, config, horizon_days=horizon_days,
                            truth_risk=truth_risk, penalty=penalty, allow_flip=allow_flip)
    lw: LearnedWeights = rep["learned"]
    cfg = config if isinstance(config, HealthConfig) else load_health_config(config)
    data = learned_config(config if config is not None else cfg.source, lw)
    conc = rep["concordance"].set_index("score")
    figs = ", ".join(f"{k} {conc.loc[k, 'concordance']:.3f}" for k in ("configured", "learned", "oracle")
                     if k in conc.index)
    gain = conc["gain_vs_oracle"].get("learned", np.nan)
    header = [
        "Health score weights learned by `csresearch health learn` (csresearch.health.learn).",
        f"Source: {source_name or '(in memory)'}; as_of {as_of}; trained on the scores of months up to "
        f"{train_until}, churn (timeline churn day) within {horizon_days:g} days, outcomes read as of {lw.cut}",
        f"(nothing later used). Base config: {cfg.source}; its normalisations and bands kept, "
        "weights_by_segment dropped (the learned weights replace them).",
        f"Fit: ridge logistic (penalty {lw.penalty:g}) of churn within the horizon on the standardised points, "
        f"non-negative health coefficients; {lw.n:,} account-months, {lw.events:,} churned"
        + (f"; direction flipped: {', '.join(lw.flipped)}" if lw.flipped else "") + ".",
        f"Validation on scores of ({train_until}, {as_of}), churn within {horizon_days:g} days censored at "
        f"{as_of}: Harrell's C {figs}" + (f"; gain over chance vs oracle {gain:.2f}" if np.isfinite(gain) else "")
        + ".",
    ]
    return data, header, rep
