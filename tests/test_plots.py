"""Shared figures: each returns Axes with a title, labelled axes and does not touch its input."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from csresearch.reports.present import figures as plots


@pytest.fixture(autouse=True)
def _close():
    plots.apply_style()
    yield
    plt.close("all")


def _labelled(ax):
    assert ax.get_title(loc="left")
    assert ax.get_xlabel() or ax.get_ylabel()


def test_bridge_waterfall_adds_up():
    row = pd.Series({"mrr_start": 100.0, "mrr_new": 20.0, "mrr_expansion": 10.0, "mrr_reactivation": 0.0,
                     "mrr_contraction": 5.0, "mrr_churned": 15.0, "mrr_end": 110.0})
    before = row.copy()
    ax = plots.bridge(row, "MRR bridge")
    _labelled(ax)
    bars = ax.patches
    assert len(bars) == 7
    # churn bar: level before churn = 100 + 20 + 10 + 0 - 5 = 125, drops by 15 to 110
    assert bars[5].get_y() == pytest.approx(110.0) and bars[5].get_height() == pytest.approx(15.0)
    assert bars[6].get_height() == pytest.approx(110.0)
    pd.testing.assert_series_equal(row, before)
    assert "$ per month" in ax.get_ylabel()


def test_heatmap_bar_trend_hist_km():
    m = pd.DataFrame(np.linspace(1, 0.5, 12).reshape(3, 4), index=pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]))
    _labelled(plots.heatmap(m, "Logo retention", "months since start", "cohort"))
    _labelled(plots.bar(pd.Series({"a": 3, "b": 5}), "Churn by reason", "accounts", "reason"))
    df = pd.DataFrame({"p": pd.date_range("2025-01-01", periods=3, freq="MS"), "grr": [0.9, 0.95, 0.92]})
    _labelled(plots.trend(df, "p", {"grr": "GRR"}, "GRR", "share (%)"))
    _labelled(plots.histogram(pd.Series([1, 2, 3, 50]), "Score", "health score (0-100)"))
    curves = pd.DataFrame({"group": "all", "time": [0, 1, 2], "survival": [1, 0.8, 0.6],
                           "lower": [1, 0.7, 0.5], "upper": [1, 0.9, 0.7]})
    _labelled(plots.km(curves, "Retention"))


def test_ratio_axis_shows_plain_numbers_on_a_log_scale():
    _, ax = plt.subplots()
    ax.set_xscale("log")
    ax.set_xlim(0.45, 2.6)  # spans more than 4x: the coarse ticks
    plots.ratio_axis(ax, "x")
    ax.figure.canvas.draw()
    shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert shown == ["0.5", "0.75", "1", "1.5", "2"]
    assert not any("10^" in t.get_text() or "$" in t.get_text() for t in ax.get_xticklabels(minor=True))
    ax.set_xlim(0.85, 1.2)  # narrow: the fine ticks
    plots.ratio_axis(ax, "x")
    ax.figure.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()] == ["0.9", "1", "1.1"]
