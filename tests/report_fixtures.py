"""Shared set-up of the end-to-end report tests: a tiny project and its rendered reports.

The tiny project mirrors the repository layout (``notebooks/`` with the templates,
``data/demo`` with 400 demo accounts, ``data/*.yaml``), so the templates' default parameters
(``../data/demo`` ...) work unchanged: nbval runs them as they are committed. Every account
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
CONFIGS = ("health.yaml", "playbooks.yaml", "maturity.yaml", "maturity_answers.yaml",
           "maturity_answers_previous.yaml")


def tiny_project(base: Path, demo_dir: Path) -> Path:
    """``base/project`` with notebooks, configs and a renamed copy of the small demo data."""
    proj = base / "project"
    if (proj / "ready").exists():
        return proj
    (proj / "notebooks").mkdir(parents=True, exist_ok=True)
    for name in REPORT_NAMES:
        shutil.copy(REPO / "notebooks" / f"{name}.ipynb", proj / "notebooks")
    data = proj / "data"
    shutil.copytree(demo_dir, data / "demo", dirs_exist_ok=True)
    for f in CONFIGS:
        if (REPO / "data" / f).exists():
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
                      templates=proj / "notebooks", progress=False, base=proj)
    (out / "ready").write_text("ok")
    return out
