"""The demo's fixed calendar, its generating model (:class:`Truth`) and its word lists.

Days are integers counted from :data:`START` (day 0 = 2023-01-01); :func:`days` and :func:`ts`
turn them into dates and timestamps, :func:`daily_index` expands per-account day ranges.

Example
-------
>>> from csresearch.demo.model import N_DAYS, Truth
>>> N_DAYS, Truth().weibull_shape
(1096, 1.15)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

START = np.datetime64("2023-01-01")
END = np.datetime64("2025-12-31")  # last day of data (inclusive); the natural as_of
N_DAYS = int((END - START).astype(int)) + 1
LANDMARK = 90  # days after first start: covariate window [0, 90), churn hazard starts at 90

SEGMENTS = ("enterprise", "mid_market", "smb")


@dataclass(frozen=True)
class Truth:
    """The generating model: log hazard ratios and the Weibull baseline (days since day 90).

    Examples
    --------
    >>> Truth().coefficients["onboarding_complete"]
    -0.6
    """

    coefficients: dict[str, float] = field(
        default_factory=lambda: {
            "segment[enterprise]": -0.8,
            "segment[mid_market]": -0.4,
            "usage_trend": -0.35,
            "nps_first": -0.12,
            "tickets_90d": 0.10,
            "onboarding_complete": -0.6,
        }
    )
    weibull_shape: float = 1.15
    weibull_scale_days: float = 330.0


DEFINITIONS = {
    "segment[enterprise]": "1 if accounts.segment == 'enterprise' (reference level: smb)",
    "segment[mid_market]": "1 if accounts.segment == 'mid_market' (reference level: smb)",
    "usage_trend": "log2((usage events on days 60..89 + 1) / (usage events on days 0..29 + 1)), "
    "day 0 = the account's first subscription start_date, days counted on occurred_at dates",
    "nps_first": "score of the account's first NPS answer (every account answers one survey "
    "on days 30..79)",
    "tickets_90d": "support tickets opened on days 0..89",
    "onboarding_complete": "1 if every onboarding milestone has completed_at before day 90",
}

COMPANY_A = [
    "Kumo", "Sora", "Hoshi", "Mori", "Nami", "Taka", "Yuki", "Kaze", "Hana", "Riku", "Asa",
    "Tsuki", "Umi", "Kawa", "Hikari", "Aoi", "Nova", "Vega", "Lumen", "Orbit", "Pixel",
    "Quanta", "Delta", "Sigma", "Atlas", "Cobalt", "Ember", "Fjord", "Granite", "Harbor",
]
COMPANY_B = [
    "Labs", "Works", "Systems", "Foods", "Logistics", "Retail", "Health", "Media", "Bank",
    "Studio", "Robotics", "Energy", "Travel", "Apparel", "Games", "Partners", "Cloud", "Motors",
]
SUFFIX = ["Inc.", "KK", "Ltd.", "GmbH", "& Co.", "LLC", "Corp."]
INDUSTRIES = ["software", "retail", "finance", "manufacturing", "media", "healthcare", "logistics"]
REGIONS = ["JP", "APAC", "EMEA", "NA"]
EVENT_TYPES = [
    "login", "view_dashboard", "run_report", "export", "create_segment", "send_campaign",
    "api_call", "invite_user",
]
MILESTONES = [("kickoff", 7), ("integration", 30), ("training", 45), ("first_value", 60)]
PRIORITIES = ["low", "normal", "high", "urgent"]
CATEGORIES = ["how-to", "bug", "billing", "integration", "account"]
CSMS = {
    "enterprise": ["Aiko Sato", "Ben Carter", "Chen Wei", "Daichi Ito"],
    "mid_market": ["Emma Kato", "Farid Haddad", "Gina Rossi", "Hiro Tanaka", "Isla Brown"],
}
NOTES = {
    "product": ["missing feature they needed", "reporting too limited", "switched to a rival tool"],
    "adoption": ["never rolled out beyond the pilot team", "champion left the company"],
    "expectation": ["expected done-for-you service", "thought the price included consulting"],
    "price": ["budget cut", "cheaper alternative found"],
    "other": ["company acquired", "went out of business"],
}
NPS_COMMENTS = [
    "", "", "", "Great support team", "Reports are slow", "Love the dashboards",
    "Too expensive for what we use", "Onboarding was confusing", "Works as expected",
]
REASONS = ["product", "adoption", "expectation", "price", "other"]


def days(a: np.ndarray) -> np.ndarray:
    """Dates (``datetime64[D]``) of day numbers counted from :data:`START`.

    Examples
    --------
    >>> str(days(np.array([0, 31]))[1])
    '2023-02-01'
    """
    return START + a.astype("timedelta64[D]")


def ts(day: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Timestamps (``datetime64[us]``) of day numbers plus seconds into the day.

    Examples
    --------
    >>> str(ts(np.array([1]), np.array([3600]))[0])
    '2023-01-02T01:00:00.000000'
    """
    return (days(day).astype("datetime64[s]") + seconds.astype("timedelta64[s]")).astype(
        "datetime64[us]"
    )


def daily_index(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(account index, day) for every day in [first, last) of every account.

    Examples
    --------
    >>> acc, day = daily_index(np.array([5, 0]), np.array([7, 1]))
    >>> acc.tolist(), day.tolist()
    ([0, 0, 1], [5, 6, 0])
    """
    length = np.maximum(last - first, 0)
    acc = np.repeat(np.arange(len(first)), length)
    offs = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
    return acc, first[acc] + offs
