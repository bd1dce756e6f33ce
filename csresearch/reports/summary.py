"""The summary JSON written beside every report: parameters, provenance, headline figures.

A report's sections record their headline figures with :meth:`ReportContext.record`
(``ctx.record(logo_churn_monthly=0.025)``). The template's last cell (``rn.provenance``)
emits them, with the provenance, as one display output of the private MIME type
:data:`MIME`, which the HTML export leaves out. The renderer reads it back from the executed
notebook (:func:`extract`) and writes ``DIR/<as_of>/<label>.json`` next to the HTML, so
scheduled jobs and tests read figures under stable keys instead of scraping HTML.

Layout of the file::

    {"report": "retention", "as_of": "2025-12-31", "active_customers": 7114,
     ... headline figures of the report ...,
     "notes": [...], "parameters": {...}, "provenance": {...}}

Example
-------
>>> payload = build({"report": "retention", "as_of": "2025-12-31"}, {"active_customers": 3}, {})
>>> payload["active_customers"]
3
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

MIME = "application/vnd.csresearch.summary+json"
RESERVED = ("report", "as_of", "parameters", "provenance")


def plain(value: Any) -> Any:
    """A JSON-ready copy of ``value``: numpy/pandas scalars to Python, NaN/NaT to None,
    timestamps to ISO dates, tuples to lists, recursively."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray | pd.Series):
        return [plain(v) for v in (list(value) if not isinstance(value, pd.Series) else value.tolist())]
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.date().isoformat() if value == value.normalize() \
            else value.isoformat()
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        x = float(value)
        return None if math.isnan(x) or math.isinf(x) else x
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def build(header: Mapping[str, Any], figures: Mapping[str, Any], provenance: Mapping[str, Any]) -> dict:
    """The summary payload: ``header`` keys, then the figures, then parameters and provenance."""
    out: dict[str, Any] = {k: plain(header[k]) for k in ("report", "as_of") if k in header}
    for key, value in figures.items():
        if key in RESERVED:
            raise ValueError(f"summary figure '{key}' uses a reserved key; rename it")
        out[key] = plain(value)
    out["parameters"] = plain(provenance.get("parameters", header.get("parameters", {})))
    out["provenance"] = plain({k: v for k, v in provenance.items() if k != "parameters"})
    return out


def emit(payload: Mapping[str, Any]) -> None:
    """Display ``payload`` as the notebook's summary output (kernel side; invisible in HTML)."""
    from IPython.display import display

    display({MIME: dict(payload)}, raw=True)


def extract(nb: Any) -> dict | None:
    """The last summary payload found in an executed notebook's outputs, or None."""
    found = None
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            data = output.get("data") or {}
            if MIME in data:
                found = dict(data[MIME])
    return found


def strip(nb: Any) -> Any:
    """Remove the summary outputs from a notebook (in place) before the HTML export."""
    for cell in nb.get("cells", []):
        outs = cell.get("outputs")
        if outs:
            cell["outputs"] = [o for o in outs if MIME not in (o.get("data") or {})]
    return nb
