"""End to end: every template under nbval (lax) and rendered on a tiny data set, the failure
path through the command line, and the Telco flat table.

Slow-ish (one kernel per notebook); the data set has 400 accounts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report_fixtures import EVIL, REPO, REPORT_NAMES, rendered, tiny_project

pytestmark = pytest.mark.slow
_SCRIPT = Path(sys.executable).parent / "csresearch"
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from csresearch.cli import main; main()"]


@pytest.fixture(scope="session")
def reports_base(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "reports_e2e"


@pytest.fixture(scope="session")
def project(reports_base, demo_small_dir) -> Path:
    return tiny_project(reports_base, demo_small_dir)


@pytest.fixture(scope="session")
def out(reports_base, demo_small_dir) -> Path:
    return rendered(reports_base, demo_small_dir)


@pytest.fixture(scope="session")
def nbval_run(project):
    """nbval (lax) on the committed templates, started in the background (it overlaps the renders)."""
    ini = project / "pytest.ini"
    ini.write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "--nbval-lax", "-c", str(ini), "--rootdir", str(project),
         *[str(project / "csresearch" / "templates" / f"{n}.ipynb") for n in REPORT_NAMES]],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()


def test_templates_pass_nbval_lax_with_their_default_parameters(nbval_run, out):
    """The committed templates run as they are (defaults point at ../../data/demo)."""
    stdout, stderr = nbval_run.communicate(timeout=600)
    assert nbval_run.returncode == 0, stdout[-4000:] + stderr[-2000:]
    assert re.search(r"\d+ passed", stdout)


@pytest.mark.parametrize("name", REPORT_NAMES)
def test_report_renders_clean_html(out, name):
    html = (out / "2025-12-31" / f"{name}.html").read_text()
    assert "<h1" in html and "Summary" in html and "Provenance" in html
    assert "<script" not in html.lower()  # no scripts at all, and names are text
    for leak in ("Traceback", "Warning:", "warnings.warn", "rn.start(", "sections.", "import ", "DataQualityWarning"):
        assert leak not in html, leak
    if name != "maturity":
        assert re.search(r"\d+\.\d %", html)  # percentages formatted
    assert "fingerprint" in html and "git commit" in html


def test_hostile_names_are_text(out):
    html = (out / "2025-12-31" / "health.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Testing &amp; Co." in html
    assert EVIL not in html


def test_index_lists_every_report(out):
    index = (out / "index.html").read_text()
    for name in REPORT_NAMES:
        assert f'href="2025-12-31/{name}.html"' in index


def test_broken_source_keeps_old_report_and_exits_non_zero(out, tmp_path, project):
    """A data source without its accounts table fails in the start cell."""
    dest = tmp_path / "out"
    shutil.copytree(out, dest)
    before = (dest / "2025-12-31" / "retention.html").read_bytes()
    broken = tmp_path / "broken"
    shutil.copytree(project / "data" / "demo", broken)
    (broken / "accounts.parquet").unlink()
    r = subprocess.run([*CLI, "report", "retention", "--data", str(broken), "--as-of", "2025-12-31",
                        "--out", str(dest), "--quiet"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 1
    assert "DataValidationError" in r.stderr and "accounts" in r.stderr and "previous report is kept" in r.stderr
    assert (dest / "2025-12-31" / "retention.html").read_bytes() == before
    assert (dest / "_failed" / "2025-12-31" / "retention.ipynb").exists()
    assert "failed (previous good report kept)" in (dest / "index.html").read_text()


def test_unknown_parameter_is_refused_before_running(tmp_path):
    r = subprocess.run([*CLI, "report", "retention", "--as-of", "2025-12-31", "--param", "segmnet=plan",
                        "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 2
    assert "unknown parameter 'segmnet'; did you mean 'segment'" in r.stderr
    assert not (tmp_path / "2025-12-31").exists()


def test_churn_drivers_on_the_telco_table(shared_dir, tmp_path):
    from csresearch.reports import render_report

    telco = shared_dir / "data" / "telco" / "Telco-Customer-Churn.csv"
    res = render_report("churn_drivers", {"data": str(telco), "duration": "tenure", "event": "Churn=Yes",
                                          "covariates": ["Contract", "MonthlyCharges"], "id_column": "customerID"},
                        tmp_path, label="telco", progress=False)
    html = (tmp_path / res.path).read_text()
    assert "Contract" in html and "hazard ratio" in html and "Telco-Customer-Churn.csv" in html


def test_summary_json_beside_every_report_with_one_active_customers_figure(out, project):
    """Every report on the data source writes <label>.json; the active customers agree with each
    other, with the timeline and with the metrics export (one number, one definition)."""
    import json
    from html import escape as html_escape

    from typer.testing import CliRunner

    from csresearch.cli import app
    from csresearch.data import timeline
    from csresearch.data.sources import open_source

    data = project / "data" / "demo"
    expected = timeline.active_customers(open_source(data), "2025-12-31")
    index = (out / "index.html").read_text()
    for name in REPORT_NAMES:
        body = json.loads((out / "2025-12-31" / f"{name}.json").read_text())
        assert body["report"] == name and body["as_of"] == "2025-12-31" and body["label"] == name
        assert body["active_customers"] == expected, name
        assert body["provenance"]["fingerprint"] and body["parameters"]["as_of"] == "2025-12-31"
        assert f'href="2025-12-31/{name}.json"' in index
        assert len(body["headline"]) > 40 and html_escape(body["headline"]) in index  # the index's line
        html = (out / "2025-12-31" / f"{name}.html").read_text()
        assert f"Active customers on 2025-12-31: {expected:,}" in html
        assert "vnd.csresearch.summary" not in html
    export = CliRunner().invoke(app, ["metrics", str(data), "--as-of", "2025-12-31", "--format", "json"])
    assert json.loads(export.stdout)["active_customers"] == expected
