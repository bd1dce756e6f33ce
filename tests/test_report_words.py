"""Issue 13 on the report sections (in process, no kernel): monthly and annual figures, a bridge
that adds up, the summary JSON, words instead of code names, survival from the first paid day,
goals, health movers active on as_of."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from csresearch.reports import sections
from csresearch.reports.context import ReportContext
from csresearch.reports.present import words as nv

AS_OF = "2025-12-31"


@pytest.fixture(scope="module")
def retention(demo_small):
    ctx = ReportContext.from_source(demo_small, AS_OF, report="retention")
    out = {n: getattr(sections, f"retention_{n}")(ctx) for n in ("summary", "bridge", "lifetimes", "kpi_tree")}
    return ctx, out


def _text(section) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<img[^>]*>", "", section.html)))


def test_summary_cards_say_monthly_and_show_annual_figures(retention, demo_small):
    from csresearch.metrics.annual import trailing_12m
    from csresearch.metrics.revenue import mrr_bridge

    ctx, out = retention
    text = _text(out["summary"])
    for label in ("Logo churn (monthly)", "GRR (monthly)", "NRR (monthly)", "Logo churn, annualised",
                  "GRR, trailing 12 months", "NRR, trailing 12 months"):
        assert label in text, label
    m = mrr_bridge(demo_small.df("subscriptions"), AS_OF).iloc[-1]
    y = trailing_12m(demo_small.df("subscriptions"), AS_OF).iloc[-1]
    assert nv.pct(1 - (1 - m["logo_churn_rate"]) ** 12) in text
    assert nv.pct(y["grr_trailing_12m"]) in text and nv.pct(y["nrr_trailing_12m"]) in text


def test_summary_json_records_fractions_for_the_period(retention, demo_small):
    from csresearch.metrics.revenue import mrr_bridge

    ctx, _ = retention
    s = ctx.summary
    keys = {"logo_churn_monthly", "logo_churn_annualised", "grr_monthly", "nrr_monthly", "grr_trailing_12m",
            "nrr_trailing_12m", "renewal_rate", "period"}
    assert keys <= set(s) and "active_customers" not in s
    m = mrr_bridge(demo_small.df("subscriptions"), AS_OF).iloc[-1]
    assert s["period"] == "2025-12-01"
    assert s["logo_churn_monthly"] == pytest.approx(m["logo_churn_rate"])
    assert s["logo_churn_annualised"] == pytest.approx(1 - (1 - m["logo_churn_rate"]) ** 12)
    assert all(0 <= s[k] <= 1.5 for k in keys - {"period"})  # fractions, not percents
    assert {"metric", "segment", "goal", "actual", "met"} <= set(s["goals"][0])


def test_first_screen_answers_in_one_sentence(retention):
    _, out = retention
    lead = re.search(r'<p class="cs-lead"><strong>(.*?)</strong></p>', out["summary"].html)
    assert lead and out["summary"].html.index("cs-lead") < out["summary"].html.index("cs-card")
    sentence = lead.group(1)
    assert sentence.count(".") - sentence.count(" %") <= 2 and "a month" in sentence and "a year" in sentence


def test_bridge_table_rows_add_up(retention):
    _, out = retention
    t = out["bridge"].tables[-1]
    assert "mrr_reactivation" in t.columns and "reactivation" in _text(out["bridge"])
    total = t["mrr_start"] + t["mrr_new"] + t["mrr_expansion"] + t["mrr_reactivation"] - t["mrr_contraction"] \
        - t["mrr_churned"]
    assert (total - t["mrr_end"]).abs().max() < 1e-6


def test_lifetimes_from_first_paid_day_with_median_in_words_and_unadjusted(retention):
    _, out = retention
    text = _text(out["lifetimes"])
    assert "months since the first paid day" in text or "first paid day" in text
    assert "Customers at risk at each month since the first paid day" in text
    assert re.search(r"Median lifetime of all customers: [\d.]+ months, the time by which half had left \(95 % "
                     r"interval", text)
    assert "These curves are unadjusted" in text and "churn-drivers report adjusts" in text
    assert "mid_market" not in text and "mid-market" in text


def test_goals_table_under_the_kpi_tree(retention):
    _, out = retention
    text = _text(out["kpi_tree"])
    assert "Goals by segment: actual against goal" in text
    assert re.search(r"SMB logo churn [\d.]+ % in December 2025, [\d.]+ points (under|over) its 3.0 % limit: "
                     r"(met|missed)", text)


def test_health_movers_active_on_as_of_and_words(demo_small):
    from csresearch.metrics.revenue import mrr_snapshots

    ctx = ReportContext.from_source(demo_small, AS_OF, report="health")
    mv = sections.health_movers(ctx)
    t = mv.tables[-1]
    snap = mrr_snapshots(demo_small.df("subscriptions"), [AS_OF]).set_index("account_id")["mrr"]
    assert (snap.reindex(t["account_id"]).fillna(0) > 0).all()
    assert not t["segment"].isin(["mid_market"]).any()
    ctas = sections.health_playbook_ctas(ctx)
    text = _text(ctas)
    assert "band_prev=" not in text and "band=" not in text
    if len(ctas.tables) and len(ctas.tables[-1]):
        assert ctas.tables[-1]["values"].str.contains("health band|NPS|usage|tickets|renewal|onboarding|CES").all()


def test_health_components_and_segments_in_words(demo_small):
    ctx = ReportContext.from_source(demo_small, AS_OF, report="health")
    t = sections.health_components(ctx).tables[-1]
    assert not t["component"].astype(str).str.contains("_").any()
    seg = sections.health_distribution(ctx).tables[-1]["segment"]
    assert "mid-market" in set(seg) and "mid_market" not in set(seg)
    assert isinstance(t, pd.DataFrame)


def test_maturity_first_screen_sentence():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    ctx = ReportContext("maturity", {"as_of": AS_OF, "answers_path": str(repo / "data" / "maturity_answers.yaml"),
                                     "previous_answers_path": str(repo / "data" / "maturity_answers_previous.yaml")})
    html = sections.maturity_summary(ctx).html
    lead = re.search(r'<p class="cs-lead"><strong>(.*?)</strong></p>', html).group(1)
    assert lead.startswith("Customer Success is at level ") and "since the previous assessment" in lead
    assert "(s)" not in lead and "(ies)" not in lead


def test_flat_table_header_says_snapshot_not_as_of():
    from csresearch.reports.notebook import header

    ctx = ReportContext("churn_drivers", {"as_of": AS_OF}, flat=pd.DataFrame({"tenure": [1]}), flat_path="telco.csv")
    text = header(ctx, "Churn drivers report").html
    assert "Snapshot table, no dates" in text and "As of" not in text
    assert "<h1>Churn drivers report: telco.csv</h1>" in text  # not the title of the report on a data source


def test_churn_drivers_say_their_hazard_ratios_are_adjusted(demo_small):
    """Retention's unadjusted curves and the adjusted hazard ratios can disagree: the report says so."""
    from csresearch.reports.sections.drivers import adjusted_sentence

    ctx = ReportContext.from_source(demo_small, AS_OF, report="churn_drivers")
    text = adjusted_sentence(ctx)
    assert text.startswith("These hazard ratios are adjusted: each compares customers who are alike")
    assert "support tickets" in text and "unadjusted" in text and "both can be right" in text
    assert "These hazard ratios are adjusted" in sections.drivers_hazard_ratios(ctx).html
    assert "These hazard ratios are adjusted, holding the other terms fixed." in sections.drivers_summary(ctx).html


def test_churn_drivers_model_count_is_not_called_customers(demo_small):
    """'Customers' next to 'Active customers on <as_of>' would be two numbers for one word."""
    ctx = ReportContext.from_source(demo_small, AS_OF, report="churn_drivers")
    html = sections.drivers_summary(ctx).html
    assert "Customers in the model" in html and "past and present customers" in html


def test_summary_gives_the_renewal_rate_per_contract_term(retention, demo_small):
    # one monthly renewal rate hides annual contracts: the summary gives each term apart
    from csresearch.metrics.renewals import renewal_by_term

    ctx, out = retention
    t = renewal_by_term(demo_small.df("subscriptions"), AS_OF)
    text = _text(out["summary"])
    assert "Renewal by contract term, January 2025 to December 2025:" in text
    for term, r in t.iterrows():
        assert f"{term} contracts {nv.pct(r['renewal_rate'])}" in text
        assert ctx.summary[f"renewal_rate_{term}_12m"] == pytest.approx(r["renewal_rate"])


def test_churn_drivers_say_in_words_who_the_model_leaves_out(demo_small):
    """Customers without a model input are named in words with their share, not as a column code."""
    import numpy as np

    from csresearch.reports.sections.drivers import data

    ctx = ReportContext.from_source(demo_small, AS_OF, report="churn_drivers")
    d = data(ctx)
    d.df.loc[d.df.index[:3], "nps_first"] = np.nan  # the context's own table (memoised): three without
    text = _text(sections.drivers_summary(ctx))
    assert f"3 of {len(d.df):,} past and present customers" in text
    assert "are not in the model: an input is missing or unreadable (3 with no first NPS answer)" in text
    assert "nps_first" not in text and "dropped" not in text


def test_signal_ladder_counts_the_active_customers_of_its_day(demo_small):
    """The ladder starts from the one active-customers figure of its day, then says how many of
    them it follows (first stays with a score) and who the others are, and that its churn counts
    those who came back."""
    from csresearch.data import timeline
    from csresearch.reports.sections.health import outcomes

    ctx = ReportContext.from_source(demo_small, AS_OF, report="health")
    text = _text(sections.health_signal_ladder(ctx))
    out = outcomes(ctx)
    date = out.attrs["date"]
    total = timeline.active_customers(demo_small, date)
    assert f"Of the {total:,} active customers on {date}" in text
    returned = total - len(out) - out.attrs.get("unscored", 0)
    assert returned > 0  # this demo has customers in a second stay on that day
    assert f"the {len(out):,} followed here ({returned:,} had come back after churning" in text
    assert "counting those who came back later" in text


def test_carried_calls_are_split_into_this_weeks_and_the_ones_that_wait():
    """A call carried from last week is either one of this week's calls or waits: never both."""
    from csresearch.reports.sections.health_worklist import _waiting

    wl = pd.DataFrame({"status": ["waiting", "waiting", "waiting", "new", "waiting"],
                       "queue": ["owner", "owner", "pooled", "owner", "digital"],
                       "within_capacity": [True, False, False, True, True]})
    assert _waiting(wl) == "; 1 of this week's calls was on the list a week earlier, 2 earlier calls wait their turn"
    assert _waiting(wl.iloc[[0, 3]]) == "; 1 of this week's calls was on the list a week earlier"
    assert _waiting(wl.iloc[[3, 4]]) == ""


def test_health_bands_are_stated_with_their_cut_offs(tmp_path):
    """A reader sees red 35.1 beside yellow 31.7 only with the cut-offs and the hysteresis said."""
    from csresearch.reports.sections.health_data import band_words

    ctx = ReportContext("health", {"as_of": AS_OF})
    assert band_words(ctx) == "red under 40, yellow 40 to 70, green 70 and over"
    assert band_words(ctx, 10).endswith("(with hysteresis, a yellow account stays yellow down to 30)")
    from csresearch.health.config import default_config_path

    cfg = tmp_path / "h.yaml"
    text = default_config_path().read_text(encoding="utf-8")
    cfg.write_text(text.replace("red: [0, 40]", "red: [0, 30]").replace("yellow: [40, 70]", "yellow: [30, 70]"))
    ctx = ReportContext("health", {"as_of": AS_OF, "health_config_path": str(cfg)})
    assert band_words(ctx) == "red under 30, yellow 30 to 70, green 70 and over"


def test_churn_drivers_first_screen_names_who_to_call_first(demo_small):
    """The summary opens with the customers with the most revenue at stake, their segment and CSM,
    the same as the top of the at-risk list."""
    from csresearch.reports.present import labels
    from csresearch.reports.sections.drivers_predict import predictions

    ctx = ReportContext.from_source(demo_small, AS_OF, report="churn_drivers")
    text = " ".join(_text(sections.drivers_summary(ctx)).split())
    head = "Summary Call first (most revenue at stake; the list under 'Active customers at risk'): "
    assert text.startswith(head)
    top = predictions(ctx).nlargest(1, "revenue_at_stake_365")["account_id"].iloc[0]
    acc = demo_small.df("accounts").set_index("account_id").loc[top]
    assert text[len(head):].startswith(f"{acc['name']} ({labels.value(acc['segment'])}, {acc['csm_owner']}): ")
    html = sections.drivers_at_risk(ctx).html
    assert ">CSM<" in html and ">segment<" in html
