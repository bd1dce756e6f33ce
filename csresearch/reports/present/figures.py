"""Figures shared by the reports: one style, titles, labelled axes with units, print-readable.

Every function draws on ``ax`` (or a new figure) and returns the matplotlib ``Axes``. Inputs
are never modified. Colours come from seaborn's colour-blind palette; text is at least 9 pt.

Example
-------
>>> ax = bar(pd.Series({"price": 12, "product": 30}), "Churned accounts by reason",
...          xlabel="churned accounts", ylabel="reason")  # doctest: +SKIP
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, PercentFormatter

from csresearch.reports.present import words as nv

PALETTE = "colorblind"
GOOD, BAD, NEUTRAL = "#029e73", "#d55e00", "#0173b2"
BANDS = {"red": "#d55e00", "yellow": "#e0a400", "green": "#029e73"}


def apply_style() -> None:
    """The reports' style: white grid, colour-blind palette, print-sized fonts."""
    sns.set_theme(style="whitegrid", palette=PALETTE, context="notebook", font_scale=0.95)
    plt.rcParams.update(
        {
            "figure.figsize": (8, 4.2),
            "figure.dpi": 100,
            "savefig.dpi": 110,
            "axes.titlesize": 12,
            "axes.titleweight": "bold",
            "axes.labelsize": 10,
            "xtick.labelsize": 9,
            "ytick.labelsize": 9,
            "legend.fontsize": 9,
            "figure.autolayout": False,
        }
    )


def _ax(ax: Axes | None, size: tuple[float, float] = (8, 4.2)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def money_axis(ax: Axes, axis: str = "y", symbol: str = "$") -> None:
    """Money ticks in compact form ($12 k)."""
    f = FuncFormatter(lambda v, _: nv.currency(v, symbol, short=True))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(f)


def pct_axis(ax: Axes, axis: str = "y", decimals: int = 0) -> None:
    """Fractions shown as percentages."""
    f = PercentFormatter(1.0, decimals=decimals)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(f)


#: ratio ticks in order of preference: 1, then the 1-2-5 steps, then the in-betweens
RATIO_TICKS = (1.0, 0.5, 2.0, 0.1, 10.0, 0.2, 5.0, 0.05, 20.0, 0.02, 50.0, 0.25, 4.0, 0.75, 1.5, 3.0, 0.3,
               0.4, 0.6, 0.8, 1.25, 1.75, 0.9, 1.1, 0.7)
FINE_RATIO_TICKS = RATIO_TICKS  # kept for callers; the spacing rule below does the thinning


def ratio_ticks(lo: float, hi: float, max_ticks: int = 9) -> list[float]:
    """Plain ratio ticks between ``lo`` and ``hi`` for a log axis, no two closer than a tenth of the
    span (in log terms) so that neighbours never print on top of each other ("0.20.25")."""
    lo, hi = max(lo, 1e-6), max(hi, lo * 1.0001)
    span = np.log10(hi / lo)
    gap = max(span / max_ticks, 0.04)
    chosen: list[float] = []
    for t in RATIO_TICKS:
        if lo <= t <= hi and all(abs(np.log10(t / c)) >= gap for c in chosen):
            chosen.append(t)
    return sorted(chosen) or [1.0]


def ratio_axis(ax: Axes, axis: str = "x") -> Axes:
    """Plain ratio ticks (0.5, 1, 2) on a log-scaled axis, not ``6 x 10^-1``, spaced apart."""
    a = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    a.set_major_locator(FixedLocator(ratio_ticks(lo, hi)))
    a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    a.set_minor_formatter(NullFormatter())
    return ax


def label(ax: Axes, title: str, xlabel: str, ylabel: str) -> Axes:
    ax.set_title(title, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def bridge(row: Mapping[str, float], title: str, symbol: str = "$", ax: Axes | None = None) -> Axes:
    """Waterfall of one period's MRR bridge (start, new, expansion, reactivation, contraction,
    churn, end) from a row of :func:`csresearch.metrics.revenue.mrr_bridge`."""
    ax = _ax(ax)
    steps = [
        ("Start", float(row["mrr_start"]), "total"),
        ("New", float(row["mrr_new"]), "up"),
        ("Expansion", float(row["mrr_expansion"]), "up"),
        ("Reactivation", float(row["mrr_reactivation"]), "up"),
        ("Contraction", -float(row["mrr_contraction"]), "down"),
        ("Churn", -float(row["mrr_churned"]), "down"),
        ("End", float(row["mrr_end"]), "total"),
    ]
    level = 0.0
    for i, (_name, v, kind) in enumerate(steps):
        if kind == "total":
            bottom, height, colour = 0.0, v, NEUTRAL
            level = v
        else:
            bottom = level if v >= 0 else level + v
            height, colour = abs(v), GOOD if v >= 0 else BAD
            level += v
        ax.bar(i, height, bottom=bottom, color=colour, width=0.65)
        shown = nv.currency(v, symbol, short=True) if kind == "total" else (
            ("+" if v >= 0 else "") + nv.currency(v, symbol, short=True)
        )
        ax.annotate(shown, (i, bottom + height), ha="center", va="bottom", fontsize=9,
                    xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(steps)), [s[0] for s in steps])
    lo = min(float(row["mrr_start"]), float(row["mrr_end"]))
    hi = max(level, float(row["mrr_start"])) + max(s[1] for s in steps[1:4])
    ax.set_ylim(max(0.0, lo - (hi - lo) * 1.5 - 0.02 * hi), hi * 1.02 + 1)
    money_axis(ax, symbol=symbol)
    return label(ax, title, "", f"MRR ({symbol} per month; axis not from 0)")


def trend(
    df: pd.DataFrame, x: str, ys: Mapping[str, str], title: str, ylabel: str,
    kind: str = "pct", ax: Axes | None = None,
) -> Axes:
    """Lines over periods: ``ys`` maps column -> legend label; ``kind`` 'pct' or 'currency'."""
    ax = _ax(ax)
    for col, name in ys.items():
        ax.plot(df[x], df[col], marker="o", markersize=3, label=name)
    if kind == "pct":
        pct_axis(ax, decimals=1)
    elif kind == "currency":
        money_axis(ax)
    if len(ys) > 1:
        ax.legend(frameon=False)
    return label(ax, title, "period start", ylabel)


def heatmap(
    matrix: pd.DataFrame, title: str, xlabel: str, ylabel: str, vmax: float | None = 1.0,
    ax: Axes | None = None, annotate: bool = False,
) -> Axes:
    """A retention heatmap (rows = cohorts, columns = months since start), values as %."""
    h = max(3.5, min(9.0, 0.22 * len(matrix) + 1.5))
    ax = _ax(ax, (9, h))
    m = matrix.copy()
    if isinstance(m.index, pd.DatetimeIndex):
        m.index = m.index.strftime("%Y-%m")
    sns.heatmap(
        m, ax=ax, cmap="viridis", vmin=0, vmax=vmax, annot=annotate, fmt=".0%",
        cbar_kws={"label": "retained (%)", "format": PercentFormatter(1.0, decimals=0)},
    )
    return label(ax, title, xlabel, ylabel)


def bar(
    values: pd.Series, title: str, xlabel: str, ylabel: str, kind: str = "count",
    ax: Axes | None = None, color: str | Sequence[str] | None = None, sort: bool = True,
) -> Axes:
    """Horizontal bars, each labelled with its value: largest on top (``sort``) or in the
    given order, first on top."""
    s = values.sort_values() if sort else values.iloc[::-1]
    ax = _ax(ax, (8, max(2.5, 0.35 * len(s) + 1.2)))
    ax.barh([str(i) for i in s.index], s.to_numpy(dtype=float), color=color or NEUTRAL)
    for y, v in enumerate(s.to_numpy(dtype=float)):
        ax.annotate(nv.fmt(v, kind), (v, y), va="center", ha="left" if v >= 0 else "right", fontsize=9,
                    xytext=(5 if v >= 0 else -5, 0), textcoords="offset points")
    if (s < 0).any():
        ax.axvline(0, color="grey", lw=1)
        if (s > 0).any():  # labels of short bars of either sign would sit on the zero line's other side
            ax.margins(x=0.2)
    if kind == "pct":
        pct_axis(ax, "x")
    elif kind == "currency":
        money_axis(ax, "x")
    ax.margins(x=0.15)
    return label(ax, title, xlabel, ylabel)


def grouped_bar(
    df: pd.DataFrame, x: str, hue: str, y: str, title: str, xlabel: str, ylabel: str,
    kind: str = "count", ax: Axes | None = None, palette: Mapping[str, str] | None = None,
    hue_order: Sequence[str] | None = None,
) -> Axes:
    """Bars of ``y`` by ``x`` split by ``hue`` (long-format ``df``)."""
    ax = _ax(ax)
    sns.barplot(data=df, x=x, y=y, hue=hue, ax=ax, errorbar=None, palette=palette, hue_order=hue_order)
    names = [t.get_text() for t in ax.get_xticklabels()]
    slot = ax.figure.get_figwidth() * 0.85 / max(len(names), 1)  # inches per category
    chars = max(6, int(slot * 72 / 5.5))  # about 5.5 pt per character at 9 pt
    if max((len(n) for n in names), default=0) > chars:  # long names: wrapped on words, never overlapping
        ax.set_xticks(ax.get_xticks(), [textwrap.fill(n, chars, break_long_words=False) for n in names])
    if kind == "pct":
        pct_axis(ax)
    elif kind == "currency":
        money_axis(ax)
    ax.legend(title=hue.replace("_", " "), frameon=False)
    return label(ax, title, xlabel, ylabel)


def histogram(
    values: pd.Series, title: str, xlabel: str, ylabel: str = "accounts", bins: int | Sequence = 20,
    hue: pd.Series | None = None, ax: Axes | None = None, hue_label: str = "group",
) -> Axes:
    """Distribution of one measure (optionally split by ``hue``, named ``hue_label``)."""
    ax = _ax(ax)
    frame = pd.DataFrame({"value": np.asarray(values, dtype=float)})
    if hue is not None:
        frame[hue_label] = np.asarray(hue).astype(str)
    sns.histplot(frame, x="value", hue=hue_label if hue is not None else None, bins=bins, ax=ax,
                 element="step", stat="count", common_norm=False)
    return label(ax, title, xlabel, ylabel)


def km(
    curves: pd.DataFrame, title: str, xlabel: str = "months since first subscription",
    ax: Axes | None = None, scale: float = 1.0, palette: Mapping[str, str] | None = None,
    order: Sequence[str] | None = None,
) -> Axes:
    """Kaplan-Meier step curves with bands, from :func:`csresearch.survival.curves.km_curve`
    (``scale`` divides the time axis, e.g. days -> months; ``palette`` colours groups by name,
    ``order`` orders the legend)."""
    ax = _ax(ax)
    groups = dict(tuple(curves.groupby("group", sort=True)))
    names = [g for g in (order or []) if g in groups] + [g for g in groups if g not in (order or [])]
    for g in names:
        c = groups[g]
        t = c["time"].to_numpy(float) / scale
        colour = (palette or {}).get(str(g))
        line = ax.step(t, c["survival"], where="post", label=str(g), color=colour)[0]
        ax.fill_between(t, c["lower"], c["upper"], step="post", alpha=0.15, color=line.get_color())
    ax.set_ylim(0, 1.02)
    pct_axis(ax)
    ax.legend(frameon=False, title=None)
    return label(ax, title, xlabel, "still a customer (%)")
