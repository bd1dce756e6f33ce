"""The label registry: code names -> words, units, hazard-ratio steps, plurals, conditions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from csresearch.reports.present import labels as L

CODE_NAMES = ("segment[smb]", "usage_trend", "nps_first", "tickets_90d", "days_after_window", "mid_market",
              "usage_level")


def test_names_read_as_words():
    assert L.words("segment[smb]") == "SMB segment"
    assert L.words("segment[mid_market]") == "mid-market segment"
    assert L.words("tickets_90d") == "support tickets in the first 90 days"
    assert L.words("days_after_window") == "days after the first 90 days"
    assert L.value("mid_market") == "mid-market"
    assert L.title("nps_first") == "First NPS answer"
    for name in CODE_NAMES:  # no underscore, no bracket, never the code name itself
        w = L.words(name) if name != "mid_market" else L.value(name)
        assert "_" not in w and "[" not in w and w != name, name


def test_health_components_have_their_own_words():
    assert L.component("usage_trend") == "usage trend against the previous months"  # not the first 90 days
    assert "first 90 days" in L.words("usage_trend")  # the churn-drivers model term
    assert L.component("usage_level") == "usage level (events per day)"


def test_unknown_names_fall_back_to_words():
    assert L.words("monthly_charges") == "monthly charges"
    assert L.words("Contract[One year]") == "Contract: One year"
    assert L.unit("no_such_thing") == ""


def test_hazard_ratios_say_per_what():
    assert L.per("tickets_90d") == "per extra ticket in the first 90 days"
    assert L.per("usage_trend") == "per doubling of usage"  # the term is log2(ratio): +1 = usage doubled
    assert L.per("segment[smb]", "enterprise") == "SMB against enterprise"
    assert L.term("segment[smb]", "enterprise") == "SMB segment (against enterprise)"
    assert L.term("tickets_90d") == "support tickets in the first 90 days (per extra ticket in the first 90 days)"
    assert L.unit("tickets_90d") == "tickets"


@pytest.mark.parametrize(("n", "word", "expected"), [
    (1, "account", "1 account"), (2, "account", "2 accounts"), (0, "account", "0 accounts"),
    (1, "capability", "1 capability"), (3, "capability", "3 capabilities"), (2, "day", "2 days"),
    (2, "churned account", "2 churned accounts"), (1200, "call", "1,200 calls"), (2, "box", "2 boxes"),
])
def test_plurals_are_spelled_out(n, word, expected):
    assert L.plural(n, word) == expected


def test_playbook_conditions_in_words():
    assert L.conditions("band=red; band_prev=yellow") == "health band red; health band last month yellow"
    assert L.conditions("usage_change_pct=-45.2") == "usage change against the previous months -45.2 %"
    assert L.conditions("tickets=7") == "support tickets (recent months) 7 tickets"
    assert L.conditions("") == ""


def test_no_code_plurals_left_in_my_modules():
    """'account(s)' and 'capability(ies)' are gone from the report sections, the maturity CLI
    text and the survival caveats that reports show as notes."""
    root = Path(__file__).resolve().parents[1] / "csresearch"
    files = [root / "maturity" / "assess.py", *(root / "reports" / "sections").glob("[hmr]*.py"),
             root / "health" / "kpi.py", root / "survival" / "predict.py", root / "survival" / "landmark.py"]
    for f in files:
        assert not re.search(r"(?<=\s)[a-z]+\((s|ies)\)", f.read_text()), f


def test_value_key_puts_segments_in_one_order_then_the_rest_then_missing():
    from csresearch.reports.present.labels import value_key

    assert sorted(["missing", "enterprise", "SMB", "zeta", "mid-market", "Alpha"], key=value_key) == \
        ["SMB", "mid-market", "enterprise", "Alpha", "zeta", "missing"]
