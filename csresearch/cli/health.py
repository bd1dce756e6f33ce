"""Commands ``health`` (health score history, movers, contributions) and ``playbooks`` (CTAs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from csresearch.cli._common import fail, handle_errors, write_table
from csresearch.data.engine import ENGINE_HELP

VIEWS = ("history", "latest", "movers", "contributions", "validation")
SOURCE_HELP = "folder of CSV/Parquet files, .duckdb file, Ibis URL or env:VAR"


def register(app: typer.Typer) -> None:
    from csresearch.cli.health_learn import HealthCommand, validation_view

    @app.command("health", cls=HealthCommand)
    @handle_errors
    def health(
        source: Annotated[str, typer.Argument(help=SOURCE_HELP)],
        as_of: Annotated[str, typer.Option("--as-of", help="ISO date; the last month ends on or before it")],
        config: Annotated[Path | None, typer.Option(help="health YAML (default: the packaged one)")] = None,
        view: Annotated[str, typer.Option(help="history (every active month), latest, movers or contributions")] = "history",
        top: Annotated[int, typer.Option(help="movers: how many of the largest drops")] = 20,
        train_until: Annotated[str | None, typer.Option(help="validation: learn weights up to this date")] = None,
        weights: Annotated[Path | None, typer.Option(help="validation: a learned health YAML")] = None,
        horizon_days: Annotated[float, typer.Option(help="validation: churn within N days")] = 180,
        format: Annotated[str, typer.Option("--format", help="csv, json or parquet")] = "csv",
        out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
        mapping: Annotated[Path | None, typer.Option(help="YAML renaming your tables/columns onto the contract")] = None,
        engine: Annotated[str, typer.Option(help=ENGINE_HELP)] = "duckdb",
    ) -> None:
        """Customer health score per account and month: score, band, component points, coverage, trend."""
        from csresearch.data.engine import check_engine, open_on
        from csresearch.health import explain
        from csresearch.health import score as hl

        if view not in VIEWS:
            fail(f"--view must be one of {', '.join(VIEWS)}, not '{view}'")
        cfg = hl.load_health_config(config)
        src = open_on(source, engine=check_engine(engine), mapping=mapping)
        if view == "validation":
            return validation_view(src, source, as_of, config, train_until, weights, horizon_days, format, out)
        hist = hl.health_history(src, as_of, cfg)
        for note in hist.attrs.get("notes", []):
            typer.echo(f"note: {note}", err=True)
        ids = hl.customers_on(src, as_of)
        customers = _customers_note(src, as_of, len(ids))
        if view == "latest":
            table = hl.latest(hist, ids)
        elif view == "movers":
            table = explain.movers(hist, n=top, customers=ids)
        elif view == "contributions":
            table = explain.contributions(hl.latest(hist, ids))
        else:
            table = hist
        if view != "history" and len(table):
            typer.echo(f"note: {table['account_id'].nunique():,} of them in the {view} view "
                       f"({table['period_start'].max():%Y-%m})", err=True)
        write_table(table.reset_index(drop=True), format, out,
                    {"as_of": as_of, "config": cfg.source, "view": view, **customers})

    @app.command("playbooks")
    @handle_errors
    def playbooks(
        source: Annotated[str, typer.Argument(help=SOURCE_HELP)],
        as_of: Annotated[str, typer.Option("--as-of", help="ISO date; the last month ends on or before it")],
        config: Annotated[Path | None, typer.Option(help="playbook YAML (default: the packaged one)")] = None,
        health_config: Annotated[Path | None, typer.Option(help="health YAML for the score and band features")] = None,
        months: Annotated[int, typer.Option(help="evaluate the last N months (CTAs de-duplicated per account and rule)")] = 1,
        view: Annotated[str, typer.Option(help="worklist: one call per account, ranked by MRR at risk, queued by "
                                          "owner and capped (within_capacity); rules: one row per account and rule")] = "worklist",
        format: Annotated[str, typer.Option("--format", help="csv, json or parquet")] = "csv",
        out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
        mapping: Annotated[Path | None, typer.Option(help="YAML renaming your tables/columns onto the contract")] = None,
        engine: Annotated[str, typer.Option(help=ENGINE_HELP)] = "duckdb",
    ) -> None:
        """Calls-to-action from the playbook rules, as a worklist: ranked by expected MRR at risk, by owner
        (CSM, pooled queue, digital campaign), with the reason in words and within_capacity."""
        from csresearch.data import timeline
        from csresearch.data.engine import check_engine, open_on
        from csresearch.health.playbooks import load_playbook

        pb = load_playbook(config)
        src = open_on(source, engine=check_engine(engine), mapping=mapping)
        if view not in ("worklist", "rules"):
            fail(f"--view must be worklist or rules, not '{view}'")
        ctas, meta = _playbook_rows(src, as_of, pb, health_config, months, view)
        customers = _customers_note(src, as_of, timeline.active_customers(src, as_of))
        typer.echo(f"{meta.get('calls', len(ctas)):,} calls-to-action from {len(pb.rules)} rules for "
                   f"{ctas['account_id'].nunique():,} of the {customers['active_customers']:,} "
                   f"active customers on {as_of}", err=True)
        write_table(ctas, format, out, {"as_of": as_of, "playbook": pb.source, "months": months, **customers, **meta})


def _playbook_rows(src, as_of: str, pb, health_config, months: int, view: str):
    """The rows to export and their metadata: the worklist, or one row per account and rule."""
    from csresearch.health.playbooks import playbook_ctas
    from csresearch.health.worklist import worklist, worklist_meta

    if view == "rules":
        return playbook_ctas(src, as_of, pb, health_config, months), {}
    wl = worklist(src, as_of, pb, health_config, months)
    meta = worklist_meta(wl)
    typer.echo(f"worklist: {meta['worklist_size']:,} calls this week within the weekly capacity of "
               f"{meta['worklist_capacity']:,} ({meta['new']:,} new since {meta['previous']}, {meta['waiting']:,} "
               f"waiting, {meta['called']:,} handed out in the last {meta['cooldown_weeks']} weeks); "
               f"{meta['watch']:,} under the risk floor of {meta['risk_floor']:.1%} churn within "
               f"{meta['capacity_horizon_days']} days (watch); {meta['digital_size']:,} to the digital campaign",
               err=True)
    return wl, meta


def _customers_note(src, as_of: str, n: int) -> dict:
    """Print "note: active customers on <as_of>: N" (the timeline's count) on stderr and return
    the export metadata (active_customers, free_only_accounts)."""
    from csresearch.data import timeline

    meta = {"active_customers": int(n), "free_only_accounts": timeline.free_only_accounts(src, as_of)}
    typer.echo(f"note: active customers on {as_of}: {meta['active_customers']:,}", err=True)
    return meta
