"""HTML tables and sections: escaped, sorted, bounded, formatted."""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from csresearch.reports.present.tables import Section, cards, format_frame, table

EVIL = "<script>alert(1)</script> Testing & Co."


def test_names_are_escaped_in_cells_headers_captions_and_sections():
    df = pd.DataFrame({"name": [EVIL], "<b>col</b>": [1]})
    html = table(df, caption=EVIL).html
    assert "<script>" not in html and "<b>col</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Testing &amp; Co." in html
    s = Section(EVIL).text(EVIL).bullets([EVIL]).note(EVIL).unavailable(EVIL, EVIL)
    assert "<script>" not in s.html
    assert "<script>" not in cards([(EVIL, EVIL, EVIL)]).html


def test_sorted_bounded_with_a_line_saying_how_many_more():
    df = pd.DataFrame({"account": [f"a{i}" for i in range(25)], "mrr": list(range(25))})
    html = table(df, sort_by="mrr", formats={"mrr": "currency"}, what="accounts").html
    assert html.count("<tr>") == 21  # header + 20 rows
    assert "Showing the top 20 of 25 accounts, sorted by MRR; 5 more not shown." in html
    assert html.index("$24") < html.index("$23")  # largest first
    assert "a4<" not in html and "a5<" in html  # 24..5 shown, 4..0 cut


def test_small_table_has_no_more_line_and_empty_table_says_so():
    assert "more not shown" not in table(pd.DataFrame({"x": [1, 2]})).html
    assert "No rows." in table(pd.DataFrame({"x": []})).html


def test_formats_and_missing_values():
    df = pd.DataFrame({"rate": [0.0214, None], "n": [12345, 3], "when": pd.to_datetime(["2025-11-01", None])})
    out = format_frame(df, {"rate": "pct"})
    assert out["rate"].tolist() == ["2.1 %", "n/a"]
    assert out["n"].tolist() == ["12,345", "3"]
    assert out["when"].tolist() == ["2025-11-01", "n/a"]


def test_input_untouched():
    df = pd.DataFrame({"a": [3, 1, 2]})
    before = df.copy()
    table(df, sort_by="a", top=1)
    pd.testing.assert_frame_equal(df, before)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)


@settings(max_examples=80, deadline=None)
@given(st.text(), st.text())
def test_any_text_only_ever_yields_fixed_tags(cell, title):
    html = table(pd.DataFrame({title or "x": [cell]}), caption=title).html + Section(title).text(cell).html
    parser = _Tags()
    parser.feed(html)
    assert parser.tags <= {"div", "table", "thead", "tbody", "tr", "th", "td", "p", "section", "h2"}


def test_more_line_states_a_given_order():
    df = pd.DataFrame({"x": range(30)})
    html = table(df, what="calls to action", order="most urgent first").html
    # a given order is not a ranking: "first", not "top" (a time series newest first is no "top 12")
    assert "Showing the first 20 of 30 calls to action (most urgent first); 10 more not shown." in html
    assert "Showing the top" not in html


def test_code_names_get_default_headers_and_a_sections_labels_win():
    import pandas as pd

    from csresearch.reports.present.tables import table

    df = pd.DataFrame({"account_id": ["A1"], "mrr": [100.0], "other_col": [1]})
    html = table(df, top=None).html
    assert ">account<" in html and ">MRR<" in html and ">other_col<" in html and ">account_id<" not in html
    assert ">customer<" in table(df, top=None, labels={"account_id": "customer"}).html
