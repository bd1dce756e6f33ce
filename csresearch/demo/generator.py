"""Generate the demo data set: draw each table in a fixed order, write the files and truth.json.

Two generating models: ``"dynamic"`` (the default; :mod:`csresearch.demo.dynamic`, a latent
monthly engagement state and a time-varying Cox truth, written block by block) and
``"static"`` (the first model: a Weibull proportional-hazards truth on the first 90 days,
byte-identical to what it always wrote).

Example
-------
>>> paths = generate(n_accounts=200, seed=1, out="/tmp/demo")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from csresearch.demo import activity, feedback, population
from csresearch.demo.dynamic.generate import generate_dynamic
from csresearch.demo.dynamic.truth import DynamicTruth
from csresearch.demo.model import DEFINITIONS, END, LANDMARK, START, Truth
from csresearch.errors import ConfigError

Table = pd.DataFrame | pa.Table


def generate(
    n_accounts: int = 10_000,
    seed: int = 42,
    out: str | Path = "data/demo",
    fmt: str = "parquet",
    truth: Truth | DynamicTruth | None = None,
    usage_scale: float = 1.0,
    model: str = "dynamic",
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
    truth
        The generating model's parameters: :class:`Truth` (static) or
        :class:`~csresearch.demo.dynamic.truth.DynamicTruth` (dynamic); the model's default when None.
    usage_scale
        Multiplies the expected number of usage events per account (e.g. 0.25 for a lighter
        data set). Static model: ``1.0``, the default, keeps the files byte-identical per seed;
        another value changes the usage events, the ``usage_trend`` covariate (still computed
        from the events written) and every later draw, and is recorded in ``truth.json``.
        Dynamic model: the hazard reads usage per day divided by it, so churn barely changes.
    model
        ``"dynamic"`` (default): monthly engagement state, time-varying Cox truth, annual
        contracts, ``truth_risk.parquet`` with the true linear predictor per account-month;
        ``"static"``: the Weibull model on the first 90 days (its files are byte-identical to
        earlier versions').

    Returns
    -------
    list of Path
        The files written (``truth.json`` last).

    Examples
    --------
    >>> paths = generate(n_accounts=200, seed=1, out="/tmp/demo")  # doctest: +SKIP
    >>> sorted(p.name for p in paths)[:2]  # doctest: +SKIP
    ['accounts.parquet', 'ces_responses.parquet']
    """
    if n_accounts < 10:
        raise ConfigError(f"--accounts must be at least 10, not {n_accounts}")
    if fmt not in ("parquet", "csv"):
        raise ConfigError(f"--format must be parquet or csv, not {fmt!r}")
    if not (math.isfinite(usage_scale) and usage_scale > 0):
        raise ConfigError(f"--usage-scale must be a positive number, not {usage_scale!r}")
    if model not in ("dynamic", "static"):
        raise ConfigError(f"--model must be dynamic or static, not {model!r}")
    want = DynamicTruth if model == "dynamic" else Truth
    if truth is not None and not isinstance(truth, want):
        raise ConfigError(f"model {model!r} takes a {want.__name__}, not a {type(truth).__name__}")
    if model == "dynamic":
        return generate_dynamic(n_accounts, seed, Path(out), fmt, truth, usage_scale)
    truth = truth or Truth()
    tables, life = _draw_tables(np.random.default_rng(seed), n_accounts, truth, usage_scale)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [_write(name, t, out, fmt) for name, t in tables.items()]
    info = _truth_info(seed, n_accounts, truth, life, tables)
    if usage_scale != 1.0:  # absent at 1.0, so the default truth.json stays byte-identical
        info["usage_scale"] = usage_scale
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(info, indent=2) + "\n")
    return [*paths, truth_path]


def _draw_tables(
    rng: np.random.Generator, n: int, truth: Truth, usage_scale: float
) -> tuple[dict[str, Table], population.Life]:
    """Every table, drawn from ``rng`` in the one order that keeps the files identical per seed."""
    accounts, pop = population.draw_accounts(rng, n)
    population.draw_traits(rng, pop)
    life = population.draw_first_90_days(rng, pop, usage_scale)
    population.draw_churn(rng, pop, life, truth)
    usage = activity.usage_events(rng, pop, life, usage_scale)
    subs = activity.subscriptions(rng, pop, life)
    milestones = activity.onboarding_milestones(rng, pop)
    tickets, ces, csat = feedback.support_tickets(rng, pop, life)
    nps = feedback.nps_responses(rng, pop, life)
    emails, e_acc, e_day = feedback.email_events(rng, pop, life)
    sentiment = feedback.csm_sentiment(rng, pop, life, e_acc, e_day)
    reasons = feedback.churn_reasons(rng, pop, life)
    tables: dict[str, Table] = {
        "accounts": accounts,
        "subscriptions": subs,
        "usage_events": usage,
        "nps_responses": nps,
        "ces_responses": ces,
        "csat_responses": csat,
        "support_tickets": tickets,
        "email_events": emails,
        "onboarding_milestones": milestones,
        "csm_sentiment": sentiment,
        "churn_reasons": reasons,
    }
    return tables, life


def _truth_info(seed: int, n: int, truth: Truth, life: population.Life, tables: dict[str, Table]) -> dict:
    """The content of ``truth.json``: the model, its covariate definitions, churn and row counts."""
    return {
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
            "churned_accounts": int(life.churned.sum()),
            "reactivated_accounts": int(life.react.sum()),
        },
        "rows": {k: int(len(v) if isinstance(v, pd.DataFrame) else v.num_rows) for k, v in tables.items()},
    }


def _write(name: str, t: Table, out: Path, fmt: str) -> Path:
    """Write one table as ``out/<name>.<fmt>`` (timestamps in microseconds, no pandas metadata)."""
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
