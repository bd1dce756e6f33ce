"""Segments: touch tiers by ARR, the 9-segment map of customers and moves between snapshots.

* **Touch tier** (ARR = 12 x paid MRR on ``as_of``): ``high-touch`` when ARR >=
  ``high_touch_min``, ``low-touch`` when ARR >= ``low_touch_min``, ``tech-touch`` below;
  ``inactive`` when the account is not a customer on ``as_of`` (:mod:`csresearch.data.timeline`).
* **9-segment map** (Nishiguchi's customer-centric map): the state of a customer at a monthly
  snapshot - ``loyal`` (active and heavy use), ``general`` (active and light use),
  ``lapsed`` (was a customer, not one at the snapshot) - split by preference from the latest
  NPS answer: ``prefers`` (promoter or passive, 7-10), ``does not prefer`` (detractor, 0-6)
  or ``unknown`` (no answer in the window). Heavy use = usage percentile (mid-rank, within
  month and ``within`` group, among active accounts) >= ``heavy_percentile``; an active account
  without a usage value counts as general, with a :class:`~csresearch.errors.DataQualityWarning`. The map's other
  states, ``aware (never bought)`` and ``unaware``, are people who never bought: they are
  absent from customer data and are listed with no count and a note. "Active" is the
  features' ``active_at_snapshot``: a customer on the snapshot day by the timeline
  (:mod:`csresearch.features.grid`); no other rule decides it here.

Example
-------
>>> touch_tier(pd.Series([80_000.0, 20_000.0, 500.0, 0.0])).tolist()
['high-touch', 'low-touch', 'tech-touch', 'inactive']
"""

from __future__ import annotations

import warnings

import ibis
import numpy as np
import pandas as pd

from csresearch.arrays import choose
from csresearch.data import timeline
from csresearch.data.embedded import fetch
from csresearch.data.periods import require_columns
from csresearch.errors import ConfigError, DataQualityWarning, DataValidationError

TIERS = ("high-touch", "low-touch", "tech-touch", "inactive")
STATES = ("loyal", "general", "lapsed")
NEVER_BOUGHT = ("aware (never bought)", "unaware")
PREFERENCES = ("prefers", "does not prefer", "unknown")
NEW = "not yet a customer"
ABSENT_NOTE = "never bought: absent from customer data, not observable here"


def touch_tier(arr: pd.Series, high_touch_min: float = 50_000, low_touch_min: float = 10_000) -> pd.Series:
    """Touch tier of each ARR value (see the module docstring); 0 or missing ARR -> inactive."""
    if not low_touch_min < high_touch_min:
        raise ConfigError(f"touch_tiers: low_touch_min ({low_touch_min}) must be below high_touch_min "
                          f"({high_touch_min})")
    a = pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy(dtype="float64")
    tier = choose([~(a > 0), a >= high_touch_min, a >= low_touch_min], ["inactive", "high-touch", "low-touch"],
                  "tech-touch")
    return pd.Series(tier, index=pd.Series(arr).index, name="tier")


def touch_tiers(subscriptions, as_of: str, high_touch_min: float = 50_000,
                low_touch_min: float = 10_000) -> pd.DataFrame:
    """Per account with a subscription started by ``as_of``: paid mrr and arr on ``as_of`` (the
    timeline's ``mrr_as_of``; 0 when not a customer) and the touch tier.

    Parameters
    ----------
    subscriptions
        A :class:`~csresearch.data.sources.DataSource`, an Ibis table or a pandas frame of
        subscriptions.

    Example
    -------
    >>> touch_tiers(subs, "2025-12-31").tier.value_counts()  # doctest: +SKIP
    """
    subs = ibis.memtable(subscriptions) if isinstance(subscriptions, pd.DataFrame) else subscriptions
    t = timeline.account_timeline(subs, as_of)
    snap = fetch(t.select("account_id", mrr=t.mrr_as_of))
    out = snap[["account_id", "mrr"]].assign(arr=12 * snap["mrr"])
    out["tier"] = touch_tier(out["arr"], high_touch_min, low_touch_min).to_numpy()
    return out.sort_values("account_id", ignore_index=True)


def _month(period) -> pd.Timestamp:
    return pd.Timestamp(period).to_period("M").to_timestamp()


def nine_segments(features: pd.DataFrame, period, heavy_percentile: float = 50,
                  within: str | None = "segment", usage: str = "usage_per_day") -> pd.DataFrame:
    """State, preference and 9-segment label of every customer at the month ``period``.

    Parameters
    ----------
    features
        :func:`csresearch.features.account.account_month_features` output (or any frame with
        account_id, period_start, active_at_snapshot, nps_latest, the ``usage`` column and
        ``within``).
    period
        A date in the snapshot month (e.g. ``"2025-06"`` or ``"2025-06-30"``).

    Returns
    -------
    DataFrame: account_id, period_start, state, preference, segment9 (``state / preference``),
    usage_percentile (NaN for lapsed accounts).
    """
    need = ["account_id", "period_start", "active_at_snapshot", "nps_latest", usage]
    require_columns(features, "features", need + ([within] if within else []))
    if not 0 <= heavy_percentile <= 100:
        raise ConfigError(f"heavy_percentile must lie in [0, 100], not {heavy_percentile}")
    p = _month(period)
    f = features.loc[features["period_start"] == p]
    if f.empty:
        months = features["period_start"]
        raise DataValidationError(
            f"features: no row for the month {p.date()}; months present: "
            f"{months.min().date() if len(months) else '-'} .. {months.max().date() if len(months) else '-'}")
    active = f["active_at_snapshot"].astype(bool).to_numpy()
    x = pd.to_numeric(f[usage], errors="coerce").where(active)
    n_unknown = int((active & x.isna().to_numpy()).sum())
    if n_unknown:
        warnings.warn(f"nine_segments: {n_unknown} of {int(active.sum())} active accounts have no '{usage}' "
                      f"in {p.date():%Y-%m} (usage_events absent?): they count as general (light use), "
                      "not loyal", DataQualityWarning, stacklevel=2)
    keys = [f[within].astype(str)] if within else [pd.Series(0, index=f.index)]
    g = x.groupby(keys)
    pct = 100 * (g.rank(method="average") - 0.5) / g.transform("count")
    heavy = (pct >= heavy_percentile).to_numpy()
    state = np.where(~active, "lapsed", np.where(heavy, "loyal", "general"))
    nps = pd.to_numeric(f["nps_latest"], errors="coerce").to_numpy()
    pref = np.where(np.isnan(nps), "unknown", np.where(nps >= 7, "prefers", "does not prefer"))
    out = pd.DataFrame({"account_id": f["account_id"].to_numpy(), "period_start": p, "state": state,
                        "preference": pref})
    out["segment9"] = out["state"] + " / " + out["preference"]
    out["usage_percentile"] = pct.to_numpy()
    return out.sort_values("account_id", ignore_index=True)


def segment_map(labels: pd.DataFrame) -> pd.DataFrame:
    """Counts and shares of the 9-segment map (plus ``unknown`` preference rows).

    The never-bought states are listed with ``n`` missing and a ``note``: customer data
    cannot count them.
    """
    require_columns(labels, "segment labels", ["state", "preference"])
    rows = [(s, p) for s in STATES for p in PREFERENCES]
    counts = labels.groupby(["state", "preference"]).size()
    total = len(labels)
    out = pd.DataFrame(rows, columns=["state", "preference"])
    out["n"] = [float(counts.get((s, p), 0)) for s, p in rows]
    out["share"] = out["n"] / total if total else np.nan
    out["note"] = ""
    absent = pd.DataFrame({"state": [NEVER_BOUGHT[0], NEVER_BOUGHT[0], NEVER_BOUGHT[1]],
                           "preference": ["prefers", "does not prefer", "-"], "n": np.nan,
                           "share": np.nan, "note": ABSENT_NOTE})
    return pd.concat([out, absent], ignore_index=True)


def segment_transitions(features: pd.DataFrame, period_from, period_to, **kw) -> pd.DataFrame:
    """Moves between 9-segment labels from one snapshot month to a later one.

    Accounts that were not customers yet at ``period_from`` come from ``'not yet a
    customer'``. Returns the long table from_segment, to_segment, n, share (of the
    from_segment's accounts: row shares); :func:`transition_matrix` pivots it.

    Example
    -------
    >>> t = segment_transitions(feats, "2025-06", "2025-12")  # doctest: +SKIP
    >>> transition_matrix(t, "share")  # doctest: +SKIP
    """
    a, b = _month(period_from), _month(period_to)
    if not a < b:
        raise ConfigError(f"period_from ({a.date()}) must precede period_to ({b.date()})")
    la = nine_segments(features, a, **kw)[["account_id", "segment9"]]
    lb = nine_segments(features, b, **kw)[["account_id", "segment9"]]
    j = lb.merge(la, on="account_id", how="outer", suffixes=("_to", "_from"))
    j["segment9_from"] = j["segment9_from"].fillna(NEW)
    if j["segment9_to"].isna().any():  # a grid row always continues to later months
        raise DataValidationError("features: accounts present at period_from are missing at period_to")
    n = j.groupby(["segment9_from", "segment9_to"]).size().rename("n").reset_index()
    n = n.rename(columns={"segment9_from": "from_segment", "segment9_to": "to_segment"})
    n["share"] = n["n"] / n.groupby("from_segment")["n"].transform("sum")
    return n.sort_values(["from_segment", "to_segment"], ignore_index=True)


def transition_matrix(transitions: pd.DataFrame, value: str = "n") -> pd.DataFrame:
    """The transitions as a from x to matrix of counts (``'n'``) or row shares (``'share'``)."""
    if value not in ("n", "share"):
        raise ConfigError(f"value must be 'n' or 'share', not {value!r}")
    m = transitions.pivot(index="from_segment", columns="to_segment", values=value)
    return m.fillna(0).astype("int64" if value == "n" else "float64")
