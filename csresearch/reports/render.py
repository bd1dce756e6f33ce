"""Rendering one report: check parameters, execute the template, export HTML, write atomically.

``render_report("retention", {"data": "data/demo", "as_of": "2025-12-31"}, out_dir="reports")``

1. the parameters are checked against the template's ``parameters`` cell (unknown names,
   types, ISO dates, passwords in URLs) before anything runs;
2. papermill executes the template in its own kernel (the notebook's kernel, ``python3``),
   with a progress bar on stderr and a time limit for the whole report;
3. nbconvert exports it to HTML without input cells, prompts, stream output (stdout/stderr)
   or error output, with no external scripts;
4. the HTML is written to ``DIR/<as_of>/<label>.html`` through a temporary file and moved
   into place only on success. On failure the previous good report stays, the executed
   notebook is kept as ``DIR/_failed/<as_of>/<label>.ipynb``, and :class:`ReportError` names
   the failing cell and its error;
5. ``DIR/index.html`` lists every report, its date and status.

:attr:`RenderResult.timings` splits the seconds of a report that rendered (see
:func:`cell_timings`): kernel start-up, data loading, computation (from papermill's own
timestamps in the executed notebook) and rendering (the HTML export, timed here).
"""

from __future__ import annotations

import math
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import nbformat

from csresearch.errors import ConfigError, ReportError
from csresearch.redaction import mask_secrets, register_url
from csresearch.reports import index, summary
from csresearch.reports.html import cell_timings, export_html
from csresearch.reports.kernel import ReadyKernel, execute
from csresearch.reports.params import (
    check_parameters,
    is_path_param,
    notebook_parameters,
    resolve_path,
)

# package data (csresearch/templates/*.ipynb): found the same in a clone and in an installed wheel
TEMPLATES = Path(str(resources.files("csresearch").joinpath("templates")))
REPORTS = ("retention", "health", "churn_drivers", "maturity")
TITLES = {
    "retention": "Retention",
    "health": "Customer health",
    "churn_drivers": "Churn drivers",
    "maturity": "CS maturity",
}
DEFAULT_TIMEOUT = 900
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

@dataclass
class RenderResult:
    """What happened to one report."""

    report: str
    label: str
    as_of: str
    status: str
    path: str | None
    seconds: float
    message: str = ""
    failed_notebook: str | None = None
    timings: dict[str, float] | None = None  # seconds: startup, loading, computation, rendering
    summary_path: str | None = None  # DIR-relative path of the summary JSON (<label>.json)
    headline: str = ""  # the report's answer in one sentence (its summary JSON's 'headline'), for the index

    def entry(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("timings")
        d["rendered_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return d


def template_path(report: str, templates: str | Path | None = None) -> Path:
    """The template notebook of ``report`` (``csresearch/templates/<report>.ipynb``), or
    ``report`` itself when it is a path to a notebook (``*.ipynb``, relative to the current
    folder): a custom template with a ``parameters`` cell."""
    if report.endswith(".ipynb"):
        custom = Path(report).expanduser()
        if not custom.is_file():
            raise ConfigError(f"template notebook not found: {custom}")
        return custom.resolve()
    folder = Path(templates) if templates else TEMPLATES
    path = folder / f"{report}.ipynb"
    if not path.exists():
        known = sorted(p.stem for p in folder.glob("*.ipynb")) if folder.exists() else []
        raise ConfigError(f"no report named '{report}' (no {path}); reports: {', '.join(known) or 'none'}")
    return path


def write_summary(final: Path, payload: dict | None, label: str) -> str | None:
    """Write the report's summary JSON beside its HTML (``<label>.json``, atomically, masked);
    returns its file name, or None for a template that emits no summary."""
    if payload is None:
        return None
    import json

    text = json.dumps({**payload, "label": label}, indent=2, allow_nan=False)
    path = final.with_suffix(".json")
    index.atomic_write(path, mask_secrets(text))
    return path.name


def check_label(label: str, where: str = "label") -> str:
    """``label`` when it makes a plain file name (no newline, slash or leading dot)."""
    if not isinstance(label, str) or not LABEL.fullmatch(label):
        raise ConfigError(f"{where} {label!r}: use letters, digits, '_', '-' and '.' only "
                          "(it is the report's file name)")
    return label


def check_timeout(value: Any, where: str = "timeout") -> float:
    """``value`` as seconds when it is a finite number above 0 (0 would mean no limit)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{where} must be a number of seconds above 0 (for example 900), not {value!r}")
    return seconds


def register_env_secrets(values: dict[str, Any]) -> None:
    """Register the URL behind each ``env:VAR`` parameter so that :func:`mask_secrets` hides its
    password in what this process saves (the failed notebook, the index, messages)."""
    import os

    for v in values.values():
        if isinstance(v, str) and v.startswith("env:") and v[4:] in os.environ:
            register_url(os.environ[v[4:]])


def describe_failure(e: BaseException, executed: Path | None) -> str:
    """The failing cell and its error, in one paragraph (no traceback); a password inside a
    connection URL in the error text is masked (it is printed and stored in the index)."""
    from csresearch.provenance import redact

    return redact(_describe_failure(e))


def _describe_failure(e: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    cause = e.__cause__ if isinstance(e, TimeoutError) else None
    if isinstance(e, PapermillExecutionError):
        first = (e.source or "").strip().splitlines()
        call = f" ({first[0][:90]})" if first else ""
        return f"cell {e.exec_count or e.cell_index}{call} raised {e.ename}: {e.evalue}"
    if isinstance(cause, PapermillExecutionError):
        return f"{e}; it was running cell {cause.exec_count or cause.cell_index}"
    return f"{type(e).__name__}: {e}"


def _output_errors(fn: Any) -> Any:
    """An ``OSError`` while writing the output folder (a full disk, a read-only folder, a file
    in the way) becomes a one-paragraph :class:`ConfigError` naming the path and the fix."""
    import functools
    import inspect

    from csresearch.outputs import output_error

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OSError as e:
            out = inspect.signature(fn).bind(*args, **kwargs).arguments.get("out_dir", "reports")
            raise ConfigError(output_error(out, e, "report folder (--out)")) from None

    return wrapper


@_output_errors
def render_report(
    report: str,
    params: dict[str, Any] | None = None,
    out_dir: str | Path = "reports",
    label: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
    templates: str | Path | None = None,
    base: str | Path | None = None,
    kernel: ReadyKernel | None = None,
    on_executed: Callable[[], None] | None = None,
) -> RenderResult:
    """Render one report to ``out_dir/<as_of>/<label>.html`` (see the module docstring).

    Parameters
    ----------
    report
        Template name (``retention``, ``health``, ``churn_drivers``, ``maturity``).
    params
        Parameter values (strings from the command line are converted to the declared type).
    label
        File name without ``.html`` (default: the report name); lets one template render
        several times (per segment, per data source).
    timeout
        Seconds for the whole report.
    base
        Folder that relative paths in ``params`` are relative to (default: the current one).
    kernel
        A kernel started ahead for this template (:func:`~csresearch.reports.kernel.start_ahead`,
        as :func:`~csresearch.reports.config.run_config` does for the next report); it is used
        once and shut down. Default: a fresh kernel started here.
    on_executed
        Called once the notebook has run or failed, before the HTML export:
        :func:`~csresearch.reports.config.run_in_turn` starts the next report then, so that
        this one's export overlaps the next one's run.

    Raises
    ------
    ConfigError
        Bad parameters (nothing ran).
    ReportError
        A cell failed or the time ran out; the previous report is left in place.
    """
    t0 = time.time()
    path = template_path(report, templates)
    report = path.stem if report.endswith(".ipynb") else report  # a custom template: its file name
    spec = notebook_parameters(path)
    values = check_parameters(report, spec, params or {}, base=Path(base) if base else Path.cwd())
    for name, par in spec.items():  # defaults are relative to the template: pass them absolute, so that
        if name not in values and is_path_param(name) and isinstance(par.default, str) and par.default:
            values[name] = resolve_path(par.default, path.parent)  # the provenance names real files
    register_env_secrets(values)  # the kernel resolves env:VAR in its own process; mask it here too
    as_of = str(values.get("as_of", spec["as_of"].default if "as_of" in spec else "undated"))
    label = check_label(label or report)
    timeout = check_timeout(timeout)
    out = Path(out_dir)
    rel = f"{as_of}/{label}.html"
    final = out / rel
    failed = out / "_failed" / as_of / f"{label}.ipynb"
    out.mkdir(parents=True, exist_ok=True)
    index.clean_stale_work(out, max(timeout, DEFAULT_TIMEOUT))  # left by killed runs
    work = index.work_dir(out, label)
    executed = work / f"{label}.ipynb"
    try:
        try:
            try:
                execute(path, executed, values, timeout, progress, kernel=kernel)
            finally:
                if on_executed is not None:
                    on_executed()
            title = f"{TITLES.get(report, report)} report, {as_of}" + (f" ({label})" if label != report else "")
            t_export = time.perf_counter()
            nb = nbformat.read(str(executed), as_version=4)
            payload = summary.extract(nb)
            html = export_html(nb, title)
            timings = {"rendering": round(time.perf_counter() - t_export, 3)}
            try:
                timings.update(cell_timings(nb))
            except ValueError:  # a template without a 'start' cell: only the export is timed
                pass
        except Exception as e:  # noqa: BLE001 - every failure is reported the same way
            message = describe_failure(e, executed)
            kept = None
            if executed.exists():  # the error value and traceback may hold a URL: masked
                index.atomic_write(failed, mask_secrets(executed.read_text(encoding="utf-8")))
                kept = str(failed.relative_to(out))
            res = RenderResult(report, label, as_of, "failed", rel, round(time.time() - t0, 1), message, kept)
            index.record(out, res.entry())
            previous = "the previous report is kept" if final.exists() else "no previous report"
            where = f"; executed notebook kept at {failed}" if kept else ""
            err = ReportError(f"report '{label}' ({as_of}) failed: {message} ({previous}{where})")
            err.result = res  # type: ignore[attr-defined]
            raise err from None
        json_rel = write_summary(final, payload, label)
        index.atomic_write(final, mask_secrets(html))
        failed.unlink(missing_ok=True)
        res = RenderResult(report, label, as_of, "ok", rel, round(time.time() - t0, 1), timings=timings,
                           summary_path=json_rel and f"{as_of}/{json_rel}",
                           headline=str((payload or {}).get("headline") or ""))
        index.record(out, res.entry())
        return res
    finally:
        shutil.rmtree(work, ignore_errors=True)
