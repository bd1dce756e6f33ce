import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from csresearch.demo import END, START, generate
from csresearch.errors import ConfigError
from csresearch.sources import open_source


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_gives_identical_files(tmp_path):
    a = generate(n_accounts=120, seed=11, out=tmp_path / "a")
    generate(n_accounts=120, seed=11, out=tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert len(a) == 12  # 11 tables + truth.json
    generate(n_accounts=120, seed=12, out=tmp_path / "c")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_demo_is_valid_and_complete(demo_small_dir):
    src = open_source(demo_small_dir)  # validates; raises on any broken rule
    assert src.names == [
        "accounts", "subscriptions", "usage_events", "nps_responses", "ces_responses",
        "csat_responses", "support_tickets", "email_events", "onboarding_milestones",
        "csm_sentiment", "churn_reasons",
    ]
    truth = json.loads((demo_small_dir / "truth.json").read_text())
    assert truth["rows"] == src.row_counts()
    assert set(truth["coefficients"]) == {
        "segment[enterprise]", "segment[mid_market]", "usage_trend", "nps_first",
        "tickets_90d", "onboarding_complete",
    }


def test_dates_stay_inside_the_fixed_window(demo_small):
    subs = demo_small.df("subscriptions")
    assert subs.start_date.min() >= pd.Timestamp(str(START))
    assert subs.end_date.max() <= pd.Timestamp(str(END))
    ev = demo_small.table("usage_events")
    assert ev.occurred_at.max().execute() <= pd.Timestamp(str(END)) + pd.Timedelta(days=1)
    acc = demo_small.df("accounts")
    assert set(acc.segment) == {"enterprise", "mid_market", "smb"}
    assert acc.name.str.contains("<script>").sum() == 1  # a hostile name, to test escaping


def test_new_customers_score_lower_nps(demo_small):
    nps = demo_small.df("nps_responses")
    first = demo_small.df("subscriptions").groupby("account_id").start_date.min()
    tenure = (nps.responded_at - nps.account_id.map(first)).dt.days
    early, late = nps.score[tenure < 180].mean(), nps.score[tenure >= 365].mean()
    assert early < late - 0.5


def test_churned_accounts_have_a_reason_and_no_churn_before_day_90(demo_small):
    subs = demo_small.df("subscriptions")
    reasons = demo_small.df("churn_reasons")
    first = subs.groupby("account_id").start_date.min()
    days = (reasons.churned_at - reasons.account_id.map(first)).dt.days
    assert (days > 90).all()
    assert reasons.reason.isin(["product", "adoption", "expectation", "price", "other"]).all()
    # an account with a reason has no subscription active across its churn day, unless reactivated
    s = subs.merge(reasons[["account_id", "churned_at"]], on="account_id")
    spanning = (s.start_date < s.churned_at) & (s.end_date.isna() | (s.end_date > s.churned_at))
    assert not spanning.any()


def test_usage_has_weekly_seasonality(demo_small):
    ev = demo_small.table("usage_events")
    dow = ev.group_by(d=ev.occurred_at.day_of_week.index()).aggregate(n=ev.count()).execute()
    per = dow.set_index("d").n.sort_index()
    assert per.loc[[5, 6]].mean() < 0.5 * per.loc[[0, 1, 2, 3, 4]].mean()


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="at least 10"):
        generate(n_accounts=3, out=tmp_path)
    with pytest.raises(ConfigError, match="parquet or csv"):
        generate(n_accounts=20, out=tmp_path, fmt="xlsx")


def test_csv_format_round_trips(tmp_path):
    generate(n_accounts=40, seed=5, out=tmp_path / "csv", fmt="csv")
    generate(n_accounts=40, seed=5, out=tmp_path / "pq")
    a = open_source(tmp_path / "csv").df("subscriptions")
    b = open_source(tmp_path / "pq").df("subscriptions")
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert np.isclose(a.mrr.sum(), b.mrr.sum())
