"""What a running report knows: its parameters, its data (a source or a flat table), a cache.

Templates call :func:`csresearch.reports.notebook.start`, which builds a
:class:`ReportContext`; every section function takes it. Tests build one directly with
:meth:`ReportContext.from_source`.

Example
-------
>>> ctx = ReportContext.from_source(src, as_of="2025-12-31")  # doctest: +SKIP
>>> ctx.df("accounts").shape  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from csresearch.errors import ConfigError
from csresearch.memory import release_freed_memory

GRAINS = ("month", "quarter")
FLAT_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".tsv")


class ReportContext:
    """Parameters, data and a per-run cache shared by a report's sections."""

    def __init__(
        self,
        report: str,
        params: dict[str, Any],
        source: Any = None,
        flat: pd.DataFrame | None = None,
        flat_path: str | None = None,
        started: float | None = None,
    ) -> None:
        self.report = report
        self.params = dict(params)
        self.source = source
        self.flat = flat
        self.flat_path = flat_path
        self.started = started if started is not None else time.time()
        self.cache: dict[str, Any] = {}
        #: headline figures under stable keys, written beside the HTML as ``<label>.json``
        self.summary: dict[str, Any] = {}
        self.as_of: str = str(params.get("as_of", ""))
        self.grain: str = str(params.get("grain", "month"))
        self.segment: str = str(params.get("segment", "segment"))
        self.currency: str = str(params.get("currency", "$"))
        check_as_of(self.as_of)
        if self.grain not in GRAINS:
            raise ConfigError(f"grain must be one of {', '.join(GRAINS)}, not '{self.grain}'")

    @classmethod
    def from_source(cls, source: Any, as_of: str, report: str = "report", **params: Any) -> ReportContext:
        return cls(report, {"as_of": as_of, **params}, source=source)

    # -- data ------------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return self.source is not None and self.source.has(name)

    def df(self, name: str) -> pd.DataFrame:
        """A table of the source as pandas (read once per run; treat as read-only)."""
        return self.memo(f"df:{name}", lambda: self.source.df(name))

    def record(self, **figures: Any) -> None:
        """Add headline figures to the report's summary JSON (stable keys, plain values)."""
        self.summary.update(figures)

    def memo(self, key: str, fn: Callable[[], Any]) -> Any:
        """``fn()`` computed once per run under ``key`` (then the memory its temporaries held
        goes back to the system: :func:`release_freed_memory`)."""
        if key not in self.cache:
            self.cache[key] = fn()
            release_freed_memory()
        return self.cache[key]

    @property
    def location(self) -> str:
        if self.source is not None:
            return str(self.source.location)
        return str(self.flat_path or "<in-memory table>")


def check_as_of(as_of: str) -> None:
    try:
        date.fromisoformat(as_of)
    except ValueError:
        raise ConfigError(f"as_of must be an ISO date like 2025-12-31, not {as_of!r}") from None


def is_flat_table(data: str) -> bool:
    """True when ``data`` names one table file (a CSV like the Telco table), not a source."""
    return not data.startswith("env:") and "://" not in data and data.lower().endswith(FLAT_SUFFIXES) \
        and Path(data).is_file()


def open_context(report: str, params: dict[str, Any], started: float | None = None) -> ReportContext:
    """Open the report's data (``params['data']``) and return its context.

    ``data`` is a data source (folder, .duckdb file, Ibis URL or ``env:VAR``) or, for reports
    that accept one, a flat one-row-per-customer table file. ``engine`` (``duckdb``, the
    default, or ``pyspark``) runs the analyses of a source (:func:`csresearch.data.engine.open_on`:
    the same files); a flat table is read with pandas whatever the engine.
    """
    data = str(params.get("data", ""))
    if not data:
        return ReportContext(report, params, started=started)
    if is_flat_table(data):
        from csresearch.survival.tables import read_flat_table

        return ReportContext(report, params, flat=read_flat_table(data), flat_path=data, started=started)
    from csresearch.data.engine import check_engine, open_on

    mapping = params.get("mapping_path") or None
    engine = check_engine(str(params.get("engine") or "duckdb"))
    ctx = ReportContext(report, params, source=open_on(data, engine=engine, mapping=mapping), started=started)
    record_customers(ctx)
    return ctx


def record_customers(ctx: ReportContext) -> None:
    """Record the one "active customers on as_of" figure (and the free-only accounts beside it)
    from :mod:`csresearch.data.timeline`, so every report's summary JSON carries the same number."""
    from csresearch.data import timeline
    from csresearch.data.validated import run_value

    src, as_of = ctx.source, ctx.as_of
    ctx.record(**run_value(src, f"customers_{as_of}", lambda: {  # report all: counted by its first report
        "active_customers": timeline.active_customers(src, as_of),
        "free_only_accounts": timeline.free_only_accounts(src, as_of)}))


def customers_sentence(ctx: ReportContext) -> str:
    """"Active customers on 2025-12-31: 7,114." (with the free-only accounts when there are any);
    empty for a flat snapshot table, which has no dates."""
    n = ctx.summary.get("active_customers")
    if n is None:
        return ""
    text = f"Active customers on {ctx.as_of}: {n:,}"
    free = ctx.summary.get("free_only_accounts") or 0
    if free:
        text += f" (not counting {free:,} free-only account{'s' if free != 1 else ''}, which never paid)"
    return text + "."
