"""Overlap check for report figures: no two drawn texts (tick labels, titles, value labels,
legend entries) overlap, and no value label touches a bar, at the size the report saves.

The texts are those matplotlib actually draws (``Text.draw`` is wrapped while the figure is
drawn at the report's dpi), with their renderer bounding boxes in pixels.
"""

from __future__ import annotations

from unittest import mock

from matplotlib.patches import Rectangle
from matplotlib.text import Text

SAVE_DPI = 110  # csresearch.reports.present.tables.figure_html saves at this dpi
TOL = 0.5  # pixels of overlap allowed (anti-aliasing)
GAP = 1.0  # pixels a value label keeps from its bar


def drawn_texts(fig, dpi: int = SAVE_DPI) -> list[tuple[Text, object]]:
    """Every non-empty text drawn in ``fig`` at ``dpi`` and its window extent."""
    seen: list[tuple[Text, object]] = []
    original = Text.draw

    def draw(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            seen.append((self, self.get_window_extent(renderer)))

    fig.set_dpi(dpi)
    with mock.patch.object(Text, "draw", draw):
        fig.canvas.draw()
    return seen


def _overlap(a, b, tol: float = TOL) -> bool:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w > tol and h > tol


def overlaps(fig, dpi: int = SAVE_DPI) -> list[str]:
    """Descriptions of every overlapping pair of texts and every value label touching a bar."""
    texts = drawn_texts(fig, dpi)
    out = []
    for i, (t1, b1) in enumerate(texts):
        for t2, b2 in texts[i + 1:]:
            if _overlap(b1, b2):
                out.append(f"{t1.get_text()!r} overlaps {t2.get_text()!r}")
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() and p.get_height()]
        for t in ax.texts:
            if not (t.get_visible() and t.get_text().strip()):
                continue
            box = t.get_window_extent(renderer).expanded(1, 1)
            box = box.from_extents(box.x0 - GAP, box.y0 - GAP, box.x1 + GAP, box.y1 + GAP)
            for p in bars:
                if _overlap(box, p.get_window_extent(renderer), 0):
                    out.append(f"value label {t.get_text()!r} touches a bar")
    return out


def assert_no_overlap(fig, what: str = "figure") -> None:
    found = overlaps(fig)
    assert not found, f"{what}: " + "; ".join(found[:8])
