"""Every figure the report sections make: no two texts overlap at the saved size (issue 13, item 5)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from csresearch.reports.present import figures as plots
from tests.figcheck import assert_no_overlap, overlaps

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _style():
    plots.apply_style()
    yield
    plt.close("all")


def test_the_check_can_fail():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.text(0.5, 0.5, "0.2")
    ax.text(0.51, 0.5, "0.25")
    assert any("overlaps" in o for o in overlaps(fig))
    fig2, ax2 = plt.subplots(figsize=(3, 2))
    ax2.barh(["a"], [1.0])
    ax2.text(1.0, 0, "1.0", ha="left", va="center")  # no gap to the bar end
    assert any("touches a bar" in o for o in overlaps(fig2))


@pytest.mark.parametrize(("lo", "hi"), [(0.15, 1.6), (0.18, 3.2), (0.45, 2.6), (0.85, 1.2), (0.04, 25)])
def test_ratio_axis_ticks_never_print_on_each_other(lo, hi):
    """Telco's hazard ratios span about 0.15..1.6: '0.2' and '0.25' were printed as '0.20.25'."""
    fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    plots.ratio_axis(ax, "x")
    assert_no_overlap(fig, f"ratio axis {lo}..{hi}")
    assert not ({0.2, 0.25} <= set(ax.get_xticks()))


def test_bridge_has_no_axis_title_under_reactivation():
    row = pd.Series({"mrr_start": 10.6e6, "mrr_new": 508e3, "mrr_expansion": 200e3, "mrr_reactivation": 11e3,
                     "mrr_contraction": 63e3, "mrr_churned": 246e3, "mrr_end": 11.0e6})
    ax = plots.bridge(row, "MRR bridge, December 2025")
    assert ax.get_xlabel() == ""  # it read "Reactivation movement" under the middle bar
    assert_no_overlap(ax.figure, "bridge")


def test_value_labels_keep_clear_of_bar_ends():
    s = pd.Series({"0-3": -12.5, "3-6": 4.0, "6-12": 31.2, "12-24": 0.5, "24+": -3.0})
    ax = plots.bar(s, "NPS by tenure", "NPS (-100 to 100)", "tenure (months)", kind="number1", sort=False)
    assert_no_overlap(ax.figure, "NPS by tenure")


def test_maturity_radar_labels_do_not_collide():
    from csresearch.maturity import assess, load_answers, load_questionnaire, radar

    q = load_questionnaire()
    a = assess(load_answers(REPO / "data" / "maturity_answers.yaml", q), q,
               previous=load_answers(REPO / "data" / "maturity_answers_previous.yaml", q))
    ax = radar(a)
    assert_no_overlap(ax.figure, "radar")
    assert all(t.get_text().isdigit() for t in ax.get_yticklabels())  # ring names moved to the caption


@pytest.fixture
def figures(monkeypatch):
    """Every figure a section adds, checked for overlaps before it is saved."""
    import csresearch.reports.present.tables as display

    seen: list[tuple[str, list[str]]] = []
    original = display.figure_html

    def check(fig, alt, dpi=110):
        seen.append((alt, overlaps(fig, dpi)))
        return original(fig, alt, dpi)

    monkeypatch.setattr(display, "figure_html", check)
    return seen


def _ctx(src, report, **params):
    from csresearch.reports.context import ReportContext

    return ReportContext.from_source(src, "2025-12-31", report=report, **params)


def test_every_retention_health_and_maturity_figure(demo_small, figures):
    from csresearch.reports import sections

    ctx = _ctx(demo_small, "retention")
    for name in ("summary", "bridge", "cohorts", "lifetimes", "churn_reasons", "kpi_tree"):
        getattr(sections, f"retention_{name}")(ctx)
    ctx = _ctx(demo_small, "health")
    for name in ("summary", "movers", "distribution", "components", "predictive", "playbook_ctas",
                 "signal_ladder", "nps_by_tenure"):
        getattr(sections, f"health_{name}")(ctx)
    ctx = _ctx(demo_small, "maturity", answers_path=str(REPO / "data" / "maturity_answers.yaml"),
               previous_answers_path=str(REPO / "data" / "maturity_answers_previous.yaml"))
    sections.maturity_levels(ctx)
    assert len(figures) >= 10
    bad = [f"{alt}: {'; '.join(o[:3])}" for alt, o in figures if o]
    assert not bad, "\n".join(bad)


def test_every_churn_drivers_figure_on_the_demo_and_on_telco(demo_small, shared_dir, figures):
    """The churn-drivers figures too: forest plot, partial effects, calibration, at-risk, on a data
    source and on the Telco flat table (the '0.20.25' axis was there)."""
    from csresearch.reports import sections
    from csresearch.reports.context import ReportContext
    from csresearch.survival.tables import read_flat_table

    names = [n for n in sections.__all__ if n.startswith("drivers_")]
    ctx = _ctx(demo_small, "churn_drivers")
    for name in names:
        getattr(sections, name)(ctx)
    n_demo = len(figures)
    telco = shared_dir / "data" / "telco" / "Telco-Customer-Churn.csv"
    if telco.exists():
        params = {"as_of": "2025-12-31", "duration": "tenure", "event": "Churn=Yes", "id_column": "customerID",
                  "covariates": ["Contract", "InternetService", "PaymentMethod", "MonthlyCharges"],
                  "value_column": "MonthlyCharges"}
        ctx = ReportContext("churn_drivers", params, flat=read_flat_table(telco), flat_path=str(telco))
        for name in names:
            getattr(sections, name)(ctx)
    assert n_demo >= 3 and len(figures) > n_demo
    bad = [f"{alt}: {'; '.join(o[:3])}" for alt, o in figures if o]
    assert not bad, "\n".join(bad)
