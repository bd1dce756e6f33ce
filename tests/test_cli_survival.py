"""``csresearch survival km|logrank|cox`` on the Telco table and on a data source."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from csresearch.cli import app

REL = Path(__file__).resolve().parents[2] / "shared" / "data" / "telco" / "Telco-Customer-Churn.csv"
TELCO = REL
needs_telco = pytest.mark.skipif(not TELCO.exists(), reason=f"Telco table not found at {TELCO}")
runner = CliRunner()
FLAT = ["--table", str(TELCO), "--duration", "tenure", "--event", "Churn=Yes"]


def _csv(text: str) -> pd.DataFrame:
    import io

    return pd.read_csv(io.StringIO("\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))))


@needs_telco
def test_km_table(tmp_path):
    out = tmp_path / "km.csv"
    r = runner.invoke(app, ["survival", "km", *FLAT, "--by", "Contract", "--at", "12,24,48", "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert list(df.columns) == ["group", "n", "events", "median", "median_lower", "median_upper", "S_12", "S_24", "S_48"]
    assert df["n"].sum() == 7043 and df["events"].sum() == 1869


@needs_telco
def test_logrank_json():
    r = runner.invoke(app, ["survival", "logrank", *FLAT, "--by", "Contract", "--format", "json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)[0]
    assert round(row["statistic"], 2) == 2352.87 and row["df"] == 2 and row["p"] < 1e-300


@needs_telco
def test_cox_blank_totalcharges_then_dropna():
    args = ["survival", "cox", *FLAT, "--covariates", "MonthlyCharges,TotalCharges,Contract",
            "--reference", "Contract=Month-to-month"]
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert "column 'TotalCharges': 11 value(s) missing" in r.stderr and "--dropna" in r.stderr
    r = runner.invoke(app, [*args, "--dropna", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert "dropped 11 of 7,043 rows" in r.stderr and "possible leakage: covariate 'TotalCharges'" in r.stderr
    payload = json.loads(r.stdout)
    terms = [row["term"] for row in payload["rows"]]
    assert terms == ["MonthlyCharges", "TotalCharges", "Contract[One year]", "Contract[Two year]"]
    assert set(payload["rows"][0]) == {"term", "coef", "se", "hr", "hr_lower", "hr_upper", "p"}
    assert payload["n"] == 7032 and 0.5 < payload["concordance"] < 1 and payload["log_likelihood"] < 0


@needs_telco
def test_cox_csv_trailing_fields():
    r = runner.invoke(app, ["survival", "cox", *FLAT, "--covariates", "MonthlyCharges,SeniorCitizen"])
    assert r.exit_code == 0, r.output
    assert "# concordance: " in r.stderr and "# log_likelihood: " in r.stderr  # stdout: plain CSV
    assert "#" not in r.stdout
    assert _csv(r.stdout)["term"].tolist() == ["MonthlyCharges", "SeniorCitizen"]


def test_needs_one_input():
    r = runner.invoke(app, ["survival", "km", "--duration", "t", "--event", "e"])
    assert r.exit_code == 2 and "exactly one of --table FILE or --data SOURCE" in r.stderr


def test_data_source_defaults(demo_small_dir):
    r = runner.invoke(app, ["survival", "km", "--data", str(demo_small_dir), "--as-of", "2025-12-31",
                            "--by", "segment", "--at", "180,365"])
    assert r.exit_code == 0, r.output
    df = _csv(r.stdout)
    assert set(df["group"]) == {"enterprise", "mid_market", "smb"} and "S_365" in df.columns
    r = runner.invoke(app, ["survival", "km", "--data", str(demo_small_dir)])
    assert r.exit_code == 2 and "--as-of" in r.stderr


def test_cox_ph_test_is_r_cox_zph(tmp_path):
    # R 4 / survival 3.5.3: cox.zph(coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio))
    # age 5.97398165341843 (km), 0.896421461566301 (rank); GLOBAL 17.694415254455 (km), df 7
    from lifelines.datasets import load_rossi

    path = tmp_path / "rossi.csv"
    load_rossi().to_csv(path, index=False)
    base = ["survival", "cox", "--table", str(path), "--duration", "week", "--event", "arrest",
            "--covariates", "fin,age,race,wexp,mar,paro,prio", "--ph-test", "--format", "json"]
    r = runner.invoke(app, base)
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    rows = {row["term"]: row for row in payload["rows"]}
    assert set(payload["rows"][0]) == {"term", "statistic", "df", "p"} and payload["transform"] == "km"
    assert rows["age"]["statistic"] == pytest.approx(5.97398165341843, rel=1e-4)
    assert rows["GLOBAL"]["statistic"] == pytest.approx(17.694415254455, rel=1e-4) and rows["GLOBAL"]["df"] == 7
    r = runner.invoke(app, [*base, "--transform", "rank"])
    assert r.exit_code == 0, r.output
    rows = {row["term"]: row for row in json.loads(r.stdout)["rows"]}
    assert rows["age"]["statistic"] == pytest.approx(0.896421461566301, rel=1e-4)
    r = runner.invoke(app, [*base, "--transform", "log"])
    assert r.exit_code != 0 and "time transform 'log' unknown" in r.stderr


def test_km_missing_median_limit_is_empty_csv_null_json(tmp_path):
    # R: quantile(survfit(Surv(1:6, c(1,1,1,1,0,1)) ~ 1), .5) -> 3.5, lower 2, upper NA
    path = tmp_path / "t.csv"
    pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 1, 1, 1, 0, 1]}).to_csv(path, index=False)
    base = ["survival", "km", "--table", str(path), "--duration", "t", "--event", "e"]
    r = runner.invoke(app, [*base, "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    row = rows[0] if isinstance(rows, list) else rows["rows"][0]
    assert row["median"] == 3.5 and row["median_lower"] == 2 and row["median_upper"] is None
    assert "upper 95% confidence limit of the median is not reached" in r.stderr
    r = runner.invoke(app, base)
    assert r.exit_code == 0, r.output
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("all,")][0]
    med, lo, hi = line.split(",")[3:6]
    assert (float(med), float(lo), hi) == (3.5, 2.0, "")  # the missing limit is an empty field


def test_cox_numeric_reference_level_of_a_float_column(tmp_path):
    # lung's ph.ecog has a blank, so it is read as float (levels '0.0', '1.0', ...): '1' must name '1.0'.
    # R 4 / survival 3.5.3, coxph(Surv(time, status) ~ age + sex + factor(ph.ecog)): ecog1 0.41004801,
    # ecog2 0.90330301 vs 0 -> with reference 1: ecog0 -0.41004801, ecog2 0.49325500;
    # cox.zph: factor(ph.ecog) chisq 5.64986362941724 on 3 df (km)
    from lifelines.datasets import load_lung

    path = tmp_path / "lung.csv"
    load_lung()[["time", "status", "age", "sex", "ph.ecog"]].to_csv(path, index=False)
    base = ["survival", "cox", "--table", str(path), "--duration", "time", "--event", "status",
            "--covariates", "age,sex,ph.ecog", "--categorical", "ph.ecog", "--reference", "ph.ecog=1",
            "--dropna", "--format", "json"]
    r = runner.invoke(app, base)
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    coef = {row["term"]: row["coef"] for row in payload["rows"]}
    assert list(coef) == ["age", "sex", "ph.ecog[0.0]", "ph.ecog[2.0]", "ph.ecog[3.0]"]
    assert payload["reference"] == "ph.ecog=1.0"
    assert coef["ph.ecog[0.0]"] == pytest.approx(-0.41004801, rel=1e-4)
    assert coef["ph.ecog[2.0]"] == pytest.approx(0.49325500, rel=1e-4)
    r = runner.invoke(app, [*base, "--ph-test"])
    assert r.exit_code == 0, r.output
    rows = {row["term"]: row for row in json.loads(r.stdout)["rows"]}
    assert rows["ph.ecog"]["df"] == 3 and rows["ph.ecog"]["statistic"] == pytest.approx(5.64986362941724, rel=1e-4)
    # a level that is not there, as a number either, is still refused
    r = runner.invoke(app, [a.replace("ph.ecog=1", "ph.ecog=7") for a in base])
    assert r.exit_code == 2 and "reference level '7' of column 'ph.ecog' does not occur" in r.stderr
