"""The summary JSON payload: plain values, reserved keys, read back from a notebook."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pandas as pd
import pytest

from csresearch.reports import summary


def test_plain_values_are_json_ready():
    figures = {
        "n": np.int64(7), "share": np.float64(0.25), "missing": float("nan"), "flag": np.bool_(True),
        "day": pd.Timestamp("2025-12-31"), "rows": [{"p": np.float64(9.2e-12)}], "na": pd.NA,
    }
    out = summary.build({"report": "retention", "as_of": "2025-12-31"}, figures, {"parameters": {"a": 1}})
    text = json.dumps(out, allow_nan=False)  # would raise on NaN or numpy types
    back = json.loads(text)
    assert back["n"] == 7 and back["share"] == 0.25 and back["missing"] is None and back["flag"] is True
    assert back["day"] == "2025-12-31" and back["rows"][0]["p"] == 9.2e-12 and back["na"] is None
    assert back["parameters"] == {"a": 1} and back["provenance"] == {}
    assert list(back)[:2] == ["report", "as_of"]


def test_reserved_keys_are_refused():
    with pytest.raises(ValueError, match="reserved key"):
        summary.build({"report": "x"}, {"parameters": 1}, {})


def test_extract_and_strip_from_an_executed_notebook():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("rn.provenance(ctx)")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<p>prov</p>"}),
        nbformat.v4.new_output("display_data", data={summary.MIME: {"active_customers": 5}}),
    ]
    nb.cells.append(cell)
    assert summary.extract(nb) == {"active_customers": 5}
    summary.strip(nb)
    assert summary.extract(nb) is None and len(nb.cells[0].outputs) == 1
