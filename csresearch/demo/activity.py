"""The demo's activity tables: usage events, subscriptions with MRR, onboarding milestones.

Example
-------
>>> rng = np.random.default_rng(1)  # doctest: +SKIP
>>> usage = usage_events(rng, pop, life, usage_scale=1.0)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from csresearch.demo.model import END, EVENT_TYPES, MILESTONES, N_DAYS, days, ts
from csresearch.demo.population import Life, Population


def usage_events(rng: np.random.Generator, pop: Population, life: Life, usage_scale: float) -> pa.Table:
    """Usage events over every active day: weekly seasonality, per-account trend, a fade before churn.

    Days 0..89 reuse the counts drawn for the covariates; later days are drawn here, with
    ``usage_scale`` multiplying the expected count per day.
    """
    start, acc, day = pop.start, life.acc, life.day
    rel = day - start[acc]
    dow = (day + 6) % 7
    rate = pop.base_rate[acc] * np.exp(np.clip(pop.slope[acc] * rel / 30, -2.5, 1.5))
    rate *= np.where(dow >= 5, 0.3, 1.0)
    to_churn = life.churn_day[acc] - day
    fading = life.churned[acc] & (to_churn <= 60) & (to_churn > 0) & (day < life.end1[acc])
    rate *= np.where(fading, 0.3 + 0.7 * to_churn / 60, 1.0)
    rate *= usage_scale  # exact at 1.0: the files stay byte-identical
    cnt = rng.poisson(rate)
    ev_acc = np.repeat(np.concatenate([life.acc90, acc]), np.concatenate([life.cnt90, cnt]))
    ev_day = np.repeat(np.concatenate([life.day90, day]), np.concatenate([life.cnt90, cnt]))
    m = len(ev_acc)
    secs = (8 * 3600 + rng.gamma(4.0, 2.6 * 3600, m)).astype(np.int64) % 86400
    order = np.lexsort((secs, ev_day, ev_acc))
    ev_acc, ev_day, secs = ev_acc[order], ev_day[order], secs[order]
    etype = np.minimum((rng.random(m) ** 1.6 * pop.breadth[ev_acc]).astype(int), len(EVENT_TYPES) - 1)
    seats = pop.seats[ev_acc]
    users = np.minimum((rng.random(m) ** 2 * seats).astype(int), seats - 1)
    # Strings are built in Arrow (take, cast), not as numpy unicode arrays (28-84 bytes a row):
    # the same values, a fraction of the memory.
    acc_arr = pa.array(pop.ids).take(pa.array(ev_acc))
    del order, seats
    return pa.table(
        {
            "account_id": acc_arr,
            "occurred_at": pa.array(ts(ev_day, secs)),
            "event_type": pa.array(EVENT_TYPES).take(pa.array(etype)),
            "user_id": pc.binary_join_element_wise(acc_arr, pc.cast(pa.array(users), pa.string()), "-u"),
            "quantity": pa.array((1 + rng.poisson(0.3, m)).astype(np.float64)),
        }
    )


def _subscription_rows(rng: np.random.Generator, pop: Population, life: Life) -> list[tuple]:
    """(account, start day, end day or -1, mrr, product, term) per subscription, in draw order."""
    n, seg, start, end1, react = pop.n, pop.seg, pop.start, life.end1, life.react
    mrr0 = np.round(np.array([6000, 1400, 180])[seg] * rng.lognormal(0, 0.35, n))
    term = np.array([12, 12, 1])[seg]
    change_rate = np.array([1.0, 0.7, 0.25])[seg] / 365
    rows: list[tuple] = []
    n_changes = rng.poisson(change_rate * (end1 - start))
    for i in range(n):
        k = n_changes[i]
        cuts = np.sort(rng.integers(start[i] + 30, max(start[i] + 31, end1[i]), k)) if k else []
        cuts = [c for c in np.unique(cuts) if start[i] < c < end1[i]]
        bounds = [start[i], *cuts, end1[i]]
        value = mrr0[i]
        for j in range(len(bounds) - 1):
            if j:
                up = rng.random() < 0.65 + 0.1 * np.tanh(pop.slope[i] * 10)
                value = max(20.0, np.round(value * (rng.uniform(1.1, 1.5) if up else rng.uniform(0.6, 0.92))))
            end = bounds[j + 1] if (bounds[j + 1] < N_DAYS) else -1
            rows.append((i, bounds[j], end, value, "core", term[i]))
        if seg[i] == 0 and rng.random() < 0.4:
            a0 = start[i] + int(rng.integers(60, 400))
            if a0 < end1[i] - 1:
                rows.append((i, a0, end1[i] if end1[i] < N_DAYS else -1,
                             np.round(mrr0[i] * 0.25), "analytics", 12))
        if react[i]:
            rows.append((i, life.r_start[i], -1, np.round(mrr0[i] * rng.uniform(0.7, 1.1)), "core", term[i]))
    return rows


def subscriptions(rng: np.random.Generator, pop: Population, life: Life) -> pd.DataFrame:
    """Subscriptions: MRR expansions and contractions, an analytics add-on, reactivations."""
    sr = pd.DataFrame(
        _subscription_rows(rng, pop, life), columns=["i", "s", "e", "mrr", "product", "term_months"]
    )
    subs = pd.DataFrame(
        {
            "subscription_id": [f"S{j:07d}" for j in range(1, len(sr) + 1)],
            "account_id": pop.ids[sr.i.to_numpy()],
            "start_date": days(sr.s.to_numpy()),
            "end_date": pd.Series(days(np.where(sr.e < 0, 0, sr.e))).where(sr.e >= 0),
            "mrr": sr.mrr.astype(float),
            "product": sr["product"],
            "term_months": sr.term_months.astype("int64"),
        }
    )
    subs["start_date"] = subs.start_date.dt.date
    subs["end_date"] = subs.end_date.dt.date.where(subs.end_date.notna(), None)
    return subs


def onboarding_milestones(rng: np.random.Generator, pop: Population) -> pd.DataFrame:
    """Onboarding milestones with their due and completion times (due within the data window)."""
    n, ids, start = pop.n, pop.ids, pop.start
    ms = []
    for k, (mname, due) in enumerate(MILESTONES):
        d = start + pop.done_day[:, k]
        ok = np.isfinite(d) & (d <= N_DAYS - 1)
        secs_ = rng.integers(9 * 3600, 18 * 3600, n)
        ms.append(
            pd.DataFrame(
                {
                    "account_id": ids,
                    "milestone": mname,
                    "due_at": ts(start + due, np.zeros(n, dtype=np.int64)),
                    "completed_at": pd.Series(ts(np.where(ok, d, 0).astype(np.int64), secs_)).where(ok),
                    "_o": np.arange(n) * 10 + k,
                }
            )
        )
    milestones = pd.concat(ms).sort_values("_o").drop(columns="_o")
    return milestones[milestones.due_at <= pd.Timestamp(END)].reset_index(drop=True)
