"""Per account-month inputs on a tiny hand-made source, and the no-look-ahead guarantee."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from csresearch.data.sources import DataSource
from csresearch.errors import ConfigError, DataQualityWarning
from csresearch.features.account import account_month_features, features_as_of

AS_OF = "2025-04-30"


def ts(*xs):
    return pd.to_datetime(list(xs), format="mixed")


def tiny_frames() -> dict[str, pd.DataFrame]:
    accounts = pd.DataFrame({
        "account_id": ["a1", "a2"], "name": ["A", "B"], "segment": ["smb", "smb"],
        "created_at": ts("2025-01-01", "2025-01-01"),
    })
    subs = pd.DataFrame({
        "subscription_id": ["s1", "s2"], "account_id": ["a1", "a2"],
        "start_date": ts("2025-01-15", "2025-02-01"), "end_date": [pd.NaT, pd.Timestamp("2025-04-01")],
        "mrr": [100.0, 50.0], "term_months": [12, 1],
    })
    usage = pd.DataFrame({
        "account_id": ["a1"] * 19,
        "occurred_at": ts(*(["2025-01-20 10:00"] * 2 + ["2025-01-25 09:00"] + ["2025-02-03 12:00"] * 10
                            + ["2025-04-05 08:00"] * 4 + ["2025-05-02 08:00"] * 2)),
        "event_type": ["login"] * 19, "user_id": ["u1"] * 19,
    })
    nps = pd.DataFrame({"account_id": ["a1", "a1"], "responded_at": ts("2025-01-20", "2025-03-10"),
                        "score": [9, 3]})
    ces = pd.DataFrame({"account_id": ["a1", "a1"], "responded_at": ts("2025-02-05", "2025-03-03"),
                        "score": [6, 2]})
    tickets = pd.DataFrame({
        "ticket_id": ["t1", "t2", "t3", "t4"], "account_id": ["a1"] * 4,
        "opened_at": ts("2025-01-16", "2025-02-02", "2025-02-20", "2025-04-10"),
        "closed_at": ts("2025-01-17", "2025-02-03", "2025-02-21", "2025-04-11"), "priority": ["low"] * 4,
    })
    email = pd.DataFrame({"account_id": ["a1"] * 3, "sent_at": ts("2025-01-20", "2025-02-10", "2025-03-10"),
                          "opened": [True, False, True], "clicked": [False] * 3})
    ms = pd.DataFrame({
        "account_id": ["a1"] * 3, "milestone": ["kickoff", "integration", "training"],
        "due_at": ts("2025-01-22", "2025-02-14", "2025-05-15"),
        "completed_at": ts("2025-01-22 14:00", "2025-03-02", "NaT"),
    })
    csm = pd.DataFrame({"account_id": ["a1"], "recorded_at": ts("2025-02-01"), "sentiment": ["green"]})
    return {"accounts": accounts, "subscriptions": subs, "usage_events": usage, "nps_responses": nps,
            "ces_responses": ces, "support_tickets": tickets, "email_events": email,
            "onboarding_milestones": ms, "csm_sentiment": csm}


@pytest.fixture(scope="module")
def feats():
    return account_month_features(DataSource.from_frames(tiny_frames()), AS_OF)


def col(f, account, name):
    return f.loc[f.account_id == account, name].to_numpy(dtype="float64")


def test_grid_activity_and_snapshots(feats):
    # a1: Jan..Apr (first active 2025-01-15); a2: Feb..Apr, its last active day is Mar 31
    assert feats.groupby("account_id").size().to_dict() == {"a1": 4, "a2": 3}
    assert feats.loc[feats.account_id == "a2", "active"].tolist() == [True, True, False]
    snaps = feats.loc[feats.account_id == "a1", "snapshot_date"].dt.strftime("%m-%d").tolist()
    assert snaps == ["01-31", "02-28", "03-31", "04-30"]
    np.testing.assert_allclose(col(feats, "a2", "mrr"), [50, 50, 0])
    np.testing.assert_allclose(col(feats, "a1", "arr"), [1200] * 4)
    # tenure: Jan 31 - Jan 15 = 16, Feb 28 = 16 + 28 = 44, Mar 31 = 75, Apr 30 = 105
    np.testing.assert_allclose(col(feats, "a1", "tenure_days"), [16, 44, 75, 105])
    # a1 renews 2026-01-15: from Jan 31 2025 that is 365 - 16 = 349 days, then -28, -31, -30
    np.testing.assert_allclose(col(feats, "a1", "days_to_renewal"), [349, 321, 290, 260])
    # a2 monthly term from Feb 1: next anniversaries Mar 1 (from Feb 28) and Apr 1 (from Mar 31)
    np.testing.assert_allclose(col(feats, "a2", "days_to_renewal"), [1, 1, np.nan])


def test_days_to_renewal_in_chunks_equal_one_pass(feats, monkeypatch):
    # the (subscription, month) pairs are dated a chunk at a time; chunks of 2 cut inside accounts
    import csresearch.features.grid as grid_mod

    monkeypatch.setattr(grid_mod, "CHUNK_ROWS", 2)
    small = account_month_features(DataSource.from_frames(tiny_frames()), AS_OF)
    pd.testing.assert_series_equal(small["days_to_renewal"], feats["days_to_renewal"], check_exact=True)


def test_usage_level_and_trend(feats):
    # observed days: Jan 15..31 = 17, Feb 28, Mar 31, Apr 30 (the May 2 events are after as_of)
    np.testing.assert_allclose(col(feats, "a1", "usage_events"), [3, 10, 0, 4])
    np.testing.assert_allclose(col(feats, "a1", "usage_active_days"), [2, 1, 0, 1])
    np.testing.assert_allclose(col(feats, "a1", "usage_per_day"), [3 / 17, 10 / 28, 0, 4 / 30])
    # change vs the previous <= 3 months' rate: Feb (10/28)/(3/17) - 1 = 170/84 - 1;
    # Mar 0 / (13/45) - 1 = -1; Apr (4/30) / (13/76) - 1 = 304/390 - 1
    np.testing.assert_allclose(col(feats, "a1", "usage_change_pct"),
                               [np.nan, 100 * (170 / 84 - 1), -100, 100 * (304 / 390 - 1)])
    # features.py's trend, ln((events + 1) / (mean of 3 previous months + 1)), from April on
    np.testing.assert_allclose(col(feats, "a1", "usage_trend_ln"), [np.nan] * 3 + [np.log(5 / (13 / 3 + 1))])
    np.testing.assert_allclose(col(feats, "a2", "usage_change_pct"), [np.nan, 0, 0])  # 0 vs 0


def test_surveys_tickets_email_onboarding(feats):
    np.testing.assert_allclose(col(feats, "a1", "nps_latest"), [9, 9, 3, 3])
    np.testing.assert_allclose(col(feats, "a1", "nps_first"), [9, 9, 9, 9])
    np.testing.assert_allclose(col(feats, "a1", "nps_first_days"), [5] * 4)  # Jan 20 - Jan 15
    np.testing.assert_allclose(col(feats, "a1", "ces_mean"), [np.nan, 6, 4, 4])  # (6 + 2) / 2
    # tickets in 3-month windows: Jan 1; Feb 1+2; Mar 1+2+0; Apr 2+0+1
    np.testing.assert_allclose(col(feats, "a1", "tickets"), [1, 3, 3, 3])
    np.testing.assert_allclose(col(feats, "a2", "tickets"), [0, 0, 0])  # a real zero
    np.testing.assert_allclose(col(feats, "a1", "email_open_rate"), [1, 1 / 2, 2 / 3, 2 / 3])
    # kickoff due Jan 22 done that afternoon (on time); integration due Feb 14 done Mar 2 (late);
    # training due May 15 (after as_of, not due yet)
    np.testing.assert_allclose(col(feats, "a1", "onboarding_score"), [1, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(col(feats, "a1", "onboarding_overdue"), [0, 1, 0, 0])
    np.testing.assert_allclose(col(feats, "a2", "onboarding_score"), [np.nan] * 3)
    np.testing.assert_allclose(col(feats, "a1", "csm_sentiment_score"), [np.nan, 2, 2, 2])


def test_windows_are_options():
    f = account_month_features(DataSource.from_frames(tiny_frames()), AS_OF,
                               {"survey_window_months": 1, "ticket_window_months": 1})
    np.testing.assert_allclose(col(f, "a1", "nps_latest"), [9, np.nan, 3, np.nan])
    np.testing.assert_allclose(col(f, "a1", "tickets"), [1, 2, 0, 1])
    with pytest.raises(ConfigError, match="inputs.survey_months"):
        account_month_features(DataSource.from_frames(tiny_frames()), AS_OF, {"survey_months": 2})
    with pytest.raises(ConfigError, match="inputs.ces_window_months"):
        account_month_features(DataSource.from_frames(tiny_frames()), AS_OF, {"ces_window_months": 0})


def test_partial_month_of_as_of_left_out(feats):
    # as_of May 20: May is not complete, so the last month is April and May data is unused
    g = account_month_features(DataSource.from_frames(tiny_frames()), "2025-05-20")
    pd.testing.assert_frame_equal(feats, g, check_like=False)
    assert g.attrs["last_snapshot"] == "2025-04-30" and g.attrs["as_of"] == "2025-05-20"


def test_absent_tables_are_nan_with_a_note():
    frames = tiny_frames()
    del frames["support_tickets"], frames["csm_sentiment"]
    with pytest.warns(DataQualityWarning, match="support_tickets absent"):
        f = account_month_features(DataSource.from_frames(frames), AS_OF)
    assert f["tickets"].isna().all() and f["csm_sentiment_score"].isna().all()
    assert any("csm_sentiment absent" in n for n in f.attrs["notes"])


def test_no_look_ahead_on_tiny_data(feats):
    # change everything after February: later answers, events, tickets, an earlier end, a new sub
    frames = tiny_frames()
    frames["nps_responses"] = pd.concat([frames["nps_responses"], pd.DataFrame(
        {"account_id": ["a1"], "responded_at": ts("2025-03-01"), "score": [0]})])
    frames["usage_events"] = pd.concat([frames["usage_events"], frames["usage_events"].assign(
        occurred_at=pd.Timestamp("2025-03-02"))])
    frames["subscriptions"].loc[0, "end_date"] = pd.Timestamp("2025-03-20")
    frames["subscriptions"] = pd.concat([frames["subscriptions"], pd.DataFrame({
        "subscription_id": ["s3"], "account_id": ["a2"], "start_date": ts("2025-04-05"),
        "end_date": [pd.NaT], "mrr": [10.0], "term_months": [1]})])
    frames["onboarding_milestones"].loc[1, "completed_at"] = pd.NaT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        g = account_month_features(DataSource.from_frames(frames), AS_OF)
    early = feats["period_start"] < "2025-03-01"
    cols = list(feats.columns)
    pd.testing.assert_frame_equal(feats.loc[early, cols].reset_index(drop=True),
                                  g.loc[g["period_start"] < "2025-03-01", cols].reset_index(drop=True))
    assert not g.loc[g.period_start == "2025-03-01"].equals(feats.loc[feats.period_start == "2025-03-01"])


def test_input_frames_untouched():
    frames = tiny_frames()
    before = {k: v.copy() for k, v in frames.items()}
    account_month_features(DataSource.from_frames(frames), AS_OF)
    for k, v in frames.items():
        pd.testing.assert_frame_equal(v, before[k])


def test_data_before_the_first_active_month_keeps_its_own_month():
    # a2 is first active on Feb 1. A ticket opened Jan 20 lies in the 3-month ticket window of
    # Feb (Dec..Feb) and Mar (Jan..Mar), not of Apr (Feb..Apr): tickets 1, 1, 0.
    # An NPS answer of June 2023 is 20 months before Feb 2025: outside the 12-month survey
    # window, so no latest answer; a CES answer of Jan 25 is in Feb's 6-month window.
    frames = tiny_frames()
    frames["support_tickets"] = pd.concat([frames["support_tickets"], pd.DataFrame({
        "ticket_id": ["t0"], "account_id": ["a2"], "opened_at": ts("2025-01-20"),
        "closed_at": ts("2025-01-21"), "priority": ["low"]})], ignore_index=True)
    frames["nps_responses"] = pd.concat([frames["nps_responses"], pd.DataFrame({
        "account_id": ["a2"], "responded_at": ts("2023-06-01"), "score": [2]})], ignore_index=True)
    frames["ces_responses"] = pd.concat([frames["ces_responses"], pd.DataFrame({
        "account_id": ["a2"], "responded_at": ts("2025-01-25"), "score": [5]})], ignore_index=True)
    f = account_month_features(DataSource.from_frames(frames), AS_OF)
    np.testing.assert_allclose(col(f, "a2", "tickets"), [1, 1, 0])
    np.testing.assert_allclose(col(f, "a2", "nps_latest"), [np.nan] * 3)
    np.testing.assert_allclose(col(f, "a2", "nps_first"), [2] * 3)  # the first answer, whenever given
    np.testing.assert_allclose(col(f, "a2", "ces_mean"), [5, 5, 5])


@pytest.mark.parametrize("day", ["2025-02-28", "2025-03-31", "2025-03-20"])
def test_features_as_of_an_earlier_day_are_the_rows_to_it(feats, day):
    # what the worklist back-test reads instead of computing the features again
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        want = account_month_features(DataSource.from_frames(tiny_frames()), day)
    got = features_as_of(feats, day)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_exact=True)
    assert got.attrs["as_of"] == day and got.attrs["last_snapshot"] == want.attrs["last_snapshot"]
    with pytest.raises(ValueError, match="do not hold"):
        features_as_of(got, "2025-05-31")


def test_usage_columns_left_out_only_those(feats):
    g = account_month_features(DataSource.from_frames(tiny_frames()), AS_OF, usage=["usage_event_types"])
    pd.testing.assert_frame_equal(g, feats.drop(columns=["usage_active_days", "usage_active_users"]),
                                  check_exact=True)


def test_grid_codes_from_arrow_equal_the_pandas_lookup():
    import pyarrow as pa

    from csresearch.features.grid import Grid

    g = Grid(pd.Index(["a1", "a2", "b"]), np.array([0, 1, 2]), np.array([0, 3, 5]), np.array([3, 2, 1]), 2,
             np.array(["2025-01-01"] * 3, dtype="datetime64[ns]"))
    ids = ["b", "zz", "a1", None, "a2", "a1"]
    want = [2, -1, 0, -1, 1, 0]
    assert g.codes(pd.Series(ids)).tolist() == want
    assert g.codes(pa.chunked_array([ids[:2], ids[2:]])).tolist() == want
    assert g.codes(pa.array(ids, type=pa.large_string())).tolist() == want
