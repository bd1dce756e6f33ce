"""Kernels started ahead: the next report's kernel and imports overlap the report before it,
with a clean namespace, and a dead warm kernel falls back to a fresh one."""

from __future__ import annotations

import nbformat
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
