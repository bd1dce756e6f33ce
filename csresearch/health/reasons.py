"""Reasons in words: each fired rule's conditions said with the account's numbers and dates.

:func:`describe` turns the playbook's calls to action into sentences a CSM reads
("usage down 40 % vs the previous 3 months, NPS 3 on 2025-11-02"); :func:`join_reasons`
joins one account's reasons, each phrase once (:mod:`csresearch.health.worklist`).

Example
-------
>>> join_reasons(["health band red (score 18)", "renewal in 6 days, health band red (score 18)"])
'health band red (score 18); renewal in 6 days'
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csresearch.arrays import take_rows
from csresearch.health.playbooks import Playbook
from csresearch.reports.present import labels


def _n(v) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _day(v) -> str:
    return "" if v is None or pd.isna(v) else pd.Timestamp(v).date().isoformat()


#: the columns :func:`_phrase` reads beside a rule's own features
PHRASE_CONTEXT = {"score", "score_prev", "band_prev", "snapshot_date", "nps_first_days"}
#: which of them (and of the NPS answer day) it reads for a feature
_CONTEXT_OF = {"band": ("score", "band_prev", "score_prev"), "nps_latest": ("nps_latest_on",),
               "nps_first": ("nps_first_days",), "days_to_renewal": ("snapshot_date",)}


def _phrase(feature: str, r: dict, w: dict) -> str | None:
    """One condition of a rule in words, with its number (and date); None to leave it out."""
    v = r.get(feature)
    if feature in ("tier", "active", "active_at_snapshot", "nps_first_days", "band_prev", "score_prev"):
        return None  # context, or said with another feature
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return f"no {labels.words(feature)}"
    if feature == "band":
        s = f"health band {v} (score {_n(r.get('score')) or 0:.0f})"
        if isinstance(r.get("band_prev"), str) and r["band_prev"] != v:
            s += f", {r['band_prev']} last month ({_n(r.get('score_prev')) or 0:.0f})"
        return s
    if feature == "usage_change_pct":
        return f"usage {'down' if v < 0 else 'up'} {abs(v):.0f} % vs the previous {w['baseline_months']} months"
    if feature == "nps_latest":
        on = _day(r.get("nps_latest_on"))
        return f"NPS {v:.0f} on {on}" if on else f"NPS {v:.0f}"
    if feature == "nps_first":
        return f"first NPS {v:.0f} on day {_n(r.get('nps_first_days')) or 0:.0f} of the contract"
    if feature == "days_to_renewal":
        return f"renewal in {v:.0f} days ({_day(pd.Timestamp(r['snapshot_date']) + pd.Timedelta(days=v))})"
    if feature == "tickets":
        return f"{v:.0f} support tickets in {w['ticket_window_months']} months"
    if feature == "ces_mean":
        return f"CES {v:.1f} of 7 (mean of {w['ces_window_months']} months)"
    if feature == "onboarding_overdue":
        return f"{labels.plural(int(v), 'onboarding milestone')} overdue"
    if feature == "tenure_days":
        return f"customer for {v:.0f} days"
    return labels.conditions(f"{feature}={v:.4g}" if isinstance(v, float) else f"{feature}={v}")


def _nps_dates(src, rows: pd.DataFrame) -> pd.Series:
    """Day of the latest NPS answer on or before each row's snapshot (NaT without one)."""
    if not src.has("nps_responses") or rows.empty:
        return pd.Series(pd.NaT, index=rows.index)
    r = src.df("nps_responses")[["account_id", "responded_at"]].dropna()
    r = r.assign(account_id=r["account_id"].astype(str), on=r["responded_at"].dt.normalize())
    r = r.sort_values("on")
    left = rows[["account_id", "snapshot_date"]].assign(account_id=rows["account_id"].astype(str),
                                                        _i=np.arange(len(rows)))
    m = pd.merge_asof(left.sort_values("snapshot_date"), r[["account_id", "on"]], left_on="snapshot_date",
                      right_on="on", by="account_id", direction="backward")
    return pd.Series(m.sort_values("_i")["on"].to_numpy(), index=rows.index)


def describe(ctas: pd.DataFrame, features: pd.DataFrame, playbook: Playbook, windows: dict,
             src=None) -> pd.DataFrame:
    """``ctas`` with ``reason``: each rule's conditions in words, with the account's numbers and
    dates ("usage down 40 % vs the previous 3 months, NPS 3 on 2025-11-02"); pure apart from
    reading NPS answer days from ``src`` (optional).

    ``windows``: the health inputs' windows (baseline_months, ticket_window_months,
    ces_window_months), as :func:`csresearch.features.account.check_input_options` returns them.
    """
    feats = {r.name: list(dict.fromkeys(c.feature for c in r.when)) for r in playbook.rules}
    read = {f for fs in feats.values() for f in fs} | PHRASE_CONTEXT  # the columns _phrase reads
    cols = ["account_id", "period_start", *[c for c in features.columns if c in read - {"account_id", "period_start"}]]
    months = features["period_start"].isin(ctas["period_start"].unique())  # the months the rules fired in
    rows = ctas[["account_id", "period_start"]].merge(take_rows(features, months.to_numpy(), cols),
                                                      on=["account_id", "period_start"],
                                                      how="left")
    rows.index = ctas.index
    rows["nps_latest_on"] = _nps_dates(src, rows) if src is not None else pd.NaT
    reasons = np.full(len(ctas), "", dtype=object)
    rule_of = ctas["rule"].to_numpy()
    for rule in pd.unique(rule_of):  # per rule, only the columns its phrases read (r.get: None without)
        at = np.flatnonzero(rule_of == rule)
        fs = feats.get(rule, [])
        used = [c for c in rows.columns if c in {*fs, *(x for f in fs for x in _CONTEXT_OF.get(f, ()))}]
        sub = rows.iloc[at]  # records as to_dict("records") gives them (tolist boxes alike)
        records = ([dict(zip(used, v, strict=True)) for v in zip(*(sub[c].tolist() for c in used), strict=True)]
                   if used else [{}] * len(at))
        reasons[at] = [", ".join(p for p in (_phrase(f, r, windows) for f in fs) if p) for r in records]
    return ctas.assign(reason=list(reasons))




def join_reasons(reasons) -> str:
    """The reasons of one account's rules joined with "; ", each phrase said once.

    Example
    -------
    >>> join_reasons(["band red (score 18), usage down 39 %", "renewal in 6 days, band red (score 18)"])
    'band red (score 18), usage down 39 %; renewal in 6 days'
    """
    seen: set[str] = set()
    out = []
    for r in reasons:
        new = [p for p in str(r).split(", ") if p and p not in seen]
        seen.update(new)
        if new:
            out.append(", ".join(new))
    return "; ".join(out)
