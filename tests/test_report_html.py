"""Issue 13 on the rendered HTML of the tiny project's reports (rendered once per session)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.report_fixtures import rendered

pytestmark = pytest.mark.slow
CODE_WORDS = ("segment[", "mid_market", "usage_level", "account(s)", "capability(ies)", "<NA>", "band_prev=")


@pytest.fixture(scope="session")
def out(tmp_path_factory, demo_small_dir) -> Path:
    return rendered(tmp_path_factory.getbasetemp() / "reports_e2e", demo_small_dir)


def _text(path: Path) -> str:
    import html

    raw = re.sub(r"<img[^>]*>", "", path.read_text())
    return html.unescape(re.sub(r"<[^>]+>", " ", raw))


def test_retention_html_shows_monthly_annual_goals_and_survival_in_words(out):
    text = _text(out / "2025-12-31" / "retention.html")
    for must in ("Logo churn (monthly)", "Logo churn, annualised", "GRR, trailing 12 months",
                 "NRR, trailing 12 months", "reactivation", "at each month since the first paid day",
                 "These curves are unadjusted", "Goals by segment: actual against goal", "Median lifetime of all"):
        assert must in text, must
    assert re.search(r"In December 2025 logo churn (rose to|fell to|held at|was) [\d.]+ % a month", text)


@pytest.mark.parametrize("name", ["retention", "health", "maturity"])
def test_no_code_names_in_reports(out, name):
    text = _text(out / "2025-12-31" / f"{name}.html")
    for w in CODE_WORDS:
        assert w not in text, w


def test_retention_summary_json_when_written(out):
    p = out / "2025-12-31" / "retention.json"
    if not p.exists():
        pytest.skip("the summary JSON beside the HTML is written by the render step (another change)")
    s = json.loads(p.read_text())
    s = s.get("summary", s)
    for k in ("logo_churn_monthly", "logo_churn_annualised", "grr_monthly", "nrr_monthly", "grr_trailing_12m",
              "nrr_trailing_12m", "renewal_rate", "goals"):
        assert k in s, k
    assert 0 <= s["logo_churn_monthly"] <= 1
