"""The mapping of your table and column names onto the contract: reading and checking it.

A mapping is a YAML file (or a dict) with two optional keys, ``tables`` and ``columns``;
:func:`load_mapping` returns it in one checked shape, and
:func:`~csresearch.data.sources.open_source` applies it when it opens a source.

Example
-------
>>> load_mapping({"tables": {"accounts": "customers"}})
{'tables': {'accounts': 'customers'}, 'columns': {}}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from csresearch.data.schema import CONTRACT
from csresearch.errors import ConfigError


def load_mapping(mapping: str | Path | Mapping | None) -> dict[str, dict]:
    """Read a mapping of the user's table and column names onto the contract.

    The YAML has two optional keys::

        tables:            # contract table: your table (or file stem)
          accounts: customers
        columns:           # per contract table, contract column: your column
          accounts: {account_id: customer_id, segment: tier}

    Plain YAML only (``yaml.safe_load``: no ``!!python`` tags); a file of another shape, or
    one that cannot be read, raises :class:`ConfigError` naming the file and the key.
    """
    if mapping is None:
        return {"tables": {}, "columns": {}}
    if isinstance(mapping, str | Path):
        where = f"mapping file {mapping}"
        data = _read_mapping_file(Path(mapping), where)
    else:
        where = "mapping"
        data = mapping
    return _check_mapping(data, where)


_MAPPING_EXAMPLE = "write it as 'tables: {accounts: customers}' and 'columns: {accounts: {account_id: customer_id}}'"


def _read_mapping_file(path: Path, where: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"mapping file not found: {path}") from e
    except IsADirectoryError as e:
        raise ConfigError(f"{where} is a folder; give the path of the mapping YAML file") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{where} is not UTF-8 text ({e.reason} at byte {e.start}); re-save it as UTF-8") from e
    except OSError as e:
        raise ConfigError(f"{where} cannot be read ({e.strerror or e}); check the path and its permissions") from e
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        tag = " Tags such as !!python/object are not allowed: the mapping is plain YAML." if "tag" in str(e) else ""
        raise ConfigError(
            f"{where} is not valid YAML{at}: {problem}.{tag} Fix the file; {_MAPPING_EXAMPLE}"
        ) from e


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", dict: "a mapping"}.get(type(value), type(value).__name__)


def _check_mapping(data: Any, where: str) -> dict[str, dict]:
    """The mapping's shape: {tables: {table: name}, columns: {table: {column: name}}}."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a YAML mapping with keys 'tables' and/or 'columns', not {_kind(data)}; {_MAPPING_EXAMPLE}")
    unknown = set(data) - {"tables", "columns"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(map(str, unknown))}; use 'tables' and 'columns'")
    tables, columns = data.get("tables") or {}, data.get("columns") or {}
    for key, value in (("tables", tables), ("columns", columns)):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: '{key}' must be a mapping, not {_kind(value)}; {_MAPPING_EXAMPLE}")
    for key in list(tables) + list(columns):
        if key not in CONTRACT:
            raise ConfigError(
                f"{where}: '{key}' is not a contract table; known tables: {', '.join(CONTRACT)}"
            )
    for key, value in tables.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}: tables.{key} must be your table's name (text), not {_kind(value)}")
    for key, cols in columns.items():
        cols = cols or {}
        if not isinstance(cols, Mapping) or not all(isinstance(v, str) for v in cols.values()):
            raise ConfigError(
                f"{where}: columns.{key} must map contract columns onto your column names "
                f"(e.g. columns: {{{key}: {{account_id: customer_id}}}}), not {_kind(cols)}"
            )
    return {"tables": dict(tables), "columns": {k: dict(v or {}) for k, v in columns.items()}}
