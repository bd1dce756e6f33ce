"""The same analyses on DuckDB and on Spark (local mode) give the same results.

ONE Spark session for the whole test run (session-scoped fixture; local[2], 4 shuffle
partitions, no UI: see csresearch.data.engine.SPARK_DEFAULTS). Skipped, with the reason, when
pyspark or Java is missing (``make test`` installs the spark extra when java is found).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csresearch.data.engine import open_on, spark_session, spark_unavailable_reason
from csresearch.features.usage import usage_features
from csresearch.metrics.annual import trailing_12m
from csresearch.metrics.cohorts import cohort_table
from csresearch.metrics.revenue import mrr_bridge, renewal_events, renewal_rates
from csresearch.survival.counts import km_counts, km_summary_counts
from csresearch.survival.tables import survival_table, survival_table_expr

pytestmark = pytest.mark.spark
AS_OF = "2025-12-31"


@pytest.fixture(scope="session")
def spark_src(demo_small_dir):
    reason = spark_unavailable_reason()
    if reason:
        pytest.skip(f"Spark tests skipped: {reason}")
    return open_on(demo_small_dir, engine="pyspark", validate=False)


def test_one_session(spark_src):
    assert spark_src.con.name == "pyspark"
    assert spark_session() is spark_session()
    conf = spark_session().conf
    assert conf.get("spark.sql.shuffle.partitions") == "4"
    assert conf.get("spark.ui.enabled") == "false"


def test_usage_features_same(spark_src, demo_small):
    a = usage_features(spark_src, AS_OF)
    b = usage_features(demo_small, AS_OF)
    assert len(b) > 1000
    pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-12)


def test_survival_table_and_km_same(spark_src, demo_small):
    a = survival_table(spark_src, AS_OF)
    b = survival_table(demo_small, AS_OF)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    ka = km_counts(survival_table_expr(spark_src, AS_OF), "tenure_days", "churned", by="segment")
    kb = km_counts(survival_table_expr(demo_small, AS_OF), "tenure_days", "churned", by="segment")
    pd.testing.assert_frame_equal(ka, kb, rtol=1e-12)
    sa = km_summary_counts(survival_table_expr(spark_src, AS_OF), "tenure_days", "churned",
                           at=[365])
    assert 0 < sa["S_365"].item() < 1


def test_revenue_steps_same(spark_src, demo_small):
    pd.testing.assert_frame_equal(
        mrr_bridge(spark_src, AS_OF, "quarter", by="segment"),
        mrr_bridge(demo_small, AS_OF, "quarter", by="segment"),
    )
    pd.testing.assert_frame_equal(trailing_12m(spark_src, AS_OF), trailing_12m(demo_small, AS_OF))
    for level in ("account", "subscription"):  # anniversaries from a calendar join, in the engine
        pd.testing.assert_frame_equal(renewal_rates(spark_src, AS_OF, "month", by="segment", level=level),
                                      renewal_rates(demo_small, AS_OF, "month", by="segment", level=level))
    pd.testing.assert_frame_equal(renewal_events(spark_src, AS_OF), renewal_events(demo_small, AS_OF))
    a = cohort_table(spark_src, AS_OF, 6)
    b = cohort_table(demo_small, AS_OF, 6)
    pd.testing.assert_frame_equal(a, b)
    assert np.isfinite(a["logo_retention"]).sum() > 10


def test_validation_same(spark_src, demo_small):
    a = spark_src.validate()
    b = demo_small.validate()
    assert a.ok and b.ok
    assert a.row_counts == b.row_counts


def test_cox_same(spark_src, demo_small):
    from csresearch.survival.large import EngineCoxPH

    fits = []
    for src in (spark_src, demo_small):
        st = survival_table_expr(src, AS_OF)
        st = st.mutate(log_mrr=(st.mrr_start + 1).ln())
        fits.append(EngineCoxPH().fit(st, "tenure_days", "churned", ["log_mrr"], ["segment"]))
    pd.testing.assert_series_equal(fits[0].params_, fits[1].params_, rtol=1e-9)
    pd.testing.assert_series_equal(fits[0].standard_errors_, fits[1].standard_errors_, rtol=1e-9)
