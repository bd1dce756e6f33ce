"""The maturity radar: one spoke per capability, levels 1..4 outwards.

Example
-------
>>> ax = radar(assess({k: 2 for k in load_questionnaire().keys}))  # doctest: +SKIP
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.axes import Axes

from csresearch.maturity.assess import Assessment


def radar(
    assessment: Assessment,
    previous: Assessment | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw the capability levels on a polar Axes (the previous assessment dashed) and return it.

    Parameters
    ----------
    assessment
        The current :class:`Assessment`.
    previous
        An earlier assessment drawn as a dashed outline; when None and the assessment was
        compared with previous answers, those previous levels are drawn.
    ax
        A polar Axes to draw on; a new figure is made when None.
    title
        Default: "CS maturity: overall level N Name".
    """
    import matplotlib.pyplot as plt

    q = assessment.questionnaire
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7), subplot_kw={"projection": "polar"})
    elif getattr(ax, "name", "") != "polar":
        raise ValueError("radar needs a polar Axes: plt.subplots(subplot_kw={'projection': 'polar'})")
    keys = q.keys
    n = len(keys)
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    closed = np.append(angles, angles[0])

    def ring(levels: dict[str, int]) -> np.ndarray:
        vals = np.array([levels[k] for k in keys], dtype=float)
        return np.append(vals, vals[0])

    prev_levels = None
    if previous is not None:
        prev_levels = previous.level_map
    elif assessment.changes is not None:
        ch = assessment.changes.set_index("capability")["previous"]
        prev_levels = {k: int(ch[k]) for k in keys}
    if prev_levels is not None:
        ax.plot(closed, ring(prev_levels), linestyle="--", color="grey", linewidth=1.5, label="previous")
    cur = ring(assessment.level_map)
    ax.plot(closed, cur, color="tab:blue", linewidth=2, label="current")
    ax.fill(closed, cur, color="tab:blue", alpha=0.25)
    ax.set_theta_offset(np.pi / 2)
    ax.set_theta_direction(-1)
    ax.set_xticks(angles)
    ax.set_xticklabels([textwrap.fill(c.name, 16) for c in q.capabilities], fontsize=8)
    ax.tick_params(axis="x", pad=10)  # capability names clear of the outer ring
    ax.set_ylim(0, q.max_level)
    ax.set_yticks(range(1, q.max_level + 1))
    # ring labels are the level numbers only, inside the rings, half-way between the first two spokes
    # (their names go in the caption below: long names ran into the capability names)
    ax.set_yticklabels([str(lv.level) for lv in q.levels], fontsize=7, color="dimgrey")
    ax.set_rlabel_position(180 / n)
    for t in ax.get_yticklabels():
        t.set_verticalalignment("top")
    rings = "; ".join(f"{lv.level} {lv.name}" for lv in q.levels)
    ax.text(0.5, -0.1, f"Rings: level {rings} (centre to edge)", transform=ax.transAxes, ha="center",
            va="top", fontsize=8, color="dimgrey")
    ax.set_title(title or f"CS maturity: overall level {assessment.overall} {assessment.overall_name}", pad=30)
    if prev_levels is not None:
        ax.legend(loc="upper right", bbox_to_anchor=(1.3, 1.15), fontsize=8)
    return ax
