"""PostgreSQL as the warehouse stand-in: every CLI command and report figure as on DuckDB.

A throw-away server (tests/pg.py: initdb in a temporary folder, 127.0.0.1 at a free port,
trust authentication) is started once for this module and the small demo (400 accounts,
seed 3, the ``demo_small_dir`` of conftest) is copied into it. Each CLI command then runs
on ``postgres://...`` and on the DuckDB folder: the outputs are byte-equal (where a float
sum's order could differ, values equal to 1e-9 are accepted); the engine-side frames
(usage features, survival table, health history) and every section of the retention and
health reports agree. Skipped, with the reason, where no server can start
(``apt-get install postgresql`` gives one; ``.ci/run`` installs it).
"""

from __future__ import annotations

import io

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests import pg
from tests.figure_data import assert_same_figures, recording

pytestmark = pytest.mark.postgres
AS_OF = "2025-12-31"
SRC = "{src}"
runner = CliRunner()


@pytest.fixture(scope="module")
def pg_url(demo_small_dir):
    """URL of a server holding the small demo; stopped when the module's tests are done."""
    with pg.served(demo_small_dir) as url:
        yield url


@pytest.fixture(scope="module")
def pg_src(pg_url):
    from csresearch.data.sources import open_source

    return open_source(pg_url)


def test_server_holds_the_demo(pg_src, demo_small):
    assert pg_src.con.name == "postgres"
    assert pg_src.row_counts() == demo_small.row_counts()
    assert pg_src.row_counts()["usage_events"] > 100_000


def _cli(args: list[str], src: str) -> str:
    from csresearch.cli import app

    res = runner.invoke(app, [a.replace(SRC, src) for a in args])
    assert res.exit_code == 0, f"{args[:2]} on {src.split(':')[0]}: {res.output[-800:]}"
    assert "Traceback" not in res.output
    return res.stdout


def _assert_same_output(a: str, b: str) -> None:
    """Byte-equal, or the same table with numbers equal to 1e-9 (a sum in another order)."""
    if a == b:
        return
    notes = [[x for x in s.splitlines() if x.startswith("#")] for s in (a, b)]
    assert notes[0] == notes[1]
    fa, fb = (pd.read_csv(io.StringIO(s), comment="#") for s in (a, b))
    pd.testing.assert_frame_equal(fa, fb, check_exact=False, rtol=1e-9, atol=1e-12)


COMMANDS = {
    "validate": ["validate", SRC],
    "metrics": ["metrics", SRC, "--as-of", AS_OF],
    "health": ["health", SRC, "--as-of", AS_OF],
    "km": ["survival", "km", "--data", SRC, "--as-of", AS_OF, "--by", "segment", "--at", "365,730",
           "--ci"],
    "logrank": ["survival", "logrank", "--data", SRC, "--as-of", AS_OF, "--by", "segment",
                "--pairwise"],
    "cox": ["survival", "cox", "--data", SRC, "--as-of", AS_OF, "--covariates", "segment,mrr_start",
            "--categorical", "segment"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_cli_same_output(name, pg_url, demo_small_dir):
    on_pg = _cli(COMMANDS[name], pg_url)
    on_duck = _cli(COMMANDS[name], str(demo_small_dir))
    assert on_duck.strip(), name
    _assert_same_output(on_pg, on_duck)


def test_engine_frames_same(pg_src, demo_small):
    from csresearch.features.usage import usage_features
    from csresearch.survival.tables import survival_table

    for fn in (usage_features, survival_table):
        a, b = fn(pg_src, AS_OF), fn(demo_small, AS_OF)
        assert len(b) > 100
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


def _survival_expr(src):
    from csresearch.survival.tables import survival_table_expr

    t = survival_table_expr(src, AS_OF)
    return t.mutate(log_mrr=(t.mrr_start + 1.0).ln())


def _engine_steps():
    """Engine-side steps not behind a CLI command above: name -> fn(source) -> frame."""
    from csresearch.metrics.annual import trailing_12m
    from csresearch.metrics.cohorts import cohort_table
    from csresearch.metrics.renewals import renewal_events, renewal_rates
    from csresearch.metrics.revenue import mrr_bridge
    from csresearch.survival.counts import cohort_survival, km_counts
    from csresearch.survival.episodes import start_window_covariates
    from csresearch.survival.large import EngineCoxPH

    return {
        "km_counts": lambda s: km_counts(_survival_expr(s), "tenure_days", "churned", by="segment"),
        "cohort_survival": lambda s: cohort_survival(_survival_expr(s)),
        "engine_cox": lambda s: EngineCoxPH().fit(
            _survival_expr(s), "tenure_days", "churned", ["log_mrr"], categorical=["segment"]
        ).summary,
        "mrr_bridge": lambda s: mrr_bridge(s, AS_OF, by="segment"),
        "cohorts": lambda s: cohort_table(s, AS_OF),
        "trailing_12m": lambda s: trailing_12m(s, AS_OF),
        "renewals": lambda s: renewal_rates(s, AS_OF, "quarter"),
        "renewals_by_segment": lambda s: renewal_rates(s, AS_OF, "month", by="segment", level="subscription"),
        "renewal_events": lambda s: renewal_events(s, AS_OF),
        # churn drivers' data: took 5 minutes on Postgres before its population was cached
        "start_window_covariates": lambda s: start_window_covariates(s, AS_OF),
    }


@pytest.mark.parametrize("name", ["km_counts", "cohort_survival", "engine_cox", "mrr_bridge",
                                  "cohorts", "trailing_12m", "renewals", "renewals_by_segment",
                                  "renewal_events", "start_window_covariates"])
def test_engine_steps_same(name, pg_src, demo_small):
    fn = _engine_steps()[name]
    a, b = fn(pg_src), fn(demo_small)
    assert len(b) >= 3
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


def test_usage_features_portable_path(pg_src, demo_small):
    """Postgres counts distinct days and event types; DuckDB uses bit masks: same numbers."""
    from csresearch.features.usage import _uses_bit_masks

    assert not _uses_bit_masks(pg_src.table("usage_events"))
    assert _uses_bit_masks(demo_small.table("usage_events"))


REPORTS = {
    "retention": {"grain": "month", "segment": "segment"},
    "health": {"health_config_path": None, "playbook_path": None, "nps_months": 12},
}


@pytest.fixture(scope="module")
def contexts(pg_src, demo_small):
    """Report contexts per engine and report (their caches shared by the sections)."""
    from csresearch.reports.context import ReportContext

    return {
        eng: {r: ReportContext.from_source(s, AS_OF, report=r, **p) for r, p in REPORTS.items()}
        for eng, s in (("postgres", pg_src), ("duckdb", demo_small))
    }


def _sections(report: str) -> list[str]:
    from csresearch.reports import sections

    return [n for n in sections.__all__ if n.startswith(report + "_")]


FIGURES: list[list] = []


@pytest.fixture(scope="module", autouse=True)
def figures_as_data():
    """Sections' figures recorded as data (FIGURES) instead of rendered to PNG."""
    with recording(FIGURES):
        yield


def test_health_history_same(contexts):
    """The health scoring both reports read: the history, the bands and the playbook features
    (computed here once per engine, kept in the cache)."""
    from csresearch.reports.sections import health_data

    a = health_data.scored(contexts["postgres"]["health"])
    b = health_data.scored(contexts["duckdb"]["health"])
    assert len(b[0]) > 500 and len(b[2]) > 1000 and b[0]["score"].notna().any()
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-9)


@pytest.mark.parametrize("name", _sections("retention") + _sections("health"))
def test_report_sections_same(name, contexts):
    """Every section of the retention and health reports: the same words, tables and figures
    (the data each plot shows)."""
    from csresearch.reports import sections

    fn = getattr(sections, name)
    report = name.split("_")[0]
    FIGURES.clear()
    a = fn(contexts["postgres"][report])
    figs_a = list(FIGURES)
    FIGURES.clear()
    b = fn(contexts["duckdb"][report])
    assert a.parts == b.parts
    assert a.figures == b.figures == len(FIGURES) and a.missing == b.missing == []
    assert_same_figures(figs_a, FIGURES)
    assert len(a.tables) == len(b.tables)
    for x, y in zip(a.tables, b.tables, strict=True):
        pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-9)
