"""HTML for reports: bounded, formatted, escaped tables and report sections.

Every piece of text that reaches a report goes through :func:`esc` (``html.escape`` with
quotes) or pandas ``to_html(escape=True)``: a customer named
``<script>alert(1)</script> Testing & Co.`` shows as that text and runs nothing. HTML is
only ever assembled from escaped strings and fixed tags.

Tables are sorted, bounded to the top ``top`` rows (20 by default; the first ones when the
table keeps its given order) with a line saying how many more there are, and their numbers formatted (:mod:`csresearch.reports.present.words`).

Example
-------
>>> t = table(pd.DataFrame({"name": ["<b>x</b>"], "mrr": [1234.5]}), formats={"mrr": "currency"})
>>> "&lt;b&gt;x&lt;/b&gt;" in t.html and "$1,234" in t.html
True
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from csresearch.reports.present import words as nv
from csresearch.reports.present.labels import HEADERS

TOP = 20
UNAVAILABLE = "Not available in this version"

FORMATTERS: dict[str, Callable[[Any], str]] = {
    "pct": nv.pct,
    "pct_signed": lambda x: nv.pct(x, signed=True),
    "points": nv.points,
    "currency": nv.currency,
    "int": nv.thousands,
    "count": nv.thousands,
    "float1": lambda x: nv.number(x, 1),
    "float2": lambda x: nv.number(x, 2),
    "float3": lambda x: nv.number(x, 3),
    "p": lambda x: nv.p_value(x).replace("p = ", "").replace("p ", ""),
    "months": lambda x: nv.number(x, 1),
    "date": lambda x: nv.NA if nv.is_missing(x) else pd.Timestamp(x).strftime("%Y-%m-%d"),
    "month": lambda x: nv.NA if nv.is_missing(x) else pd.Timestamp(x).strftime("%b %Y"),
    "text": lambda x: "" if nv.is_missing(x) else str(x),
}


def esc(text: object) -> str:
    """``html.escape(str(text), quote=True)``: the only way text enters report HTML."""
    return html.escape("" if text is None else str(text), quote=True)


class Html:
    """A fragment of already-safe HTML that notebooks display (``_repr_html_``)."""

    def __init__(self, html_text: str) -> None:
        self.html = html_text

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


def format_frame(df: pd.DataFrame, formats: Mapping[str, str | Callable] | None = None) -> pd.DataFrame:
    """A copy of ``df`` with every cell as display text (numbers formatted, missing as ``n/a``)."""
    formats = dict(formats or {})
    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        f = formats.get(col)
        if f is None:
            s = df[col]
            if pd.api.types.is_bool_dtype(s):
                f = lambda x: "yes" if x else "no"  # noqa: E731
            elif pd.api.types.is_integer_dtype(s):
                f = "int"
            elif pd.api.types.is_float_dtype(s):
                f = "float2"
            elif pd.api.types.is_datetime64_any_dtype(s):
                f = "date"
            else:
                f = "text"
        fn = FORMATTERS[f] if isinstance(f, str) else f
        out[col] = [fn(v) if not (nv.is_missing(v) and f != "text") else nv.NA for v in df[col]]
    return out


def _column_class(col: pd.Series, fmt: object) -> str:
    """'num' (right-aligned), 'nw' (dates: no wrapping) or '' (text)."""
    if isinstance(fmt, str):
        return "nw" if fmt in ("date", "month") else "" if fmt == "text" else "num"
    if pd.api.types.is_datetime64_any_dtype(col):
        return "nw"
    return "num" if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col) else ""


def _html_table(text: pd.DataFrame, classes: Sequence[str], headers: Sequence[object]) -> str:
    """A table from display text: every header and cell escaped; numeric columns right-aligned."""
    cls = [f' class="{c}"' if c else "" for c in classes]
    head = "".join(f"<th{c}>{esc(h)}</th>" for c, h in zip(cls, headers, strict=True))
    rows = "".join(
        "<tr>" + "".join(f"<td{c}>{esc(v)}</td>" for c, v in zip(cls, row, strict=True)) + "</tr>"
        for row in text.itertuples(index=False, name=None)
    )
    return f'<table class="cs-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def table(
    df: pd.DataFrame,
    formats: Mapping[str, str | Callable] | None = None,
    sort_by: str | Sequence[str] | None = None,
    ascending: bool | Sequence[bool] = False,
    top: int | None = TOP,
    caption: str | None = None,
    labels: Mapping[str, str] | None = None,
    index: bool = False,
    what: str = "rows",
    order: str | None = None,
) -> Html:
    """An escaped HTML table: sorted, the top ``top`` rows, numbers formatted.

    Parameters
    ----------
    df
        The data (left untouched).
    formats
        Column -> kind (``pct``, ``currency``, ``int``, ``float1`` .. ``float3``, ``p``,
        ``date``, ``month``, ``text``) or a function value -> text; other columns by dtype.
    sort_by, ascending
        Sort before cutting (None keeps the given order).
    top
        Rows shown; the rest are counted in a line under the table (None shows all).
    labels
        Column -> header shown (default: :data:`csresearch.reports.present.labels.HEADERS`, else
        the column's name).
    what
        What a row is, for the "n more" line (``"accounts"``).
    order
        How the given order is sorted, for the "n more" line when ``sort_by`` is None.
    """
    labels = {**HEADERS, **(labels or {})}
    d = df
    if index:
        d = d.reset_index()
    if sort_by is not None:
        d = d.sort_values(sort_by, ascending=ascending, kind="mergesort")
    n = len(d)
    shown = d.head(top) if top is not None else d
    text = format_frame(shown, formats)
    body = _html_table(text, classes=[_column_class(d[c], (formats or {}).get(c)) for c in d.columns],
                       headers=[labels.get(c, c) for c in d.columns])
    parts = []
    if caption:
        parts.append(f'<p class="cs-caption">{esc(caption)}</p>')
    parts.append(body)
    if top is not None and n > top:
        how = f" ({order})" if order else ""
        first = "first"  # the given order (newest period first, most urgent first): not a ranking
        if sort_by is not None:
            first = "top"
            keys = [sort_by] if isinstance(sort_by, str) else list(sort_by)
            keys = [labels.get(k, k) for k in keys]
            how = f", sorted by {nv.join_words(keys)}"
        parts.append(
            f'<p class="cs-more">Showing the {first} {top:,} of {n:,} {esc(what)}{esc(how)}; '
            f"{n - top:,} more not shown.</p>"
        )
    if n == 0:
        parts.append(f'<p class="cs-more">No {esc(what)}.</p>')
    return Html('<div class="cs-table-wrap">' + "".join(parts) + "</div>")


def figure_html(fig: Any, alt: str, dpi: int = 110) -> Html:
    """A matplotlib figure as an embedded PNG (``<img alt=...>``); the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return Html(f'<figure class="cs-figure"><img alt="{esc(alt)}" src="data:image/png;base64,{data}"/></figure>')


def cards(items: Sequence[tuple[str, str, str]]) -> Html:
    """Headline figures: (label, value, one line below it) each, all escaped."""
    cells = "".join(
        f'<div class="cs-card"><div class="cs-card-label">{esc(label)}</div>'
        f'<div class="cs-card-value">{esc(value)}</div>'
        f'<div class="cs-card-sub">{esc(sub)}</div></div>'
        for label, value, sub in items
    )
    return Html(f'<div class="cs-cards">{cells}</div>')


class Section:
    """A report section built piece by piece, shown as one block of escaped HTML.

    Example
    -------
    >>> s = Section("Churn by reason").text("Most churn was about <price>.")
    >>> "&lt;price&gt;" in s.html
    True
    """

    def __init__(self, title: str | None = None, level: int = 2) -> None:
        self.title = title
        self.level = level
        self.parts: list[str] = []
        self.figures: int = 0
        self.tables: list[pd.DataFrame] = []
        self.missing: list[str] = []

    def text(self, *paragraphs: str) -> Section:
        for p in paragraphs:
            self.parts.append(f"<p>{esc(p)}</p>")
        return self

    def heading(self, text: str, level: int = 3) -> Section:
        self.parts.append(f"<h{level}>{esc(text)}</h{level}>")
        return self

    def bullets(self, items: Sequence[str]) -> Section:
        if items:
            self.parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")
        return self

    def note(self, text: str) -> Section:
        self.parts.append(f'<p class="cs-note">{esc(text)}</p>')
        return self

    def unavailable(self, what: str, why: str = "the analysis module is not part of this version") -> Section:
        """A clearly stated gap: never a fake number."""
        self.missing.append(what)
        self.parts.append(f'<p class="cs-unavailable">{esc(UNAVAILABLE)}: {esc(what)} ({esc(why)}).</p>')
        return self

    def figure(self, fig_or_ax: Any, alt: str) -> Section:
        fig = fig_or_ax.figure if hasattr(fig_or_ax, "figure") and not hasattr(fig_or_ax, "savefig") else fig_or_ax
        self.parts.append(figure_html(fig, alt).html)
        self.figures += 1
        return self

    def table(self, df: pd.DataFrame, **kw: Any) -> Section:
        self.tables.append(df)
        self.parts.append(table(df, **kw).html)
        return self

    def add(self, fragment: Html) -> Section:
        self.parts.append(fragment.html)
        return self

    @property
    def html(self) -> str:
        head = f"<h{self.level}>{esc(self.title)}</h{self.level}>" if self.title else ""
        return f'<section class="cs-section">{head}{"".join(self.parts)}</section>'

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:  # the plain-text fallback never shows HTML source
        return f"Section({self.title!r})"
