"""``csresearch init``: the project files, paths relative to the project, refusals."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from csresearch.data.mapping import load_mapping
from csresearch.errors import ConfigError
from csresearch.project import init_project, project_source

FILES = {"reports.yaml", "health.yaml", "playbooks.yaml", "maturity.yaml", "maturity_answers.template.yaml",
         "mapping.yaml", "explore.ipynb", "README.md"}


def test_writes_a_ready_project(tmp_path):
    written = init_project(tmp_path / "proj")
    assert {p.name for p in written} == FILES
    cfg = yaml.safe_load((tmp_path / "proj" / "reports.yaml").read_text())
    assert cfg["defaults"] == {"data": "data/demo", "as_of": "2025-12-31", "mapping_path": "mapping.yaml"}
    assert [e["report"] for e in cfg["reports"]] == ["retention", "health", "churn_drivers", "maturity"]
    assert load_mapping(tmp_path / "proj" / "mapping.yaml") == {"tables": {}, "columns": {}}  # all commented
    nb = json.loads((tmp_path / "proj" / "explore.ipynb").read_text())
    assert 'open_source("data/demo", mapping="mapping.yaml")' in "".join(nb["cells"][1]["source"])
    readme = (tmp_path / "proj" / "README.md").read_text()
    assert "csresearch report all --config reports.yaml" in readme and "csresearch demo-data" in readme


def test_source_is_written_relative_to_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports").mkdir()
    init_project("work/proj", data="exports", as_of="2026-03-31")
    cfg = yaml.safe_load((tmp_path / "work" / "proj" / "reports.yaml").read_text())
    assert cfg["defaults"]["data"] == "../../exports" and cfg["defaults"]["as_of"] == "2026-03-31"
    assert "csresearch validate ../../exports --mapping mapping.yaml" in (tmp_path / "work/proj/README.md").read_text()
    assert project_source("env:CS_DB", tmp_path) == "env:CS_DB"
    assert project_source("duckdb://warehouse.duckdb", tmp_path) == "duckdb://warehouse.duckdb"


def test_refuses_a_non_empty_folder_unless_forced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty; .*--force"):
        init_project(tmp_path)
    init_project(tmp_path, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "reports.yaml").exists()


@pytest.mark.parametrize("data, as_of, match", [
    ("postgres://u:secret@db/cs", "2025-12-31", "password; put it in an environment variable"),
    (None, "31/12/2025", "ISO date"),
])
def test_refusals(tmp_path, data, as_of, match):
    with pytest.raises(ConfigError, match=match):
        init_project(tmp_path / "p", data=data, as_of=as_of)
    assert not (tmp_path / "p" / "reports.yaml").exists()


def test_cli_init(tmp_path):
    from typer.testing import CliRunner

    from csresearch.cli import app

    r = CliRunner().invoke(app, ["init", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert "wrote 8 files" in r.output
    r = CliRunner().invoke(app, ["init", str(tmp_path / "p")])
    assert r.exit_code == 2 and "not empty" in r.output
    assert os.path.isfile(tmp_path / "p" / "README.md")
