"""Table exports (csresearch/cli/_common.py, export.py): safe CSV, sidecar metadata, exact floats,
atomic writes with one-paragraph errors."""

from __future__ import annotations

import errno
import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from csresearch.cli import _common
from csresearch.cli._common import handle_errors, write_table
from csresearch.cli.export import csv_text, json_text

HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd", "plain", None]


def _frame() -> pd.DataFrame:
    n = len(HOSTILE)
    return pd.DataFrame({"name": HOSTILE, "delta": [-3.5] * n, "count": np.arange(n) - 2})


def _app() -> typer.Typer:
    """A one-command app exporting ``_frame()`` the way every table command does."""
    app = typer.Typer()

    @app.command()
    @handle_errors
    def export(format: str = typer.Option("csv", "--format", help="csv, json or parquet"),
               out: str | None = typer.Option(None, "--out")) -> None:
        """Export the hostile frame."""
        from pathlib import Path

        write_table(_frame(), format, Path(out) if out else None, {"as_of": "2025-12-31"})

    return app


def test_csv_neutralises_formula_cells_of_text_columns_only(tmp_path):
    write_table(_frame(), "csv", tmp_path / "t.csv", csv_safe=True)
    back = pd.read_csv(tmp_path / "t.csv", keep_default_na=False)
    assert back["name"].tolist()[:6] == ["'" + v for v in HOSTILE[:6]]
    assert back["name"].tolist()[6:] == ["plain", ""]
    assert back["delta"].tolist() == [-3.5] * 8 and back["count"].tolist()[0] == -2  # numbers stay numbers
    raw = csv_text(_frame(), safe=False)
    assert '\n"=HYPERLINK(' in raw or "\n=HYPERLINK" in raw.replace('"""', '"')


def test_cli_csv_is_safe_by_default_and_raw_csv_turns_it_off_and_help_says_so(tmp_path):
    runner = CliRunner()
    r = runner.invoke(_app(), ["--out", str(tmp_path / "a.csv")])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(tmp_path / "a.csv")["name"][0].startswith("'=")
    r = runner.invoke(_app(), ["--out", str(tmp_path / "b.csv"), "--raw-csv"])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(tmp_path / "b.csv")["name"][0].startswith("=")
    help_text = " ".join(runner.invoke(_app(), ["--help"], env={"COLUMNS": "200"}).output.split())
    assert "--raw-csv" in help_text and "formulas" in help_text


def test_every_exporting_command_documents_csv_safety_in_format_help():
    from csresearch.cli import app

    runner = CliRunner()
    checked = 0
    for argv in (["metrics"], ["health"], ["playbooks"], ["survival", "km"], ["survival", "cox"],
                 ["survival", "logrank"], ["maturity", "assess"]):
        r = runner.invoke(app, [*argv, "--help"], terminal_width=200, env={"COLUMNS": "200"})
        text = " ".join(r.output.split())
        assert "--raw-csv" in text and "formulas" in text, argv
        checked += 1
    assert checked == 7


def test_csv_is_plain_and_metadata_goes_to_a_sidecar(tmp_path):
    runner = CliRunner()
    r = runner.invoke(_app(), ["--out", str(tmp_path / "a.csv")])
    assert r.exit_code == 0 and r.stdout == ""
    assert len(pd.read_csv(tmp_path / "a.csv")) == 8  # no '# as_of' rows read as data
    assert "#" not in (tmp_path / "a.csv").read_text()
    meta = json.loads((tmp_path / "a.csv.meta.json").read_text())
    assert meta == {"file": "a.csv", "as_of": "2025-12-31"}
    r = runner.invoke(_app(), [])
    assert len(pd.read_csv(StringIO(r.stdout))) == 8 and "# as_of: 2025-12-31" in r.stderr
    r = runner.invoke(_app(), ["--format", "json"])
    assert json.loads(r.stdout)["as_of"] == "2025-12-31"


def test_floats_round_trip_exactly_through_json_and_csv(tmp_path):
    df = pd.DataFrame({"term": ["pnodes", "age", "x"], "p": [9.2e-12, 1 / 3, np.nan],
                       "hr": [1e-300, 123456789.12345679, np.inf]})
    write_table(df, "json", tmp_path / "p.json")
    rows = json.loads((tmp_path / "p.json").read_text())
    assert rows[0]["p"] == 9.2e-12 and rows[1]["p"] == 1 / 3 and rows[2]["p"] is None  # pandas wrote 0.0
    assert rows[0]["hr"] == 1e-300 and rows[1]["hr"] == 123456789.12345679 and rows[2]["hr"] is None
    write_table(df, "csv", tmp_path / "p.csv")
    back = pd.read_csv(tmp_path / "p.csv", float_precision="round_trip")
    assert back["p"][0] == 9.2e-12 and back["p"][1] == 1 / 3 and np.isnan(back["p"][2])
    assert float((tmp_path / "p.csv").read_text().splitlines()[2].split(",")[1]) == 1 / 3


def test_dates_in_json_stay_iso():
    df = pd.DataFrame({"period_start": pd.to_datetime(["2024-01-01", None])})
    assert json.loads(json_text(df)) == [{"period_start": "2024-01-01T00:00:00.000"}, {"period_start": None}]


def test_out_into_a_missing_folder_is_one_paragraph_naming_the_fix(tmp_path):
    r = CliRunner().invoke(_app(), ["--out", str(tmp_path / "nope" / "a.csv")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert str(tmp_path / "nope") in r.stderr and "mkdir -p" in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.parametrize("err", [OSError(errno.ENOSPC, "No space left on device"),
                                 PermissionError(errno.EACCES, "Permission denied")])
def test_a_failed_write_keeps_the_good_file_and_names_the_path(tmp_path, monkeypatch, err):
    target = tmp_path / "a.csv"
    target.write_text("good\n")

    def failing_replace(src, dst):
        raise err

    from csresearch import outputs

    monkeypatch.setattr(outputs.os, "replace", failing_replace)
    r = CliRunner().invoke(_app(), ["--out", str(target)])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert str(target) in r.stderr and ("disk is full" in r.stderr or "permission" in r.stderr)
    assert target.read_text() == "good\n" and sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_unexpected_error_code_is_documented():
    assert (_common.EXIT_FAILED, _common.EXIT_USAGE, _common.EXIT_INTERNAL) == (1, 2, 3)
