"""A scheduled run of several reports from a YAML file (``csresearch report all --config``).

::

    out: reports                 # output folder (index.html, <as_of>/<label>.html)
    timeout: 900                 # seconds per report
    jobs: 1                      # reports rendered at once (each in its own kernel)
    defaults:                    # given to every report that declares the parameter
      data: data/demo
      as_of: "2025-12-31"
    reports:
      - report: retention
      - report: retention        # one template, several segments: one report per value
        each: {segment: [plan, region]}
      - report: churn_drivers
        label: churn_drivers_telco
        params: {data: ../shared/data/telco/Telco-Customer-Churn.csv}
        skip_if_missing: ../shared/data/telco/Telco-Customer-Churn.csv

Relative paths (``out``, ``templates``, ``skip_if_missing``, a custom template ``report:
mine/x.ipynb`` and every path parameter) are relative to the folder of this YAML file, never
the current directory, so ``report all --config DIR/reports.yaml`` works from anywhere.
Unknown keys are refused.

Example
-------
>>> results = run_config("data/reports.yaml")  # doctest: +SKIP
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from csresearch.data.validated import validated_once
from csresearch.errors import ConfigError, ReportError
from csresearch.reports import index
from csresearch.reports.kernel import ReadyKernel, start_ahead
from csresearch.reports.params import notebook_parameters
from csresearch.reports.render import (
    DEFAULT_TIMEOUT,
    RenderResult,
    check_label,
    check_timeout,
    render_report,
    template_path,
)

TOP_KEYS = {"out", "timeout", "jobs", "defaults", "reports", "templates"}
ENTRY_KEYS = {"report", "label", "params", "each", "timeout", "skip_if_missing"}


@dataclass
class Job:
    """One report to render."""

    report: str
    label: str
    params: dict[str, Any]
    timeout: float
    skip_if_missing: str | None = None


@dataclass
class Plan:
    out: Path
    jobs: list[Job] = field(default_factory=list)
    parallel: int = 1
    templates: str | None = None
    base: Path = field(default_factory=Path.cwd)  # the config's folder: relative paths start here


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(value)).strip("-") or "x"


def _relative(value: Any, base: Path) -> Any:
    """A relative path in the config made absolute from the config's folder (None unchanged)."""
    if value is None:
        return None
    path = Path(str(value)).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping (key: value lines), not {type(value).__name__} {value!r}")
    return dict(value)


def _jobs(value: Any, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"report config {path}: jobs must be a whole number of at least 1, not {value!r}")
    return value


def load_config(path: str | Path, out: str | Path | None = None) -> Plan:
    """Read and check the YAML; expand ``each``; raise :class:`ConfigError` naming a bad key."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"report config not found: {p}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"report config {p} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"report config {p}: expected a mapping with 'reports'")
    bad = set(data) - TOP_KEYS
    if bad:
        raise ConfigError(f"report config {p}: unknown key(s) {sorted(bad)}; allowed: {sorted(TOP_KEYS)}")
    entries = data.get("reports") or []
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"report config {p}: 'reports' must be a non-empty list")
    defaults = _mapping(data.get("defaults"), f"report config {p}: defaults")
    timeout = check_timeout(data.get("timeout", DEFAULT_TIMEOUT), f"report config {p}: timeout")
    root = p.resolve().parent
    templates = _relative(data.get("templates"), root)
    plan = Plan(Path(out) if out else Path(_relative(data.get("out", "reports"), root)),
                parallel=_jobs(data.get("jobs", 1), p), templates=templates, base=root)
    declared_anywhere: set[str] = set()
    for i, e in enumerate(entries, 1):
        where = f"report config {p}, reports[{i}]"
        if not isinstance(e, dict) or "report" not in e:
            raise ConfigError(f"{where}: each entry needs 'report: NAME'")
        bad = set(e) - ENTRY_KEYS
        if bad:
            raise ConfigError(f"{where}: unknown key(s) {sorted(bad)}; allowed: {sorted(ENTRY_KEYS)}")
        if str(e["report"]).endswith(".ipynb"):  # a custom template, relative to this file
            e = {**e, "report": _relative(str(e["report"]), root)}
        spec = notebook_parameters(template_path(e["report"], templates))
        declared_anywhere |= set(spec)
        base = {k: v for k, v in defaults.items() if k in spec}
        params = {**base, **_mapping(e.get("params"), f"{where}: params")}
        label = str(e.get("label", Path(e["report"]).stem))
        each = _mapping(e.get("each"), f"{where}: each")
        if len(each) > 1:
            raise ConfigError(f"{where}: 'each' takes one parameter with a list of values")
        variants = [(label, params)]
        if each:
            (name, values), = each.items()
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}: each.{name} must be a non-empty list")
            variants = [(f"{label}_{_slug(v)}", {**params, name: v}) for v in values]
        for lab, prm in variants:
            check_label(lab, f"{where}: label")
            plan.jobs.append(Job(e["report"], lab, prm, check_timeout(e.get("timeout", timeout), f"{where}: timeout"),
                                 _relative(e.get("skip_if_missing"), root)))
    unused = set(defaults) - declared_anywhere
    if unused:
        raise ConfigError(f"report config {p}: defaults {sorted(unused)} are not a parameter of any report")
    labels = [j.label for j in plan.jobs]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError(f"report config {p}: labels {dup} appear twice; give each entry its own 'label'")
    return plan


def _renderable(job: Job, templates: Path | None) -> Path | None:
    """The template of ``job`` when it will render (not skipped, template found), else None."""
    if job.skip_if_missing and not Path(job.skip_if_missing).exists():
        return None
    try:
        return template_path(job.report, templates)
    except ConfigError:
        return None


def run_in_turn(todo: list[Job], run: Callable[..., RenderResult], templates: Path | None) -> list[RenderResult]:
    """Render ``todo`` one after another: one notebook runs at a time. Each next report's kernel is
    started (and its imports made) while the one before runs, so only the first report waits for
    a kernel; and the next report starts as soon as the notebook before has run, its HTML export
    and files written meanwhile on a second thread (``run(job, kernel, on_executed)``). An
    interrupt (Ctrl-C) is passed on to the notebook that runs, in its kernel started here: it stops
    within seconds, as a failed report (its previous version kept), and no later report starts. (A
    report whose kernel could not be started here starts its own, which runs its cell to the end.)"""
    futures = []
    ahead = kernel = executed = None
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cs-report") as pool:
        try:
            for i, job in enumerate(todo):
                executed = None  # this job's kernel is not handed to its report yet
                kernel, ahead = ahead or _kernel_now(job, templates), None
                nxt = _renderable(todo[i + 1], templates) if i + 1 < len(todo) else None
                if nxt is not None:
                    ahead = start_ahead(nxt)
                event = threading.Event()
                futures.append(pool.submit(_run_once, run, job, kernel, event))
                executed = event  # handed over: an interrupt now goes to the notebook
                while not executed.wait(0.5):  # until this notebook has run (or failed); in steps,
                    pass  # so that an interrupt is seen at once
        except BaseException:
            if executed is None:
                if kernel is not None:
                    kernel.close()  # started for a report that never got it
            else:
                _interrupt(kernel, executed)
            raise
        finally:
            if ahead is not None:
                ahead.close()
    return [f.result() for f in futures]


def run_at_once(todo: list[Job], run: Callable[..., RenderResult], templates: Path | None,
                n: int) -> list[RenderResult]:
    """Render ``todo`` ``n`` at a time, each in a kernel started here (``jobs: 2``). An interrupt
    (Ctrl-C) is passed on to every notebook that runs and no later report starts."""
    running: dict[int, tuple[ReadyKernel | None, threading.Event]] = {}
    lock, stopping = threading.Lock(), threading.Event()

    def one(i: int, job: Job) -> RenderResult | None:
        if stopping.is_set():
            return None
        kernel, event = _kernel_now(job, templates), threading.Event()
        with lock:
            if stopping.is_set():  # interrupted while the kernel started
                if kernel is not None:
                    kernel.close()
                return None
            running[i] = (kernel, event)
        try:
            return _run_once(run, job, kernel, event)
        finally:
            with lock:
                running.pop(i, None)

    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="cs-report") as pool:
        futures = [pool.submit(one, i, job) for i, job in enumerate(todo)]
        try:
            while wait(futures, timeout=0.5).not_done:  # in steps, so that an interrupt is seen at once
                pass
        except BaseException:
            stopping.set()
            for f in futures:
                f.cancel()
            with lock:
                now = list(running.values())
            for kernel, event in now:
                _interrupt(kernel, event)
            raise
    return [f.result() for f in futures]


def _kernel_now(job: Job, templates: Path | None) -> ReadyKernel | None:
    """A kernel for ``job`` started now (held here, so that an interrupt can stop it); None when
    the job will not render or the kernel cannot start (the report then starts its own)."""
    path = _renderable(job, templates)
    if path is None:
        return None
    try:
        return ReadyKernel(path).start()
    except Exception:  # noqa: BLE001 - the report starts its own and says why if that fails too
        return None


def _interrupt(kernel: ReadyKernel | None, executed: threading.Event | None) -> None:
    """Pass a Ctrl-C on to the kernel of the notebook that runs (started in a session of its own,
    it does not get the terminal's), again until the notebook stops (an interrupt that lands
    between two cells is lost). Shutting the kernel down instead would leave papermill waiting
    for its output for ever."""
    if kernel is None or executed is None:
        return
    for _ in range(6):
        try:
            kernel.km.interrupt_kernel()
        except Exception:  # noqa: BLE001 - the kernel is gone: papermill is done with it
            return
        if executed.wait(5):
            return


def _run_once(run: Callable[..., RenderResult], job: Job, kernel: ReadyKernel | None,
              executed: threading.Event) -> RenderResult:
    try:
        return run(job, kernel, executed.set)
    finally:
        executed.set()  # also when nothing ran (skipped, bad parameters) or it raised
        if kernel is not None:
            kernel.close()  # a no-op when the report used it (closed there); else not leaked


def run_config(
    path: str | Path,
    out: str | Path | None = None,
    only: list[str] | None = None,
    progress: bool = True,
    on_start: Callable[[Job], None] | None = None,
    on_done: Callable[[RenderResult], None] | None = None,
    jobs: int | None = None,
) -> list[RenderResult]:
    """Render every report of the config; a failure does not stop the others.

    Returns one :class:`RenderResult` per report (status ``ok``, ``failed`` or ``skipped``).
    """
    plan = load_config(path, out)
    todo = [j for j in plan.jobs if not only or j.label in only or j.report in only]
    if only and not todo:
        raise ConfigError(f"--only {only}: no such report or label in {path}")

    def run(job: Job, kernel: ReadyKernel | None = None,
            on_executed: Callable[[], None] | None = None) -> RenderResult:
        if on_start:
            on_start(job)
        if job.skip_if_missing and not Path(job.skip_if_missing).exists():
            res = RenderResult(job.report, job.label, str(job.params.get("as_of", "")), "skipped", None, 0.0,
                               f"skipped: {job.skip_if_missing} not found")
            index.record(plan.out, res.entry())
        else:
            try:
                res = render_report(job.report, job.params, plan.out, job.label, job.timeout,
                                    progress=progress, templates=plan.templates, base=plan.base,
                                    kernel=kernel, on_executed=on_executed)
            except (ReportError, ConfigError) as e:
                res = getattr(e, "result", None) or RenderResult(
                    job.report, job.label, str(job.params.get("as_of", "")), "failed", None, 0.0, str(e))
                res.message = str(e)
        if on_done:
            on_done(res)
        return res

    n = max(1, jobs or plan.parallel)
    with validated_once():  # the first report checks a folder source, the others reuse that
        if n == 1:
            return run_in_turn(todo, run, plan.templates)
        return run_at_once(todo, run, plan.templates, n)

