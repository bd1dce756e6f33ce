"""Shared helpers of the command line: writing tables, turning errors into exit codes.

Exit codes (listed in the README): 0 done; 1 the data broke a validation rule or a report
failed to render; 2 a usage, input, configuration or output-path error; 3 an unexpected
internal error (a one-paragraph message, the traceback only with ``CSRESEARCH_DEBUG=1``);
130 interrupted. Every command is wrapped in :func:`handle_errors`: no traceback, and every
URL password is masked in everything printed.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import inspect
import os
import sys
import traceback
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import click
import pandas as pd
import typer

from csresearch.cli.export import csv_text, dumps, json_text
from csresearch.errors import CSResearchError
from csresearch.redaction import mask_secrets

FORMATS = ("csv", "json", "parquet")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEBUG_ENV = "CSRESEARCH_DEBUG"
CSV_NOTE = (
    ". CSV: text cells starting with = + - @ (or a tab/CR) get a leading ' so that a spreadsheet "
    "does not run them as formulas (--raw-csv keeps them as they are); with --out FILE the "
    "metadata goes to FILE.meta.json."
)
RawCsv = Annotated[bool, typer.Option("--raw-csv", help="CSV: leave cells starting with = + - @ as they are")]
_CSV_SAFE: contextvars.ContextVar[bool] = contextvars.ContextVar("csv_safe", default=True)


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print ``error: message`` (passwords masked) on stderr and exit with ``code``."""
    typer.echo(f"error: {mask_secrets(str(message))}", err=True)
    raise typer.Exit(code)


class _Masked:
    """A text stream that masks URL passwords and registered secrets in everything written."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(mask_secrets(text) if isinstance(text, str) else text)
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextlib.contextmanager
def masked_output() -> Iterator[None]:
    """Mask secrets in all that is written to stdout/stderr inside the block."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Masked(sys.stdout), _Masked(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _command_name(fn: Callable) -> str:
    ctx = click.get_current_context(silent=True)
    return f"csresearch {ctx.info_name}" if ctx and ctx.info_name else fn.__name__


def unexpected(e: BaseException, command: str) -> None:
    """One masked paragraph for an error the kit did not expect; exit 3."""
    if os.environ.get(DEBUG_ENV):
        typer.echo(mask_secrets("".join(traceback.format_exception(e))), err=True)
    text = " ".join(str(e).split()) or "no message"
    fail(f"{type(e).__name__}: {text} (an unexpected error in `{command}`; run with {DEBUG_ENV}=1 for "
         "the traceback, and report it if it persists)", code=EXIT_INTERNAL)


def os_error(e: OSError) -> None:
    """An operating-system error (a file not found, no permission, a full disk): exit 2."""
    from csresearch.outputs import _FIXES

    where = f" ({e.filename})" if getattr(e, "filename", None) else ""
    fix = _FIXES.get(e.errno or -1, "check the path and that the disk has space")
    fail(f"{e.strerror or e}{where}; {fix}")


def handle_errors(fn: Callable) -> Callable:
    """Run a command: kit errors exit 2 with their message, anything else exits 3, never a
    traceback; every password is masked in what is printed. A command that exports tables
    (it calls :func:`write_table` and has ``--format``) also gets ``--raw-csv``."""
    exports = "format" in inspect.signature(fn).parameters and "write_table" in fn.__code__.co_names

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = _CSV_SAFE.set(not kwargs.pop("raw_csv", False)) if exports else None
        try:
            with masked_output():
                try:
                    return fn(*args, **kwargs)
                except (typer.Exit, typer.Abort, click.exceptions.Exit, click.ClickException, click.Abort):
                    raise
                except CSResearchError as e:
                    fail(str(e))
                except OSError as e:
                    os_error(e)
                except KeyboardInterrupt:
                    fail("interrupted", code=EXIT_INTERRUPTED)
                except Exception as e:  # noqa: BLE001 - the one place that turns bugs into a message
                    unexpected(e, _command_name(fn))
        finally:
            if token is not None:
                _CSV_SAFE.reset(token)

    if exports:
        _add_csv_option(fn, wrapper)
    wrapper.__cs_handled__ = True  # type: ignore[attr-defined]
    return wrapper


def _add_csv_option(fn: Callable, wrapper: Callable) -> None:
    """Give ``wrapper`` a ``--raw-csv`` option and the CSV note in the help of ``--format``."""
    sig = inspect.signature(fn, eval_str=True)
    params = []
    for p in sig.parameters.values():
        if p.name == "format" and typing.get_origin(p.annotation) is Annotated:
            base, *meta = typing.get_args(p.annotation)
            p = p.replace(annotation=Annotated[(base, *map(_with_note, meta))])
        elif p.name == "format":
            p = p.replace(default=_with_note(p.default))
        params.append(p)
    params.append(inspect.Parameter("raw_csv", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=RawCsv))
    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}


def _with_note(info: Any) -> Any:
    """A copy of a ``typer.Option`` with :data:`CSV_NOTE` added to its help."""
    if not isinstance(info, typer.models.OptionInfo):
        return info
    info = copy.copy(info)
    info.help = (info.help or "").rstrip(". ") + CSV_NOTE
    return info


def write_table(
    df: pd.DataFrame, fmt: str = "csv", out: Path | None = None, extra: dict | None = None,
    csv_safe: bool | None = None,
) -> None:
    """Write ``df`` as csv/json/parquet to ``out`` (or stdout).

    ``extra`` (metadata such as ``as_of``) goes inline in JSON (``{"rows": [...], **extra}``)
    and, for CSV written to ``--out FILE``, to ``FILE.meta.json``: a CSV export is plain CSV.
    Floats round-trip (shortest repr; NaN -> null / empty). ``csv_safe`` (default: on unless
    ``--raw-csv``) prefixes text cells that a spreadsheet would run as formulas with ``'``.
    Files are written atomically; a missing folder or a failed write is a one-paragraph error.
    """
    from csresearch.outputs import atomic_write, guard, require_folder

    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'")
    if fmt == "parquet" and out is None:
        fail("--format parquet needs --out FILE")
    if out is not None:
        out = require_folder(out)
    if fmt == "parquet":
        import io

        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        data: str | bytes = buf.getvalue()
    elif fmt == "json":
        data = json_text(df, {k: _masked(v) for k, v in extra.items()} if extra else None)
    else:
        data = csv_text(df, safe=_CSV_SAFE.get() if csv_safe is None else csv_safe)
    if out is None:
        sys.stdout.write(data if data.endswith("\n") else data + "\n")
        if fmt == "csv" and extra:  # for the reader, on stderr: stdout stays plain CSV
            typer.echo("".join(f"# {k}: {_masked(v)}\n" for k, v in extra.items()), err=True, nl=False)
        return
    with guard(out, "--out file"):
        atomic_write(out, data)
        if fmt == "csv" and extra:
            meta = dumps({"file": out.name, **{k: _masked(v) for k, v in extra.items()}})
            atomic_write(out.with_name(out.name + ".meta.json"), meta)


def _masked(value: Any) -> Any:
    return mask_secrets(value) if isinstance(value, str) else value
