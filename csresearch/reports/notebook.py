"""Helpers the report templates call inside their kernel: setup, start, header, provenance.

A template is: a hidden setup cell (``rn.setup()``), the ``parameters`` cell, one
``ctx = rn.start(...)`` line, one line per section, and ``rn.provenance(ctx)`` at the end (the provenance block, and the summary figures the
renderer writes beside the HTML as ``<label>.json``).

Example
-------
>>> from csresearch.reports import notebook as rn  # doctest: +SKIP
>>> rn.setup()  # doctest: +SKIP
>>> ctx = rn.start("retention", data="../data/demo", as_of="2025-12-31")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from csresearch import provenance as prov
from csresearch.errors import DataQualityWarning
from csresearch.memory import release_freed_memory
from csresearch.reports import summary
from csresearch.reports.context import ReportContext, customers_sentence, open_context
from csresearch.reports.present.tables import Html, Section, esc

_STARTED: list[float] = []


def setup() -> None:
    """Warnings filters (no warning text reaches a report), the Agg backend and the plot style.

    Statistical caveats (:class:`DataQualityWarning`) are not lost: each section records them
    and shows them as notes.
    """
    import matplotlib

    matplotlib.use("Agg")
    warnings.simplefilter("ignore")
    logging.getLogger("py.warnings").setLevel(logging.ERROR)
    from csresearch.reports.present.figures import apply_style

    apply_style()
    _STARTED[:] = [time.time()]


def start(report: str, **params: Any) -> ReportContext:
    """Open the data named by the parameters and return the report's context."""
    started = _STARTED[0] if _STARTED else time.time()
    return open_context(report, params, started=started)


def section(fn: Callable[..., Section]) -> Callable[..., Section]:
    """Decorator for section builders: :class:`DataQualityWarning` raised inside become notes;
    the heap memory the section's temporaries freed goes back to the system."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Section:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataQualityWarning)
            out = fn(*args, **kwargs)
        seen = set()
        for w in caught:
            if issubclass(w.category, DataQualityWarning) and str(w.message) not in seen:
                seen.add(str(w.message))
                out.note(f"Caveat: {w.message}")
        release_freed_memory()
        return out

    return wrapper


def header(ctx: ReportContext, title: str, subtitle: str = "") -> Html:
    """The report's title block: title (on a flat table, with the table's file name: two churn-drivers
    reports must not share a title), as-of date, data source."""
    if ctx.flat is not None and ctx.location:
        title = f"{title}: {Path(str(prov.redact(ctx.location))).name}"
    parts = [f"<h1>{esc(title)}</h1>"]
    when = "Snapshot table, no dates" if ctx.flat is not None else f"As of {ctx.as_of}"  # a flat table has no as-of
    line = f"{when} · data: {prov.redact(ctx.location)}"
    if subtitle:
        line = f"{subtitle} · {line}"
    parts.append(f'<p class="cs-caption">{esc(line)}</p>')
    customers = customers_sentence(ctx)  # the one number, the same in every report
    if customers:
        parts.append(f'<p class="cs-customers">{esc(customers)}</p>')
    return Html("".join(parts))


def input_files(params: dict[str, Any]) -> dict[str, str]:
    """The ``*_path`` parameters that name an existing file (configuration, answers)."""
    from pathlib import Path

    from csresearch.reports.params import PATH_SUFFIX

    return {k: str(v) for k, v in params.items()
            if k.endswith(PATH_SUFFIX) and isinstance(v, str) and v and Path(v).is_file()}


def provenance(ctx: ReportContext) -> Html:
    """The provenance block at the end of every report."""
    table = None
    if ctx.flat is not None:
        table = (ctx.flat_path, len(ctx.flat))
    info = prov.collect(ctx.params, source=ctx.source, as_of=ctx.as_of, started=ctx.started, table=table,
                        files=input_files(ctx.params))
    summary.emit(summary.build({"report": ctx.report, "as_of": ctx.as_of}, ctx.summary, info))
    return prov.to_html(info)
