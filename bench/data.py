"""Synthetic data for the benchmarks, written with DuckDB ``range()`` straight into Parquet."""

from __future__ import annotations

import os
from pathlib import Path

from bench.config import EVENTS_PER_ACCOUNT


def _u(k: int) -> str:
    """A deterministic uniform(0, 1) per row i from DuckDB's hash (stream k)."""
    return f"((hash(i * 8 + {k}) % 1000000007) / 1000000007.0)"


def make_events(path: Path, n: int) -> Path:
    """``n`` usage events over 2023-2025 for n/500 accounts (contract columns)."""
    if path.exists():
        return path
    import duckdb

    n_acc = max(n // EVENTS_PER_ACCOUNT, 1)
    tmp = path.with_suffix(".tmp")
    duckdb.sql(f"""
        COPY (SELECT 'A' || lpad(CAST(i % {n_acc} AS VARCHAR), 7, '0') AS account_id,
          TIMESTAMP '2023-01-01' + to_seconds(CAST(floor({_u(1)} * 94608000) AS BIGINT)) AS occurred_at,
          ['login', 'report', 'export', 'api_call', 'invite', 'dashboard'][1 + CAST(floor({_u(2)} * 6) AS INT)] AS event_type,
          'U' || CAST(i % {n_acc} AS VARCHAR) || '_' || CAST(floor({_u(3)} * 8) AS INT) AS user_id,
          round({_u(4)} * 10, 2) AS quantity
        FROM range({n}) t(i)) TO '{tmp}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
    """)
    tmp.rename(path)
    return path


def make_validation_source(folder: Path, events: Path, n_events: int) -> Path:
    """accounts, subscriptions (one per account) and the events (a link) for validation."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "usage_events.parquet").exists():
        return folder
    import duckdb

    n_acc = max(n_events // EVENTS_PER_ACCOUNT, 1)
    acc = "'A' || lpad(CAST(i AS VARCHAR), 7, '0')"
    duckdb.sql(f"""COPY (SELECT {acc} AS account_id, 'Co ' || i AS name,
        ['enterprise', 'mid_market', 'smb'][1 + i % 3] AS segment,
        TIMESTAMP '2023-01-01' AS created_at FROM range({n_acc}) t(i))
        TO '{folder / "accounts.parquet"}' (FORMAT parquet)""")
    duckdb.sql(f"""COPY (SELECT 'S' || i AS subscription_id, {acc} AS account_id,
        DATE '2023-01-01' AS start_date, CAST(NULL AS DATE) AS end_date, 100.0 AS mrr
        FROM range({n_acc}) t(i)) TO '{folder / "subscriptions.parquet"}' (FORMAT parquet)""")
    os.symlink(events.resolve(), folder / "usage_events.parquet")
    return folder


def make_survival(path: Path, n: int) -> Path:
    """``n`` subscribers: x1 ~ N(0,1), x2 ~ Bernoulli(0.4), segment (3 levels); Weibull-free
    exponential churn in days with administrative censoring at 1,095 days."""
    if path.exists():
        return path
    import duckdb

    tmp = path.with_suffix(".tmp")
    duckdb.sql(f"""
        COPY (WITH b AS (SELECT i,
            sqrt(-2 * ln({_u(1)} + 1e-12)) * cos(2 * pi() * {_u(2)}) AS x1,
            CAST({_u(3)} < 0.4 AS DOUBLE) AS x2,
            ['enterprise', 'mid_market', 'smb'][1 + CAST(floor({_u(4)} * 3) AS INT)] AS segment,
            {_u(5)} AS u, {_u(6)} AS c FROM range({n}) t(i)),
          t AS (SELECT *, -ln(u + 1e-12) / (0.0015 * exp(0.4 * x1 - 0.6 * x2
                 + CASE segment WHEN 'smb' THEN 0.5 WHEN 'mid_market' THEN 0.2 ELSE 0 END)) AS tt,
                 least(1095, 30 + c * 1065) AS cens FROM b)
          SELECT x1, x2, segment, CAST(ceil(least(tt, cens)) AS BIGINT) AS duration,
                 CAST(tt <= cens AS INT) AS event FROM t)
        TO '{tmp}' (FORMAT parquet)
    """)
    tmp.rename(path)
    return path

