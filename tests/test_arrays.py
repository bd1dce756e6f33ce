from __future__ import annotations

import numpy as np

from csresearch.arrays import choose


def test_choose_is_np_select_with_one_object_per_label():
    x = np.arange(10)
    conds = [x < 3, x < 6]
    got = choose(conds, ["low", "mid"], "high")
    assert got.dtype == object
    assert got.tolist() == np.select(conds, ["low", "mid"], "high").tolist()  # first true condition wins
    assert len({id(v) for v in got}) == 3  # rows share the label strings


def test_choose_without_rows():
    assert choose([np.zeros(0, dtype=bool)], ["a"], "b").tolist() == []
