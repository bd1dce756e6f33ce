"""Parameterised reports: papermill templates rendered to HTML.

The templates are package data (``csresearch/templates/<report>.ipynb``, found with
``importlib.resources``); a path to any notebook with a ``parameters`` cell works too.

* :func:`render_report` renders one report (checked parameters, own kernel, time limit,
  atomic write, failure kept under ``_failed/``); :func:`run_config` renders a scheduled set
  from a YAML file; the index of an output folder is ``DIR/index.html``.
* :mod:`csresearch.reports.sections` holds the sections the templates call;
  :mod:`csresearch.reports.notebook` the in-kernel helpers (setup, start, provenance).

Example
-------
>>> render_report("retention", {"data": "data/demo", "as_of": "2025-12-31"}, out_dir="reports")  # doctest: +SKIP
"""

from csresearch.reports.config import load_config, run_config
from csresearch.reports.html import export_html
from csresearch.reports.params import Parameter, check_parameters, notebook_parameters
from csresearch.reports.render import REPORTS, RenderResult, render_report, template_path

__all__ = [
    "REPORTS",
    "Parameter",
    "RenderResult",
    "check_parameters",
    "export_html",
    "load_config",
    "notebook_parameters",
    "render_report",
    "run_config",
    "template_path",
]
