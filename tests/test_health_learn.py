"""Learned health weights (csresearch.health.learn), the validation view (csresearch.health.validation)
and their commands (``csresearch health learn``, ``csresearch health --view validation``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from csresearch.cli import app
from csresearch.errors import ConfigError
from csresearch.health.learn import (
    LearnedWeights,
    check_dates,
    fit_weights,
    learned_config,
    scored_months,
    training_rows,
    write_config,
)
from csresearch.health.score import load_health_config
from csresearch.health.validation import (
    flip_rate,
    oracle_scores,
    validation_summary,
    validation_table,
)

runner = CliRunner()
BANDS = (("red", 0.0, 50.0), ("green", 50.0, 100.0))


def synthetic(seed: int = 7, n: int = 600, months: int = 24):
    """Account-months 2023-01..: points a, b, c in 0..100; each month an account churns
    (15 days after the snapshot) with probability 1 / (1 + exp(3 + 0.06 (a - 50))): only
    component a drives churn. Returns (hist, episodes)."""
    rng = np.random.default_rng(seed)
    snaps = pd.date_range("2023-01-31", periods=months, freq="ME")
    rows, ends = [], {}
    for i in range(n):
        acc = f"A{i:04d}"
        for s in snaps:
            a, b, c = rng.uniform(0, 100, 3)
            rows.append({"account_id": acc, "period_start": s - pd.offsets.MonthBegin(1), "snapshot_date": s,
                         "score": 50.0, "points_a": a, "points_b": b, "points_c": c})
            if rng.uniform() < 1 / (1 + np.exp(3 + 0.06 * (a - 50))):
                ends[acc] = s + pd.Timedelta(days=15)
                break
    hist = pd.DataFrame(rows)
    eps = pd.DataFrame({"account_id": [f"A{i:04d}" for i in range(n)], "start": pd.Timestamp("2022-12-01")})
    eps["end"] = pd.to_datetime(eps["account_id"].map(ends))
    return hist, eps


@pytest.fixture(scope="module")
def synth():
    return synthetic()


def test_learn_recovers_the_driving_component(synth):
    hist, eps = synth
    rows = training_rows(hist, eps, "2023-12-31", "2024-12-31", 180)
    lw = fit_weights(rows, ["a", "b", "c"])
    assert lw.events > 50
    assert lw.weights["a"] > 80  # a drives churn; b and c are noise
    assert lw.weights["a"] > 5 * max(lw.weights["b"], lw.weights["c"])
    assert sum(lw.weights.values()) == pytest.approx(100, abs=1e-3)
    assert all(w >= 0 for w in lw.weights.values())


def test_no_look_ahead_by_hand(synth):
    """T = 2023-12-31, horizon 180 days: the cut is 2024-06-28. Scores after T and churns
    after the cut must not change the weights; a churn before the cut must."""
    hist, eps = synth
    T, D, cut = "2023-12-31", "2024-12-31", pd.Timestamp("2024-06-28")
    base = fit_weights(training_rows(hist, eps, T, D, 180), ["a", "b", "c"]).weights
    later = hist.copy()
    after_t = later["snapshot_date"] > pd.Timestamp(T)
    later.loc[after_t, ["points_a", "points_b", "points_c"]] = 0.0  # scores after T garbled
    eps2 = eps.copy()
    late = eps2["end"] > cut
    assert late.sum() > 10
    eps2.loc[late, "end"] = cut + pd.Timedelta(days=1)  # every later churn moved
    eps2.loc[eps2["end"].isna(), "end"] = cut + pd.Timedelta(days=3)  # open accounts churn after the cut
    assert fit_weights(training_rows(later, eps2, T, D, 180), ["a", "b", "c"]).weights == base
    # control: a churn inside the training window does change them
    eps3 = eps.copy()
    eps3.loc[eps3["end"].isna(), "end"] = pd.Timestamp("2024-02-15")
    assert fit_weights(training_rows(hist, eps3, T, D, 180), ["a", "b", "c"]).weights != base


def test_scored_months_by_hand():
    # a: snapshot 2024-01-31, churn 2024-03-01 -> 30 days, event; b: open -> capped at 180;
    # c: churns 2024-01-31, not a customer on its snapshot -> left out; d: churn after censor_at
    h = pd.DataFrame({"account_id": list("abcd"), "snapshot_date": pd.Timestamp("2024-01-31"), "score": 1.0})
    e = pd.DataFrame({"account_id": list("abcd"), "start": pd.Timestamp("2023-01-01"),
                      "end": pd.to_datetime(["2024-03-01", None, "2024-01-31", "2024-04-01"])})
    r = scored_months(h, e, "2024-03-31", 180)
    assert r["account_id"].tolist() == ["a", "b", "d"]
    assert r["duration"].tolist() == [30.0, 60.0, 60.0]  # b, d censored at 2024-03-31 (60 days)
    assert r["event"].tolist() == [1, 0, 0]
    assert r["known"].tolist() == [True, False, False]


def test_config_written_loads_and_round_trips(tmp_path):
    lw = LearnedWeights({"usage_level": 60.0, "nps": 40.0}, {}, {}, {}, -2.0, 100, 10, 0, 1.0)
    data = learned_config(None, lw)  # the packaged default as the base
    path = write_config(data, tmp_path / "w.yaml", ["learned on a test", "second line"])
    text = path.read_text()
    assert text.startswith("# learned on a test\n# second line\n")
    cfg = load_health_config(path)
    base = load_health_config()
    assert cfg.weights("smb")["usage_level"] == 60.0 and cfg.weights("enterprise")["nps"] == 40.0
    assert cfg.weights("smb")["ces"] == 0.0  # not learned -> 0
    assert cfg.weights_by_segment == {}
    assert cfg.bands == base.bands and cfg.inputs == base.inputs
    assert cfg.components["tickets"].direction == "lower_is_better"  # normalisation kept
    assert yaml.safe_load(text) == data
    assert load_health_config(yaml.safe_load(text)).components == cfg.components


def test_flipped_component_changes_direction():
    lw = LearnedWeights({"tickets": 50.0, "nps": 50.0}, {}, {}, {}, 0.0, 1, 1, 0, 1.0, flipped=["tickets", "nps"])
    comps = learned_config(None, lw)["components"]
    assert comps["tickets"]["direction"] == "higher_is_better"
    assert comps["nps"]["points"] == [100.0, 40.0, 0.0]  # 100 - [0, 60, 100]


def test_validation_summary_by_hand():
    # perfectly ordered score: lower score churned first -> C = 1; 'half' gets one of two
    # comparable... worked below; oracle risk is the reverse of 'perfect' (higher = riskier)
    d = pd.DataFrame({"perfect": [10.0, 20.0, 60.0, 90.0], "duration": [10.0, 20.0, 180.0, 180.0],
                      "event": [1, 1, 0, 0]})
    d["oracle"] = -d["perfect"]
    # 'half': comparable pairs (churner i, anyone with a longer time j): (0,1),(0,2),(0,3),(1,2),(1,3) = 5;
    # scores 30, 20, 60, 10: concordant when s_i < s_j: (0,2),(1,2) yes; (0,1) 30>20 no; (0,3),(1,3) no -> 2/5
    d["half"] = [30.0, 20.0, 60.0, 10.0]
    d["band_perfect"] = ["red", "red", "green", "green"]
    d["band_prev_perfect"] = ["red", "green", "green", None]
    out = validation_summary(d, {"perfect": True, "half": True, "oracle": False}, 180, BANDS)
    c = out["concordance"].set_index("score")
    assert c.loc["perfect", "concordance"] == 1.0 and c.loc["oracle", "concordance"] == 1.0
    assert c.loc["half", "concordance"] == pytest.approx(0.4)
    assert c.loc["half", "gain_vs_oracle"] == pytest.approx((0.4 - 0.5) / 0.5)
    bb = out["by_band"].set_index("band")
    assert bb.loc["red", "churned"] == 2 and bb.loc["red", "churn_rate"] == pytest.approx(1.0)
    assert bb.loc["green", "churn_rate"] == pytest.approx(0.0)
    f = out["flips"].set_index("score")
    assert f.loc["perfect", "n"] == 3 and f.loc["perfect", "flip_rate"] == pytest.approx(1 / 3)
    t = validation_table(out)
    assert set(t["section"]) == {"concordance", "by_band", "flips"}


def test_flip_rate_and_oracle_lookup():
    assert flip_rate(pd.Series(["red", "insufficient data"]), pd.Series(["green", "red"])) == (1.0, 1)
    rows = pd.DataFrame({"account_id": ["a", "a"], "period_start": pd.to_datetime(["2025-01-01", "2025-02-01"])})
    truth = pd.DataFrame({"account_id": ["a", "a"], "month": ["2025-01", "2025-02"], "linear_predictor": [1.0, 2.0]})
    assert oracle_scores(rows, truth).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="truth_risk: needs account_id"):
        oracle_scores(rows, truth.rename(columns={"linear_predictor": "x"}))


def test_dates_checked():
    with pytest.raises(ConfigError, match="must be before as_of"):
        check_dates("2025-01-31", "2025-06-30")


def test_cli_help():
    r = runner.invoke(app, ["health", "learn", "--help"])
    assert r.exit_code == 0, r.output
    assert "--train-until" in r.output and "--horizon-days" in r.output
    r = runner.invoke(app, ["health", "--help"])
    assert r.exit_code == 0 and "health learn" in r.output and "validation" in r.output


def test_cli_named_errors(demo_small_dir, tmp_path):
    out = tmp_path / "w.yaml"
    r = runner.invoke(app, ["health", "learn", str(demo_small_dir), "--as-of", "2025-06-30",
                            "--train-until", "2025-12-31", "--out", str(out)])
    assert r.exit_code == 2 and "must be before as_of" in r.output
    r = runner.invoke(app, ["health", "learn", str(demo_small_dir), "--as-of", "2025-12-31",
                            "--train-until", "2020-01-31", "--out", str(out)])
    assert r.exit_code == 2 and "no health history up to 2020-01-31" in r.output
    assert not out.exists()


def test_cli_learn_and_validation(demo_small_dir, tmp_path):
    out = tmp_path / "w.yaml"
    r = runner.invoke(app, ["health", "learn", str(demo_small_dir), "--as-of", "2025-12-31",
                            "--train-until", "2024-12-31", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text().startswith("# Health score weights learned")
    assert load_health_config(out).weights_by_segment == {}
    r = runner.invoke(app, ["health", str(demo_small_dir), "--as-of", "2025-12-31", "--view", "validation",
                            "--weights", str(out), "--format", "json"])
    assert r.exit_code == 0, r.output
    js = yaml.safe_load(r.stdout)
    conc = {row["score"] for row in js["rows"] if row["section"] == "concordance"}
    assert {"configured", "learned"} <= conc and js["since"] == "2024-12-31"
