"""``csresearch health learn`` (learned weights) and the ``--view validation`` of ``csresearch health``.

``health`` is a single command taking SOURCE; :class:`HealthCommand` (its click class)
hands ``health learn ...`` to the ``learn`` command here, so both read naturally.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperCommand

from csresearch.cli._common import handle_errors, write_table

SOURCE_HELP = "folder of CSV/Parquet files, .duckdb file, Ibis URL or env:VAR"
TRUTH_FILE = "truth_risk.parquet"

learn_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def truth_risk_of(source: str):
    """``truth_risk.parquet`` in the source folder as a frame, or None when absent."""
    import pandas as pd

    p = Path(source) / TRUTH_FILE
    return pd.read_parquet(p) if p.is_file() else None


@learn_app.command("learn")
@handle_errors
def learn(
    source: Annotated[str, typer.Argument(help=SOURCE_HELP)],
    as_of: Annotated[str, typer.Option("--as-of", help="ISO date; the end of the validation window")],
    train_until: Annotated[str, typer.Option("--train-until", help="ISO date; learn from the months up to it")],
    out: Annotated[Path, typer.Option(help="health YAML to write (the learned config)")],
    config: Annotated[Path | None, typer.Option(help="base health YAML (default: the packaged one)")] = None,
    horizon_days: Annotated[float, typer.Option(help="churn within this many days after a score")] = 180,
    penalty: Annotated[float, typer.Option(help="ridge penalty on the standardised coefficients")] = 1.0,
    allow_flip: Annotated[bool, typer.Option(help="let a component that goes the other way change direction")] = False,
    mapping: Annotated[Path | None, typer.Option(help="YAML renaming your tables/columns onto the contract")] = None,
) -> None:
    """Learn health weights from the months up to --train-until (churn within the horizon, nothing after
    train-until + horizon used), validate them on (train-until, as-of] and write a health config."""
    from csresearch.data.sources import open_source
    from csresearch.health.learn import learn_health, write_config

    src = open_source(source, mapping=mapping)
    data, header, rep = learn_health(src, as_of, train_until, config, horizon_days, penalty, allow_flip,
                                     truth_risk_of(source), source_name=source)
    path = write_config(data, out, header)
    for line in header[-2:]:
        typer.echo(f"note: {line}", err=True)
    typer.echo(f"wrote {path}", err=True)


class HealthCommand(TyperCommand):
    """``csresearch health``; ``csresearch health learn ...`` runs :func:`learn`."""

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        if args and args[0] == "learn":
            cmd = typer.main.get_command(learn_app)
            return cmd.make_context(f"{info_name} learn", list(args[1:]), parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.epilog = self.epilog or (
            "Learned weights: csresearch health learn --help. Back-test: --view validation "
            "[--train-until T | --weights FILE] (concordance, churn by band, calibration, flips).")


def validation_view(src, source: str, as_of: str, config, train_until: str | None, weights: Path | None,
                    horizon_days: float, fmt: str, out: Path | None) -> None:
    """Print/export :func:`csresearch.health.validation.health_validation` as one long table."""
    from csresearch.health.validation import health_validation, validation_table

    rep = health_validation(src, as_of, train_until, config, weights, horizon_days, truth_risk_of(source))
    conc = rep["concordance"].set_index("score")["concordance"]
    typer.echo("note: " + rep["meta"]["concordance"] + "; " + ", ".join(
        f"{k} {conc[k]:.3f}" for k in ("configured", "learned", "oracle") if k in conc.index), err=True)
    for name, lift in rep["meta"].get("worklist_lift", {}).items():
        typer.echo(f"note: worklist lift ({name} score), pooled over {', '.join(lift['dates'])}: "
                   f"{lift['lift']:.2f} for the week's calls ({lift['worklisted']:,} calls, churn within "
                   f"{horizon_days:g} days {lift['worklist_rate']:.1%} vs {lift['base_rate']:.1%} of all customers), "
                   f"{lift['month_lift']:.2f} for the month's ({lift['month_calls']:,} calls, "
                   f"{lift['month_rate']:.1%})", err=True)
    write_table(validation_table(rep), fmt, out, {"view": "validation", **rep["meta"]})
