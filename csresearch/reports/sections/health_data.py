"""What the health report computes once per run and its sections share: the inputs, one
scoring of them (the history of the months the sections read and the playbooks' features),
the customers on as_of, the current month's scores, names and MRR.

Scores come from :mod:`csresearch.health.score` (configured by the report's
``health_config_path``); the playbook features from :mod:`csresearch.health.playbooks`.
"""

from __future__ import annotations

import pandas as pd

from csresearch.memory import release_freed_memory
from csresearch.reports.context import ReportContext

#: the predictive check scores the month this many months before the last one
LOOKBACK_MONTHS = 12
HORIZON_DAYS = 180


def config(ctx: ReportContext):
    """The report's health configuration (:func:`csresearch.health.score.load_health_config` of the
    ``health_config_path`` parameter), read once per run."""
    from csresearch.health.score import load_health_config

    return ctx.memo("health_config", lambda: load_health_config(ctx.params.get("health_config_path") or None))


def inputs(ctx: ReportContext) -> pd.DataFrame:
    """The health inputs of every account-month (:func:`csresearch.health.score.health_features`).
    The optional usage columns (breadth, distinct users: aggregates over every usage event) are
    measured only when the health configuration or a playbook rule reads them."""
    from csresearch.features.account import OPTIONAL_USAGE
    from csresearch.health.playbooks import load_playbook
    from csresearch.health.score import COMPONENTS, health_features

    cfg = config(ctx)
    rules = load_playbook(ctx.params.get("playbook_path") or None).rules
    read = {COMPONENTS[c] for c in cfg.components} | {c.feature for r in rules for c in r.when} | {cfg.segment_by}
    return health_features(ctx.source, ctx.as_of, cfg, usage=[c for c in OPTIONAL_USAGE if c in read])


def scored(ctx: ReportContext) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """What the sections read of one scoring of the inputs (once per run,
    :func:`csresearch.health.score.score_recent`): the history with every column of the months
    a section reads them in (the current one, the movers' previous one, the predictive check's
    ``LOOKBACK_MONTHS`` before), the bands of the last ``FLIP_MONTHS`` + 1 months (the flip
    rates') and :func:`csresearch.health.playbooks.with_scores` of every month, with only the
    columns the worklists read (:func:`csresearch.health.worklist.columns_read`). The inputs and
    the other months' components are not kept: at a million accounts, gigabytes no section reads."""
    from csresearch.arrays import take_rows
    from csresearch.health.playbooks import load_playbook, with_scores
    from csresearch.health.score import COMPONENTS, score_recent
    from csresearch.health.worklist import columns_read
    from csresearch.reports.sections.health_worklist import FLIP_MONTHS

    def build() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        pb = load_playbook(ctx.params.get("playbook_path") or None)
        cfg = config(ctx)
        read = columns_read(pb)
        feats = inputs(ctx)  # this function's own frame: each step drops what no later one reads
        scoring = {COMPONENTS[c] for c in cfg.components} | {cfg.segment_by, "active", "snapshot_date"}
        for c in [c for c in feats.columns if c not in read | scoring | {"arr"}]:
            del feats[c]
        release_freed_memory()
        start = feats["period_start"]
        first, last = start.min(), start.max()
        months = {last, last - pd.DateOffset(months=1), max(first, last - pd.DateOffset(months=LOOKBACK_MONTHS))}
        scores, hist = score_recent(feats, cfg, months)
        for c in [c for c in feats.columns if c not in read | {"active", "arr"}]:
            del feats[c]
        release_freed_memory()
        at = scores["period_start"] >= last - pd.DateOffset(months=FLIP_MONTHS)  # and the month before the first
        bands = take_rows(scores, at.to_numpy(), ["account_id", "period_start", "score", "band", "band_raw"])
        pf = with_scores(feats, scores, pb)  # reads its SCORE_COLUMNS without copying them
        del feats, scores
        for c in [c for c in pf.columns if c not in read]:
            del pf[c]
        return hist, bands, pf

    return ctx.memo("health_scored", build)


def history(ctx: ReportContext) -> pd.DataFrame:
    """Health with every column in the months the sections read them (:func:`scored`)."""
    return scored(ctx)[0]


def bands(ctx: ReportContext) -> pd.DataFrame:
    """Scores and bands of the last ``FLIP_MONTHS`` + 1 months (:func:`scored`)."""
    return scored(ctx)[1]


def customers(ctx: ReportContext) -> pd.Index:
    """The customers on as_of (the timeline's ``active_on``; computed once per run)."""
    from csresearch.health.score import customers_on

    return ctx.memo("customers_on", lambda: customers_on(ctx.source, ctx.as_of))


def latest(ctx: ReportContext) -> pd.DataFrame:
    """The last month's scores of the customers on as_of (not of accounts that churned in it;
    computed once per run)."""
    from csresearch.health.score import latest as last_month

    return ctx.memo("health_latest", lambda: last_month(history(ctx), customers(ctx)))


def names(ctx: ReportContext) -> pd.Series:
    acc = ctx.df("accounts")
    return acc.drop_duplicates("account_id").set_index("account_id")["name"]


def mrr_now(ctx: ReportContext) -> pd.Series:
    from csresearch.data import timeline

    def build() -> pd.Series:  # paid MRR of the customers on as_of (the timeline's active_on)
        return timeline.active_on(ctx.source, ctx.as_of).execute().set_index("account_id")["mrr"]

    return ctx.memo("mrr_now", build)


def band_words(ctx: ReportContext, hysteresis: bool = False) -> str:
    """The bands of the report's health configuration in words: 'red under 40, yellow 40 to 70,
    green 70 and over'; with ``hysteresis`` and a margin in the configuration (10), an example of
    it: '(with hysteresis, a yellow account stays yellow down to 30)'."""
    cfg = config(ctx)
    bands, margin = cfg.bands, cfg.band_margin if hysteresis else 0
    last = len(bands) - 1
    text = ", ".join(f"{name} under {hi:g}" if i == 0 else f"{name} {lo:g} and over" if i == last
                     else f"{name} {lo:g} to {hi:g}" for i, (name, lo, hi) in enumerate(bands))
    if margin > 0 and len(bands) > 1:
        name, lo, _ = bands[1]
        text += f" (with hysteresis, a {name} account stays {name} down to {max(lo - margin, 0):g})"
    return text
