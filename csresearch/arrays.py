"""Small array helpers shared by the calculators.

Example
-------
>>> choose([np.array([True, False, False]), np.array([False, True, False])], ["a", "b"], "c").tolist()
['a', 'b', 'c']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["choose"]


def choose(conditions: Sequence[np.ndarray], labels: Sequence[str], default: str) -> np.ndarray:
    """``np.select(conditions, labels, default)`` as an object array whose rows share the label
    strings (one object per label, not one per row: ``np.select`` on strings gives a fixed-width
    unicode array, and pandas turns each of its elements into a new ``str``: at 16M rows, 1 GB).

    Example
    -------
    >>> choose([np.array([1, 5]) > 3], ["big"], "small").tolist()
    ['small', 'big']
    """
    idx = np.select(list(conditions), list(range(len(labels))), len(labels))
    return np.array([*labels, default], dtype=object)[idx]
