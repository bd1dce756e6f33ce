"""The HTML of an executed report: outputs only, the kit's style, and the run-time split.

:func:`export_html` turns an executed notebook into a self-contained HTML page (no input
cells, prompts, stream or error output, no external scripts; the summary output the kernel
emits for the JSON file is left out). :func:`cell_timings` splits the run time from
papermill's timestamps.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat

from csresearch.reports import summary

CSS = """
body{background:#fff}
.jp-Notebook{max-width:1080px;margin:0 auto;padding:1.2rem 1.5rem 3rem}
.jp-RenderedHTMLCommon{font-size:15px;line-height:1.5;color:#1d1d1f}
.jp-RenderedHTMLCommon h1{font-size:1.9rem;margin:.2rem 0 .4rem}
.jp-RenderedHTMLCommon h2{font-size:1.35rem;margin-top:1.6rem;border-bottom:2px solid #e3e6ea;padding-bottom:.2rem}
.jp-RenderedHTMLCommon h3{font-size:1.1rem}
.cs-cards{display:flex;flex-wrap:wrap;gap:.7rem;margin:.8rem 0}
.cs-card{border:1px solid #d9dde2;border-radius:6px;padding:.6rem .8rem;min-width:9rem;flex:1 1 14%;background:#f8f9fb}
.cs-card-label{font-size:.8rem;color:#555;text-transform:uppercase;letter-spacing:.03em}
.cs-card-value{font-size:1.5rem;font-weight:700;margin:.1rem 0}
.cs-card-sub{font-size:.8rem;color:#444}
.jp-RenderedHTMLCommon table.cs-table{border-collapse:collapse;margin:.4rem 0;font-size:.85rem;table-layout:auto}
.jp-RenderedHTMLCommon table.cs-table th,.jp-RenderedHTMLCommon table.cs-table td{padding:.25rem .55rem;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top;max-width:26rem}
.jp-RenderedHTMLCommon table.cs-table th.num{text-align:right}
.jp-RenderedHTMLCommon table.cs-table td.num{text-align:right;white-space:nowrap}
.jp-RenderedHTMLCommon table.cs-table td.nw{white-space:nowrap}
.jp-RenderedHTMLCommon table.cs-table thead th{border-bottom:2px solid #b9c2cc;vertical-align:bottom}
.jp-RenderedHTMLCommon table.cs-prov th,.jp-RenderedHTMLCommon table.cs-prov td{text-align:left;font-size:.8rem}
.cs-more,.cs-caption{font-size:.82rem;color:#555;margin:.2rem 0}
.cs-note{font-size:.85rem;color:#444;border-left:3px solid #c9d3de;padding-left:.6rem}
.cs-unavailable{font-size:.9rem;color:#7a4b00;background:#fff6e0;border-left:3px solid #e0a400;padding:.3rem .6rem}
.cs-figure{margin:.6rem 0}.cs-figure img{max-width:100%;height:auto}
.cs-summary{background:#f4f8fb;border:1px solid #d6e3ee;border-radius:8px;padding:.4rem 1rem .8rem}
@media print{.jp-Notebook{max-width:none;padding:0}.cs-section,.cs-figure,table{break-inside:avoid}
body{font-size:11pt}}
"""

TEMPLATE = (
    '{%- extends "lab/index.html.j2" -%}\n'
    "{%- block html_head_js -%}{%- endblock html_head_js -%}\n"
    "{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}\n"
    "{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}\n"
    "{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}\n"
    "{% block extra_css %}<style>" + CSS + "</style>{% endblock extra_css %}\n"
)



def export_html(executed: str | Path | nbformat.NotebookNode, title: str) -> str:
    """HTML of an executed notebook: outputs only, no stream or error output, no scripts."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = executed if isinstance(executed, nbformat.NotebookNode) else nbformat.read(str(executed), as_version=4)
    summary.strip(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.get("output_type") not in ("stream", "error")]
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"csreport.html.j2": TEMPLATE})],
        template_file="csreport.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        anchor_link_text="",
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def cell_timings(nb: nbformat.NotebookNode) -> dict[str, float]:
    """Split an executed notebook's run time, from papermill's timestamps (seconds).

    * ``startup``: from the start of execution (``metadata.papermill.start_time``, taken before
      the kernel is launched) to the end of the last code cell before the one tagged ``start``:
      kernel launch, the hidden setup cell (imports, plot style) and the parameters;
    * ``loading``: the cell(s) tagged ``start`` (``rn.start(...)`` opens the data source);
    * ``computation``: the durations of the later cells (sections read tables into pandas on
      first use, so that reading is counted here);
    * ``execution``: papermill's whole duration (the three above plus its own overhead).

    Raises ``ValueError`` when no cell is tagged ``start`` or the timestamps are missing.

    Example
    -------
    >>> cell_timings(nbformat.read("executed.ipynb", as_version=4))  # doctest: +SKIP
    {'startup': 3.1, 'loading': 0.4, 'computation': 12.0, 'execution': 15.9}
    """

    def ts(meta: Any, key: str) -> datetime | None:
        v = (meta.get("papermill") or {}).get(key)
        return datetime.fromisoformat(v) if v else None

    def dur(cell: Any) -> float:
        d = (cell.metadata.get("papermill") or {}).get("duration")
        return float(d) if d is not None else 0.0

    code = [c for c in nb.cells if c.cell_type == "code"]
    load = ["start" in c.metadata.get("tags", []) for c in code]
    if not any(load):
        raise ValueError("no code cell tagged 'start' (the cell that opens the data source)")
    first = load.index(True)
    t0, t_end = ts(nb.metadata, "start_time"), ts(nb.metadata, "end_time")
    setup_end = ts(code[first - 1].metadata, "end_time") if first else t0
    if t0 is None or setup_end is None:
        raise ValueError("no papermill timestamps in the notebook (was it executed by papermill?)")
    out = {
        "startup": (setup_end - t0).total_seconds(),
        "loading": sum(dur(c) for c, is_load in zip(code, load, strict=True) if is_load),
        "computation": sum(dur(c) for c, is_load in zip(code[first:], load[first:], strict=True)
                           if not is_load),
        "execution": (t_end - t0).total_seconds() if t_end else float("nan"),
    }
    return {k: round(v, 3) for k, v in out.items()}
