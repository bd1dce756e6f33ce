"""Health score engine: hand-worked scores, config refusals, invariants, no look-ahead."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csresearch.data.sources import DataSource
from csresearch.errors import ConfigError, DataQualityWarning, DataValidationError
from csresearch.health.bands import band_flips
from csresearch.health.explain import contributions, movers
from csresearch.health.score import (
    COMPONENTS,
    NO_SCORE,
    health_history,
    load_health_config,
    score_health,
    score_recent,
)

REPO = Path(__file__).resolve().parents[1]
JAN, FEB = pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")
BANDS = {"red": [0, 40], "yellow": [40, 70], "green": [70, 100]}


def frame(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"account_id": [f"a{i}" for i in range(n)], "period_start": [JAN] * n, "segment": ["smb"] * n}
    return pd.DataFrame({**base, **cols})


def cfg(components: dict, **kw) -> dict:
    return {"components": components, "bands": BANDS, **kw}


NPS_T = {"weight": 2, "method": "thresholds", "cuts": [7, 9], "points": [0, 60, 100]}
TICKETS_MM = {"weight": 1, "method": "minmax", "min": 0, "max": 10, "direction": "lower_is_better"}


# -- hand-worked values ---------------------------------------------------------------------
def test_thresholds_minmax_and_renormalisation():
    f = frame(nps_latest=[9, 8, 3, np.nan], tickets=[2, np.nan, 10, np.nan])
    h = score_health(f, cfg({"nps": NPS_T, "tickets": TICKETS_MM}))
    # a0: nps 9 -> 100, tickets 2 -> 100 - 20 = 80; (2*100 + 1*80) / 3 = 93.33
    # a1: nps 8 -> 60, tickets missing -> renormalised: 60, coverage 2/3
    # a2: nps 3 -> 0, tickets 10 -> 0: score 0 (red)
    # a3: nothing -> no score
    np.testing.assert_allclose(h["score"], [280 / 3, 60, 0, np.nan])
    np.testing.assert_allclose(h["coverage"], [1, 2 / 3, 1, 0])
    assert h["band"].tolist() == ["green", "yellow", "red", NO_SCORE]
    np.testing.assert_allclose(h["points_tickets"], [80, np.nan, 0, np.nan])
    np.testing.assert_allclose(h["weight_nps"], [2 / 3, 1, 2 / 3, np.nan])
    assert h["missing"].tolist() == ["", "tickets", "", "nps,tickets"]


def test_neutral_policy_and_min_coverage():
    f = frame(nps_latest=[8, 8], tickets=[2, np.nan])
    h = score_health(f, cfg({"nps": NPS_T, "tickets": TICKETS_MM},
                            missing={"policy": "neutral", "neutral_points": 50}))
    # a1: (2*60 + 1*50) / 3 = 56.67 with coverage still 2/3
    np.testing.assert_allclose(h["score"], [(120 + 80) / 3, 170 / 3])
    np.testing.assert_allclose(h["coverage"], [1, 2 / 3])
    h2 = score_health(f, cfg({"nps": NPS_T, "tickets": TICKETS_MM}, missing={"min_coverage": 0.9}))
    assert np.isnan(h2["score"].iloc[1]) and h2["band"].iloc[1] == NO_SCORE


def test_percentile_within_month_and_segment():
    f = frame(tickets=[1, 2, 2, 5, 7])
    f.loc[4, "segment"] = "enterprise"  # alone in its segment -> 50
    comp = {"tickets": {"weight": 1, "method": "percentile", "direction": "lower_is_better"}}
    h = score_health(f, cfg(comp))
    # smb ranks 1, 2.5, 2.5, 4 of n=4: 100 (r - 0.5) / 4 = 12.5, 50, 50, 87.5; reversed
    np.testing.assert_allclose(h["score"], [87.5, 50, 50, 12.5, 50])


def test_minmax_observed_and_per_segment_weights():
    f = frame(usage_per_day=[0.0, 1.0, 4.0], nps_latest=[10, 10, 0])
    f.loc[2, "segment"] = "enterprise"
    comps = {"usage_level": {"weight": 1, "method": "minmax"}, "nps": {**NPS_T, "weight": 1}}
    h = score_health(f, cfg(comps, weights_by_segment={"enterprise": {"nps": 0}}))
    # smb: usage min 0 max 1 -> 0, 100; nps 100 -> (0 + 100)/2 = 50, (100 + 100)/2 = 100
    # enterprise alone: usage observed min = max -> 50; nps weight 0 -> score 50
    np.testing.assert_allclose(h["score"], [50, 100, 50])


def test_trend_prev_and_movers():
    f = pd.DataFrame({
        "account_id": ["a"] * 4 + ["b"] * 4,
        "period_start": list(pd.date_range("2025-01-01", periods=4, freq="MS")) * 2,
        "segment": "smb",
        "nps_latest": [10, 10, 8, 3, 8, 8, 8, 8],
        "tickets": [0, 0, 0, 5, 0, 0, 10, 10],
    })
    h = score_health(f, cfg({"nps": NPS_T, "tickets": TICKETS_MM}, trend={"periods": 3}))
    # a: 100, 100, (120+100)/3 = 73.33, (0 + 50)/3 = 16.67; trend(Apr) = 16.67 - 100
    a = h[h.account_id == "a"]
    np.testing.assert_allclose(a["score"], [100, 100, 220 / 3, 50 / 3])
    np.testing.assert_allclose(a["trend"], [np.nan] * 3 + [50 / 3 - 100])
    assert a["band_prev"].tolist()[1:] == ["green", "green", "green"]
    m = movers(h, "2025-04-01")
    # a drops 73.33 -> 16.67 (-56.67): nps contribution 2/3*60 = 40 -> 0 (-40), tickets 33.3 -> 16.7
    # b is flat (0 change) and comes second
    assert m["account_id"].tolist() == ["a", "b"]
    np.testing.assert_allclose(m["change"].iloc[0], 50 / 3 - 220 / 3)
    assert m["top_component"].iloc[0] == "nps"
    np.testing.assert_allclose(m["top_component_change"].iloc[0], -40)
    c = contributions(h)
    per_row = c.groupby(["account_id", "period_start"])["contribution"].sum()
    np.testing.assert_allclose(per_row.to_numpy(), h.set_index(["account_id", "period_start"])["score"]
                               .loc[per_row.index].to_numpy())


def test_inactive_rows_dropped_and_input_untouched():
    f = frame(nps_latest=[9, 3], tickets=[0, 0]).assign(active=[True, False])
    before = f.copy()
    h = score_health(f, cfg({"nps": NPS_T}))
    assert h["account_id"].tolist() == ["a0"]
    pd.testing.assert_frame_equal(f, before)
    with pytest.raises(DataValidationError, match="nps_latest"):
        score_health(f.drop(columns="nps_latest"), cfg({"nps": NPS_T}))


# -- configuration ----------------------------------------------------------------------------
def test_default_config_is_the_single_packaged_copy():
    assert not (REPO / "data/health.yaml").exists()  # one copy: the packaged default
    c = load_health_config(REPO / "csresearch/configs/health.yaml")
    assert set(c.components) == set(COMPONENTS)
    assert load_health_config().components == c.components


BASE = cfg({"nps": NPS_T, "tickets": TICKETS_MM})


def test_hysteresis_keeps_a_band_while_the_score_oscillates_at_its_edge():
    # one account, 6 months, one component minmax 0..100 so score == usage_per_day
    months = pd.date_range("2025-01-01", periods=6, freq="MS")
    scores = [45.0, 38.0, 42.0, 37.0, 29.0, 41.0]
    f = pd.DataFrame({"account_id": "a", "period_start": months, "segment": "smb", "usage_per_day": scores})
    comps = {"usage_level": {"weight": 1, "method": "minmax", "min": 0, "max": 100}}
    raw = score_health(f, cfg(comps))
    # without hysteresis the band follows the 40 boundary: 5 flips in 5 pairs of months
    assert raw["band"].tolist() == ["yellow", "red", "yellow", "red", "red", "yellow"]
    h = score_health(f, cfg(comps, hysteresis={"margin": 5}))
    # margin 5: yellow [40, 70) is left below 35; red [0, 40) is left at 45 and above.
    # 45 yellow; 38 >= 35 stays yellow; 42 yellow; 37 stays yellow; 29 < 35 -> red; 41 < 45 stays red
    assert h["band"].tolist() == ["yellow", "yellow", "yellow", "yellow", "red", "red"]
    assert h["band_raw"].tolist() == raw["band"].tolist()
    assert h["band_prev"].tolist()[1:] == h["band"].tolist()[:-1]
    # flip rate: 4 of 5 month pairs flip without hysteresis (38->42 is one: red->yellow), 1 with it
    assert band_flips(h, "band_raw").attrs["rate"] == pytest.approx(4 / 5)
    assert band_flips(h).attrs["rate"] == pytest.approx(1 / 5)
    # rows in any order (a history is by account and month; a hash lookup serves the others)
    pd.testing.assert_frame_equal(band_flips(h.iloc[::-1]), band_flips(h), check_exact=True)
    # a gap month breaks the chain: the first month after it takes the band of its score
    g = score_health(f.drop(index=3), cfg(comps, hysteresis={"margin": 5}))
    assert g["band"].tolist() == ["yellow", "yellow", "yellow", "red", "red"]


@pytest.mark.parametrize(("change", "match"), [
    (lambda c: c["components"].update(happiness={"weight": 1, "method": "minmax"}), "components.happiness"),
    (lambda c: [v.update(weight=0) for v in c["components"].values()], r"components\.\*\.weight.*positive"),
    (lambda c: c["components"]["nps"].update(weight=-1), "components.nps.weight"),
    (lambda c: c["components"]["tickets"].update(method="zscore"), "components.tickets.method"),
    (lambda c: c["components"]["tickets"].update(direction="up"), "components.tickets.direction"),
    (lambda c: c.update(bands={"red": [0, 50], "yellow": [40, 70], "green": [70, 100]}), "bands.yellow.*overlaps"),
    (lambda c: c.update(bands={"red": [0, 30], "green": [40, 100]}), "gap.*bands.red"),
    (lambda c: c.update(bands={"red": [0, 40], "green": [40, 90]}), "cover 0..100"),
    (lambda c: c.update(weights_by_segment={"smb": {"nps": 0, "tickets": 0}}), "weights_by_segment.smb"),
    (lambda c: c.update(weights_by_segment={"smb": {"csm_sentiment": 1}}), "weights_by_segment.smb.csm_sentiment"),
    (lambda c: c["components"]["nps"].update(cuts=[9, 7]), "components.nps.cuts"),
    (lambda c: c["components"]["nps"].update(points=[0, 100]), "components.nps.points"),
    (lambda c: c["components"]["tickets"].update(max=-1), "components.tickets.max"),
    (lambda c: c.update(missing={"policy": "zero"}), "missing.policy"),
    (lambda c: c.update(trend={"periods": 0}), "trend.periods"),
    (lambda c: c.update(colour="red"), "colour"),
    (lambda c: c.update(inputs={"window": 3}), "inputs.window"),
    (lambda c: c.update(inputs={"baseline_months": 0}), "inputs.baseline_months"),
    (lambda c: c.update(weights_by_segment=["smb"]), "weights_by_segment"),
    (lambda c: c.update(trend=3), "'trend'"),
    (lambda c: c.update(missing="neutral"), "'missing'"),
    (lambda c: c.update(segment_by=["plan"]), "segment_by"),
    (lambda c: c.update(hysteresis={"margin": -1}), "hysteresis.margin"),
    (lambda c: c.update(hysteresis={"margin": 30}), r"hysteresis\.margin.*narrowest band's width \(30"),
    (lambda c: c.update(hysteresis={"margins": 3}), "hysteresis.margins"),
    # explicit points are used as given: a direction would be silently ignored
    (lambda c: c["components"]["nps"].update(direction="lower_is_better"), "components.nps.direction"),
])
def test_bad_config_refused_naming_the_key(change, match):
    c = copy.deepcopy(BASE)
    change(c)
    with pytest.raises(ConfigError, match=match):
        load_health_config(c)


def test_bad_config_file(tmp_path):
    p = tmp_path / "h.yaml"
    p.write_text(yaml.safe_dump({**BASE, "components": {"nps": {**NPS_T, "method": "magic"}}}))
    with pytest.raises(ConfigError, match="components.nps.method"):
        load_health_config(p)
    with pytest.raises(ConfigError, match="not found"):
        load_health_config(tmp_path / "nope.yaml")


# -- invariants -------------------------------------------------------------------------------
values = st.one_of(st.none(), st.floats(0, 10, allow_nan=False))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(values, values, values, st.sampled_from(["smb", "ent"])), min_size=1, max_size=12),
       w=st.tuples(*[st.one_of(st.just(0.0), st.floats(0.01, 5))] * 3).filter(lambda t: sum(t) > 0),
       method=st.sampled_from(["percentile", "minmax", "thresholds"]))
def test_score_is_renormalised_weighted_sum(rows, w, method):
    names = ["nps", "tickets", "ces"]
    spec = {"percentile": {"method": "percentile"}, "minmax": {"method": "minmax"},
            "thresholds": {"method": "thresholds", "cuts": [3, 6]}}[method]
    comps = {n: {"weight": w[i], **spec, "direction": "lower_is_better" if n == "tickets" else "higher_is_better"}
             for i, n in enumerate(names)}
    f = pd.DataFrame({"account_id": [f"a{i}" for i in range(len(rows))], "period_start": JAN,
                      "segment": [r[3] for r in rows]})
    for i, n in enumerate(names):
        f[COMPONENTS[n]] = [np.nan if r[i] is None else r[i] for r in rows]
    h = score_health(f, cfg(comps))
    pts = np.column_stack([h[f"points_{n}"] for n in names])
    present = ~np.isnan(pts)
    wts = np.broadcast_to(np.array(w), pts.shape) * present
    expect = (wts * np.nan_to_num(pts)).sum(axis=1) / np.where(wts.sum(axis=1) > 0, wts.sum(axis=1), np.nan)
    np.testing.assert_allclose(h["score"], expect, atol=1e-9)
    scored = h["score"].dropna()
    assert ((scored >= 0) & (scored <= 100)).all()
    assert ((np.nan_to_num(pts) >= 0) & (np.nan_to_num(pts) <= 100)).all()
    eff = np.column_stack([h[f"weight_{n}"] for n in names])
    np.testing.assert_allclose(np.nansum(eff * np.nan_to_num(pts), axis=1)[h["score"].notna()], scored, atol=1e-9)


# -- on the demo data ---------------------------------------------------------------------------
def _cut_after(frames: dict[str, pd.DataFrame], cut: pd.Timestamp, rng) -> dict[str, pd.DataFrame]:
    """Every row dated after ``cut`` replaced by noise; subscriptions cut open at ``cut``."""
    ts_cols = {"usage_events": "occurred_at", "nps_responses": "responded_at", "ces_responses": "responded_at",
               "csat_responses": "responded_at", "support_tickets": "opened_at", "email_events": "sent_at",
               "csm_sentiment": "recorded_at", "churn_reasons": "churned_at"}
    out = dict(frames)
    for t, c in ts_cols.items():
        df = frames[t]
        late = df[c] >= cut + pd.Timedelta(days=1)  # after the cut day
        shuffled = df.loc[late].copy()
        if "score" in shuffled:
            shuffled["score"] = rng.permutation(shuffled["score"].to_numpy())
        out[t] = pd.concat([df.loc[~late], shuffled.iloc[: len(shuffled) // 2]], ignore_index=True)
    s = frames["subscriptions"].copy()
    s = s.loc[s["start_date"] <= cut]
    s.loc[s["end_date"] > cut, "end_date"] = pd.NaT
    out["subscriptions"] = s
    ms = frames["onboarding_milestones"].copy()
    ms.loc[ms["completed_at"] >= cut + pd.Timedelta(days=1), "completed_at"] = pd.NaT
    out["onboarding_milestones"] = ms
    return out


def test_no_look_ahead_on_demo(demo_small):
    frames = {n: demo_small.df(n) for n in demo_small.names}
    cut = pd.Timestamp("2024-06-30")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        full = health_history(demo_small, "2025-12-31")
        changed = health_history(DataSource.from_frames(_cut_after(frames, cut, np.random.default_rng(0)),
                                                        validate=False), "2025-12-31")
    a = full.loc[full.period_start <= "2024-06-01"].reset_index(drop=True)
    b = changed.loc[changed.period_start <= "2024-06-01"].reset_index(drop=True)
    assert len(a) > 1000
    pd.testing.assert_frame_equal(a, b)
    late_a = full.loc[full.period_start == "2024-12-01", "score"].to_numpy()
    late_b = changed.loc[changed.period_start == "2024-12-01", "score"].to_numpy()
    assert len(late_a) != len(late_b) or not np.allclose(late_a, late_b)  # the test can fail


def test_history_on_demo_covers_every_active_month(demo_small):
    from csresearch.features.account import account_month_features

    h = health_history(demo_small, "2025-12-31")
    f = account_month_features(demo_small, "2025-12-31")
    assert len(h) == int(f["active"].sum())
    assert h.groupby("account_id").size().min() >= 1
    assert set(h["band"]) <= {"red", "yellow", "green", NO_SCORE}
    assert h["score"].between(0, 100).sum() == h["score"].notna().sum()
    assert h.attrs["as_of"] == "2025-12-31"


def test_packaged_default_outside_the_repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/health.yaml here
    c = load_health_config()
    assert "configs/health.yaml" in c.source and set(c.components) == set(COMPONENTS)


def test_scores_in_blocks_equal_one_pass(monkeypatch):
    # _combine works BLOCK_ROWS rows at a time; blocks of 7 rows (cut inside accounts and months)
    # give exactly the numbers of one block holding every row
    import csresearch.health.score as score_mod

    rng = np.random.default_rng(3)
    n = 60
    f = pd.DataFrame({"account_id": [f"a{i % 12:02d}" for i in range(n)],
                      "period_start": [JAN + pd.DateOffset(months=i // 12) for i in range(n)],
                      "segment": rng.choice(["smb", "enterprise"], n),
                      "nps_latest": np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 11, n)),
                      "tickets": np.where(rng.random(n) < 0.3, np.nan, rng.integers(0, 12, n))})
    f = f.sort_values(["account_id", "period_start"], ignore_index=True)
    for policy in ({}, {"missing": {"policy": "neutral", "neutral_points": 40}}):
        c = cfg({"nps": {"weight": 2, "method": "percentile"}, "tickets": TICKETS_MM}, hysteresis={"margin": 5},
                **policy)
        monkeypatch.setattr(score_mod, "BLOCK_ROWS", 10**6)
        monkeypatch.setattr(score_mod, "CHUNK_ROWS", 10**6)
        whole = score_health(f, c)
        monkeypatch.setattr(score_mod, "BLOCK_ROWS", 7)
        monkeypatch.setattr(score_mod, "CHUNK_ROWS", 13)  # chunks of whole months: 1 or 2 of the 5
        pd.testing.assert_frame_equal(score_health(f, c), whole, check_exact=True)
        assert whole["score"].notna().sum() > n // 2
        # the scores of every month and the full frame of the last 2 months: score_health's numbers
        scores, recent = score_recent(f, c, months=2)
        pd.testing.assert_frame_equal(scores, whole[list(scores.columns)], check_exact=True)
        last2 = whole.loc[whole["period_start"] >= JAN + pd.DateOffset(months=3)].reset_index(drop=True)
        pd.testing.assert_frame_equal(recent, last2, check_exact=True)
        assert recent.attrs == whole.attrs and "value_nps" not in scores and len(last2) == 24
        # or the months listed
        _, picked = score_recent(f, c, months=["2025-01-01", "2025-04-01"])
        want = whole.loc[whole["period_start"].isin([JAN, JAN + pd.DateOffset(months=3)])].reset_index(drop=True)
        pd.testing.assert_frame_equal(picked, want, check_exact=True)
