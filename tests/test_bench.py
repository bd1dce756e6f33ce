"""The benchmark report's rendering section, from hand-made rows (no measurement runs)."""

from __future__ import annotations

from csresearch import bench


def _row(n: int, **kw) -> dict:
    return {"step": bench.RENDER_STEP, "n": n, "unit": "accounts", "events": 40 * n,
            "method": "papermill + nbconvert (a kernel per report)", "peak": 2**30, **kw}


def test_render_rows_show_the_split_the_target_and_partial_runs():
    split = {"startup": 12.0, "loading": 2.0, "computation": 40.0, "rendering": 4.0}
    done = {"reports": {"retention": {"seconds": 30.0}, "health": {"seconds": 30.0}},
            "split": split, "seconds": 60.0}
    rows = [_row(10_000, **done),
            _row(100_000, error="timed out after 600 s", partial={**done, "partial": True})]
    text = bench.render(rows, bench.QUICK, spark=False, seconds=90.0,
                        load=((1.0, 2.0, 3.0), (2.5, 2.0, 1.5)))
    # 60 s in all: other = 60 - (12 + 2 + 40 + 4) = 2.0; start-up 12 / 60 = 20 %.
    assert ("| 10,000 | 400,000 | 60.0 | 1.00 | 12.0 (20%) | 2.0 (3%) | 40.0 (67%) | 4.0 (7%) "
            "| 2.0 | retention 30.0, health 30.0 |") in text
    assert "| 100,000 | 4,000,000 | timed out after 600 s; 2 of 4 done in 60.0 |" in text
    assert "- All four reports at 10,000 accounts: 60.0 s: met (< 120 s)." in text
    assert "at the start: 1.00 / 2.00 / 3.00; at the end: 2.50 / 2.00 / 1.50" in text
    assert "Report rendering split: not measured" not in text
