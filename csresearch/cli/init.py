"""Command ``init``: a ready project folder for your own data (see :mod:`csresearch.project`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from csresearch.cli._common import handle_errors


def register(app: typer.Typer) -> None:
    @app.command("init")
    @handle_errors
    def init(
        folder: Annotated[Path, typer.Argument(help="folder of the new project (created; must be empty)")],
        data: Annotated[str | None, typer.Option(help="data source: folder, .duckdb file, Ibis URL or env:VAR (default: data/demo in the folder, for `csresearch demo-data`)")] = None,
        as_of: Annotated[str, typer.Option("--as-of", help="snapshot date of the reports, ISO (YYYY-MM-DD)")] = "2025-12-31",
        force: Annotated[bool, typer.Option(help="write into a folder that is not empty (same-named files are replaced)")] = False,
    ) -> None:
        """Write reports.yaml, the health/playbook/maturity configs, a mapping template, an
        exploratory notebook and a README with the next commands."""
        from csresearch.project import init_project

        written = init_project(folder, data=data, as_of=as_of, force=force)
        typer.echo(f"wrote {len(written)} files to {folder}: " + ", ".join(p.name for p in written))
        typer.echo(f"next: see {folder / 'README.md'}; render with "
                   f"csresearch report all --config {folder / 'reports.yaml'}")
