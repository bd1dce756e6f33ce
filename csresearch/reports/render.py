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
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import nbformat

from csresearch.errors import ConfigError, ReportError
from csresearch.redaction import mask_secrets, register_url
from csresearch.reports import index
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

CSS = """
body{background:#fff}
.jp-Notebook{max-width:1080px;margin:0 auto;padding:1.2rem 1.5rem 3rem}
.jp-RenderedHTMLCommon{font-size:15px;line-height:1.5;color:#1d1d1f}
.jp-RenderedHTMLCommon h1{font-size:1.9rem;margin:.2rem 0 .4rem}
.jp-RenderedHTMLCommon h2{font-size:1.35rem;margin-top:1.6rem;border-bottom:2px solid #e3e6ea;padding-bottom:.2rem}
.jp-RenderedHTMLCommon h3{font-size:1.1rem}
.cs-cards{display:flex;flex-wrap:wrap;gap:.7rem;margin:.8rem 0}
.cs-card{border:1px solid #d9dde2;border-radius:6px;padding:.6rem .8rem;min-width:9rem;flex:1 1 14%;background:#f8f9fb}
.cs-card-label{font-size:.8rem;color:#555;text-transform:uppercase;letter-spacing:.03em}
.cs-card-value{font-size:1.5rem;font-weight:700;margin:.1rem 0}
.cs-card-sub{font-size:.8rem;color:#444}
.jp-RenderedHTMLCommon table.cs-table{border-collapse:collapse;margin:.4rem 0;font-size:.85rem;table-layout:auto}
.jp-RenderedHTMLCommon table.cs-table th,.jp-RenderedHTMLCommon table.cs-table td{padding:.25rem .55rem;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top;max-width:26rem}
.jp-RenderedHTMLCommon table.cs-table th.num{text-align:right}
.jp-RenderedHTMLCommon table.cs-table td.num{text-align:right;white-space:nowrap}
.jp-RenderedHTMLCommon table.cs-table td.nw{white-space:nowrap}
.jp-RenderedHTMLCommon table.cs-table thead th{border-bottom:2px solid #b9c2cc;vertical-align:bottom}
.jp-RenderedHTMLCommon table.cs-prov th,.jp-RenderedHTMLCommon table.cs-prov td{text-align:left;font-size:.8rem}
.cs-more,.cs-caption{font-size:.82rem;color:#555;margin:.2rem 0}
.cs-note{font-size:.85rem;color:#444;border-left:3px solid #c9d3de;padding-left:.6rem}
.cs-unavailable{font-size:.9rem;color:#7a4b00;background:#fff6e0;border-left:3px solid #e0a400;padding:.3rem .6rem}
.cs-figure{margin:.6rem 0}.cs-figure img{max-width:100%;height:auto}
.cs-summary{background:#f4f8fb;border:1px solid #d6e3ee;border-radius:8px;padding:.4rem 1rem .8rem}
@media print{.jp-Notebook{max-width:none;padding:0}.cs-section,.cs-figure,table{break-inside:avoid}
body{font-size:11pt}}
"""

TEMPLATE = (
    '{%- extends "lab/index.html.j2" -%}\n'
    "{%- block html_head_js -%}{%- endblock html_head_js -%}\n"
    "{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}\n"
    "{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}\n"
    "{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}\n"
    "{% block extra_css %}<style>" + CSS + "</style>{% endblock extra_css %}\n"
)


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


def export_html(executed: str | Path | nbformat.NotebookNode, title: str) -> str:
    """HTML of an executed notebook: outputs only, no stream or error output, no scripts."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = executed if isinstance(executed, nbformat.NotebookNode) else nbformat.read(str(executed), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.get("output_type") not in ("stream", "error")]
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"csreport.html.j2": TEMPLATE})],
        template_file="csreport.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        anchor_link_text="",
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def cell_timings(nb: nbformat.NotebookNode) -> dict[str, float]:
    """Split an executed notebook's run time, from papermill's timestamps (seconds).

    * ``startup``: from the start of execution (``metadata.papermill.start_time``, taken before
      the kernel is launched) to the end of the last code cell before the one tagged ``start``:
      kernel launch, the hidden setup cell (imports, plot style) and the parameters;
    * ``loading``: the cell(s) tagged ``start`` (``rn.start(...)`` opens the data source);
    * ``computation``: the durations of the later cells (sections read tables into pandas on
      first use, so that reading is counted here);
    * ``execution``: papermill's whole duration (the three above plus its own overhead).

    Raises ``ValueError`` when no cell is tagged ``start`` or the timestamps are missing.

    Example
    -------
    >>> cell_timings(nbformat.read("executed.ipynb", as_version=4))  # doctest: +SKIP
    {'startup': 3.1, 'loading': 0.4, 'computation': 12.0, 'execution': 15.9}
    """

    def ts(meta: Any, key: str) -> datetime | None:
        v = (meta.get("papermill") or {}).get(key)
        return datetime.fromisoformat(v) if v else None

    def dur(cell: Any) -> float:
        d = (cell.metadata.get("papermill") or {}).get("duration")
        return float(d) if d is not None else 0.0

    code = [c for c in nb.cells if c.cell_type == "code"]
    load = ["start" in c.metadata.get("tags", []) for c in code]
    if not any(load):
        raise ValueError("no code cell tagged 'start' (the cell that opens the data source)")
    first = load.index(True)
    t0, t_end = ts(nb.metadata, "start_time"), ts(nb.metadata, "end_time")
    setup_end = ts(code[first - 1].metadata, "end_time") if first else t0
    if t0 is None or setup_end is None:
        raise ValueError("no papermill timestamps in the notebook (was it executed by papermill?)")
    out = {
        "startup": (setup_end - t0).total_seconds(),
        "loading": sum(dur(c) for c, is_load in zip(code, load, strict=True) if is_load),
        "computation": sum(dur(c) for c, is_load in zip(code[first:], load[first:], strict=True)
                           if not is_load),
        "execution": (t_end - t0).total_seconds() if t_end else float("nan"),
    }
    return {k: round(v, 3) for k, v in out.items()}


def execute(path: Path, output: Path, params: dict[str, Any], timeout: float, progress: bool = True) -> None:
    """Run the template with papermill in a fresh kernel; interrupt it after ``timeout`` s."""
    import papermill as pm

    from csresearch.reports.kernel import kernel_manager

    # IPC transport (Unix sockets in a private folder): no TCP port, no "unencrypted TCP" warning.
    sockets = tempfile.mkdtemp(prefix="cs-kernel-")
    km = kernel_manager(path, transport="ipc", ip=str(Path(sockets) / "k"))  # declared, else python3
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        try:
            km.interrupt_kernel()
        except Exception:  # noqa: BLE001 - the kernel may already be gone
            pass

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        pm.execute_notebook(
            str(path), str(output), parameters=params, kernel_name=km.kernel_name,
            progress_bar=progress, execution_timeout=timeout, start_timeout=120, km=km,
            resources={"metadata": {"path": str(path.parent)}},
        )
    except Exception as e:
        if expired.is_set():
            raise TimeoutError(f"timed out after {timeout:g} s (the report's time limit)") from e
        raise
    finally:
        timer.cancel()
        if km.has_kernel:
            km.shutdown_kernel(now=True)
        shutil.rmtree(sockets, ignore_errors=True)


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
            execute(path, executed, values, timeout, progress)
            title = f"{TITLES.get(report, report)} report, {as_of}"
            t_export = time.perf_counter()
            nb = nbformat.read(str(executed), as_version=4)
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
        index.atomic_write(final, mask_secrets(html))
        failed.unlink(missing_ok=True)
        res = RenderResult(report, label, as_of, "ok", rel, round(time.time() - t0, 1), timings=timings)
        index.record(out, res.entry())
        return res
    finally:
        shutil.rmtree(work, ignore_errors=True)
