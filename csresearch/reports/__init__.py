"""Parameterised reports: papermill templates rendered to HTML.

The templates are package data (``csresearch/templates/<report>.ipynb``, found with
``importlib.resources``); a path to any notebook with a ``parameters`` cell works too.

* :func:`render_report` renders one report (checked parameters, own kernel, time limit,
  atomic write, failure kept under ``_failed/``); :func:`run_config` renders a scheduled set
  from a YAML file; the index of an output folder is ``DIR/index.html``.
* :mod:`csresearch.reports.sections` holds the sections the templates call;
  :mod:`csresearch.reports.notebook` the in-kernel helpers (setup, start, provenance);
  :mod:`csresearch.reports.present` the tables, numbers in words, figures and labels.

Modules (imported lazily: ``from csresearch.reports import render_report`` works, and importing
the package alone loads none of them, so neither papermill nor nbconvert): ``config``
(``load_config``, ``run_config``), ``params`` (parameter checks), ``render`` (``render_report``,
``REPORTS``), ``html`` (``export_html``), ``kernel``, ``index``, ``summary``, ``context``,
``notebook``, ``sections``, ``present``.

Example
-------
>>> render_report("retention", {"data": "data/demo", "as_of": "2025-12-31"}, out_dir="reports")  # doctest: +SKIP
"""

from __future__ import annotations

from csresearch._facade import lazy

_EXPORTS = {
    "config": ["load_config", "run_config"],
    "html": ["export_html"],
    "params": ["Parameter", "check_parameters", "notebook_parameters"],
    "render": ["REPORTS", "RenderResult", "render_report", "template_path"],
}
__all__, __getattr__ = lazy(__name__, _EXPORTS)
