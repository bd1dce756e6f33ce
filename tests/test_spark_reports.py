"""Reports and the CLI on Spark local equal DuckDB on the small demo (issue 11, "One code path").

The contexts are opened as a report opens them (``open_context`` with ``engine=...``, which
reads the same files through :func:`csresearch.data.engine.open_on`), so the sections run on the
engine a user picks with ``--engine pyspark`` / ``-p engine=pyspark``. Compared as in
tests/test_postgres.py: every section's words, tables and the data behind its figures, the
summary figures (``ctx.summary``: active customers and each section's cards) and the ``metrics``
command's output, byte for byte. ONE Spark session for the whole run (``spark_session``).
Skipped, with the reason, where pyspark or Java is missing.
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from csresearch.data.engine import spark_unavailable_reason
from tests.figure_data import assert_same_figures, recording

pytestmark = [pytest.mark.spark, pytest.mark.slow]
AS_OF = "2025-12-31"
ENGINES = ("pyspark", "duckdb")
REPORTS = {
    "retention": {"grain": "month", "segment": "segment"},
    "health": {"health_config_path": None, "playbook_path": None, "nps_months": 12},
}
runner = CliRunner()
FIGURES: list[list] = []


@pytest.fixture(scope="module")
def spark_ok():
    reason = spark_unavailable_reason()
    if reason:
        pytest.skip(f"Spark report tests skipped: {reason}")


@pytest.fixture(scope="module")
def contexts(spark_ok, demo_small_dir):
    """Report contexts per engine and report, opened as the templates open them; the health
    report reuses the retention report's source (opening and validating on Spark costs ~20 s)."""
    from csresearch.reports.context import ReportContext, open_context, record_customers

    out: dict[str, dict[str, ReportContext]] = {}
    for eng in ENGINES:
        params = {"data": str(demo_small_dir), "as_of": AS_OF, "engine": eng}
        first = open_context("retention", {**params, **REPORTS["retention"]})
        health = ReportContext("health", {**params, **REPORTS["health"]}, source=first.source)
        record_customers(health)
        out[eng] = {"retention": first, "health": health}
    return out


@pytest.fixture(scope="module", autouse=True)
def figures_as_data():
    """Sections' figures recorded as data (FIGURES) instead of rendered to PNG."""
    with recording(FIGURES):
        yield


def test_contexts_run_on_their_engine(contexts):
    for r in REPORTS:
        assert contexts["pyspark"][r].source.con.name == "pyspark"
        assert contexts["duckdb"][r].source.con.name == "duckdb"


def test_summary_customers_same(contexts):
    """The one number (active customers on as_of) and the free-only accounts beside it."""
    for r in REPORTS:
        a, b = contexts["pyspark"][r].summary, contexts["duckdb"][r].summary
        assert a == b
        assert b["active_customers"] > 100


def _sections(report: str) -> list[str]:
    from csresearch.reports import sections

    return [n for n in sections.__all__ if n.startswith(report + "_")]


@pytest.mark.parametrize("name", _sections("retention") + _sections("health"))
def test_report_sections_same(name, contexts):
    """Every section of the retention and health reports: the same words, tables, figures'
    data and summary figures on Spark local as on DuckDB."""
    from csresearch.reports import sections

    fn = getattr(sections, name)
    report = name.split("_")[0]
    ca, cb = contexts["pyspark"][report], contexts["duckdb"][report]
    FIGURES.clear()
    a = fn(ca)
    figs_a = list(FIGURES)
    FIGURES.clear()
    b = fn(cb)
    assert a.parts == b.parts
    assert a.figures == b.figures == len(FIGURES) and a.missing == b.missing == []
    assert_same_figures(figs_a, FIGURES)
    assert len(a.tables) == len(b.tables)
    for x, y in zip(a.tables, b.tables, strict=True):
        pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-9)
    assert ca.summary == cb.summary


def _cli(args: list[str]) -> tuple[str, str]:
    from csresearch.cli import app

    res = runner.invoke(app, args)
    assert res.exit_code == 0, f"{args}: {res.output[-800:]}"
    assert "Traceback" not in res.output
    return res.stdout, res.stderr


# metrics only: each command opens and validates its own source (~30 s on Spark); the
# survival table behind `survival km/logrank/cox` is compared in tests/test_spark.py
COMMANDS = {"metrics": ["metrics", "{src}", "--as-of", AS_OF, "--by", "segment"]}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_cli_byte_equal(name, spark_ok, demo_small_dir):
    args = [a.replace("{src}", str(demo_small_dir)) for a in COMMANDS[name]]
    on_spark = _cli([*args, "--engine", "pyspark"])
    on_duck = _cli([*args, "--engine", "duckdb"])
    assert on_duck[0].count("\n") > 3
    assert on_spark == on_duck  # stdout and the notes on stderr
