"""Command ``metrics``: the CS metrics table per period (and group) of a data source."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from csresearch.cli._common import handle_errors, write_table
from csresearch.data.engine import ENGINE_HELP


def register(app: typer.Typer) -> None:
    @app.command("metrics")
    @handle_errors
    def metrics(
        source: Annotated[str, typer.Argument(help="folder of CSV/Parquet files, .duckdb file, Ibis URL or env:VAR")],
        as_of: Annotated[str, typer.Option("--as-of", help="ISO date; the last period ends on or before it")],
        grain: Annotated[str, typer.Option(help="month or quarter")] = "month",
        by: Annotated[str | None, typer.Option(help="a column of accounts to split by, e.g. segment")] = None,
        format: Annotated[str, typer.Option("--format", help="csv, json or parquet")] = "csv",
        out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
        mapping: Annotated[Path | None, typer.Option(help="YAML renaming your tables/columns onto the contract")] = None,
        engine: Annotated[str, typer.Option(help=ENGINE_HELP)] = "duckdb",
    ) -> None:
        """MRR bridge, logo churn, GRR, NRR, NPS, CES and CSAT: one row per period (and group)."""
        from csresearch.data import timeline
        from csresearch.data.engine import check_engine, open_on
        from csresearch.metrics import period_table

        src = open_on(source, engine=check_engine(engine), mapping=mapping)
        table = period_table(src, as_of, grain, by)
        for note in table.attrs.get("notes", []):
            typer.echo(f"note: {note}", err=True)
        customers = {"active_customers": timeline.active_customers(src, as_of),
                     "free_only_accounts": timeline.free_only_accounts(src, as_of)}
        typer.echo(f"note: active customers on {as_of}: {customers['active_customers']:,}", err=True)
        write_table(table, format, out, {"as_of": as_of, "grain": grain, **customers})
