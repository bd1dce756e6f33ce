"""The maturity model: levels, capabilities and their criteria (the questionnaire), and answers.

The questionnaire is a YAML file (the package ships ``csresearch/configs/maturity.yaml``);
answers are a YAML or CSV file giving one level per capability. Levels are ordered ints
1..4 (Reactive, Insights & Actions, Outcomes, Transform); an answer may give the number,
the key (``insights_actions``) or the name (``Insights & Actions``).

Example
-------
>>> q = load_questionnaire()
>>> [lv.name for lv in q.levels]
['Reactive', 'Insights & Actions', 'Outcomes', 'Transform']
>>> len(q.capabilities)
11
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from csresearch.errors import ConfigError, DataValidationError

LEVEL_KEYS = ("reactive", "insights_actions", "outcomes", "transform")
FIX_HINT = "run `csresearch maturity template --out answers.yaml` for a file with every key"


@dataclass(frozen=True)
class Level:
    """One maturity level: its rank (1..4), key, English and Japanese names."""

    level: int
    key: str
    name: str
    name_ja: str = ""
    description: str = ""


@dataclass(frozen=True)
class Capability:
    """One capability: key, names, weight (gap order) and criteria per level."""

    key: str
    name: str
    name_ja: str
    weight: float
    criteria: dict[int, tuple[str, ...]]
    evidence: str = ""


@dataclass(frozen=True)
class Questionnaire:
    """The levels and the capabilities with their observable criteria."""

    levels: tuple[Level, ...]
    capabilities: tuple[Capability, ...]
    title: str = "Customer Success maturity"
    source: str = ""
    path: str = ""

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.capabilities]

    def capability(self, key: str) -> Capability:
        return next(c for c in self.capabilities if c.key == key)

    def level_name(self, level: int) -> str:
        return self.levels[int(level) - 1].name

    @property
    def max_level(self) -> int:
        return len(self.levels)

    def allowed_levels(self) -> str:
        """The accepted spellings of a level, for error messages."""
        nums = f"1..{self.max_level}"
        return (
            f"{nums}, or a key ({', '.join(lv.key for lv in self.levels)}), "
            f"or a name ({', '.join(lv.name for lv in self.levels)})"
        )

    def parse_level(self, value: Any) -> int | None:
        """The level (1..4) a value names, or None when it names none."""
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int | float) and float(value).is_integer():
            n = int(value)
            return n if 1 <= n <= self.max_level else None
        text = str(value).strip()
        if re.fullmatch(r"\d+(\.0+)?", text):
            return self.parse_level(float(text))
        norm = _norm(text)
        for lv in self.levels:
            if norm in {_norm(lv.key), _norm(lv.name)} or (lv.name_ja and norm == _norm(lv.name_ja)):
                return lv.level
        return None


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def _config_error(where: str, key: str, problem: str) -> ConfigError:
    return ConfigError(f"questionnaire {where}: '{key}' {problem}")


def load_questionnaire(path: str | Path | None = None) -> Questionnaire:
    """Read and check a questionnaire YAML (default: the one shipped in the package).

    Raises :class:`~csresearch.errors.ConfigError` naming the key at fault.

    Examples
    --------
    >>> load_questionnaire().capability("health_score").name
    'Health score monitoring'
    """
    if path is None:
        ref = resources.files("csresearch").joinpath("configs/maturity.yaml")
        text, where = ref.read_text(encoding="utf-8"), "csresearch/configs/maturity.yaml"
    else:
        try:
            text, where = Path(path).read_text(encoding="utf-8"), str(path)
        except FileNotFoundError as e:
            raise ConfigError(f"questionnaire file not found: {path}") from e
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"questionnaire {where} is not valid YAML: {e}") from e
    for key in ("levels", "capabilities"):
        if not isinstance(data.get(key), list) or not data[key]:
            raise _config_error(where, key, "must be a non-empty list")
    levels = []
    for i, lv in enumerate(data["levels"], start=1):
        missing = {"level", "key", "name"} - set(lv or {})
        if missing:
            raise _config_error(where, f"levels[{i - 1}]", f"lacks {sorted(missing)}")
        if int(lv["level"]) != i:
            raise _config_error(where, f"levels[{i - 1}].level", f"must be {i} (levels ascend from 1)")
        levels.append(
            Level(i, str(lv["key"]), str(lv["name"]), str(lv.get("name_ja", "")),
                  str(lv.get("description", "")).strip())
        )
    n = len(levels)
    caps, seen = [], set()
    for c in data["capabilities"]:
        key = str((c or {}).get("key", ""))
        if not key or key in seen:
            raise _config_error(where, f"capabilities.{key or '?'}", "needs a unique key")
        seen.add(key)
        crit = c.get("criteria") or {}
        if sorted(int(k) for k in crit) != list(range(1, n + 1)):
            raise _config_error(
                where, f"capabilities.{key}.criteria", f"must give criteria for every level 1..{n}"
            )
        criteria = {}
        for k, v in crit.items():
            items = [v] if isinstance(v, str) else list(v or [])
            if not items:
                raise _config_error(where, f"capabilities.{key}.criteria.{k}", "is empty")
            criteria[int(k)] = tuple(str(s).strip() for s in items)
        weight = c.get("weight", 1)
        if not isinstance(weight, int | float) or weight <= 0:
            raise _config_error(where, f"capabilities.{key}.weight", f"must be a positive number, not {weight!r}")
        caps.append(
            Capability(key, str(c.get("name", key)), str(c.get("name_ja", "")), float(weight),
                       criteria, str(c.get("evidence", "")).strip())
        )
    return Questionnaire(tuple(levels), tuple(caps), str(data.get("title", "Customer Success maturity")),
                         str(data.get("source", "")), where)


@dataclass
class Answers:
    """One organisation's answers: a level (1..4) per capability, optional notes."""

    levels: dict[str, int]
    notes: dict[str, str] = field(default_factory=dict)
    organisation: str = ""
    assessed_on: str = ""
    path: str = "<answers>"


def parse_answers(
    answers: Mapping[str, Any],
    questionnaire: Questionnaire,
    where: str = "<answers>",
    notes: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """Check a mapping of capability -> level and return it as ints; refuse every problem at once.

    Raises :class:`~csresearch.errors.DataValidationError` naming the file (``where``), each
    unknown capability, each unknown level with the allowed values, each missing capability,
    and how to fix them.
    """
    keys = questionnaire.keys
    problems: list[str] = []
    unknown = [k for k in answers if k not in keys]
    for k in unknown:
        problems.append(
            f"unknown capability '{k}'; the capabilities are: {', '.join(keys)}. "
            "Fix: rename the key to one of them, or remove it."
        )
    for k in (notes or {}):
        if k not in keys:
            problems.append(f"notes: unknown capability '{k}'; use one of: {', '.join(keys)}.")
    levels: dict[str, int] = {}
    blank: list[str] = []
    for k in keys:
        if k not in answers:
            continue
        v = answers[k]
        if v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and v != v):
            blank.append(k)
            continue
        lv = questionnaire.parse_level(v)
        if lv is None:
            problems.append(
                f"capability '{k}': unknown level {v!r}; allowed: {questionnaire.allowed_levels()}. "
                "Fix: write one of those."
            )
        else:
            levels[k] = lv
    missing = [k for k in keys if k not in answers] + blank
    if missing:
        problems.append(
            f"missing capability answer(s): {', '.join(missing)}; every one of the "
            f"{len(keys)} capabilities needs a level ({questionnaire.allowed_levels()}). "
            "Fix: add a level for each (level 1, Reactive, when unsure)."
        )
    if problems:
        raise DataValidationError(
            f"answers file {where} is refused:\n" + "\n".join(f"- {p}" for p in problems)
            + f"\n({FIX_HINT})"
        )
    return levels


def load_answers(path: str | Path, questionnaire: Questionnaire | None = None) -> Answers:
    """Read answers from YAML (``answers:`` mapping) or CSV (columns ``capability,level[,note]``).

    Examples
    --------
    >>> a = load_answers("data/maturity_answers.yaml")  # doctest: +SKIP
    >>> a.levels["health_score"]  # doctest: +SKIP
    3
    """
    q = questionnaire or load_questionnaire()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"answers file not found: {path}. Fix: check the path ({FIX_HINT})") from e
    if p.suffix.lower() == ".csv":
        return _answers_from_csv(text, q, str(path))
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise DataValidationError(f"answers file {path} is not valid YAML: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
        raise DataValidationError(
            f"answers file {path}: needs a mapping 'answers:' of capability: level "
            f"(capabilities: {', '.join(q.keys)}). Fix: {FIX_HINT}"
        )
    notes = data.get("notes") or {}
    if not isinstance(notes, dict):
        raise DataValidationError(f"answers file {path}: 'notes' must be a mapping capability: text")
    levels = parse_answers(data["answers"], q, str(path), notes)
    return Answers(
        levels, {k: str(v) for k, v in notes.items() if v}, str(data.get("organisation") or ""),
        str(data.get("assessed_on") or ""), str(path),
    )


def _answers_from_csv(text: str, q: Questionnaire, where: str) -> Answers:
    df = pd.read_csv(io.StringIO(text), comment="#", dtype=str, keep_default_na=False,
                     skipinitialspace=True, index_col=False)
    df.columns = [c.strip().lower() for c in df.columns]
    need = {"capability", "level"} - set(df.columns)
    if need:
        raise DataValidationError(
            f"answers file {where}: missing column(s) {sorted(need)}; present: {list(df.columns)}. "
            f"Fix: the CSV needs columns capability,level[,note] ({FIX_HINT})"
        )
    df["capability"] = df["capability"].str.strip()
    dup = df.loc[df["capability"].duplicated(), "capability"].unique().tolist()
    if dup:
        raise DataValidationError(
            f"answers file {where}: capability answered more than once: {', '.join(dup)}. "
            "Fix: keep one row per capability."
        )
    answers = dict(zip(df["capability"], df["level"], strict=True))
    notes = dict(zip(df["capability"], df["note"], strict=True)) if "note" in df.columns else {}
    levels = parse_answers(answers, q, where)
    return Answers(levels, {k: v for k, v in notes.items() if v and k in levels}, path=where)


def template(questionnaire: Questionnaire | None = None, fmt: str = "yaml") -> str:
    """A blank answers file (``yaml`` or ``csv``) with every capability's criteria as comments.

    Examples
    --------
    >>> "health_score:" in template()
    True
    """
    q = questionnaire or load_questionnaire()
    if fmt not in ("yaml", "csv"):
        raise ConfigError(f"template format must be 'yaml' or 'csv', not '{fmt}'")
    scale = ", ".join(f"{lv.level} = {lv.name}" for lv in q.levels)
    head = [
        f"{q.title}: answers, one level per capability.",
        f"Levels: {scale}.",
        "Write the number, the key (" + ", ".join(lv.key for lv in q.levels) + ") or the name.",
        "A capability is at a level when every criterion of that level and of the levels below holds.",
        "Then run: csresearch maturity assess THIS_FILE [--data SOURCE --as-of YYYY-MM-DD]",
    ]
    lines = [f"# {h}" for h in head] + [""]
    if fmt == "csv":
        for c in q.capabilities:
            lines += _criteria_comment(q, c, "# ")
        lines.append("capability,level,note")
        lines += [f"{c.key},," for c in q.capabilities]
        return "\n".join(lines) + "\n"
    lines += ['organisation: ""', 'assessed_on: ""  # ISO date, e.g. 2025-12-31', "answers:"]
    for c in q.capabilities:
        lines += _criteria_comment(q, c, "  # ")
        lines.append(f"  {c.key}:")
    lines += ["notes: {}  # optional, capability: text", ""]
    return "\n".join(lines)


def _criteria_comment(q: Questionnaire, c: Capability, prefix: str) -> list[str]:
    out = [f"{prefix}{c.name} ({c.name_ja})"]
    for lv in q.levels:
        for i, crit in enumerate(c.criteria[lv.level]):
            label = f"{lv.level} {lv.name}:" if i == 0 else " " * (len(lv.name) + 3)
            out.append(f"{prefix}  {label} {crit}")
    return out
