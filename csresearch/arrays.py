"""Small array helpers shared by the calculators.

Example
-------
>>> choose([np.array([True, False, False]), np.array([False, True, False])], ["a", "b"], "c").tolist()
['a', 'b', 'c']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["choose", "take_rows"]


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


def take_rows(frame: pd.DataFrame, mask: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """``frame.loc[mask, columns]`` (same rows, index, dtypes and attrs) a column at a time:
    pandas takes the masked rows of every column of ``frame`` before selecting ``columns``, which
    on a wide frame of millions of rows is a copy of most of it.

    Example
    -------
    >>> f = pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6], "c": [7, 8, 9]})
    >>> take_rows(f, np.array([True, False, True]), ["c", "a"])
       c  a
    0  7  1
    2  9  3
    """
    mask = np.asarray(mask, dtype=bool)
    out = pd.DataFrame({c: frame[c][mask] for c in columns}, index=frame.index[mask], copy=False)
    out.attrs = dict(frame.attrs)
    return out


def floats(column) -> np.ndarray:
    """A pyarrow column (a query's result) as float64, NaN where it is null.

    Example
    -------
    >>> import pyarrow as pa
    >>> floats(pa.chunked_array([[1, None], [3]])).tolist()
    [1.0, nan, 3.0]
    """
    import pyarrow as pa

    return column.cast(pa.float64()).to_numpy()
