"""Kaplan-Meier from engine-side counts equals lifelines' KaplanMeierFitter."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter

from csresearch.errors import DataValidationError
from csresearch.survival.counts import (
    cohort_survival,
    event_counts_expr,
    km_counts,
    km_from_counts,
    km_summary_counts,
)
from csresearch.survival.curves import km_summary
from csresearch.survival.tables import survival_table, survival_table_expr


def _lifelines(d: pd.DataFrame, alpha: float = 0.05) -> KaplanMeierFitter:
    return KaplanMeierFitter(alpha=alpha).fit(d["t"], d["e"])


def test_by_hand():
    t = ibis.memtable({"t": [1, 2, 2, 3], "e": [1, 1, 0, 1]})
    km = km_counts(t, "t", "e")
    assert km["timeline"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert km["at_risk"].tolist() == [4, 4, 3, 1]
    # S: 1; 1 - 1/4 = 0.75; 0.75 * (1 - 1/3) = 0.5; 0.5 * (1 - 1/1) = 0
    np.testing.assert_allclose(km["survival"], [1.0, 0.75, 0.5, 0.0])
    # Greenwood sums: 0; 1/(4*3) = 1/12; 1/12 + 1/(3*2) = 0.25; 1/(1*0) -> 0 (as lifelines)
    np.testing.assert_allclose(km["greenwood"], [0.0, 1 / 12, 0.25, 0.25])
    assert km["censored"].tolist() == [0, 0, 1, 0]


def test_zero_durations_are_on_the_timeline():
    c = pd.DataFrame({"duration": [0.0, 2.0], "removed": [1, 1], "observed": [1, 0]})
    km = km_from_counts(c)
    # an event at t=0 among 2 at risk: S(0) = 1/2, as lifelines
    assert km["timeline"].tolist() == [0.0, 2.0]
    assert km["survival"].tolist() == [0.5, 0.5]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 1)), min_size=1, max_size=80),
    st.sampled_from([0.05, 0.1]),
)
def test_equals_lifelines(rows, alpha):
    d = pd.DataFrame(rows, columns=["t", "e"]).astype({"t": float})
    km = km_counts(ibis.memtable(d), "t", "e", alpha=alpha)
    ref = _lifelines(d, alpha)
    np.testing.assert_allclose(km["timeline"], ref.timeline)
    np.testing.assert_allclose(km["survival"], ref.survival_function_.iloc[:, 0], rtol=1e-12)
    np.testing.assert_allclose(km["ci_lower"], ref.confidence_interval_.iloc[:, 0], rtol=1e-10)
    np.testing.assert_allclose(km["ci_upper"], ref.confidence_interval_.iloc[:, 1], rtol=1e-10)
    np.testing.assert_array_equal(km["at_risk"], ref.event_table["at_risk"])


def test_demo_summary_equals_curves(demo_small):
    st_expr = survival_table_expr(demo_small, "2025-12-31")
    st_df = survival_table(demo_small, "2025-12-31")
    got = km_summary_counts(st_expr, "tenure_days", "churned", by="segment", at=[90, 365, 730])
    want = km_summary(st_df, "tenure_days", "churned", by="segment", at=[90, 365, 730])
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-12)
    one = km_summary_counts(st_expr, "tenure_days", "churned", at=[365])
    assert one["n"].item() == len(st_df)
    assert one["events"].item() == st_df["churned"].sum()


def test_cohort_survival_equals_lifelines_per_cohort(demo_small):
    st_df = survival_table(demo_small, "2025-12-31")
    got = cohort_survival(survival_table_expr(demo_small, "2025-12-31"), at=[0, 91, 365])
    assert list(got.index) == sorted(st_df["cohort"].unique())
    for cohort in got.index[:5]:
        sub = st_df[st_df["cohort"] == cohort]
        kmf = KaplanMeierFitter().fit(sub["tenure_days"], sub["churned"])
        want = kmf.predict([0, 91, 365]).to_numpy()
        last = kmf.timeline.max()
        want = np.where((np.array([0, 91, 365]) > last) & (want > 0), np.nan, want)
        np.testing.assert_allclose(got.loc[cohort].to_numpy(dtype=float), want, rtol=1e-12)
    # recent cohorts are not observed for a year yet: NaN, never an invented number
    assert np.isnan(got.iloc[-1][365])


def test_counts_table_is_small(demo_small):
    st_expr = survival_table_expr(demo_small, "2025-12-31")
    n_rows = int(st_expr.count().execute())
    n_counts = int(event_counts_expr(st_expr, "tenure_days", "churned").count().execute())
    assert n_counts < n_rows


@pytest.mark.parametrize(
    ("t", "e", "match"),
    [
        ([1.0, -2.0], [1, 0], "column 't': 1 row.* negative duration"),
        ([1.0, None], [1, 0], "column 't': 1 row.* missing duration"),
        ([1.0, 2.0], [1, 2], r"column 'e': 1 row.* not 0/1.*\[2.0\]"),
    ],
)
def test_bad_input_is_reported(t, e, match):
    tab = ibis.memtable(pd.DataFrame({"t": t, "e": e}))
    with pytest.raises(DataValidationError, match=match):
        km_counts(tab, "t", "e", name="subs")


def test_missing_column():
    with pytest.raises(DataValidationError, match="column 'nope' not found"):
        km_counts(ibis.memtable({"t": [1.0], "e": [1]}), "nope", "e")
