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


def test_take_rows_is_loc_with_a_mask_and_columns():
    import pandas as pd

    from csresearch.arrays import take_rows

    rng = np.random.default_rng(0)
    f = pd.DataFrame({"a": rng.random(50), "b": pd.date_range("2025-01-01", periods=50), "c": list("xy" * 25),
                      "d": rng.integers(0, 9, 50)}, index=pd.RangeIndex(100, 150))
    f.attrs["as_of"] = "2025-12-31"
    mask = rng.random(50) < 0.4
    got = take_rows(f, mask, ["d", "b", "c"])
    pd.testing.assert_frame_equal(got, f.loc[mask, ["d", "b", "c"]], check_exact=True)
    assert got.attrs == {"as_of": "2025-12-31"}
    assert take_rows(f, np.zeros(50, dtype=bool), ["a"]).empty
