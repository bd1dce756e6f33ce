"""Cohort retention matrices against a hand-worked book, plus invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csresearch.errors import ConfigError, DataValidationError
from csresearch.metrics.cohorts import cohort_retention, cohort_table

D = pd.Timestamp
AS_OF = "2024-05-15"


def book() -> pd.DataFrame:
    rows = [
        ("s1", "a", "2024-01-10", None, 100.0),
        ("s2", "b", "2024-01-31", "2024-03-15", 50.0),
        ("s3", "b", "2024-04-01", None, 80.0),
        ("s4", "c", "2024-02-05", "2024-03-05", 30.0),
        ("s5", "d", "2024-01-01", None, 0.0),  # never active: in no cohort
    ]
    df = pd.DataFrame(rows, columns=["subscription_id", "account_id", "start_date", "end_date", "mrr"])
    df["start_date"] = pd.to_datetime(df["start_date"])
    df["end_date"] = pd.to_datetime(df["end_date"])
    return df


def test_logo_and_mrr_retention_by_hand():
    logo = cohort_retention(book(), AS_OF, max_months=4)
    mrr = cohort_retention(book(), AS_OF, max_months=4, measure="mrr")
    assert list(logo.index) == [D("2024-01-01"), D("2024-02-01")]
    assert list(logo.columns) == [0, 1, 2, 3, 4]
    # Jan cohort a (from Jan 10, 100) and b (from Jan 31, 50). Days looked at:
    # a: Jan10 Feb10 Mar10 Apr10 May10; b: Jan31 Feb29 Mar31 Apr30 May31 (clipped month ends)
    # k=2: b is out (Mar 15 .. Apr 1) -> 1/2, MRR 100/150; k=3: b back at 80 -> 2/2, 180/150
    # k=4: b's May 31 is after as_of (May 15) -> NaN
    jan = logo.loc[D("2024-01-01")]
    np.testing.assert_allclose(jan.to_numpy(), [1, 1, 0.5, 1, np.nan])
    np.testing.assert_allclose(mrr.loc[D("2024-01-01")].to_numpy(), [1, 1, 100 / 150, 180 / 150, np.nan])
    # Feb cohort c (Feb 5 .. Mar 5, end exclusive): gone on Mar 5; Jun 5 not observable
    np.testing.assert_allclose(logo.loc[D("2024-02-01")].to_numpy(), [1, 0, 0, 0, np.nan])


def test_cohort_table_sizes():
    t = cohort_table(book(), AS_OF, max_months=2)
    jan = t[t.cohort == D("2024-01-01")].set_index("k")
    assert jan.accounts.tolist() == [2, 2, 2]
    assert jan.mrr_start.tolist() == [150, 150, 150]
    assert jan.mrr_k.tolist() == [150, 150, 100]
    assert jan.observable.all()


def test_cohorts_after_as_of_are_left_out_and_empty_book():
    t = cohort_retention(book(), "2024-01-31", max_months=1)
    # only the Jan cohort has started by Jan 31; k=1 (Feb 10 / Feb 29) is not observable
    assert list(t.index) == [D("2024-01-01")]
    assert t.iloc[0].tolist()[0] == 1 and np.isnan(t.iloc[0, 1])
    assert cohort_table(book(), "2023-12-31").empty
    with pytest.raises(DataValidationError, match="'subscriptions' is empty"):
        cohort_table(book().iloc[0:0], AS_OF)


def test_bad_parameters():
    with pytest.raises(ConfigError, match="measure"):
        cohort_retention(book(), AS_OF, measure="revenue")
    with pytest.raises(ConfigError, match="max_months"):
        cohort_table(book(), AS_OF, max_months=-1)


def test_input_untouched():
    b = book()
    b0 = b.copy(deep=True)
    cohort_retention(b, AS_OF, 3)
    pd.testing.assert_frame_equal(b, b0)


@st.composite
def books(draw):
    rows = []
    for i in range(draw(st.integers(1, 25))):
        start = D("2024-01-01") + pd.Timedelta(days=draw(st.integers(0, 500)))
        length = draw(st.one_of(st.none(), st.integers(0, 300)))
        rows.append({"subscription_id": f"s{i}", "account_id": f"a{draw(st.integers(0, 8))}",
                     "start_date": start,
                     "end_date": pd.NaT if length is None else start + pd.Timedelta(days=length),
                     "mrr": float(draw(st.integers(0, 500)))})
    return pd.DataFrame(rows)


@settings(max_examples=60, deadline=None)
@given(books())
def test_logo_retention_never_exceeds_one(subs):
    t = cohort_table(subs, "2025-06-30", max_months=12)
    if t.empty:
        return
    r = t.logo_retention.dropna()
    assert ((r >= 0) & (r <= 1)).all()
    assert (t.loc[t.k == 0, "logo_retention"] == 1).all()  # everyone is active on day one
    assert (t.mrr_retention.dropna() >= 0).all()
    # observability only shrinks with k
    obs = t.pivot(index="cohort", columns="k", values="observable").to_numpy()
    assert (np.diff(obs.astype(int), axis=1) <= 0).all()
