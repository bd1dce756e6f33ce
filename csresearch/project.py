"""``csresearch init DIR``: a ready project folder for your own data.

The folder holds everything a team edits, next to nothing it does not::

    reports.yaml                    the reports of a scheduled run, pointing at your data source
    health.yaml, playbooks.yaml     the health score and the playbook rules (copies of the defaults)
    maturity.yaml                   the CS maturity questionnaire
    maturity_answers.template.yaml  blank answers: fill in, save as maturity_answers.yaml
    mapping.yaml                    your table and column names onto the data contract
    explore.ipynb                   an exploratory notebook that opens the source
    README.md                       the next three commands

Every path in ``reports.yaml`` is relative to the folder, so ``csresearch report all --config
DIR/reports.yaml`` works from anywhere.

Example
-------
>>> written = init_project("cs-analytics", data="warehouse_export/")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from csresearch.data.schema import CONTRACT
from csresearch.errors import ConfigError
from csresearch.redaction import has_password

DEMO_SOURCE = "data/demo"  # where `csresearch demo-data` writes, run inside the project folder
DEFAULT_AS_OF = "2025-12-31"  # the demo data's last day
CONFIGS = ("health.yaml", "playbooks.yaml", "maturity.yaml")


def packaged_config(name: str) -> str:
    """The text of a default configuration shipped in the package (``csresearch/configs``)."""
    return resources.files("csresearch").joinpath("configs", name).read_text(encoding="utf-8")


def project_source(data: str | None, folder: Path) -> str:
    """The data source as ``reports.yaml`` names it: relative to the project folder when it can be.

    URLs and ``env:VAR`` are kept as they are; a URL with a password is refused (keep it in an
    environment variable and pass ``env:VAR``).
    """
    if data is None:
        return DEMO_SOURCE
    if has_password(data):
        raise ConfigError("--data holds a connection URL with a password; put it in an environment "
                          "variable (export CS_DB='...') and pass --data env:CS_DB")
    if data.startswith("env:") or "://" in data:
        return data
    path = Path(data).expanduser().resolve()
    try:
        return Path(os.path.relpath(path, folder.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return str(path)


def reports_yaml(source: str, as_of: str) -> str:
    """The project's ``reports.yaml``."""
    return f"""\
# The reports of this project: csresearch report all --config reports.yaml
# Relative paths are relative to this file's folder, wherever the command runs.
out: reports                      # DIR/<as_of>/<label>.html and DIR/index.html
timeout: 900                      # seconds allowed per report
jobs: 1                           # reports rendered at once, each in its own kernel
defaults:                         # given to every report that declares the parameter
  data: {source}                  # folder of CSV/Parquet, .duckdb file, Ibis URL or env:VAR
  as_of: "{as_of}"                # snapshot date, ISO (YYYY-MM-DD)
  mapping_path: mapping.yaml      # your table and column names onto the data contract
reports:
  - report: retention
  - report: health
    params:
      health_config_path: health.yaml
      playbook_path: playbooks.yaml
  - report: churn_drivers
  - report: maturity               # fill in maturity_answers.template.yaml, save it as maturity_answers.yaml
    skip_if_missing: maturity_answers.yaml
    params:
      questionnaire_path: maturity.yaml
      answers_path: maturity_answers.yaml
      previous_answers_path: ""    # last assessment's answers, for the change since then
  # Your own report: a notebook with a cell tagged 'parameters' (see the documentation).
  # - report: my_reports/renewals.ipynb
"""


def mapping_yaml() -> str:
    """A mapping template: every contract table and column, commented out."""
    lines = [
        "# Your table and column names onto the data contract. Uncomment the lines where yours differ",
        "# (contract name: your name); leave the rest commented. Check it with:",
        "#   csresearch validate SOURCE --mapping mapping.yaml",
        "tables:                 # contract table: your table (or file name without .csv/.parquet)",
    ]
    lines += [f"  # {name}: {name}" for name in CONTRACT]
    lines.append("columns:                # per contract table, contract column: your column")
    for name, table in CONTRACT.items():
        need = "required" if table.required else "optional"
        lines.append(f"  # {name}:                # {need} table")
        for col in table.columns:
            note = f"{col.dtype}{'' if col.required else ', optional'}"
            lines.append(f"  #   {col.name}: {col.name}    # {note}")
    return "\n".join(lines) + "\n"


def explore_notebook(source: str, as_of: str) -> str:
    """An exploratory notebook that opens the source (JSON text, no outputs)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    cells = [
        new_markdown_cell("# Exploring the data\n\nOpens the data source of `reports.yaml` (validated on "
                          "load: a failure names the table, the column and how to fix it)."),
        new_code_cell(f'from csresearch.data.sources import open_source\n\nsrc = open_source("{source}", '
                      f'mapping="mapping.yaml")\nAS_OF = "{as_of}"\n'
                      "src.row_counts()  # rows per table; an absent optional table is left out"),
        new_code_cell("from csresearch.metrics import period_table\n\n"
                      'period_table(src, AS_OF, grain="quarter", by="segment").tail(12)'),
        new_code_cell("from csresearch.health.score import health_history\n\n"
                      "health = health_history(src, AS_OF, \"health.yaml\")\n"
                      "health[health.period_start == health.period_start.max()].band.value_counts()"),
        new_code_cell("from csresearch.survival import km_summary, survival_table\n\n"
                      "st = survival_table(src, AS_OF)\n"
                      'km_summary(st, "tenure_days", "churned", by="segment", at=[365, 730])'),
    ]
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    })
    return nbformat.writes(nb)


def readme(source: str, demo: bool) -> str:
    """The project's README: what is here and the next three commands."""
    first = ("csresearch demo-data --accounts 2000 --out data/demo   # demo data, to try it first"
             if demo else f"csresearch validate {source} --mapping mapping.yaml   # check your data")
    return f"""\
# CS analytics with csresearch

Created by `csresearch init`. Data source: `{source}` (set in `reports.yaml`).

| file | what to edit |
|---|---|
| `reports.yaml` | data source, as-of date, which reports to render |
| `mapping.yaml` | your table and column names, when they differ from the data contract |
| `health.yaml`, `playbooks.yaml` | health score components and weights; rules that emit calls to action |
| `maturity.yaml`, `maturity_answers.template.yaml` | the CS maturity questionnaire; fill in the answers and save them as `maturity_answers.yaml` |
| `explore.ipynb` | an exploratory notebook on the same source |

Next, in this folder:

```bash
{first}
csresearch report all --config reports.yaml             # reports/index.html lists every report
jupyter lab explore.ipynb                               # explore the same data
```
"""


def project_files(source: str, as_of: str, demo: bool) -> dict[str, str]:
    """File name -> text of a new project."""
    from csresearch.maturity import template

    files = {"reports.yaml": reports_yaml(source, as_of)}
    files.update({name: packaged_config(name) for name in CONFIGS})
    files["maturity_answers.template.yaml"] = template()
    files["mapping.yaml"] = mapping_yaml()
    files["explore.ipynb"] = explore_notebook(source, as_of)
    files["README.md"] = readme(source, demo)
    return files


def init_project(folder: str | Path, data: str | None = None, as_of: str = DEFAULT_AS_OF,
                 force: bool = False) -> list[Path]:
    """Write a new project into ``folder`` and return the files written.

    Parameters
    ----------
    data
        The data source (folder, .duckdb file, Ibis URL or ``env:VAR``); a path is written
        relative to ``folder``. Default: ``data/demo`` inside it, where ``csresearch demo-data``
        writes.
    as_of
        The snapshot date the reports start with (ISO).
    force
        Write into a folder that is not empty (files of the same name are replaced).

    Raises
    ------
    ConfigError
        The folder exists and is not empty (without ``force``), is a file, or ``data`` is a URL
        with a password.
    """
    from datetime import date

    out = Path(folder).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; give a folder for the new project")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ConfigError(f"{out} is not empty; choose a new folder or pass --force to write into it")
    try:
        date.fromisoformat(as_of)
    except ValueError:
        raise ConfigError(f"--as-of must be an ISO date like 2025-12-31, not {as_of!r}") from None
    source = project_source(data, out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in project_files(source, as_of, demo=data is None).items():
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    return written
