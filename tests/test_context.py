"""The report context: the one active-customers figure recorded from the timeline."""

from __future__ import annotations

import pandas as pd

from csresearch.data.sources import DataSource
from csresearch.reports.context import ReportContext, customers_sentence, record_customers


def _source() -> DataSource:
    accounts = pd.DataFrame({
        "account_id": ["a", "b", "c", "d"], "name": list("ABCD"), "segment": ["smb"] * 4,
        "created_at": pd.to_datetime(["2024-01-01"] * 4),
    })
    subs = pd.DataFrame({
        "subscription_id": ["s1", "s2", "s3", "s4", "s5"],
        "account_id": ["a", "b", "b", "c", "d"],
        "start_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-06-01", "2024-01-01", "2024-03-01"]),
        # a: open, paid -> customer; b: paid then free from 2024-06-01 -> churned (downgrade);
        # c: free only -> not a customer; d: paid, ends on as_of -> churned on as_of
        "end_date": pd.to_datetime([None, "2024-06-01", None, None, "2024-12-31"]),
        "mrr": [100.0, 50.0, 0.0, 0.0, 20.0],
    })
    return DataSource.from_frames({"accounts": accounts, "subscriptions": subs})


def test_one_active_customers_figure_and_free_only_accounts():
    ctx = ReportContext.from_source(_source(), as_of="2024-12-31")
    record_customers(ctx)
    # only 'a' covers 2024-12-31 with MRR > 0 (end exclusive: d ended on as_of)
    assert ctx.summary == {"active_customers": 1, "free_only_accounts": 1}
    assert customers_sentence(ctx) == (
        "Active customers on 2024-12-31: 1 (not counting 1 free-only account, which never paid)."
    )


def test_flat_table_has_no_customers_sentence():
    ctx = ReportContext("churn_drivers", {"as_of": "2024-12-31"}, flat=pd.DataFrame({"x": [1]}))
    assert customers_sentence(ctx) == ""


def test_memo_computes_once():
    ctx = ReportContext.from_source(_source(), as_of="2024-12-31")
    calls = []
    assert ctx.memo("k", lambda: calls.append(1) or len(calls)) == 1
    assert ctx.memo("k", lambda: calls.append(1) or len(calls)) == 1 and calls == [1]
