"""The dynamic demo's generating model: :class:`DynamicTruth`, its covariates and linear predictor.

The monthly churn hazard is a time-varying Cox model in calendar months (grouped time). At
the end of each month ``m`` (the kit's snapshot, the month's last day) the covariates below are
measured from the tables exactly as :func:`csresearch.features.account.account_month_features`
measures its columns (default windows); they act on the decision to leave in month ``m + 1``:

    P(decide in month m + 1 | x_m) = 1 - exp(-baseline_per_month * exp(x_m' beta))

so the cumulative hazard over the month is ``baseline_per_month * exp(x_m' beta)``.

:func:`covariates` turns the kit's columns into the covariates and :func:`linear_predictor`
adds them up, so the generator and a test reading the written tables compute the same
``x_m' beta`` (``truth_risk.parquet``).

Example
-------
>>> import numpy as np
>>> f = {"usage_per_day": np.array([2.0]), "usage_change_pct": np.array([np.nan]),
...      "nps_latest": np.array([9.0]), "ces_mean": np.array([np.nan]), "tickets": np.array([0.0]),
...      "email_open_rate": np.array([0.3]), "onboarding_score": np.array([1.0]),
...      "csm_sentiment_score": np.array([np.nan]), "tenure_days": np.array([400.0])}
>>> x = covariates(f, np.array(["smb"]))
>>> x["nps_promoter"].tolist(), x["usage_change"].tolist()
([1.0], [0.0])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

#: the kit's columns (account_month_features) the covariates are computed from
KIT_COLUMNS = ("usage_per_day", "usage_change_pct", "nps_latest", "ces_mean", "tickets",
               "email_open_rate", "onboarding_score", "csm_sentiment_score", "tenure_days")


def _coefficients() -> dict[str, float]:
    return {
        "segment[enterprise]": -0.60,
        "segment[mid_market]": -0.50,
        "log_usage": -0.375,
        "usage_change": -0.55,
        "nps_detractor": 0.70,
        "nps_promoter": -0.45,
        "ces_centered": 0.0,
        "log_tickets": 0.55,
        "email_open_centered": -1.5,
        "onboarding_missed": 0.85,
        "csm_sentiment_centered": -0.30,
        "first_year": 0.45,
    }


@dataclass(frozen=True)
class DynamicTruth:
    """Every parameter of the dynamic demo: state, observables, contracts and hazard.

    Tuples by segment are (enterprise, mid_market, smb). The state ``s`` of an account in
    month ``m`` follows ``s_m = L_m + phi (s_{m-1} - L_{m-1}) + sigma e_m - shocks`` where
    ``L_m = mu_i + ramp_seg * min(tenure months, 12) / 12`` and ``mu_i ~ N(state_mean_seg,
    state_sd_account)``; see ``truth.json`` for the full statement.

    Examples
    --------
    >>> DynamicTruth().coefficients["nps_detractor"]
    0.7
    """

    coefficients: dict[str, float] = field(default_factory=_coefficients)
    baseline_per_month: float = 0.0062
    # latent state
    state_mean: tuple[float, float, float] = (0.35, 0.20, -0.25)
    state_sd_account: float = 0.45
    ramp: tuple[float, float, float] = (0.40, 0.25, 0.0)
    phi: float = 0.88
    sigma: float = 0.22
    start_sd: float = 0.45
    start_onboarding: float = 0.35
    champion_p: tuple[float, float, float] = (0.012, 0.012, 0.008)
    champion_drop: float = 1.2
    bad_support_p: float = 0.05
    bad_support_drop: float = 0.3
    leaving_drift: float = 0.06
    # contracts
    annual_share: tuple[float, float, float] = (0.95, 0.75, 0.0)
    reactivation_p: float = 0.06
    # observables
    usage_base: tuple[float, float, float] = (2.5, 1.2, 1.0)
    usage_size_sd: float = 0.45
    usage_state: float = 0.80
    usage_month_sd: float = 0.05
    ticket_base: tuple[float, float, float] = (1.0, 0.6, 0.3)
    ticket_state: float = -0.35
    ticket_bad_factor: float = 3.0
    ces_mean: float = 5.4
    ces_state: float = 0.45
    ces_bad: float = -1.3
    ces_hours: float = -0.015
    ces_sd: float = 1.0
    ces_response_p: float = 0.5
    nps_mean: float = 6.8
    nps_state: float = 1.0
    nps_ces: float = 0.45
    nps_tenure: float = 1.5
    nps_sd: float = 1.4
    nps_response_p: float = 0.5
    email_intercept: float = -0.9
    email_state: float = 0.7
    email_account_sd: float = 0.6
    csm_bias_sd: float = 0.9
    csm_noise_sd: float = 0.5
    csm_cuts: tuple[float, float] = (-0.6, 0.5)


def _kit(f: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    return np.asarray(f[name], dtype="float64")


def covariates(f: Mapping[str, np.ndarray], segment: np.ndarray, usage_scale: float = 1.0,
               usage_base: tuple[float, float, float] = (2.5, 1.2, 1.0)) -> dict[str, np.ndarray]:
    """The hazard's covariates from the kit's account-month columns (see :data:`DEFINITIONS`).

    Parameters
    ----------
    f
        Arrays (or columns) named as in :data:`KIT_COLUMNS`, as
        :func:`csresearch.features.account.account_month_features` returns them.
    segment
        The account's segment per row (``accounts.segment``).
    usage_scale
        The generator's ``usage_scale`` (usage per day is divided by it).
    usage_base
        :attr:`DynamicTruth.usage_base`, the segments' typical usage per weekday (enterprise,
        mid_market, smb): usage is measured relative to it.

    Returns
    -------
    dict of str to ndarray
        One float array per coefficient name of :class:`DynamicTruth`.

    Examples
    --------
    >>> f = {c: np.array([np.nan]) for c in KIT_COLUMNS} | {"usage_per_day": np.array([0.9]),
    ...      "tenure_days": np.array([0.0])}
    >>> round(float(covariates(f, np.array(["mid_market"]))["log_usage"][0]), 6)  # ln(0.9 / 1.2 + 0.1)
    -0.162519
    """
    seg = np.asarray(segment).astype(str)
    base = np.select([seg == "enterprise", seg == "mid_market"], list(usage_base[:2]), usage_base[2])
    chg = _kit(f, "usage_change_pct")
    nps = _kit(f, "nps_latest")
    ces = _kit(f, "ces_mean")
    email = _kit(f, "email_open_rate")
    onb = _kit(f, "onboarding_score")
    csm = _kit(f, "csm_sentiment_score")
    return {
        "segment[enterprise]": (seg == "enterprise").astype("float64"),
        "segment[mid_market]": (seg == "mid_market").astype("float64"),
        "log_usage": np.log(_kit(f, "usage_per_day") / (usage_scale * base) + 0.1),
        "usage_change": np.where(np.isnan(chg), 0.0, np.clip(chg, -50.0, 50.0) / 50.0),
        "nps_detractor": (nps <= 6).astype("float64"),
        "nps_promoter": (nps >= 9).astype("float64"),
        "ces_centered": np.where(np.isnan(ces), 0.0, ces - 5.0),
        "log_tickets": np.log1p(_kit(f, "tickets")),
        "email_open_centered": np.where(np.isnan(email), 0.0, email - 0.3),
        "onboarding_missed": np.where(np.isnan(onb), 0.0, 1.0 - onb),
        "csm_sentiment_centered": np.where(np.isnan(csm), 0.0, csm - 1.0),
        "first_year": np.maximum(0.0, 1.0 - _kit(f, "tenure_days") / 365.0),
    }


def linear_predictor(x: Mapping[str, np.ndarray], coefficients: Mapping[str, float]) -> np.ndarray:
    """``x' beta``: the sum of coefficient x covariate, in the order of ``coefficients``.

    Examples
    --------
    >>> linear_predictor({"a": np.array([1.0, 2.0])}, {"a": 0.5}).tolist()
    [0.5, 1.0]
    """
    out = None
    for name, b in coefficients.items():
        term = b * np.asarray(x[name], dtype="float64")
        out = term if out is None else out + term
    return out


DEFINITIONS = {
    "segment[enterprise]": "1 if accounts.segment == 'enterprise' (reference level: smb)",
    "segment[mid_market]": "1 if accounts.segment == 'mid_market' (reference level: smb)",
    "log_usage": "ln(usage_per_day / (usage_scale x usage_base_seg) + 0.1), usage_base_seg = 2.5, 1.2, "
    "1.0 events per weekday for enterprise, mid_market, smb; usage_per_day = usage events (rows of "
    "usage_events by occurred_at) in the month / observed days (from the later of the month's first "
    "day and the account's first paid day, to the snapshot)",
    "usage_change": "clip(usage_change_pct, -50, 50) / 50, 0 when usage_change_pct is missing; "
    "usage_change_pct = 100 x (usage_per_day / (events / observed days over the up to 3 previous "
    "months of the account's grid) - 1), 0 when both rates are 0, missing in the first month or "
    "when only the baseline is 0",
    "nps_detractor": "1 if nps_latest <= 6; nps_latest = score of the latest NPS answer "
    "(responded_at) in the 12 months up to the snapshot's month, 0 without one",
    "nps_promoter": "1 if nps_latest >= 9, 0 otherwise (and without an answer)",
    "ces_centered": "ces_mean - 5, 0 without an answer; ces_mean = mean CES score answered "
    "(responded_at) in the 6 months up to the snapshot's month. Coefficient 0: CES acts on churn "
    "only through NPS",
    "log_tickets": "ln(1 + tickets); tickets = support tickets opened (opened_at) in the 3 months up "
    "to the snapshot's month",
    "email_open_centered": "email_open_rate - 0.3, 0 without a send; email_open_rate = opened / "
    "sent (sent_at) over the 6 months up to the snapshot's month",
    "onboarding_missed": "1 - onboarding_score, 0 when no milestone is due yet; onboarding_score = "
    "share of the milestones due (due_at) by the snapshot's month that were completed on or before "
    "their due day",
    "csm_sentiment_centered": "csm_sentiment_score - 1 (red -1, yellow 0, green 1) of the latest CSM "
    "sentiment (recorded_at) in the 12 months up to the snapshot's month, 0 without one (smb)",
    "first_year": "max(0, 1 - tenure_days / 365); tenure_days = snapshot - first paid day",
}
