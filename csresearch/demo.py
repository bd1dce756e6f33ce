"""A realistic B2B SaaS demo data set whose churn follows a known proportional-hazards model.

Three segments (enterprise, mid_market, smb) with different MRR, terms and touch models;
monthly start cohorts growing over three years (2023-01-01 .. 2025-12-31, fixed dates);
expansions, contractions, add-on products and reactivations; usage events with weekly
seasonality, per-account trends and a decline before churn; NPS answers that rise with
tenure; tickets followed by CES and CSAT answers; e-mail engagement; onboarding milestones
with delays; CSM sentiment; churn reasons by cause.

Churn is drawn from a Weibull proportional-hazards model on covariates measured in the
first 90 days after an account's first subscription starts (no churn before day 90), so
the covariates are exactly computable from the tables. The true coefficients and the
covariate definitions are written to ``truth.json`` beside the tables.

The same seed gives byte-identical files.

Example
-------
>>> paths = generate(n_accounts=200, seed=1, out="/tmp/demo")  # doctest: +SKIP
>>> sorted(p.name for p in paths)[:2]  # doctest: +SKIP
['accounts.parquet', 'ces_responses.parquet']
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from csresearch.errors import ConfigError

START = np.datetime64("2023-01-01")
END = np.datetime64("2025-12-31")  # last day of data (inclusive); the natural as_of
N_DAYS = int((END - START).astype(int)) + 1
LANDMARK = 90  # days after first start: covariate window [0, 90), churn hazard starts at 90

SEGMENTS = ("enterprise", "mid_market", "smb")


@dataclass(frozen=True)
class Truth:
    """The generating model: log hazard ratios and the Weibull baseline (days since day 90)."""

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


def _days(a: np.ndarray) -> np.ndarray:
    return START + a.astype("timedelta64[D]")


def _ts(days: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    return (_days(days).astype("datetime64[s]") + seconds.astype("timedelta64[s]")).astype(
        "datetime64[us]"
    )


def _daily_index(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(account index, day) for every day in [first, last) of every account."""
    length = np.maximum(last - first, 0)
    acc = np.repeat(np.arange(len(first)), length)
    offs = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
    return acc, first[acc] + offs


def generate(
    n_accounts: int = 10_000,
    seed: int = 42,
    out: str | Path = "data/demo",
    fmt: str = "parquet",
    truth: Truth | None = None,
) -> list[Path]:
    """Write every contract table and ``truth.json`` for a synthetic B2B SaaS into ``out``.

    Parameters
    ----------
    n_accounts
        Number of accounts (10,000 gives a few million usage events).
    seed
        Random seed; the same seed gives byte-identical files.
    out
        Output folder (created; existing table files in it are replaced).
    fmt
        ``"parquet"`` (default) or ``"csv"``.

    Returns
    -------
    list of Path
        The files written.
    """
    if n_accounts < 10:
        raise ConfigError(f"--accounts must be at least 10, not {n_accounts}")
    if fmt not in ("parquet", "csv"):
        raise ConfigError(f"--format must be parquet or csv, not {fmt!r}")
    truth = truth or Truth()
    rng = np.random.default_rng(seed)
    n = n_accounts
    ids = np.array([f"A{i:06d}" for i in range(1, n + 1)])

    # -- accounts: growing monthly cohorts, segments -------------------------------------
    last_start = N_DAYS
    w = 1.0 + 1.5 * np.arange(last_start) / last_start
    start = np.sort(rng.choice(last_start, size=n, p=w / w.sum()))
    seg = rng.choice(3, size=n, p=[0.12, 0.33, 0.55])
    seg_name = np.array(SEGMENTS)[seg]
    names = np.array(
        [
            f"{COMPANY_A[a]} {COMPANY_B[b]} {SUFFIX[c]}"
            for a, b, c in zip(
                rng.integers(0, len(COMPANY_A), n),
                rng.integers(0, len(COMPANY_B), n),
                rng.integers(0, len(SUFFIX), n),
                strict=True,
            )
        ],
        dtype=object,
    )
    names[min(7, n - 1)] = "<script>alert(1)</script> Testing & Co."
    plan = np.where(
        seg == 0, "enterprise", np.where(seg == 1, rng.choice(["growth", "business"], n),
                                         rng.choice(["starter", "growth"], n, p=[0.7, 0.3]))
    )
    csm = np.array([None] * n, dtype=object)
    for s, people in CSMS.items():
        m = seg_name == s
        csm[m] = rng.choice(people, m.sum())
    created = _ts(start, -rng.integers(0, 21 * 86400, n))
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "name": names,
            "segment": seg_name,
            "plan": plan,
            "industry": rng.choice(INDUSTRIES, n),
            "region": rng.choice(REGIONS, n, p=[0.4, 0.2, 0.2, 0.2]),
            "csm_owner": csm,
            "created_at": created,
        }
    )

    # -- latent traits ---------------------------------------------------------------------
    base_rate = np.array([3.0, 1.2, 0.5])[seg] * rng.lognormal(0, 0.45, n)
    slope = rng.normal(0.0, 0.10, n)  # log-rate change per 30 days
    onb = rng.normal(0, 1, n)  # onboarding propensity
    sat = rng.normal(0, 1, n)  # satisfaction
    ticket_rate = np.array([2.0, 1.2, 0.5])[seg] * rng.gamma(2.0, 0.5, n) / 30  # per day
    breadth = rng.integers(2, len(EVENT_TYPES) + 1, n)
    seats = np.maximum(1, np.round(np.array([60, 18, 5])[seg] * rng.lognormal(0, 0.4, n))).astype(int)

    # -- onboarding milestones -------------------------------------------------------------
    done_day = np.zeros((n, len(MILESTONES)))
    for k, (_, due) in enumerate(MILESTONES):
        delay = rng.gamma(1.5, 6.0 * np.exp(-0.6 * onb)) - 5
        never = rng.random(n) < 0.03 + 0.05 * (onb < -1.2)
        day = np.where(never, np.inf, np.maximum(1, np.round(due + delay)))
        done_day[:, k] = day
    onboarding_complete = (done_day < LANDMARK).all(axis=1).astype(float)

    # -- first 90 days: usage, tickets, first NPS -------------------------------------------
    # Usage per day over a generous horizon; the churn draw needs days 0..89 first.
    acc90, day90 = _daily_index(start, np.minimum(start + LANDMARK, N_DAYS))
    rel90 = day90 - start[acc90]
    dow90 = (day90 + 6) % 7  # 2023-01-01 was a Sunday -> Monday = 0
    rate90 = base_rate[acc90] * np.exp(slope[acc90] * rel90 / 30) * np.where(dow90 >= 5, 0.3, 1.0)
    rate90 *= 0.5 + 0.5 * np.minimum(1, rel90 / 30 + 0.4 * (onb[acc90] > 0))
    cnt90 = rng.poisson(rate90)
    e0 = np.bincount(acc90, weights=cnt90 * (rel90 < 30), minlength=n)
    e2 = np.bincount(acc90, weights=cnt90 * (rel90 >= 60), minlength=n)
    usage_trend = np.log2((e2 + 1) / (e0 + 1))

    t90 = rng.poisson(ticket_rate[acc90] * 1.5)
    tickets_90d = np.bincount(acc90, weights=t90, minlength=n)

    nps_day = rng.integers(30, 80, n)
    nps_first = np.clip(np.round(rng.normal(6.2 + 0.6 * onb + 1.0 * sat, 1.6)), 0, 10)

    # -- churn from the proportional-hazards truth -----------------------------------------
    b = truth.coefficients
    eta = (
        b["segment[enterprise]"] * (seg == 0)
        + b["segment[mid_market]"] * (seg == 1)
        + b["usage_trend"] * usage_trend
        + b["nps_first"] * nps_first
        + b["tickets_90d"] * tickets_90d
        + b["onboarding_complete"] * onboarding_complete
    )
    u = rng.random(n)
    t_after = truth.weibull_scale_days * (-np.log(u) / np.exp(eta)) ** (1 / truth.weibull_shape)
    churn_day = start + LANDMARK + np.ceil(t_after).astype(np.int64)
    churned = churn_day <= N_DAYS - 1  # churn day = first inactive day, on or before END
    end1 = np.where(churned, churn_day, N_DAYS)  # exclusive end of the first episode (capped)

    # reactivation: some churned accounts come back
    react = churned & (rng.random(n) < 0.08)
    r_start = churn_day + rng.integers(30, 181, n)
    react &= r_start < N_DAYS - 1
    r_end = np.full(n, N_DAYS)

    # -- usage events over all active days --------------------------------------------------
    acc, day = _daily_index(start + LANDMARK, end1)
    if react.any():
        ra, rd = _daily_index(np.where(react, r_start, 0), np.where(react, r_end, 0))
        acc, day = np.concatenate([acc, ra]), np.concatenate([day, rd])
    rel = day - start[acc]
    dow = (day + 6) % 7
    rate = base_rate[acc] * np.exp(np.clip(slope[acc] * rel / 30, -2.5, 1.5))
    rate *= np.where(dow >= 5, 0.3, 1.0)
    to_churn = churn_day[acc] - day
    fading = churned[acc] & (to_churn <= 60) & (to_churn > 0) & (day < end1[acc])
    rate *= np.where(fading, 0.3 + 0.7 * to_churn / 60, 1.0)
    cnt = rng.poisson(rate)
    all_acc = np.concatenate([acc90, acc])
    all_day = np.concatenate([day90, day])
    all_cnt = np.concatenate([cnt90, cnt])
    ev_acc = np.repeat(all_acc, all_cnt)
    ev_day = np.repeat(all_day, all_cnt)
    m = len(ev_acc)
    secs = (8 * 3600 + rng.gamma(4.0, 2.6 * 3600, m)).astype(np.int64) % 86400
    order = np.lexsort((secs, ev_day, ev_acc))
    ev_acc, ev_day, secs = ev_acc[order], ev_day[order], secs[order]
    etype = np.minimum((rng.random(m) ** 1.6 * breadth[ev_acc]).astype(int), len(EVENT_TYPES) - 1)
    users = np.minimum((rng.random(m) ** 2 * seats[ev_acc]).astype(int), seats[ev_acc] - 1)
    acc_arr = pa.array(ids[ev_acc])
    usage = pa.table(
        {
            "account_id": acc_arr,
            "occurred_at": pa.array(_ts(ev_day, secs)),
            "event_type": pa.array(np.array(EVENT_TYPES)[etype]),
            "user_id": pc.binary_join_element_wise(acc_arr, pa.array(users.astype(str)), "-u"),
            "quantity": pa.array((1 + rng.poisson(0.3, m)).astype(np.float64)),
        }
    )

    # -- subscriptions: MRR changes, add-ons, reactivations -------------------------------
    mrr0 = np.round(np.array([6000, 1400, 180])[seg] * rng.lognormal(0, 0.35, n))
    term = np.array([12, 12, 1])[seg]
    change_rate = np.array([1.0, 0.7, 0.25])[seg] / 365
    sub_rows: list[tuple] = []
    n_changes = rng.poisson(change_rate * (end1 - start))
    for i in range(n):
        k = n_changes[i]
        cuts = np.sort(rng.integers(start[i] + 30, max(start[i] + 31, end1[i]), k)) if k else []
        cuts = [c for c in np.unique(cuts) if start[i] < c < end1[i]]
        bounds = [start[i], *cuts, end1[i]]
        value = mrr0[i]
        for j in range(len(bounds) - 1):
            if j:
                up = rng.random() < 0.65 + 0.1 * np.tanh(slope[i] * 10)
                value = max(20.0, np.round(value * (rng.uniform(1.1, 1.5) if up else rng.uniform(0.6, 0.92))))
            end = bounds[j + 1] if (bounds[j + 1] < N_DAYS) else -1
            sub_rows.append((i, bounds[j], end, value, "core", term[i]))
        if seg[i] == 0 and rng.random() < 0.4:
            a0 = start[i] + int(rng.integers(60, 400))
            if a0 < end1[i] - 1:
                sub_rows.append((i, a0, end1[i] if end1[i] < N_DAYS else -1,
                                 np.round(mrr0[i] * 0.25), "analytics", 12))
        if react[i]:
            sub_rows.append((i, r_start[i], -1, np.round(mrr0[i] * rng.uniform(0.7, 1.1)), "core", term[i]))
    sr = pd.DataFrame(sub_rows, columns=["i", "s", "e", "mrr", "product", "term_months"])
    subs = pd.DataFrame(
        {
            "subscription_id": [f"S{j:07d}" for j in range(1, len(sr) + 1)],
            "account_id": ids[sr.i.to_numpy()],
            "start_date": _days(sr.s.to_numpy()),
            "end_date": pd.Series(_days(np.where(sr.e < 0, 0, sr.e))).where(sr.e >= 0),
            "mrr": sr.mrr.astype(float),
            "product": sr["product"],
            "term_months": sr.term_months.astype("int64"),
        }
    )
    subs["start_date"] = subs.start_date.dt.date
    subs["end_date"] = subs.end_date.dt.date.where(subs.end_date.notna(), None)

    # -- onboarding milestones table ---------------------------------------------------------
    ms = []
    for k, (mname, due) in enumerate(MILESTONES):
        d = start + done_day[:, k]
        ok = np.isfinite(d) & (d <= N_DAYS - 1)
        secs_ = rng.integers(9 * 3600, 18 * 3600, n)
        ms.append(
            pd.DataFrame(
                {
                    "account_id": ids,
                    "milestone": mname,
                    "due_at": _ts(start + due, np.zeros(n, dtype=np.int64)),
                    "completed_at": pd.Series(_ts(np.where(ok, d, 0).astype(np.int64), secs_)).where(ok),
                    "_o": np.arange(n) * 10 + k,
                }
            )
        )
    milestones = pd.concat(ms).sort_values("_o").drop(columns="_o")
    # only milestones whose due day is within the data window
    milestones = milestones[milestones.due_at <= pd.Timestamp(END)].reset_index(drop=True)

    # -- tickets over the whole active life, CES and CSAT after them ------------------------
    life_acc = np.concatenate([acc90, acc])
    life_day = np.concatenate([day90, day])
    life_rel = life_day - start[life_acc]
    near = churned[life_acc] & (churn_day[life_acc] - life_day <= 90)
    trate = ticket_rate[life_acc] * np.where(life_rel < LANDMARK, 1.5, 1.0) * np.where(near, 1.6, 1.0)
    tcnt = np.concatenate([t90, rng.poisson(trate[len(acc90):])])
    t_acc = np.repeat(life_acc, tcnt)
    t_day = np.repeat(life_day, tcnt)
    nt = len(t_acc)
    order = np.lexsort((t_day, t_acc))
    t_acc, t_day = t_acc[order], t_day[order]
    opened = _ts(t_day, rng.integers(8 * 3600, 20 * 3600, nt))
    prio = rng.choice(4, nt, p=[0.3, 0.45, 0.2, 0.05])
    hours = rng.gamma(1.2, np.array([40.0, 24.0, 10.0, 4.0])[prio])
    closed = opened + (hours * 3600).astype("timedelta64[s]")
    still_open = closed > np.datetime64("2025-12-31T23:59:59")
    tickets = pd.DataFrame(
        {
            "ticket_id": [f"T{j:07d}" for j in range(1, nt + 1)],
            "account_id": ids[t_acc],
            "opened_at": opened,
            "closed_at": pd.Series(closed).where(~still_open),
            "priority": np.array(PRIORITIES)[prio],
            "category": rng.choice(CATEGORIES, nt, p=[0.35, 0.25, 0.15, 0.15, 0.1]),
        }
    )
    ces_pick = (~still_open) & (rng.random(nt) < 0.5)
    ces_at = closed + rng.integers(3600, 2 * 86400, nt).astype("timedelta64[s]")
    ces_pick &= ces_at <= np.datetime64("2025-12-31T23:59:59")
    ces_score = np.clip(np.round(rng.normal(6.0 - 0.025 * hours + 0.4 * sat[t_acc], 1.0)), 1, 7)
    ces = pd.DataFrame(
        {
            "account_id": ids[t_acc][ces_pick],
            "responded_at": ces_at[ces_pick],
            "score": ces_score[ces_pick].astype("int64"),
            "ticket_id": tickets.ticket_id.to_numpy()[ces_pick],
        }
    )
    csat_pick = (~still_open) & (rng.random(nt) < 0.3)
    csat_at = closed + rng.integers(600, 86400, nt).astype("timedelta64[s]")
    csat_pick &= csat_at <= np.datetime64("2025-12-31T23:59:59")
    csat_score = np.clip(np.round(rng.normal(4.2 - 0.015 * hours + 0.3 * sat[t_acc], 0.8)), 1, 5)
    csat = pd.DataFrame(
        {
            "account_id": ids[t_acc][csat_pick],
            "responded_at": csat_at[csat_pick],
            "score": csat_score[csat_pick].astype("int64"),
        }
    )

    # -- NPS: the first survey (everyone), then quarterly with 35 % response ----------------
    q_acc, q_k = _daily_index(np.zeros(n, dtype=np.int64), np.full(n, 14))
    q_day = start[q_acc] + nps_day[q_acc] + 91 * q_k
    alive = (q_day < end1[q_acc]) | (react[q_acc] & (q_day >= r_start[q_acc]) & (q_day < N_DAYS))
    answer = alive & ((q_k == 0) | (rng.random(len(q_acc)) < 0.35))
    tenure_m = (q_day - start[q_acc]) / 30.4
    mood = 6.2 + 0.6 * onb[q_acc] + 1.0 * sat[q_acc] + 1.4 * np.minimum(tenure_m, 12) / 12 - 0.55
    mood -= np.where(churned[q_acc] & (churn_day[q_acc] - q_day < 120), 1.5, 0)
    score = np.clip(np.round(rng.normal(mood, 1.6)), 0, 10)
    score = np.where(q_k == 0, nps_first[q_acc], score)
    comments = np.array(
        ["", "", "", "Great support team", "Reports are slow", "Love the dashboards",
         "Too expensive for what we use", "Onboarding was confusing", "Works as expected"]
    )
    cm = comments[rng.integers(0, len(comments), len(q_acc))]
    nps = pd.DataFrame(
        {
            "account_id": ids[q_acc][answer],
            "responded_at": _ts(q_day[answer], rng.integers(9 * 3600, 21 * 3600, answer.sum())),
            "score": score[answer].astype("int64"),
            "comment": pd.Series(cm[answer]).replace("", None),
        }
    ).sort_values(["account_id", "responded_at"], kind="stable").reset_index(drop=True)

    # -- e-mail: a monthly newsletter on the 10th to every active account --------------------
    months = pd.date_range("2023-01-10", "2025-12-10", freq="MS") + pd.Timedelta(days=9)
    mdays = ((months.values - START) // np.timedelta64(1, "D")).astype(np.int64)
    e_acc = np.repeat(np.arange(n), len(mdays))
    e_day = np.tile(mdays, n)
    active = ((e_day >= start[e_acc]) & (e_day < end1[e_acc])) | (
        react[e_acc] & (e_day >= r_start[e_acc])
    )
    e_acc, e_day = e_acc[active], e_day[active]
    p_open = 1 / (1 + np.exp(-(-0.4 + 0.5 * sat[e_acc] + 0.3 * onb[e_acc])))
    p_open = p_open * np.where(churned[e_acc] & (churn_day[e_acc] - e_day < 90), 0.5, 1.0)
    op = rng.random(len(e_acc)) < p_open
    emails = pd.DataFrame(
        {
            "account_id": ids[e_acc],
            "sent_at": _ts(e_day, np.full(len(e_acc), 10 * 3600)),
            "opened": op,
            "clicked": op & (rng.random(len(e_acc)) < 0.3),
        }
    )

    # -- CSM sentiment: monthly for high- and mid-touch accounts -----------------------------
    s_m = (seg[e_acc] < 2) & (e_day - start[e_acc] >= 30)
    s_acc, s_day = e_acc[s_m], e_day[s_m] - 8
    risk = eta[s_acc] + rng.normal(0, 0.6, len(s_acc))
    risk += np.where(churned[s_acc] & (churn_day[s_acc] - s_day < 90), 1.2, 0)
    sentiment = np.where(risk > 0.2, "red", np.where(risk > -0.9, "yellow", "green"))
    sentiment_df = pd.DataFrame(
        {
            "account_id": ids[s_acc],
            "recorded_at": _ts(s_day, np.full(len(s_acc), 15 * 3600)),
            "sentiment": sentiment,
        }
    )

    # -- churn reasons ------------------------------------------------------------------------
    ci = np.flatnonzero(churned)
    w_reason = np.stack(
        [
            1.0 + 3.0 * (nps_first[ci] <= 6),  # product
            1.0 + 3.0 * (usage_trend[ci] < -0.3) + 1.5 * (onboarding_complete[ci] == 0),  # adoption
            1.0 + 3.0 * (churn_day[ci] - start[ci] < 270),  # expectation
            1.5 * np.ones(len(ci)),  # price
            0.5 * np.ones(len(ci)),  # other
        ],
        axis=1,
    )
    cum = np.cumsum(w_reason / w_reason.sum(axis=1, keepdims=True), axis=1)
    reason_idx = (rng.random(len(ci))[:, None] > cum).sum(axis=1)
    reasons = np.array(["product", "adoption", "expectation", "price", "other"])[reason_idx]
    notes = [
        NOTES[r][j % len(NOTES[r])] if j % 3 else None
        for r, j in zip(reasons, rng.integers(0, 30, len(ci)), strict=True)
    ]
    churn_df = pd.DataFrame(
        {
            "account_id": ids[ci],
            "churned_at": _ts(churn_day[ci], np.zeros(len(ci), dtype=np.int64)),
            "reason": reasons,
            "note": notes,
        }
    )

    tables: dict[str, pd.DataFrame | pa.Table] = {
        "accounts": accounts,
        "subscriptions": subs,
        "usage_events": usage,
        "nps_responses": nps,
        "ces_responses": ces,
        "csat_responses": csat,
        "support_tickets": tickets,
        "email_events": emails,
        "onboarding_milestones": milestones,
        "csm_sentiment": sentiment_df,
        "churn_reasons": churn_df,
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [_write(name, t, out, fmt) for name, t in tables.items()]

    info = {
        "description": "Demo B2B SaaS data generated by csresearch.demo; churn follows a Weibull "
        "proportional-hazards model on covariates measured in the first 90 days.",
        "seed": seed,
        "n_accounts": n,
        "period": {"start": str(START), "end": str(END), "as_of": str(END)},
        "time_origin": "day 0 = the account's first subscription start_date; no churn before "
        f"day {LANDMARK}; the hazard below applies to days since day {LANDMARK}",
        "landmark_days": LANDMARK,
        "coefficients": {
            k: {"coef": v, "hazard_ratio": round(float(np.exp(v)), 6), "definition": DEFINITIONS[k]}
            for k, v in truth.coefficients.items()
        },
        "baseline": {
            "distribution": "weibull",
            "shape": truth.weibull_shape,
            "scale_days": truth.weibull_scale_days,
            "hazard": "h(t|x) = (shape/scale) (t/scale)^(shape-1) exp(x'beta), t in days since day 90",
        },
        "churn": {
            "definition": "the first day without an active subscription (end_date of the first "
            "episode), on or before the period end",
            "churned_accounts": int(churned.sum()),
            "reactivated_accounts": int(react.sum()),
        },
        "rows": {k: int(len(v) if isinstance(v, pd.DataFrame) else v.num_rows) for k, v in tables.items()},
    }
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(info, indent=2) + "\n")
    return [*paths, truth_path]


def _write(name: str, t: pd.DataFrame | pa.Table, out: Path, fmt: str) -> Path:
    table = t if isinstance(t, pa.Table) else pa.Table.from_pandas(t, preserve_index=False)
    table = table.replace_schema_metadata(None)
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.unit != "us":
            table = table.set_column(i, f.name, table.column(i).cast(pa.timestamp("us")))
    for stale in (out / f"{name}.parquet", out / f"{name}.csv"):
        stale.unlink(missing_ok=True)
    path = out / f"{name}.{fmt}"
    tmp = path.with_suffix(path.suffix + ".tmp")
    if fmt == "parquet":
        pq.write_table(table, tmp, compression="zstd")
    else:
        pacsv.write_csv(table, tmp)
    tmp.replace(path)
    return path
