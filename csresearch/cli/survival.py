"""``csresearch survival``: retention curves, log-rank tests and churn drivers from a table or a source.

Input is either a flat table (``--table FILE`` with ``--duration`` and ``--event COL[=VALUE]``)
or a data source as of a date (``--data SOURCE --as-of DATE``; duration and event default to
the survival table's ``tenure_days`` and ``churned``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from csresearch.cli._common import fail, handle_errors, write_table
from csresearch.data.engine import ENGINE_HELP

survival_app = typer.Typer(
    help="Survival analysis: Kaplan-Meier retention, log-rank tests, Cox churn drivers.",
    no_args_is_help=True,
)

Table = Annotated[Path | None, typer.Option("--table", help="flat CSV/Parquet table, one row per customer")]
Data = Annotated[str | None, typer.Option("--data", help="data source (folder, .duckdb, Ibis URL or env:VAR)")]
AsOf = Annotated[str | None, typer.Option("--as-of", help="ISO date the data source is read as of")]
Duration = Annotated[str | None, typer.Option("--duration", help="duration column (default with --data: tenure_days)")]
Event = Annotated[str | None, typer.Option("--event", help="event column of 0/1, or COL=VALUE (e.g. Churn=Yes)")]
Dropna = Annotated[bool, typer.Option("--dropna", help="drop rows with missing/non-numeric values (count reported)")]
Fmt = Annotated[str, typer.Option("--format", help="csv, json or parquet")]
Out = Annotated[Path | None, typer.Option("--out", help="write to FILE instead of stdout")]
Engine = Annotated[str, typer.Option("--engine", help=ENGINE_HELP + "; with --data only")]


def register(app: typer.Typer) -> None:
    app.add_typer(survival_app, name="survival")


def _load(table, data, as_of, duration, event, engine="duckdb"):
    from csresearch.data.engine import check_engine, open_on
    from csresearch.survival.tables import survival_from_args, survival_table

    engine = check_engine(engine)
    if table is None and data is not None and as_of:
        df, d0, e0 = survival_table(open_on(data, engine=engine), as_of), "tenure_days", "churned"
    elif engine != "duckdb":
        fail(f"--engine {engine} reads a --data source (with --as-of); a --table file is read with pandas")
    else:
        df, d0, e0 = survival_from_args(table, data, as_of)
    duration, event = duration or d0, event or e0
    if not duration or not event:
        fail("--table needs --duration COL and --event COL[=VALUE]")
    return df, duration, event


def _floats(text: str | None) -> list[float]:
    if not text:
        return []
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        fail(f"--at must be comma-separated numbers like 12,24,48, not '{text}'")


def _names(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _run(fn, *args, **kwargs):
    """Call ``fn``; echo data-quality warnings to stderr as ``warning: ...`` lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    from csresearch.errors import DataQualityWarning

    for w in caught:
        if issubclass(w.category, DataQualityWarning):
            typer.echo(f"warning: {w.message}", err=True)
    return out


@survival_app.command("km")
@handle_errors
def km(
    table: Table = None, data: Data = None, as_of: AsOf = None, duration: Duration = None,
    event: Event = None,
    by: Annotated[str | None, typer.Option("--by", help="group column")] = None,
    at: Annotated[str | None, typer.Option("--at", help="horizons, comma-separated (e.g. 12,24,48)")] = None,
    alpha: Annotated[float, typer.Option(help="1 - confidence level of the intervals")] = 0.05,
    ci: Annotated[bool, typer.Option("--ci", help="add S_<h>_lower/S_<h>_upper columns")] = False,
    dropna: Dropna = False, format: Fmt = "csv", out: Out = None, engine: Engine = "duckdb",
) -> None:
    """Kaplan-Meier: per group n, events, median lifetime with interval, S at horizons."""
    from csresearch.survival.curves import km_summary

    df, duration, event = _load(table, data, as_of, duration, event, engine)
    res = _run(km_summary, df, duration, event, by=by, at=_floats(at), alpha=alpha, dropna=dropna, ci=ci)
    write_table(res, format, out)


@survival_app.command("logrank")
@handle_errors
def logrank(
    table: Table = None, data: Data = None, as_of: AsOf = None, duration: Duration = None,
    event: Event = None,
    by: Annotated[str, typer.Option("--by", help="group column")] = ...,
    pairwise: Annotated[bool, typer.Option(help="every pair of groups, Holm-corrected")] = False,
    dropna: Dropna = False, format: Fmt = "csv", out: Out = None, engine: Engine = "duckdb",
) -> None:
    """Log-rank test across the groups of --by: statistic, degrees of freedom, p-value."""

    df, duration, event = _load(table, data, as_of, duration, event, engine)
    from csresearch.survival import logrank as lr

    fn = lr.pairwise_logrank if pairwise else lr.logrank
    write_table(_run(fn, df, duration, event, by, dropna=dropna), format, out)


@survival_app.command("cox")
@handle_errors
def cox(
    table: Table = None, data: Data = None, as_of: AsOf = None, duration: Duration = None,
    event: Event = None,
    covariates: Annotated[str, typer.Option("--covariates", help="comma-separated columns")] = ...,
    categorical: Annotated[str | None, typer.Option("--categorical", help="columns to treat as categorical")] = None,
    reference: Annotated[list[str] | None, typer.Option("--reference", help="COL=LEVEL, repeatable")] = None,
    strata: Annotated[str | None, typer.Option("--strata", help="columns to stratify on")] = None,
    penalizer: Annotated[float, typer.Option(help="ridge/elastic-net penalty (helps separation)")] = 0.0,
    ph_test: Annotated[bool, typer.Option("--ph-test", help="print the proportional-hazards test instead "
                                          "(R's cox.zph: a row per term and GLOBAL)")] = False,
    transform: Annotated[str, typer.Option("--transform", help="time scale of --ph-test: km, rank or identity")] = "km",
    dropna: Dropna = False, format: Fmt = "csv", out: Out = None, engine: Engine = "duckdb",
) -> None:
    """Cox model: one row per term (coef, se, hr, hr_lower, hr_upper, p); concordance and
    log-likelihood as trailing fields (csv) or keys (json)."""
    from csresearch.survival.drivers import CoxModel

    df, duration, event = _load(table, data, as_of, duration, event, engine)
    refs = {}
    for r in reference or []:
        col, sep, level = r.partition("=")
        if not sep:
            fail(f"--reference must be COL=LEVEL, not '{r}'")
        refs[col.strip()] = level.strip()
    model = CoxModel(
        _names(covariates), categorical=_names(categorical), reference=refs,
        strata=_names(strata), penalizer=penalizer, dropna=dropna,
    )
    _run(model.fit, df, duration, event)
    extra = {
        "n": model.n_, "events": model.events_,
        "concordance": round(model.concordance_, 6),
        "log_likelihood": round(model.log_likelihood_, 4),
        "reference": ", ".join(f"{k}={v}" for k, v in model.reference_.items()) or "none",
    }
    if ph_test:
        extra["transform"] = transform
    res = model.ph_test(transform).drop(columns="ph_ok") if ph_test else model.summary
    write_table(res, format, out, extra=extra)
