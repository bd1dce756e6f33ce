"""Shared set-up of the end-to-end report tests: a tiny project and its rendered reports.

The tiny project mirrors the repository layout (``csresearch/templates/`` with the templates,
``csresearch/configs/`` with the default configs, ``data/demo`` with 400 demo accounts and
``data/maturity_answers*.yaml``), so the templates' default parameters (``../../data/demo``,
``../configs/health.yaml`` ...) work unchanged: nbval runs them as they are committed. Every account
is renamed ``<script>alert(1)</script> Testing & Co. <n>`` so that names in every table are
hostile. Rendering happens once per test session (cached under pytest's base temp folder).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
EVIL = "<script>alert(1)</script> Testing & Co."
REPORT_NAMES = ("retention", "health", "churn_drivers", "maturity")
CONFIGS = ("health.yaml", "playbooks.yaml", "maturity.yaml", "goals.yaml")  # packaged defaults
ANSWERS = ("maturity_answers.yaml", "maturity_answers_previous.yaml")  # the demo's, in data/
TEMPLATES = REPO / "csresearch" / "templates"


def tiny_project(base: Path, demo_dir: Path) -> Path:
    """``base/project`` with templates, configs and a renamed copy of the small demo data."""
    proj = base / "project"
    if (proj / "ready").exists():
        return proj
    (proj / "csresearch" / "templates").mkdir(parents=True, exist_ok=True)
    (proj / "csresearch" / "configs").mkdir(parents=True, exist_ok=True)
    for name in REPORT_NAMES:
        shutil.copy(TEMPLATES / f"{name}.ipynb", proj / "csresearch" / "templates")
    for f in CONFIGS:
        shutil.copy(REPO / "csresearch" / "configs" / f, proj / "csresearch" / "configs")
    data = proj / "data"
    shutil.copytree(demo_dir, data / "demo", dirs_exist_ok=True)
    for f in ANSWERS:
        shutil.copy(REPO / "data" / f, data)
    acc = pd.read_parquet(data / "demo" / "accounts.parquet")
    acc["name"] = [f"{EVIL} {i}" for i in range(len(acc))]
    acc.to_parquet(data / "demo" / "accounts.parquet", index=False)
    (proj / "ready").write_text("ok")
    return proj


def rendered(base: Path, demo_dir: Path) -> Path:
    """Render every report from the tiny project into ``base/out`` (once per session)."""
    from csresearch.reports import render_report

    proj = tiny_project(base, demo_dir)
    out = base / "out"
    if (out / "ready").exists():
        return out
    for name in REPORT_NAMES:
        render_report(name, {"data": str(proj / "data" / "demo"), "as_of": "2025-12-31"}, out,
                      templates=proj / "csresearch" / "templates", progress=False, base=proj)
    (out / "ready").write_text("ok")
    return out
