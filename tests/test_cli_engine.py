"""``--engine`` on the commands and ``engine`` as a report parameter: the choices and the
errors (no Spark needed; tests/test_spark_reports.py compares the engines' results)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from csresearch.cli import app
from csresearch.data import engine
from csresearch.errors import ConfigError

runner = CliRunner()
NO_JAVA = "no Java runtime found (PySpark needs Java 17): install openjdk-17-jre-headless"


@pytest.fixture()
def folder(tmp_path):
    """One account, one subscription: enough to open a source."""
    pd.DataFrame({"account_id": ["a"], "name": ["A"], "segment": ["smb"],
                  "created_at": ["2024-01-01 00:00:00"]}).to_csv(tmp_path / "accounts.csv", index=False)
    pd.DataFrame({"subscription_id": ["s1"], "account_id": ["a"], "start_date": ["2024-01-01"],
                  "end_date": [None], "mrr": [100.0]}).to_csv(tmp_path / "subscriptions.csv", index=False)
    return tmp_path


def _commands(src: str) -> dict[str, list[str]]:
    return {
        "metrics": ["metrics", src, "--as-of", "2024-01-31"],
        "health": ["health", src, "--as-of", "2024-01-31"],
        "playbooks": ["playbooks", src, "--as-of", "2024-01-31"],
        "km": ["survival", "km", "--data", src, "--as-of", "2024-01-31"],
        "logrank": ["survival", "logrank", "--data", src, "--as-of", "2024-01-31", "--by", "segment"],
        "cox": ["survival", "cox", "--data", src, "--as-of", "2024-01-31", "--covariates", "mrr_start"],
    }


@pytest.mark.parametrize("name", ["metrics", "health", "playbooks", "km", "logrank", "cox"])
def test_unknown_engine_lists_the_choices(name, folder):
    r = runner.invoke(app, [*_commands(str(folder))[name], "--engine", "polars"])
    assert r.exit_code == 2, r.output
    assert "engine must be one of duckdb, pyspark, not 'polars'" in r.stderr
    assert "Traceback" not in r.output


@pytest.mark.parametrize("name", ["metrics", "health", "km"])
def test_pyspark_without_java_says_what_to_install(name, folder, monkeypatch):
    monkeypatch.setattr(engine, "spark_unavailable_reason", lambda: NO_JAVA)
    r = runner.invoke(app, [*_commands(str(folder))[name], "--engine", "pyspark"])
    assert r.exit_code == 2, r.output
    assert "engine 'pyspark' cannot run here" in r.stderr and "openjdk-17-jre-headless" in r.stderr


def test_default_engine_is_duckdb(folder):
    r = runner.invoke(app, _commands(str(folder))["metrics"])
    assert r.exit_code == 0, r.output
    assert r.stdout == runner.invoke(app, [*_commands(str(folder))["metrics"], "--engine", "duckdb"]).stdout


def test_engine_with_a_flat_table_is_refused(tmp_path):
    f = tmp_path / "t.csv"
    pd.DataFrame({"t": [1, 2], "e": [0, 1]}).to_csv(f, index=False)
    r = runner.invoke(app, ["survival", "km", "--table", str(f), "--duration", "t", "--event", "e",
                            "--engine", "pyspark"])
    assert r.exit_code == 2
    assert "--table file is read with pandas" in r.stderr or "cannot run here" in r.stderr


def test_every_template_takes_engine_and_reports_yaml_passes_it():
    from pathlib import Path

    import yaml

    from csresearch.reports import REPORTS, notebook_parameters, template_path

    for name in REPORTS:
        spec = notebook_parameters(template_path(name))
        assert spec["engine"].default == "duckdb" and "pyspark" in spec["engine"].help, name
    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "data" / "reports.yaml").read_text())
    assert cfg["defaults"]["engine"] == "duckdb"


def test_report_engine_checked_before_a_kernel_starts(folder, tmp_path):
    from csresearch.reports import check_parameters, notebook_parameters, template_path

    spec = notebook_parameters(template_path("retention"))
    with pytest.raises(ConfigError, match="parameter 'engine' must be one of duckdb, pyspark, not 'polars'"):
        check_parameters("retention", spec, {"engine": "polars"})
    r = runner.invoke(app, ["report", "retention", "--data", str(folder), "--as-of", "2024-01-31",
                            "-p", "engine=polars", "--out", str(tmp_path / "out"), "--quiet"])
    assert r.exit_code == 2 and "must be one of duckdb, pyspark" in r.stderr
    assert not (tmp_path / "out").exists()


def test_open_context_refuses_an_unknown_engine(folder):
    from csresearch.reports.context import open_context

    with pytest.raises(ConfigError, match="engine must be one of duckdb, pyspark"):
        open_context("retention", {"data": str(folder), "as_of": "2024-01-31", "engine": "oracle"})


def test_report_engine_option_is_the_parameter(folder, tmp_path):
    r = runner.invoke(app, ["report", "retention", "--data", str(folder), "--as-of", "2024-01-31",
                            "--engine", "polars", "--out", str(tmp_path / "out"), "--quiet"])
    assert r.exit_code == 2 and "parameter 'engine' must be one of duckdb, pyspark" in r.stderr
    r = runner.invoke(app, ["report", "all", "--config", str(tmp_path / "r.yaml"), "--engine", "pyspark"])
    assert r.exit_code == 2 and "set engine in the config" not in r.stderr and "--engine" in r.stderr
