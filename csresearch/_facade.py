"""The one facade style of the packages: names re-exported lazily from their modules.

A package lists ``{module: [names]}``; ``from csresearch.health import health_history`` then
imports ``csresearch.health.score`` on first use, and importing the package alone loads none
of its modules (the CLI and the report kernels start faster).

Example
-------
>>> __all__, __getattr__ = lazy("csresearch.health", {"score": ["health_history"]})
>>> __all__
['health_history']
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy(package: str, exports: dict[str, list[str]]) -> tuple[list[str], Callable[[str], Any]]:
    """``(__all__, __getattr__)`` for ``package`` re-exporting ``exports`` lazily."""
    where = {name: mod for mod, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return sorted(where), __getattr__
