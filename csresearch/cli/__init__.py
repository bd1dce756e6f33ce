"""The ``csresearch`` command line: parse, call into the package, print. Nothing else.

Each area registers its commands from its own module in this package.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="csresearch: Customer Success research and reporting from your customer data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from csresearch import __version__

        typer.echo(f"csresearch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """csresearch: Customer Success research and reporting from your customer data."""


def _register() -> None:
    import importlib

    for mod in ("init", "data", "metrics", "health", "survival", "maturity", "report"):
        try:
            importlib.import_module(f"csresearch.cli.{mod}").register(app)
        except ModuleNotFoundError as e:  # an area not built yet
            if e.name != f"csresearch.cli.{mod}":
                raise


_register()


def main() -> None:
    app()
