"""The exploratory notebooks run as an analyst runs them: in a Jupyter kernel, no report
machinery around them (DuckDB must not try to draw a widget progress bar there)."""

from pathlib import Path

import nbformat
import papermill as pm
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks" / "exploratory").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exploratory_notebook_runs(path, demo_small_dir, tmp_path):
    out = tmp_path / path.name
    pm.execute_notebook(
        str(path), str(out), parameters={"data": str(demo_small_dir)},
        cwd=str(path.parent), progress_bar=False, kernel_name="python3",
    )
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert any("inside 95 %" in o.get("data", {}).get("text/plain", "")
               for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_exploratory_notebooks_are_committed_clean():
    assert NOTEBOOKS, "notebooks/exploratory/ holds at least one notebook"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path
