"""A report's parameters: read from its template's ``parameters`` cell and checked before a run.

The cell holds one annotated literal per line with a help comment::

    as_of: str = "2025-12-31"  # snapshot date, ISO (YYYY-MM-DD)

papermill alone only warns about an unknown parameter; :func:`check_parameters` refuses
unknown names (suggesting the closest one), wrong types and malformed dates, and a
connection URL with a password (pass ``env:VAR`` instead), before any cell runs.

Example
-------
>>> spec = parse_parameters('as_of: str = "2025-12-31"  # snapshot date, ISO')
>>> spec["as_of"].help
'snapshot date, ISO'
"""

from __future__ import annotations

import ast
import difflib
import io
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from csresearch.errors import ConfigError
from csresearch.redaction import has_password

TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}
TRUE, FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}
PATH_PARAMS = ("data",)
#: parameters that take one of a few values, checked before a kernel starts
CHOICES: dict[str, tuple[str, ...]] = {"grain": ("month", "quarter"), "engine": ("duckdb", "pyspark")}
PATH_SUFFIX = "_path"


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: its name, type name, default and help text."""

    name: str
    type: str
    default: Any
    help: str

    def describe(self) -> str:
        return f"{self.name}: {self.type} = {self.default!r}  # {self.help}"


def parse_parameters(source: str, where: str = "parameters cell") -> dict[str, Parameter]:
    """Parse a parameters cell: ``name: type = literal  # help`` lines, nothing else.

    Raises :class:`ConfigError` for a statement that is not an annotated literal, a type other
    than str/int/float/bool/list[str], a default of the wrong type, or a missing help comment.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise ConfigError(f"{where}: not valid Python ({e.msg}, line {e.lineno})") from e
    comments = {
        tok.start[0]: tok.string.lstrip("#").strip()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    out: dict[str, Parameter] = {}
    for node in tree.body:
        line = getattr(node, "lineno", "?")
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value):
            raise ConfigError(
                f"{where}, line {line}: every statement must be 'name: type = literal  # help' "
                "(nothing derived)"
            )
        name = node.target.id
        tname = ast.unparse(node.annotation)
        if tname not in (*TYPES, "list[str]"):
            raise ConfigError(f"{where}, line {line}: '{name}' has type {tname}; use str, int, float, bool or list[str]")
        try:
            default = ast.literal_eval(node.value)
        except ValueError as e:
            raise ConfigError(f"{where}, line {line}: the default of '{name}' must be a literal, not derived") from e
        if not _is_type(default, tname):
            raise ConfigError(f"{where}, line {line}: the default of '{name}' is not a {tname}: {default!r}")
        help_text = comments.get(node.end_lineno or node.lineno, "")
        if not help_text:
            raise ConfigError(f"{where}, line {line}: '{name}' needs a help comment ('# what it is')")
        out[name] = Parameter(name, tname, default, help_text)
    return out


def parameters_cell(path: str | Path) -> str:
    """The source of the template's single cell tagged ``parameters``."""
    import nbformat  # here: a kernel's provenance reads PATH_SUFFIX, not notebooks (nbformat costs ~1.5 s)

    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ConfigError(f"template {path}: needs exactly one cell tagged 'parameters', found {len(cells)}")
    return cells[0].source


def notebook_parameters(path: str | Path) -> dict[str, Parameter]:
    """The declared parameters of a template notebook."""
    return parse_parameters(parameters_cell(path), where=f"{Path(path).name} parameters cell")


def _is_type(value: Any, tname: str) -> bool:
    if tname == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if tname == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tname == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, TYPES[tname])


def coerce(name: str, value: Any, tname: str) -> Any:
    """Turn a command-line string into the declared type; check other values' types."""
    if isinstance(value, str) and tname != "str":
        text = value.strip()
        try:
            if tname == "int":
                return int(text)
            if tname == "float":
                return float(text)
            if tname == "bool":
                if text.lower() in TRUE:
                    return True
                if text.lower() in FALSE:
                    return False
                raise ValueError
            if tname == "list[str]":
                return [v.strip() for v in text.split(",") if v.strip()]
        except ValueError:
            raise ConfigError(f"parameter '{name}' must be a {tname}, not {value!r}") from None
    if tname == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not _is_type(value, tname):
        raise ConfigError(f"parameter '{name}' must be a {tname}, not {type(value).__name__} {value!r}")
    return value


def is_path_param(name: str) -> bool:
    return name in PATH_PARAMS or name.endswith(PATH_SUFFIX)


def resolve_path(value: str, base: Path) -> str:
    """A relative file path made absolute from ``base``; URLs, ``env:VAR`` and '' unchanged."""
    if not value or value.startswith("env:") or "://" in value or Path(value).is_absolute():
        return value
    return str((base / value).resolve())


def check_parameters(
    report: str,
    spec: Mapping[str, Parameter],
    given: Mapping[str, Any],
    base: Path | None = None,
) -> dict[str, Any]:
    """Check ``given`` against ``spec`` and return them typed (paths made absolute from ``base``).

    Every problem is listed in one :class:`ConfigError`: unknown names (with the closest
    known name), values of the wrong type or outside :data:`CHOICES`, ``as_of`` not an ISO
    date, a URL with a password.
    """
    problems: list[str] = []
    out: dict[str, Any] = {}
    for name, value in given.items():
        if name not in spec:
            close = difflib.get_close_matches(name, list(spec), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.append(f"unknown parameter '{name}'{hint}")
            continue
        try:
            v = coerce(name, value, spec[name].type)
        except ConfigError as e:
            problems.append(str(e))
            continue
        if isinstance(v, str) and has_password(v):
            problems.append(
                f"parameter '{name}' holds a connection URL with a password; put it in an "
                f"environment variable and pass env:VARIABLE instead (it would be stored in the report)"
            )
            continue
        if name in CHOICES and v not in CHOICES[name]:
            problems.append(f"parameter '{name}' must be one of {', '.join(CHOICES[name])}, not {v!r}")
            continue
        if isinstance(v, str) and base is not None and is_path_param(name):
            v = resolve_path(v, base)
        out[name] = v
    as_of = out.get("as_of", spec["as_of"].default if "as_of" in spec else None)
    if as_of is not None:
        try:
            date.fromisoformat(str(as_of))
        except ValueError:
            problems.append(f"as_of must be an ISO date like 2025-12-31, not {as_of!r}")
    if problems:
        known = ", ".join(spec)
        text = "; ".join(problems)
        end = " " if text.endswith(("?", ".")) else ". "
        raise ConfigError(
            f"report '{report}': {text}{end}Its parameters are: {known} (see `csresearch report list`)"
        )
    return out
