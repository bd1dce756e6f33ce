"""Numbers in words: hand-checked strings."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csresearch.reports.present import words as nv


def test_percent_and_points():
    assert nv.pct(0.0214) == "2.1 %"
    assert nv.pct(0.0214, signed=True) == "+2.1 %"
    assert nv.pct(-0.00001) == "0.0 %"  # no "-0.0"
    assert nv.pct(1.2346) == "123.5 %"
    assert nv.pct(float("nan")) == "n/a"
    assert nv.pct(None) == "n/a"
    assert nv.points(-0.003) == "0.3 points"
    assert nv.points(0.01) == "1.0 point"


def test_money_and_thousands():
    assert nv.thousands(12345.6) == "12,346"
    assert nv.thousands(-0.4) == "0"
    assert nv.currency(1234.5) == "$1,234"  # half to even
    assert nv.currency(-1234.6) == "-$1,235"
    assert nv.currency(1_234_567, short=True) == "$1.2 M"
    assert nv.currency(12_300, "€", short=True) == "€12.3 k"
    assert nv.compact(999) == "999"
    assert nv.currency(None) == "n/a"


def test_p_values_and_plural():
    assert nv.p_value(0.0004) == "p < 0.001"
    assert nv.p_value(0.0421) == "p = 0.042"
    assert nv.plural(1, "account") == "1 account"
    assert nv.plural(1200, "account") == "1,200 accounts"
    assert nv.join_words(["a", "b", "c"]) == "a, b and c"


def test_period_labels():
    assert nv.period_label("2025-11-01") == "November 2025"
    assert nv.period_label("2025-10-01", "quarter") == "Q4 2025"
    assert nv.previous_label("2025-10-01", "2025-11-01") == "October"
    assert nv.previous_label("2024-12-01", "2025-01-01") == "December 2024"


def test_change_sentence_the_example_from_the_issue():
    # 2.1 % - 2.4 % = -0.3 points
    s = nv.change_sentence("Logo churn", 0.021, 0.024, "2025-11-01")
    assert s == "Logo churn was 2.1 % in November 2025, 0.3 points lower than in October."


def test_change_sentence_kinds():
    assert nv.change_sentence("GRR", 0.95, 0.95, "2025-11-01").endswith("the same as in October.")
    assert nv.change_sentence("Customers", 1200, 1150, "2025-01-01", kind="count") == (
        "Customers was 1,200 in January 2025, 50 more than in December 2024."
    )
    assert "40 fewer" in nv.change_sentence("Customers", 1110, 1150, "2025-01-01", kind="count")
    assert "$250 less" in nv.change_sentence("MRR", 1000, 1250, "2025-03-01", kind="currency")
    assert "Q3 2025" in nv.change_sentence("NRR", 1.01, 0.99, "2025-07-01", grain="quarter")
    assert "no figure for October" in nv.change_sentence("GRR", 0.9, None, "2025-11-01")
    assert "not available" in nv.change_sentence("GRR", math.nan, 0.9, "2025-11-01")


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False))
def test_currency_round_trips_its_magnitude(x):
    text = nv.currency(x)
    assert text.replace("$", "").replace(",", "").replace("-", "").isdigit()
    assert abs(int(text.replace("$", "").replace(",", "").replace("-", "")) - abs(x)) <= 0.5 + 1e-6 * abs(x)


@pytest.mark.parametrize("x", [0.0, 0.5, 1.0, 0.123456])
def test_pct_has_one_decimal(x):
    assert nv.pct(x).split(" ")[0].split(".")[1].__len__() == 1
