"""Tests of the ``csresearch maturity`` commands (typer CliRunner)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from csresearch.cli import app
from csresearch.maturity import load_questionnaire

REPO = Path(__file__).resolve().parents[1]
ANSWERS = REPO / "data" / "maturity_answers.yaml"
PREVIOUS = REPO / "data" / "maturity_answers_previous.yaml"
KEYS = load_questionnaire().keys


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str):
    return runner.invoke(app, ["maturity", *map(str, args)])


def test_template_to_stdout_and_file(runner, tmp_path):
    r = run(runner, "template")
    assert r.exit_code == 0, r.output
    assert "health_score:" in r.stdout and "# Levels: 1 = Reactive" in r.stdout
    out = tmp_path / "answers.csv"
    r = run(runner, "template", "--out", out)
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "capability,level,note" in text and "\nknowledge_base,," in text


def test_blank_template_is_refused_by_assess(runner, tmp_path):
    out = tmp_path / "answers.yaml"
    assert run(runner, "template", "--out", out).exit_code == 0
    r = run(runner, "assess", out)
    assert r.exit_code == 2
    assert "missing capability answer(s): customer_master" in r.stderr
    assert str(out) in r.stderr


def test_assess_answers_only_text(runner):
    r = run(runner, "assess", ANSWERS)
    assert r.exit_code == 0, r.output
    # demo answers: 7 of 11 at Outcomes, the rest at Insights & Actions -> overall 3
    assert "Overall level: 3 Outcomes" in r.stdout
    assert "Rule: The overall level is the highest level" in r.stdout
    assert "Evidence: none" in r.stdout
    assert "Steps to level 4 Transform" in r.stdout


def test_assess_with_previous_json(runner):
    r = run(runner, "assess", ANSWERS, "--previous", PREVIOUS, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["overall"] == 3 and doc["overall_name"] == "Outcomes"
    rows = {x["capability"]: x for x in doc["rows"]}
    assert set(rows) == set(KEYS)
    assert rows["health_score"]["previous"] == 2 and rows["health_score"]["change"] == 1
    overall = next(x for x in doc["changes"] if x["capability"] == "overall")
    assert (overall["previous"], overall["current"], overall["change"]) == (2, 3, 1)
    assert doc["gaps"][0]["priority"] == 1


def test_assess_csv_to_file(runner, tmp_path):
    out = tmp_path / "levels.csv"
    r = run(runner, "assess", ANSWERS, "--format", "csv", "--out", out)
    assert r.exit_code == 0, r.output
    df = pd.read_csv(StringIO(out.read_text()), comment="#")
    assert df["capability"].tolist() == KEYS
    assert "#" not in out.read_text()  # plain CSV; the metadata is in the sidecar
    assert json.loads((tmp_path / "levels.csv.meta.json").read_text())["overall"] == 3


def test_assess_with_data_caps_and_shows_disagreement(runner, demo_small_dir, tmp_path):
    answers = tmp_path / "a.yaml"
    # all Transform: every measured capability with a cap below 4 disagrees
    answers.write_text("answers:\n" + "".join(f"  {k}: 4\n" for k in KEYS))
    r = run(runner, "assess", answers, "--data", demo_small_dir, "--as-of", "2025-12-31",
            "--health-concordance", "0.55", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    rows = {x["capability"]: x for x in doc["rows"]}
    assert rows["health_score"]["evidence_cap"] == 3 and rows["health_score"]["level"] == 3
    assert "health_score" in {d["capability"] for d in doc["disagreements"]}
    assert doc["as_of"] == "2025-12-31"
    text = run(runner, "assess", answers, "--data", demo_small_dir, "--as-of", "2025-12-31")
    assert "Answers and data disagree" in text.stdout


def test_data_needs_as_of(runner, demo_small_dir):
    r = run(runner, "assess", ANSWERS, "--data", demo_small_dir)
    assert r.exit_code == 2 and "--data needs --as-of" in r.stderr


@pytest.mark.parametrize("body,expected", [
    ("  foo: 2\n", "unknown capability 'foo'"),
    ("  health_score: superb\n", "capability 'health_score': unknown level 'superb'; allowed: 1..4"),
])
def test_assess_refuses_bad_answers(runner, tmp_path, body, expected):
    good = "".join(f"  {k}: 2\n" for k in KEYS if k != "health_score")
    p = tmp_path / "bad.yaml"
    p.write_text("answers:\n" + good + body)
    r = run(runner, "assess", p)
    assert r.exit_code == 2
    assert expected in r.stderr and "bad.yaml" in r.stderr
    if "foo" in body:  # health_score is then missing as well
        assert "missing capability answer(s): health_score" in r.stderr


def test_bad_format_and_missing_file(runner, tmp_path):
    r = run(runner, "assess", ANSWERS, "--format", "xml")
    assert r.exit_code == 2 and "--format must be one of text, csv, json" in r.stderr
    r = run(runner, "assess", tmp_path / "none.yaml")
    assert r.exit_code == 2 and "answers file not found" in r.stderr
