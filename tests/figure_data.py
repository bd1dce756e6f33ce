"""Report figures as data, to compare two engines' sections cheaply (no PNG): shared by the
PostgreSQL and Spark comparison tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest


def figure_data(fig) -> list:
    """What a figure shows, as words and arrays: compared to 1e-9, and far cheaper than a PNG."""
    out: list = []
    for ax in fig.axes:
        out.append((ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), [t.get_text() for t in ax.texts]))
        out += [np.asarray(line.get_xydata(), float) for line in ax.get_lines()]
        out += [np.asarray(p.get_bbox().bounds, float) for p in ax.patches]
        for c in ax.collections:
            out += [np.asarray(path.vertices, float) for path in c.get_paths()]
            out.append(np.ma.filled(np.ma.asarray(c.get_offsets(), float), np.nan))
        out += [np.ma.filled(np.ma.asarray(im.get_array(), float), np.nan) for im in ax.images]
    return out


@contextmanager
def recording(figures: list) -> Iterator[None]:
    """Within the block, every figure a section adds is appended to ``figures`` as data."""
    import matplotlib.pyplot as plt

    from csresearch.reports.present import tables as display

    def record(fig, alt, dpi=110):
        figures.append(figure_data(fig))
        plt.close(fig)
        return display.Html(f'<figure alt="{display.esc(alt)}"></figure>')

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(display, "figure_html", record)
        yield


def assert_same_figures(a: list[list], b: list[list]) -> None:
    assert len(a) == len(b)
    for fa, fb in zip(a, b, strict=True):
        assert len(fa) == len(fb)
        for x, y in zip(fa, fb, strict=True):
            if isinstance(x, tuple):
                assert x == y
            else:
                np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True)
