"""A standing suite of hostile and messy inputs: each case must give a named error or a
result that loses nothing (see issue 10). Cases are built from small generated frames or
files in tmp_path, never from the big demo."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest

from csresearch.errors import DataQualityWarning, DataValidationError
from csresearch.metrics import period_table
from csresearch.metrics.revenue import mrr_bridge
from csresearch.schema import validate
from csresearch.sources import DataSource
from tests.test_schema import good


# --- data rules (silent drops) ---
def _far_future_end() -> dict[str, pd.DataFrame]:
    f = good()
    # s2 (a1, 150 from 2024-03-01) is "still active" written as the warehouse placeholder
    f["subscriptions"]["end_date"] = [dt.date(2024, 3, 1), dt.date(9999, 12, 31),
                                      dt.date(2024, 6, 1), None]
    return f


def test_hostile_far_future_end_date_is_open_in_metrics():
    t = period_table(DataSource.from_frames(_far_future_end()), "2024-12-31")
    dec = t.set_index("period_start").loc[pd.Timestamp("2024-12-01")]
    # a1 150 (open, placeholder) + a3 1000 (open, empty) = 1150; a2 ended Jun 1
    assert dec.mrr_end == 1150.0


def test_hostile_far_future_end_date_reads_as_empty():
    df = DataSource.from_frames(_far_future_end()).df("subscriptions")
    assert str(df.end_date.dtype) == "datetime64[ns]"
    assert df.end_date.isna().tolist() == [False, True, False, True]


def test_hostile_far_past_or_future_dates_elsewhere_are_named():
    f = good()
    f["accounts"]["created_at"] = [pd.Timestamp("2024-01-01"), dt.datetime(9999, 12, 31),
                                   dt.datetime(1, 1, 1)]
    fails = validate(DataSource.from_frames(f, validate=False)).failures
    assert [(x.table, x.column, x.rule, x.n_failing) for x in fails] == [
        ("accounts", "created_at", "date range", 2)
    ]
    with pytest.raises(DataValidationError, match=r"(?s)'accounts', column 'created_at'.*2200-01-01"):
        DataSource.from_frames(f, validate=False).df("accounts")


def test_hostile_far_future_dates_in_a_pandas_frame():
    s = good()["subscriptions"]
    s["start_date"] = pd.to_datetime(s["start_date"])
    s["end_date"] = pd.Series(np.array(["2024-03-01", "9999-12-31", "2024-06-01", "NaT"],
                                       dtype="datetime64[s]"))
    b = mrr_bridge(s, "2024-12-31").set_index("period_start")
    assert b.loc[pd.Timestamp("2024-12-01"), "mrr_end"] == 1150.0
    s["start_date"] = s["start_date"].astype("datetime64[s]")
    s.loc[0, "start_date"] = pd.Timestamp("9000-01-01")
    with pytest.raises(DataValidationError, match=r"column 'start_date'.*date range"):
        mrr_bridge(s, "2024-12-31")


def test_hostile_far_future_end_date_keeps_the_account_in_health():
    from csresearch.health import health_history

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        h = health_history(DataSource.from_frames(_far_future_end()), "2024-12-31")
    assert set(h.account_id) == {"a1", "a2", "a3"}
