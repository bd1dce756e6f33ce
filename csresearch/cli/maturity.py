"""Commands for CS maturity: ``maturity template`` and ``maturity assess``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from csresearch.cli._common import fail, handle_errors, write_table

TEXT_FORMATS = ("text", "csv", "json")


def register(app: typer.Typer) -> None:
    sub = typer.Typer(
        help="CS maturity: four levels, eleven capabilities, from answers and your data.",
        no_args_is_help=True,
    )
    app.add_typer(sub, name="maturity")

    @sub.command("template")
    @handle_errors
    def template_cmd(
        out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
        format: Annotated[
            str | None, typer.Option("--format", help="yaml or csv (default: from --out's suffix, else yaml)")
        ] = None,
        questionnaire: Annotated[Path | None, typer.Option(help="questionnaire YAML (default: the packaged one)")] = None,
    ) -> None:
        """Write a blank answers file with every capability's criteria as comments."""
        from csresearch.maturity import load_questionnaire, template

        fmt = format or ("csv" if out is not None and out.suffix.lower() == ".csv" else "yaml")
        text = template(load_questionnaire(questionnaire), fmt)
        if out is None:
            typer.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
            typer.echo(f"wrote {out}: fill in a level for each capability, then run "
                       f"`csresearch maturity assess {out}`", err=True)

    @sub.command("assess")
    @handle_errors
    def assess_cmd(
        answers: Annotated[Path, typer.Argument(help="answers file (YAML or CSV)")],
        data: Annotated[str | None, typer.Option(help="data source to check the answers against")] = None,
        as_of: Annotated[str | None, typer.Option(help="ISO date the evidence is measured at (needed with --data)")] = None,
        previous: Annotated[Path | None, typer.Option(help="earlier answers file, to show the change")] = None,
        format: Annotated[str, typer.Option("--format", help="text, csv or json")] = "text",
        out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
        questionnaire: Annotated[Path | None, typer.Option(help="questionnaire YAML (default: the packaged one)")] = None,
        mapping: Annotated[Path | None, typer.Option(help="YAML renaming your tables/columns onto the contract")] = None,
        health_concordance: Annotated[float | None, typer.Option(help="the health score's concordance with churn (0..1)")] = None,
        health_interval_days: Annotated[float | None, typer.Option(help="days between health-score snapshots (7 = weekly)")] = None,
        cta_closed_share: Annotated[float | None, typer.Option(help="share of calls-to-action closed (0..1)")] = None,
    ) -> None:
        """Levels per capability and overall, disagreements with the data, change and next steps."""
        from csresearch.data.sources import open_source
        from csresearch.maturity import assess, gather_evidence, load_answers, load_questionnaire

        if format not in TEXT_FORMATS:
            fail(f"--format must be one of {', '.join(TEXT_FORMATS)}, not '{format}'")
        if data is not None and as_of is None:
            fail("--data needs --as-of DATE (an ISO date such as 2025-12-31): evidence is measured at a stated date")
        q = load_questionnaire(questionnaire)
        ans = load_answers(answers, q)
        prev = load_answers(previous, q) if previous is not None else None
        evidence = None
        if data is not None:
            evidence = gather_evidence(
                open_source(data, mapping=mapping), as_of, health_concordance=health_concordance,
                health_interval_days=health_interval_days, cta_closed_share=cta_closed_share, questionnaire=q,
            )
        result = assess(ans, q, evidence=evidence, previous=prev)
        if format == "text":
            text = result.to_text()
            if out is None:
                typer.echo(text, nl=False)
            else:
                out.write_text(text, encoding="utf-8")
            return
        write_table(result.table(), format, out, extra=result.fields(detail=format == "json"))
