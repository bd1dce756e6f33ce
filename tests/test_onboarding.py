"""Onboarding completion days, censoring, on-time score and share finished within N days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csresearch.errors import DataValidationError
from csresearch.metrics.onboarding import (
    onboarding_completion,
    onboarding_score,
    share_finished_within,
)

AS_OF = "2024-03-31"


def subs() -> pd.DataFrame:
    return pd.DataFrame(
        {"subscription_id": ["s1", "s2", "s3", "s4", "s5"], "account_id": ["a", "b", "c", "d", "a"],
         "start_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-10", "2024-03-01", "2024-02-01"]),
         "end_date": pd.NaT, "mrr": [10.0, 20.0, 30.0, 40.0, 5.0]}
    )


def milestones() -> pd.DataFrame:
    rows = [
        ("a", "kickoff", "2024-01-08", "2024-01-05"),
        ("a", "setup", "2024-01-31", "2024-02-10"),
        ("a", "training", "2024-02-15", "2024-02-14 16:30"),
        ("b", "kickoff", "2024-02-08", "2024-02-08 14:00"),
        ("b", "setup", "2024-03-01", None),
        ("b", "training", "2024-04-30", None),
        ("c", "kickoff", "2024-01-20", "2024-04-05"),  # completed after as_of
        ("c", "setup", "2024-05-01", None),
        ("d", "kickoff", "2024-04-10", None),
        ("e", "kickoff", "2024-01-05", "2024-01-04"),  # e has no subscription
    ]
    df = pd.DataFrame(rows, columns=["account_id", "milestone", "due_at", "completed_at"])
    for c in ("due_at", "completed_at"):
        df[c] = pd.to_datetime(df[c], format="ISO8601")
    return df


def test_completion_by_hand():
    c = onboarding_completion(milestones(), subs(), AS_OF).set_index("account_id")
    # a: first start Jan 1, last milestone Feb 14 -> 31 + 13 = 44 days, finished
    assert c.loc["a", "completion_days"] == 44 and c.loc["a", "event"] == 1
    assert not c.loc["a", "censored"] and c.loc["a", "duration_days"] == 44
    # b: setup and training open -> censored at as_of: Feb 1 -> Mar 31 = 29 + 30 = 59 days
    assert c.loc["b", "event"] == 0 and c.loc["b", "censored"]
    assert np.isnan(c.loc["b", "completion_days"]) and c.loc["b", "duration_days"] == 59
    assert (c.loc["b", "n_milestones"], c.loc["b", "n_completed"]) == (3, 1)
    # c: the Apr 5 completion is not known on Mar 31 -> censored, Jan 10 -> Mar 31 = 21 + 29 + 31 = 81
    assert c.loc["c", "event"] == 0 and c.loc["c", "duration_days"] == 81 and c.loc["c", "n_completed"] == 0
    # e: finished but no subscription: no duration, and says why
    assert np.isnan(c.loc["e", "duration_days"]) and c.loc["e", "note"].startswith("no subscription")
    assert c.loc["a", "note"] == ""


def test_required_milestones():
    c = onboarding_completion(milestones(), subs(), AS_OF, required=["kickoff"]).set_index("account_id")
    # kickoff only: a Jan 1 -> Jan 5 = 4 days; b Feb 1 -> Feb 8 = 7 days
    assert c.loc["a", "completion_days"] == 4 and c.loc["b", "completion_days"] == 7
    with pytest.raises(DataValidationError, match=r"required milestone\(s\) \['golive'\]"):
        onboarding_completion(milestones(), subs(), AS_OF, required=["golive"])


def test_on_time_score_by_hand():
    s = onboarding_score(milestones(), AS_OF).set_index("account_id")
    # a: kickoff on time, setup late, training on time (same due day counts) -> 2/3
    assert s.loc["a", "on_time_score"] == pytest.approx(2 / 3)
    # b: kickoff on time (done on its due day), setup due Mar 1 and open -> 1/2; training not due yet
    assert (s.loc["b", "n_scored"], s.loc["b", "n_on_time"]) == (2, 1)
    # c: kickoff due Jan 20 and not done by as_of -> 0/1
    assert s.loc["c", "on_time_score"] == 0
    # d: nothing due or done yet -> NaN with a note
    assert np.isnan(s.loc["d", "on_time_score"]) and s.loc["d", "note"] != ""


def test_share_finished_within_by_hand():
    c = onboarding_completion(milestones(), subs(), AS_OF)
    r = share_finished_within(c, 45)
    # eligible: a (finished, 44 <= 45), b (59 >= 45 observed), c (81); not known: d (30 days), e
    assert (r["eligible"], r["finished_within"], r["not_yet_known"]) == (3, 1, 2)
    assert r["share"] == pytest.approx(1 / 3)
    # 40 days: a finished after 44 -> 0 of 3
    assert share_finished_within(c, 40)["share"] == 0
    # 200 days: only a is known (the others are censored earlier) -> 1/1
    r = share_finished_within(c, 200)
    assert (r["eligible"], r["share"]) == (1, 1.0)


def test_bad_input():
    with pytest.raises(DataValidationError, match="no milestone rows"):
        onboarding_completion(milestones().iloc[0:0], subs(), AS_OF)
    with pytest.raises(DataValidationError, match="missing column.*due_at"):
        onboarding_score(milestones().drop(columns="due_at"), AS_OF)
    c = onboarding_completion(milestones(), subs(), AS_OF)
    none = share_finished_within(c[c.account_id == "d"], 45)
    assert np.isnan(none["share"]) and none["note"] == "no account observed long enough"


def test_inputs_untouched():
    m, s = milestones(), subs()
    m0, s0 = m.copy(deep=True), s.copy(deep=True)
    onboarding_completion(m, s, AS_OF)
    onboarding_score(m, AS_OF)
    pd.testing.assert_frame_equal(m, m0)
    pd.testing.assert_frame_equal(s, s0)


def test_milestone_without_account_is_an_error_not_a_silent_drop():
    m = milestones()
    m.loc[4, "account_id"] = None  # b's setup row: grouping by account used to drop it
    with pytest.raises(DataValidationError,
                       match=r"(?s)table 'onboarding_milestones', column 'account_id': account_id is missing in 1 row.*setup"):
        onboarding_completion(m, subs(), AS_OF)


def _source(m: pd.DataFrame):
    from csresearch.data.sources import DataSource

    return DataSource.from_frames({"onboarding_milestones": m, "subscriptions": subs()}, validate=False)


def test_engine_counts_equal_the_pandas_definitions():
    """What the KPI tree and the health features read from the engine: the finished rows of
    onboarding_completion and the monthly counts of onboarding_score_by_period."""
    from csresearch.metrics.onboarding import (
        due_by_month,
        finished_onboardings,
        onboarding_score_by_period,
    )

    for as_of in (AS_OF, "2024-02-14", "2024-12-31"):
        want = onboarding_completion(milestones(), subs(), as_of).query("event == 1")
        got = finished_onboardings(_source(milestones()), as_of)
        got = got.sort_values(["finished_at", "start_date"], ignore_index=True)
        want = want[["finished_at", "start_date"]].sort_values(["finished_at", "start_date"], ignore_index=True)
        pd.testing.assert_frame_equal(got, want)
        pd.testing.assert_frame_equal(due_by_month(_source(milestones()), as_of),
                                      onboarding_score_by_period(milestones(), as_of)[["period_start", "n_due", "n_on_time"]])
    # by hand on Mar 31: a finished on Feb 14 (started Jan 1); e on Jan 4 without a subscription
    got = finished_onboardings(_source(milestones()), AS_OF).sort_values("finished_at", ignore_index=True)
    assert got["finished_at"].tolist() == [pd.Timestamp("2024-01-04"), pd.Timestamp("2024-02-14")]
    assert pd.isna(got["start_date"][0]) and got["start_date"][1] == pd.Timestamp("2024-01-01")


def test_engine_milestones_without_account_are_named():
    from csresearch.metrics.onboarding import due_by_month

    m = milestones()
    m.loc[4, "account_id"] = None
    with pytest.raises(DataValidationError, match=r"column 'account_id': account_id is missing in 1 row"):
        due_by_month(_source(m), AS_OF)
