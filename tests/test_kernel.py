"""Kernels started ahead: the next report's kernel and imports overlap the report before it,
with a clean namespace, and a dead warm kernel falls back to a fresh one."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook

from csresearch.reports import kernel as kmod
from csresearch.reports.config import run_config

PARAMS = 'as_of: str = "2025-12-31"  # snapshot date, ISO'
PROBE = (
    "import sys\n"
    "user = sorted(k for k in globals() if not k.startswith('_') and k not in "
    "('In', 'Out', 'get_ipython', 'exit', 'quit', 'open', 'as_of', 'sys'))\n"
    "from IPython.display import HTML\n"
    "HTML('<p>names=' + ','.join(user) + ' warm=' + str('lifelines' in sys.modules) + '</p>')"
)


def _template(folder, name):
    nb = new_notebook(cells=[new_code_cell(PARAMS, metadata={"tags": ["parameters"]}), new_code_cell(PROBE)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{name}.ipynb"))


def test_next_kernel_is_started_ahead_with_imports_and_a_clean_namespace(tmp_path, monkeypatch):
    _template(tmp_path / "t", "probe")
    cfg = tmp_path / "reports.yaml"
    cfg.write_text(yaml.safe_dump({
        "out": "out", "templates": "t",
        "reports": [{"report": "probe", "label": "first"}, {"report": "probe", "label": "second"}],
    }))
    started = []
    real = kmod.start_ahead
    monkeypatch.setattr("csresearch.reports.config.start_ahead",
                        lambda path: started.append(path) or real(path))
    results = run_config(cfg, progress=False)
    assert [r.status for r in results] == ["ok", "ok"], [r.message for r in results]
    assert len(started) == 1  # only the second report's kernel is started ahead
    first = (tmp_path / "out" / "2025-12-31" / "first.html").read_text()
    second = (tmp_path / "out" / "2025-12-31" / "second.html").read_text()
    # the cold kernel has not imported lifelines; the warm one has, yet its namespace is as clean
    assert "names= warm=False" in first
    assert "names= warm=True" in second


def test_a_dead_warm_kernel_falls_back_to_a_fresh_one(tmp_path):
    _template(tmp_path / "t", "probe")
    warm = kmod.start_ahead(tmp_path / "t" / "probe.ipynb")
    assert warm is not None and warm.ready(timeout=120)
    warm.km.shutdown_kernel(now=True)  # dies before the report runs
    out = tmp_path / "executed.ipynb"
    kmod.execute(tmp_path / "t" / "probe.ipynb", out, {"as_of": "2025-12-31"}, 300, progress=False, kernel=warm)
    # it ran, in a fresh kernel: nothing imported ahead, and the dead one is cleaned up
    assert "names= warm=False" in out.read_text()
    assert not warm.km.has_kernel


def test_in_turn_the_next_report_runs_while_the_one_before_is_exported(tmp_path, monkeypatch):
    """One notebook runs at a time; the HTML export of one overlaps the next one's run."""

    from csresearch.reports import render

    for name in ("probe", "slow"):
        _template(tmp_path / "t", name)
    cfg = tmp_path / "reports.yaml"
    cfg.write_text(yaml.safe_dump({"out": "out", "templates": "t", "reports": [
        {"report": "slow", "label": "first"}, {"report": "probe", "label": "second"},
        {"report": "probe", "label": "third"}]}))
    spans: dict = {}
    lock = threading.Lock()

    def timed(fn, what):
        def wrapper(*a, **k):
            t0 = time.monotonic()
            try:
                return fn(*a, **k)
            finally:
                with lock:
                    spans.setdefault(what, []).append((t0, time.monotonic(), threading.current_thread().name))
        return wrapper

    real_export = render.export_html

    def slow_export(nb, title):  # the first report's export takes 3 s
        if title.startswith("slow"):
            time.sleep(3)
        return real_export(nb, title)

    monkeypatch.setattr(render, "execute", timed(render.execute, "execute"))
    monkeypatch.setattr(render, "export_html", timed(slow_export, "export"))
    results = run_config(cfg, progress=False)
    assert [r.status for r in results] == ["ok", "ok", "ok"], [r.message for r in results]
    assert [r.label for r in results] == ["first", "second", "third"]
    runs = sorted(spans["execute"])
    assert len(runs) == 3
    assert all(a[1] <= b[0] for a, b in zip(runs, runs[1:], strict=False))  # never two notebooks at once
    slow = max(spans["export"], key=lambda s: s[1] - s[0])
    assert slow[1] - slow[0] >= 3
    assert runs[1][0] < slow[1]  # the second report ran during the first one's export
    for label in ("first", "second", "third"):
        assert (tmp_path / "out" / "2025-12-31" / f"{label}.html").exists()


def _ctrl_c_once_these_exist(paths) -> None:
    """Send this process a SIGINT (as Ctrl-C does) once every file of ``paths`` exists (a notebook
    cell writes its file and then sleeps); give up after 120 s."""

    def watch() -> None:
        for _ in range(1200):
            if all(p.exists() for p in paths):
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()


def test_an_interrupt_stops_the_report_that_runs_at_once(tmp_path):
    """Ctrl-C while a report runs in turn: the notebook is interrupted too (its cell raises
    KeyboardInterrupt), the report is recorded as failed and no later report starts. Without the
    hand-on, the 120 s cell would end normally and the report be recorded as rendered."""
    folder = tmp_path / "t"
    folder.mkdir()
    sleeping = tmp_path / "sleeping"
    cell = f"import pathlib, time\npathlib.Path({str(sleeping)!r}).touch()\ntime.sleep(120)"
    nb = new_notebook(cells=[new_code_cell(PARAMS, metadata={"tags": ["parameters"]}), new_code_cell(cell)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, str(folder / "sleepy.ipynb"))
    cfg = tmp_path / "reports.yaml"
    cfg.write_text(yaml.safe_dump({"out": "out", "templates": "t", "reports": [
        {"report": "sleepy", "label": "first"}, {"report": "sleepy", "label": "second"}]}))
    _ctrl_c_once_these_exist([sleeping])
    with pytest.raises(KeyboardInterrupt):
        run_config(cfg, progress=False)
    entries = json.loads((tmp_path / "out" / "_index.json").read_text())
    assert [(e["label"], e["status"]) for e in entries] == [("first", "failed")]
    assert "raised KeyboardInterrupt" in entries[0]["message"]


def test_an_interrupt_stops_every_report_that_runs_two_at_a_time(tmp_path):
    """jobs: 2: Ctrl-C while both notebooks sleep reaches both kernels; each report is recorded as
    failed and the third never starts."""
    folder = tmp_path / "t"
    folder.mkdir()
    cell = (f"import pathlib, time\npathlib.Path({str(tmp_path)!r}, 'sleeping-' + label).touch()\n"
            "time.sleep(120)")
    nb = new_notebook(cells=[new_code_cell(PARAMS + '\nlabel: str = "x"  # which report', metadata={"tags": ["parameters"]}),
                             new_code_cell(cell)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, str(folder / "sleepy.ipynb"))
    cfg = tmp_path / "reports.yaml"
    cfg.write_text(yaml.safe_dump({"out": "out", "templates": "t", "jobs": 2, "reports": [
        {"report": "sleepy", "label": name, "params": {"label": name}} for name in ("first", "second", "third")]}))
    _ctrl_c_once_these_exist([tmp_path / "sleeping-first", tmp_path / "sleeping-second"])
    with pytest.raises(KeyboardInterrupt):
        run_config(cfg, progress=False)
    entries = {e["label"]: e for e in json.loads((tmp_path / "out" / "_index.json").read_text())}
    assert sorted(entries) == ["first", "second"]
    assert all(e["status"] == "failed" and "raised KeyboardInterrupt" in e["message"] for e in entries.values())



def test_two_at_a_time_renders_every_report_in_a_kernel_of_its_own(tmp_path):
    for name in ("a", "b", "c"):
        _template(tmp_path / "t", name)
    cfg = tmp_path / "reports.yaml"
    cfg.write_text(yaml.safe_dump({"out": "out", "templates": "t", "jobs": 2,
                                   "reports": [{"report": name} for name in ("a", "b", "c")]}))
    results = run_config(cfg, progress=False)
    assert [(r.label, r.status) for r in results] == [("a", "ok"), ("b", "ok"), ("c", "ok")]
    for name in ("a", "b", "c"):  # a fresh namespace each: nothing imported ahead
        assert "names= warm=False" in (tmp_path / "out" / "2025-12-31" / f"{name}.html").read_text()
