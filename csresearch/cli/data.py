"""Commands for data: ``demo-data`` and ``validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from csresearch.cli._common import handle_errors


def register(app: typer.Typer) -> None:
    @app.command("demo-data")
    @handle_errors
    def demo_data(
        out: Annotated[Path, typer.Option(help="folder to write the tables and truth.json into")] = Path("data/demo"),
        accounts: Annotated[int, typer.Option(help="number of accounts")] = 10_000,
        seed: Annotated[int, typer.Option(help="random seed; the same seed gives identical files")] = 42,
        format: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
        usage_scale: Annotated[float, typer.Option(help="scale the number of usage events per account, e.g. 0.25 for a lighter data set; 1.0 is the default and keeps the files byte-identical")] = 1.0,
        model: Annotated[str, typer.Option(help="dynamic: monthly engagement state, time-varying churn truth, annual contracts, truth_risk.parquet; static: the first model (churn from the first 90 days)")] = "dynamic",
    ) -> None:
        """Write the demo B2B SaaS data set (2023-01-01..2025-12-31) and its truth.json."""
        from csresearch.demo import generate

        paths = generate(n_accounts=accounts, seed=seed, out=out, fmt=format, usage_scale=usage_scale, model=model)
        scale = "" if usage_scale == 1.0 else f", usage scale {usage_scale:g}"
        typer.echo(f"wrote {len(paths)} files to {out} ({accounts:,} accounts, seed {seed}, {model} model{scale})")

    @app.command("validate")
    @handle_errors
    def validate(
        source: Annotated[str, typer.Argument(help="folder of CSV/Parquet files, .duckdb file, Ibis URL or env:VAR")],
        mapping: Annotated[Path | None, typer.Option(help="YAML renaming your tables/columns onto the contract")] = None,
    ) -> None:
        """Check a data source against the data contract; exit 1 when a rule fails."""
        from csresearch.data.sources import open_source

        report = open_source(source, mapping=mapping, validate=False).validate()
        if not report.ok:
            typer.echo(report.message(), err=True)
            raise typer.Exit(1)
        typer.echo(report.message())

