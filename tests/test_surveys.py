"""NPS, CES and CSAT: hand-worked values, the real NPS answer set, tenure bands, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csresearch.errors import ConfigError, DataValidationError
from csresearch.metrics.surveys import ces, csat, nps, survey_scores

D = pd.Timestamp


def test_nps_by_hand():
    r = nps([10, 10, 9, 8, 5])
    # 3 promoters, 1 passive, 1 detractor of 5: 60% - 20% = 40
    assert (r["n"], r["promoters"], r["passives"], r["detractors"], r["nps"]) == (5, 3, 1, 1, 40)
    # var = (0.6 + 0.2 - 0.4**2) / 5 = 0.128; se = 100 * sqrt(0.128) = 35.7771
    assert r["nps_se"] == pytest.approx(35.77709, abs=1e-4)
    # 40 - 1.959964 * 35.7771 = -30.1217; the upper end 110.1 is clipped to 100
    assert r["nps_ci_low"] == pytest.approx(-30.1217, abs=1e-3)
    assert r["nps_ci_high"] == 100
    assert nps([10, 9, 8, 7, 6, 0])["nps"] == 0  # 2 promoters - 2 detractors


def test_nps_rejects_empty_and_out_of_range():
    with pytest.raises(DataValidationError, match="NPS of no answers is undefined"):
        nps([])
    with pytest.raises(DataValidationError, match=r"1 answer\(s\).*\[0, 10\]"):
        nps([10, 11])
    with pytest.raises(DataValidationError, match="not whole numbers"):
        nps([9.5])


def test_ces_and_csat_by_hand():
    r = ces([7, 5, 4, 1])
    # mean (7 + 5 + 4 + 1) / 4 = 4.25; 5-7 answers: 7, 5 -> 2/4
    assert (r["ces_mean"], r["ces_share_good"]) == (4.25, 0.5)
    # 'how much effort' surveys: low is good, good = 1-3 -> only the 1: 1/4
    assert ces([7, 5, 4, 1], direction="effort")["ces_share_good"] == 0.25
    # a 1-5 effort scale with good = 1-2: 1 and 2 of [1, 2, 5, 4] -> 0.5
    assert ces([1, 2, 5, 4], scale=(1, 5), good=(1, 2))["ces_share_good"] == 0.5
    with pytest.raises(ConfigError, match="direction"):
        ces([1], direction="sideways")
    with pytest.raises(DataValidationError, match=r"\[1, 7\]"):
        ces([0, 3])
    # CSAT: 4-5 answers 5, 4 of 4 -> 0.5
    assert csat([5, 4, 3, 1])["csat"] == 0.5


def responses() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ["a", "a", "b", "c", "b"],
            "responded_at": pd.to_datetime(
                ["2024-01-05", "2024-03-02 14:00", "2024-01-20", "2024-01-07", "2024-03-31 23:00"],
                format="ISO8601"),
            "score": [10, 3, 7, 9, 10],
        }
    )


def accounts() -> pd.DataFrame:
    return pd.DataFrame({"account_id": ["a", "b", "c"], "segment": ["smb", "ent", None]})


def subscriptions() -> pd.DataFrame:
    return pd.DataFrame(
        {"account_id": ["a", "b", "b"], "start_date": pd.to_datetime(["2023-01-15", "2023-12-01", "2022-01-01"]),
         "end_date": pd.to_datetime([None, None, "2022-06-01"]), "mrr": [1.0, 2.0, 3.0]}
    )


def test_nps_by_month_with_an_empty_month():
    t = survey_scores(responses(), "nps", "2024-03-31").set_index("period_start")
    assert list(t.index) == [D("2024-01-01"), D("2024-02-01"), D("2024-03-01")]
    # Jan: 10, 7, 9 -> 2 promoters of 3, no detractor: 66.67
    assert t.loc[D("2024-01-01"), "nps"] == pytest.approx(200 / 3)
    # Feb: no answer -> NaN with a reason, never 0
    feb = t.loc[D("2024-02-01")]
    assert feb.n == 0 and np.isnan(feb.nps) and feb.reason == "no answers"
    # Mar: 3 and 10 -> 50% - 50% = 0
    assert t.loc[D("2024-03-01"), "nps"] == 0 and t.loc[D("2024-03-01"), "reason"] == ""


def test_answers_after_as_of_are_ignored():
    t = survey_scores(responses(), "nps", "2024-03-30", grain=None)
    # the 10 of Mar 31 is after as_of: 10, 3, 7, 9 -> (2 - 1) / 4 = 25
    assert t.iloc[0].n == 4 and t.iloc[0].nps == 25


def test_nps_by_segment_and_missing_attribute():
    t = survey_scores(responses(), "nps", "2024-03-31", grain="quarter", by="segment", accounts=accounts())
    t = t.set_index("segment")
    # Q1: smb (a) 10, 3 -> 0; ent (b) 7, 10 -> 50; c has no segment -> '(missing)' 9 -> 100
    assert t.loc["smb", "nps"] == 0 and t.loc["ent", "nps"] == 50 and t.loc["(missing)", "nps"] == 100
    with pytest.raises(DataValidationError, match=r"by='tier'.*available columns: account_id, segment"):
        survey_scores(responses(), "nps", "2024-03-31", by="tier", accounts=accounts())


def test_tenure_bands_by_hand():
    r = pd.DataFrame(
        {
            "account_id": ["a"] * 6 + ["z"],
            # a's first subscription starts 2023-01-15
            "responded_at": pd.to_datetime(["2023-03-14", "2023-04-15", "2024-01-15", "2025-02-01",
                                            "2022-12-01", "2023-07-14", "2024-01-01"]),
            "score": [0, 10, 9, 8, 10, 10, 5],
        }
    )
    t = survey_scores(r, "nps", "2025-12-31", grain=None, by="tenure_band",
                      subscriptions=subscriptions()).set_index("tenure_band")
    # 2 months -> 0-3; 3 -> 3-6; 5 (Jul 14 is a day short of 6) -> 3-6; 12 -> 12-24; 24 -> 24+;
    # before the start -> 'before start'; z has no subscription -> 'no subscription'
    assert t["n"].to_dict() == {"before start": 1, "0-3": 1, "3-6": 2, "6-12": 0, "12-24": 1,
                                "24+": 1, "no subscription": 1}
    assert t.loc["0-3", "nps"] == -100 and t.loc["3-6", "nps"] == 100
    assert np.isnan(t.loc["6-12", "nps"]) and t.loc["6-12", "reason"] == "no answers"
    with pytest.raises(DataValidationError, match="needs the subscriptions table"):
        survey_scores(r, "nps", "2025-12-31", by="tenure_band")


def test_tenure_uses_first_subscription_even_an_old_one():
    # b's first subscription is 2022-01-01, so answers in Jan 2024 are 24+ months in
    t = survey_scores(responses()[lambda d: d.account_id == "b"], "nps", "2024-03-31", grain=None,
                      by="tenure_band", subscriptions=subscriptions())
    assert t.set_index("tenure_band").loc["24+", "n"] == 2


def test_ces_and_csat_tables():
    r = responses().assign(score=[1, 5, 7, 7, 6])
    t = survey_scores(r, "ces", "2024-03-31", grain="quarter")
    # 1, 5, 7, 7, 6: mean 26 / 5 = 5.2, 5-7: 4 of 5
    assert (t.iloc[0].ces_mean, t.iloc[0].ces_share_good) == (5.2, 0.8)
    c = survey_scores(responses().assign(score=[1, 5, 4, 4, 2]), "csat", "2024-03-31", grain=None)
    assert (c.iloc[0].n, c.iloc[0].satisfied, c.iloc[0].csat) == (5, 3, 0.6)


def test_empty_table_and_explicit_periods():
    empty = responses().iloc[0:0]
    with pytest.raises(DataValidationError, match="'nps_responses' has no answers"):
        survey_scores(empty, "nps", "2024-03-31")
    t = survey_scores(empty, "nps", "2024-03-31", periods=pd.DatetimeIndex([D("2024-01-01")]))
    assert t.n.tolist() == [0] and t.reason.tolist() == ["no answers"] and t.nps.isna().all()
    with pytest.raises(ConfigError, match="kind"):
        survey_scores(responses(), "xyz", "2024-03-31")


def test_inputs_untouched():
    r, a, s = responses(), accounts(), subscriptions()
    r0, a0, s0 = r.copy(deep=True), a.copy(deep=True), s.copy(deep=True)
    survey_scores(r, "nps", "2024-03-31", by="segment", accounts=a)
    survey_scores(r, "nps", "2024-03-31", by="tenure_band", subscriptions=s)
    pd.testing.assert_frame_equal(r, r0)
    pd.testing.assert_frame_equal(a, a0)
    pd.testing.assert_frame_equal(s, s0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10), min_size=1, max_size=300))
def test_nps_bounds(scores):
    r = nps(scores)
    assert -100 <= r["nps"] <= 100
    assert -100 <= r["nps_ci_low"] <= r["nps"] <= r["nps_ci_high"] <= 100
    assert r["promoters"] + r["passives"] + r["detractors"] == len(scores)


# -- the real answer set ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_nps(shared_dir) -> pd.DataFrame:
    return pd.read_csv(shared_dir / "data" / "nps" / "NPS_timeseries_data.csv")


def _plain_nps(scores: pd.Series) -> float:
    # independent count: % of 9-10 minus % of 0-6
    return 100 * ((scores >= 9).sum() - (scores <= 6).sum()) / len(scores)


def test_real_nps_overall_by_month_and_market(real_nps):
    raw = real_nps
    resp = pd.DataFrame(
        {"account_id": raw["ID"].astype(str),
         "responded_at": pd.to_datetime(raw["Survey date"], format="%d/%m/%Y"),
         "score": raw["NPS"]}
    )
    before = resp.copy(deep=True)
    overall = survey_scores(resp, "nps", "2021-12-31", grain=None).iloc[0]
    assert overall.n == len(raw) == 5000
    assert overall.nps == pytest.approx(_plain_nps(raw["NPS"]), abs=1e-9)
    # the file's own Month column agrees with the parsed dates
    monthly = survey_scores(resp, "nps", "2021-12-31", grain="month")
    assert len(monthly) == 12 and (monthly.reason == "").all()
    expected = raw.groupby("Month")["NPS"].apply(_plain_nps)
    np.testing.assert_allclose(monthly.nps.to_numpy(), expected.to_numpy(), atol=1e-9)
    np.testing.assert_array_equal(monthly.n.to_numpy(), raw.groupby("Month").size().to_numpy())
    quarterly = survey_scores(resp, "nps", "2021-12-31", grain="quarter")
    np.testing.assert_allclose(quarterly.nps.to_numpy(),
                               raw.groupby("Quarter")["NPS"].apply(_plain_nps).to_numpy(), atol=1e-9)
    acc = pd.DataFrame({"account_id": raw["ID"].astype(str), "market": raw["Market"]})
    by_market = survey_scores(resp, "nps", "2021-12-31", grain=None, by="market", accounts=acc)
    by_market = by_market.set_index("market")["nps"]
    exp_market = raw.groupby("Market")["NPS"].apply(_plain_nps)
    np.testing.assert_allclose(by_market[exp_market.index].to_numpy(), exp_market.to_numpy(), atol=1e-9)
    # the interval from the multinomial variance, worked independently
    p = (raw["NPS"] >= 9).mean()
    q = (raw["NPS"] <= 6).mean()
    se = 100 * np.sqrt((p + q - (p - q) ** 2) / len(raw))
    assert overall.nps_ci_high - overall.nps == pytest.approx(1.959964 * se, rel=1e-5)
    pd.testing.assert_frame_equal(resp, before)


def test_bad_score_in_a_table_names_table_column_and_rows():
    r = pd.DataFrame({"account_id": ["a", "b", "c"],
                      "responded_at": pd.to_datetime(["2024-01-05", "2024-01-06", "2024-01-07"]),
                      "score": [11, 5, 9]})
    with pytest.raises(DataValidationError,
                       match=r"(?s)table 'nps_responses', column 'score'.*in 1 row.*examples:.*\s+2024-01-05\s+11"):
        survey_scores(r, "nps", "2024-03-31")
