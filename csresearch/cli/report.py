"""Command ``report``: render a report, a scheduled set of reports, or list their parameters."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from csresearch.cli._common import fail, handle_errors


def _parse_params(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            fail(f"--param takes key=value, not '{item}'")
        k, v = item.split("=", 1)
        out[k.strip()] = v
    return out


def register(app: typer.Typer) -> None:
    @app.command("report")
    @handle_errors
    def report(
        name: Annotated[str, typer.Argument(help="report to render (retention, health, churn_drivers, maturity), 'all' (with --config) or 'list'")],
        data: Annotated[str | None, typer.Option(help="data source: folder, .duckdb file, Ibis URL or env:VAR (or a flat CSV for churn_drivers)")] = None,
        as_of: Annotated[str | None, typer.Option("--as-of", help="snapshot date, ISO (YYYY-MM-DD)")] = None,
        param: Annotated[list[str] | None, typer.Option("--param", "-p", help="another parameter as key=value (repeatable)")] = None,
        out: Annotated[Path | None, typer.Option(help="output folder, made if missing (DIR/<as_of>/<name>.html and DIR/index.html)")] = None,
        label: Annotated[str | None, typer.Option(help="output file name without .html (default: the report name)")] = None,
        config: Annotated[Path | None, typer.Option(help="YAML of reports to render (with 'all')")] = None,
        only: Annotated[list[str] | None, typer.Option(help="with 'all': render only these reports or labels")] = None,
        timeout: Annotated[float, typer.Option(help="seconds allowed for the whole report")] = 900,
        jobs: Annotated[int | None, typer.Option(help="with 'all': reports rendered at once (default from the config)")] = None,
        quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
        engine: Annotated[str | None, typer.Option(help="the report's engine parameter: duckdb (default) or pyspark; "
                                                   "with 'all', set engine in the config's defaults")] = None,
    ) -> None:
        """Render a report to HTML: checked parameters, own kernel, atomic write, index.html.

        Exit code 0 when every report rendered, 1 when one failed (the previous report is kept
        and the executed notebook saved under DIR/_failed/), 2 for bad parameters or an output
        folder that cannot be written, 3 for an unexpected error (see the README's exit codes).
        """
        from csresearch.reports import (
            REPORTS,
            notebook_parameters,
            render_report,
            run_config,
            template_path,
        )

        if name == "list":
            for r in REPORTS:
                typer.echo(f"{r}:")
                for p in notebook_parameters(template_path(r)).values():
                    typer.echo(f"  {p.describe()}")
            return
        if name == "all":
            if config is None:
                fail("'report all' needs --config FILE (e.g. data/reports.yaml)")
            if data or as_of or param or label or engine:
                fail("'report all' takes its parameters from --config; drop --data/--as-of/--param/--label/--engine")
            t0 = time.time()

            def started(job) -> None:
                typer.echo(f"rendering {job.label} ({job.report}) ...", err=True)

            def done(res) -> None:
                where = f" -> {res.path}" if res.status == "ok" else ""
                msg = f": {res.message}" if res.message else ""
                typer.echo(f"{res.label}: {res.status} in {res.seconds:.1f} s{where}{msg}", err=True)

            results = run_config(config, out=out, only=only, progress=not quiet, on_start=started,
                                 on_done=done, jobs=jobs)
            bad = [r for r in results if r.status == "failed"]
            folder = out or _config_out(config)
            typer.echo(
                f"{len(results) - len(bad)} of {len(results)} reports done in {time.time() - t0:.1f} s; "
                f"index: {folder / 'index.html'}"
            )
            if bad:
                fail("failed: " + "; ".join(f"{r.label}: {r.message}" for r in bad), code=1)
            return
        params = _parse_params(param or [])
        if data is not None:
            params["data"] = data
        if as_of is not None:
            params["as_of"] = as_of
        if engine is not None:
            params["engine"] = engine
        from csresearch.errors import ReportError

        try:
            res = render_report(name, params, out or Path("reports"), label=label, timeout=timeout, progress=not quiet)
        except ReportError as e:
            fail(str(e), code=1)
        typer.echo(f"wrote {(out or Path('reports')) / res.path} in {res.seconds:.1f} s")


def _config_out(config: Path) -> Path:
    from csresearch.reports import load_config

    return load_config(config).out
