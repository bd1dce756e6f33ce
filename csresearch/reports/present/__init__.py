"""Presentation for reports and the command line: tables, numbers in words, figures, labels.

Modules (imported lazily: ``from csresearch.reports.present import pct`` works, and importing
the package alone loads none of them, so neither pandas nor matplotlib):

* :mod:`~csresearch.reports.present.words`: numbers, money, p-values and changes in words;
* :mod:`~csresearch.reports.present.labels`: one registry of names in words and units (its
  ``words``, ``plural`` and ``plural_word`` are reached through the module:
  ``labels.words``, as ``words`` names a module here);
* :mod:`~csresearch.reports.present.tables`: HTML tables, cards and sections of a report;
* :mod:`~csresearch.reports.present.figures`: the house style and the figures (matplotlib).

Example
-------
>>> from csresearch.reports.present import currency  # doctest: +SKIP
>>> currency(1234.5)  # doctest: +SKIP
"""

from __future__ import annotations

from csresearch._facade import lazy

_EXPORTS = {
    "words": ["NA", "MINUS", "is_missing", "pct", "points", "thousands", "number", "compact",
        "currency", "p_value", "PLURALS", "plural_word", "plural", "months", "period_label",
        "previous_label", "fmt", "difference", "change_sentence", "share_sentence", "join_words",
        "safe_float"],
    "labels": ["Label", "W90", "LABELS", "COMPONENTS", "VALUES", "value", "component", "title",
        "unit", "per", "term", "columns", "conditions"],
    "tables": ["TOP", "UNAVAILABLE", "FORMATTERS", "esc", "Html", "format_frame", "table",
        "figure_html", "cards", "Section"],
    "figures": ["PALETTE", "BANDS", "apply_style", "money_axis", "pct_axis", "RATIO_TICKS",
        "FINE_RATIO_TICKS", "ratio_ticks", "ratio_axis", "label", "bridge", "trend", "heatmap",
        "bar", "grouped_bar", "histogram", "km"],
}
__all__, __getattr__ = lazy(__name__, _EXPORTS)
