"""``csresearch metrics`` through typer's CliRunner, on a tiny CSV source and the small demo."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from csresearch.cli import app
from csresearch.data.sources import open_source
from csresearch.errors import ConfigError, DataQualityWarning
from csresearch.metrics import period_table

runner = CliRunner()

REQUIRED = ["period_start", "accounts_start", "accounts_new", "accounts_churned", "accounts_end",
            "logo_churn_rate", "mrr_start", "mrr_new", "mrr_expansion", "mrr_contraction",
            "mrr_churned", "mrr_reactivation", "mrr_end", "grr", "nrr", "nps", "nps_responses",
            "ces_mean", "csat"]


@pytest.fixture()
def tiny(tmp_path):
    """Three accounts. MRR on Jan1 / Feb1 / Mar1 2024: a 100/100/150, b 50/50/0, c 0/30/30.

    Jan: start 150 (a, b), c new 30 -> 180. Feb: start 180 (a, b, c); a +50, b churns 50 -> 180;
    NRR (180 + 50 - 50) / 180 = 1, GRR (180 - 50) / 180 = 0.7222, logo churn 1/3.
    """
    pd.DataFrame({"account_id": ["a", "b", "c"], "name": ["A", "B", "C"],
                  "segment": ["smb", "smb", "ent"], "created_at": ["2023-12-01 00:00:00"] * 3}
                 ).to_csv(tmp_path / "accounts.csv", index=False)
    pd.DataFrame({"subscription_id": ["s1", "s2", "s3", "s4"], "account_id": ["a", "a", "b", "c"],
                  "start_date": ["2024-01-01", "2024-02-20", "2024-01-01", "2024-01-15"],
                  "end_date": ["2024-02-20", None, "2024-02-15", None],
                  "mrr": [100.0, 150.0, 50.0, 30.0]}).to_csv(tmp_path / "subscriptions.csv", index=False)
    return tmp_path


def _run(*args):
    return runner.invoke(app, ["metrics", *map(str, args)])


def test_csv_by_hand_and_absent_surveys(tiny):
    r = _run(tiny, "--as-of", "2024-02-29")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(io.StringIO(r.stdout), comment="#")
    assert set(REQUIRED) <= set(df.columns)
    assert df.period_start.tolist() == ["2024-01-01", "2024-02-01"]
    jan, feb = df.iloc[0], df.iloc[1]
    assert (jan.mrr_start, jan.mrr_new, jan.mrr_end, jan.accounts_new) == (150, 30, 180, 1)
    assert (feb.mrr_expansion, feb.mrr_churned, feb.mrr_end) == (50, 50, 180)
    assert feb.nrr == pytest.approx(1.0) and feb.grr == pytest.approx(130 / 180)
    assert feb.logo_churn_rate == pytest.approx(1 / 3)
    # no survey tables: empty columns, and the CLI says so on stderr
    assert df.nps.isna().all() and df.ces_mean.isna().all() and df.csat.isna().all()
    assert "table 'nps_responses' is absent" in r.stderr
    assert "table 'csat_responses' is absent" in r.stderr


def test_nps_by_segment_json(tiny):
    pd.DataFrame({"account_id": ["a", "b", "c", "a"],
                  "responded_at": ["2024-01-10 10:00:00", "2024-01-11 10:00:00", "2024-02-02 10:00:00",
                                   "2024-02-03 10:00:00"],
                  "score": [10, 3, 9, 8]}).to_csv(tiny / "nps_responses.csv", index=False)
    out = tiny / "m.json"
    r = _run(tiny, "--as-of", "2024-02-29", "--by", "segment", "--format", "json", "--out", out)
    assert r.exit_code == 0, r.output
    rows = pd.DataFrame(json.loads(out.read_text())["rows"]).set_index(["period_start", "segment"])
    # Jan smb: 10 and 3 -> 50 - 50 = 0 of 2 answers; Jan ent: no answer -> empty with a note
    jan_smb = rows.loc[("2024-01-01T00:00:00.000", "smb")]
    assert jan_smb.nps == 0 and jan_smb.nps_responses == 2
    jan_ent = rows.loc[("2024-01-01T00:00:00.000", "ent")]
    assert pd.isna(jan_ent.nps) and "no NPS answers" in jan_ent.note
    # Feb ent: one 9 -> 100; Feb smb: one 8 -> 0
    assert rows.loc[("2024-02-01T00:00:00.000", "ent"), "nps"] == 100
    assert "nps_responses" not in r.stderr


def test_unknown_by_column(tiny):
    r = _run(tiny, "--as-of", "2024-02-29", "--by", "tier")
    assert r.exit_code == 2
    assert "by='tier'" in r.stderr and "available columns: account_id, name, segment" in r.stderr


def test_bad_grain_and_parquet_without_out(tiny):
    r = _run(tiny, "--as-of", "2024-02-29", "--grain", "week")
    assert r.exit_code == 2 and "grain must be one of month, quarter" in r.stderr
    r = _run(tiny, "--as-of", "2024-02-29", "--format", "parquet")
    assert r.exit_code == 2 and "--out" in r.stderr
    r = _run(tiny, "--as-of", "end of year")
    assert r.exit_code == 2 and "as_of must be an ISO date" in r.stderr


def test_quarter_parquet(tiny, tmp_path):
    out = tmp_path / "q.parquet"
    r = _run(tiny, "--as-of", "2024-06-30", "--grain", "quarter", "--format", "parquet", "--out", out)
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(out)
    # Q2 (Apr1 -> Jul1): a 150 and c 30 throughout -> flat 180
    assert len(df) == 2 and df.iloc[1].mrr_start == 180 and df.iloc[1].nrr == 1


def test_demo_smoke(demo_small_dir, tmp_path):
    out = tmp_path / "demo.parquet"
    r = _run(demo_small_dir, "--as-of", "2025-12-31", "--by", "segment", "--format", "parquet", "--out", out)
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(out)
    assert set(REQUIRED) | {"segment"} <= set(df.columns)
    assert pd.Timestamp(df.period_start.max()) == pd.Timestamp("2025-12-01")
    bridge = (df.mrr_start + df.mrr_new + df.mrr_expansion - df.mrr_contraction - df.mrr_churned
              + df.mrr_reactivation)
    np.testing.assert_allclose(bridge, df.mrr_end, atol=1e-6)
    assert df.nps.notna().any() and df.nps.dropna().between(-100, 100).all()
    # the pure function gives the same table the CLI wrote
    direct = period_table(open_source(demo_small_dir), "2025-12-31", "month", "segment")
    np.testing.assert_allclose(direct.mrr_end, df.mrr_end)


def test_active_customers_in_the_export(tiny):
    out = tiny / "m.json"
    r = _run(tiny, "--as-of", "2024-02-29", "--format", "json", "--out", out)
    assert r.exit_code == 0, r.output
    # on 2024-02-29: a (s2 open) and c (s4 open) pay; b ended on 2024-02-15 -> 2 customers
    body = json.loads(out.read_text())
    assert body["active_customers"] == 2 and body["free_only_accounts"] == 0
    assert "active customers on 2024-02-29: 2" in r.stderr


def test_as_of_after_the_data_marks_the_periods_without_data(tiny):
    # tiny's last observed date is 2024-02-20 (s2 starts): Mar..May 2024 have no data
    with pytest.warns(DataQualityWarning, match="3 period.* after the data's last date 2024-02-20"):
        t = period_table(open_source(tiny), "2024-05-31")
    assert t.period_start.dt.strftime("%Y-%m").tolist() == ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"]
    assert t.note.str.contains("no data observed in this period").tolist() == [False, False, True, True, True]
    assert any("2024-02-20" in n for n in t.attrs["notes"])


def test_as_of_long_after_or_before_the_data_is_refused(tiny):
    with pytest.raises(ConfigError, match=r"as_of 2023-06-30 is before the data starts.*2024-01-01"):
        period_table(open_source(tiny), "2023-06-30")
    r = _run(tiny, "--as-of", "2023-06-30")
    assert r.exit_code == 2 and "before the data starts" in r.stderr
