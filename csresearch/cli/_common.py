"""Shared helpers of the command line: writing tables, turning kit errors into exit codes."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from csresearch.errors import CSResearchError

FORMATS = ("csv", "json", "parquet")


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def handle_errors(fn: Callable) -> Callable:
    """Print a kit error's message (no traceback) and exit non-zero."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CSResearchError as e:
            fail(str(e))

    return wrapper


def write_table(
    df: pd.DataFrame, fmt: str = "csv", out: Path | None = None, extra: dict | None = None
) -> None:
    """Write ``df`` as csv/json/parquet to ``out`` (or stdout); ``extra`` adds JSON fields."""
    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'")
    if fmt == "parquet":
        if out is None:
            fail("--format parquet needs --out FILE")
        df.to_parquet(out, index=False)
        return
    if fmt == "json":
        records = json.loads(df.to_json(orient="records", date_format="iso", double_precision=10))
        text = json.dumps({"rows": records, **extra} if extra else records, indent=2, default=str)
    else:
        text = df.to_csv(index=False, lineterminator="\n")
        if extra:
            text += "".join(f"# {k}: {v}\n" for k, v in extra.items())
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        Path(out).write_text(text)
