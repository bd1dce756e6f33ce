"""Report machinery: parameter checks, config, index, atomic writes, failure handling.

Rendering uses a tiny template (no data) so each run costs one kernel start; the real
templates run end to end in tests/test_notebooks.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from csresearch.errors import ConfigError, ReportError
from csresearch.reports import check_parameters, load_config, notebook_parameters, render_report
from csresearch.reports.index import atomic_write, record
from csresearch.reports.params import parse_parameters
from csresearch.reports.render import REPORTS, TEMPLATES, export_html

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "csresearch" / "configs"  # packaged defaults; the demo maturity answers are in data/

PARAMS = '''as_of: str = "2025-12-31"  # snapshot date, ISO
data: str = "../data/demo"  # data source
top: int = 20  # rows shown
ratio: float = 0.5  # a share
flag: bool = False  # a switch
names: list[str] = ["a"]  # some names'''


def _template(folder, body: str = "print('hi')", name: str = "tiny"):
    nb = new_notebook(cells=[
        new_code_cell(PARAMS, metadata={"tags": ["parameters"]}),
        new_code_cell("import sys; print('noise', file=sys.stderr)\nimport warnings; warnings.warn('careful')"),
        new_code_cell(body),
        new_code_cell("from IPython.display import HTML; HTML('<p>as of ' + as_of + '</p>')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{name}.ipynb"))
    return folder


def test_parse_parameters_cell():
    spec = parse_parameters(PARAMS)
    assert list(spec) == ["as_of", "data", "top", "ratio", "flag", "names"]
    assert spec["as_of"].help == "snapshot date, ISO" and spec["top"].default == 20
    assert spec["names"].type == "list[str]"


@pytest.mark.parametrize(
    "source, match",
    [
        ('as_of = "2025-12-31"  # no annotation', "name: type = literal"),
        ('as_of: str = "2025-12-31"', "needs a help comment"),
        ("n: int = 2 * 3  # derived", "must be a literal"),
        ('n: int = "3"  # wrong', "is not a int"),
        ("d: dict = {}  # odd type", "use str, int, float, bool"),
        ("import os", "nothing derived"),
    ],
)
def test_parameters_cell_rules(source, match):
    with pytest.raises(ConfigError, match=match):
        parse_parameters(source)


def test_every_template_has_a_clean_parameters_cell():
    for name in REPORTS:
        path = TEMPLATES / f"{name}.ipynb"
        if not path.exists():
            pytest.skip(f"{name} template not written yet")
        spec = notebook_parameters(path)
        assert {"data", "as_of"} <= set(spec), name
        nb = nbformat.read(str(path), as_version=4)
        assert nb.metadata.kernelspec.name == "csresearch"  # the kit's kernel (python3 when absent)
        assert spec["mapping_path"].default == "", name  # reports.yaml defaults pass a mapping
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{name} has outputs"


def test_check_parameters_refuses_unknown_and_mistyped(tmp_path):
    spec = parse_parameters(PARAMS)
    with pytest.raises(ConfigError, match="unknown parameter 'as_off'; did you mean 'as_of'"):
        check_parameters("tiny", spec, {"as_off": "2025-12-31"})
    with pytest.raises(ConfigError, match="'top' must be a int, not 'many'"):
        check_parameters("tiny", spec, {"top": "many"})
    with pytest.raises(ConfigError, match="'flag' must be a bool"):
        check_parameters("tiny", spec, {"flag": 3})
    with pytest.raises(ConfigError, match="ISO date"):
        check_parameters("tiny", spec, {"as_of": "31/12/2025"})
    with pytest.raises(ConfigError, match="env:VARIABLE"):
        check_parameters("tiny", spec, {"data": "postgres://me:pw@db/cs"})


def test_unknown_name_message_reads_cleanly_and_choices_are_checked_before_running():
    spec = parse_parameters(PARAMS + '\ngrain: str = "month"  # period grain: month or quarter')
    with pytest.raises(ConfigError) as e:
        check_parameters("tiny", spec, {"as_off": "2025-12-31"})
    assert "did you mean 'as_of'? Its parameters are:" in str(e.value)  # no "?." run-on
    with pytest.raises(ConfigError, match="'grain' must be one of month, quarter, not 'week'"):
        check_parameters("tiny", spec, {"grain": "week"})
    assert check_parameters("tiny", spec, {"grain": "quarter"}) == {"grain": "quarter"}


def test_failure_message_masks_a_password():
    from csresearch.reports.render import describe_failure

    msg = describe_failure(ValueError("could not connect to postgres://me:s3cret@db/cs"), None)
    assert "s3cret" not in msg and "postgres://me:***@db/cs" in msg


def test_atomic_write_keeps_the_old_file_when_the_move_fails(tmp_path, monkeypatch):
    from csresearch import outputs

    target = tmp_path / "r.html"
    target.write_text("old")
    moves = []

    def failing_replace(src, dst):
        moves.append((src, dst))
        raise OSError("disk full")

    monkeypatch.setattr(outputs.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]  # temp file removed
    src, dst = moves[0]
    assert Path(src).parent == target.parent and Path(dst) == target  # temp in the same folder: a rename


def test_kpi_values_carry_their_unit():
    from csresearch.reports.sections.retention import _kpi_name, _kpi_value

    assert _kpi_value("share", 0.0251) == "2.5 %"
    assert _kpi_value("days", 40.4012) == "40.4 days"
    assert _kpi_value("score 1-7", 5.2234) == "5.22 (1-7 scale)"
    assert _kpi_value("tickets", 0.987) == "0.99 per account"
    assert _kpi_value("days", float("nan")) == "n/a"
    assert _kpi_name("mrr_churn_rate") == "MRR churn rate" and _kpi_name("nrr") == "NRR"


def test_check_parameters_converts_strings_and_resolves_paths(tmp_path):
    spec = parse_parameters(PARAMS)
    out = check_parameters("tiny", spec, {"top": "5", "ratio": "1", "flag": "yes", "names": "a, b",
                                          "data": "rel/dir"}, base=tmp_path)
    assert out == {"top": 5, "ratio": 1.0, "flag": True, "names": ["a", "b"], "data": str(tmp_path / "rel/dir")}
    assert check_parameters("tiny", spec, {"data": "env:CS_DB"}, base=tmp_path)["data"] == "env:CS_DB"


def test_render_success_strips_code_warnings_and_streams(tmp_path):
    templates = _template(tmp_path / "t")
    res = render_report("tiny", {"as_of": "2025-11-30"}, tmp_path / "out", templates=templates, progress=False)
    html = (tmp_path / "out" / "2025-11-30" / "tiny.html").read_text()
    assert res.status == "ok" and "as of 2025-11-30" in html
    for forbidden in ("noise", "careful", "print(", "import sys", "<script"):
        assert forbidden not in html, forbidden
    index = (tmp_path / "out" / "index.html").read_text()
    assert 'href="2025-11-30/tiny.html"' in index and ">ok<" in index


def test_default_paths_are_passed_absolute_from_the_template_folder(tmp_path):
    templates = _template(tmp_path / "t", body="from IPython.display import HTML; HTML('<p>data=' + data + '</p>')")
    render_report("tiny", {}, tmp_path / "out", templates=templates, progress=False)
    html = (tmp_path / "out" / "2025-12-31" / "tiny.html").read_text()
    # the default "../data/demo" is relative to the template's folder t/: tmp_path/data/demo
    assert f"data={(tmp_path / 'data' / 'demo').resolve()}<" in html


def test_render_failure_keeps_previous_report_and_names_the_cell(tmp_path):
    templates = _template(tmp_path / "t")
    out = tmp_path / "out"
    render_report("tiny", {}, out, templates=templates, progress=False)
    good = (out / "2025-12-31" / "tiny.html").read_text()
    _template(tmp_path / "t", body="raise ValueError('broken <source>')")
    with pytest.raises(ReportError, match=r"cell \d+ .*raised ValueError: broken <source>.*previous report is kept"):
        render_report("tiny", {}, out, templates=templates, progress=False)
    assert (out / "2025-12-31" / "tiny.html").read_text() == good
    assert (out / "_failed" / "2025-12-31" / "tiny.ipynb").exists()
    assert not list(out.glob(".work-*")) and not list((out / "2025-12-31").glob(".*tmp"))
    index = (out / "index.html").read_text()
    assert "failed (previous good report kept)" in index and "broken &lt;source&gt;" in index


def test_bad_parameters_refused_before_anything_runs(tmp_path):
    templates = _template(tmp_path / "t", body="open('ran', 'w').write('x')")
    with pytest.raises(ConfigError, match="unknown parameter 'as_off'"):
        render_report("tiny", {"as_off": "2025-12-31"}, tmp_path / "out", templates=templates, progress=False)
    assert not (tmp_path / "t" / "ran").exists() and not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="no report named 'nope'"):
        render_report("nope", {}, tmp_path / "out", templates=templates)


def test_timeout_interrupts_and_fails(tmp_path):
    templates = _template(tmp_path / "t", body="import time; time.sleep(60)")
    with pytest.raises(ReportError, match="timed out after 3 s"):
        render_report("tiny", {}, tmp_path / "out", templates=templates, progress=False, timeout=3)


def test_index_escapes_and_is_atomic(tmp_path):
    record(tmp_path, {"report": "r", "label": "x", "as_of": "2025-12-31", "status": "failed",
                      "message": "<script>alert(1)</script>", "path": None})
    html = (tmp_path / "index.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert json.loads((tmp_path / "_index.json").read_text())[0]["label"] == "x"
    atomic_write(tmp_path / "a.txt", "one")
    assert (tmp_path / "a.txt").read_text() == "one" and not list(tmp_path.glob(".a.txt*"))


def test_export_html_has_no_inputs(tmp_path):
    nb = new_notebook(cells=[new_code_cell("secret_code = 1")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text="Traceback (most recent)")]
    html = export_html(nb, "t")
    assert "secret_code" not in html and "Traceback" not in html and "<script" not in html


def test_config_expands_each_and_refuses_unknown_keys(tmp_path):
    templates = _template(tmp_path / "t")
    cfg = tmp_path / "r.yaml"
    cfg.write_text(f"templates: {templates}\nout: {tmp_path / 'o'}\ndefaults: {{as_of: '2025-12-31'}}\n"
                   "reports:\n  - report: tiny\n  - report: tiny\n    each: {top: [1, 2]}\n")
    plan = load_config(cfg)
    assert [j.label for j in plan.jobs] == ["tiny", "tiny_1", "tiny_2"]
    assert plan.jobs[2].params == {"as_of": "2025-12-31", "top": 2}
    cfg.write_text(f"templates: {templates}\nreprots: []\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(cfg)
    cfg.write_text(f"templates: {templates}\ndefaults: {{sgement: x}}\nreports: [{{report: tiny}}]\n")
    with pytest.raises(ConfigError, match="not a parameter of any report"):
        load_config(cfg)


def test_repository_config_names_real_reports():
    plan = load_config(REPO / "data" / "reports.yaml")
    assert {j.report for j in plan.jobs} == set(REPORTS)


# -- sections, in process (no kernel) ----------------------------------------------------------
def test_retention_summary_says_the_bridge_numbers_in_words(demo_small):
    from csresearch.metrics.revenue import mrr_bridge
    from csresearch.reports import sections
    from csresearch.reports.context import ReportContext
    from csresearch.reports.present import words as nv

    ctx = ReportContext.from_source(demo_small, "2025-12-31", report="retention")
    html = sections.retention_summary(ctx).html
    b = mrr_bridge(demo_small.df("subscriptions"), "2025-12-31")
    last, prev = b.iloc[-1], b.iloc[-2]
    assert nv.pct(last["logo_churn_rate"]) in html and nv.pct(last["nrr"]) in html
    assert nv.change_sentence("Logo churn", last["logo_churn_rate"], prev["logo_churn_rate"],
                              last["period_start"]) in html
    assert "December 2025" in html


def test_absent_optional_table_is_stated_not_invented(demo_small):
    from csresearch.data.sources import DataSource
    from csresearch.reports import sections
    from csresearch.reports.context import ReportContext

    src = DataSource.from_frames({"accounts": demo_small.df("accounts"),
                                  "subscriptions": demo_small.df("subscriptions")})
    ctx = ReportContext.from_source(src, "2025-12-31")
    html = sections.retention_churn_reasons(ctx).html
    assert "Not available in this version: churn by reason" in html and "%" not in html


def test_section_shows_data_quality_warnings_as_notes():
    import warnings

    from csresearch.errors import DataQualityWarning
    from csresearch.reports.notebook import section
    from csresearch.reports.present.tables import Section

    @section
    def build() -> Section:
        warnings.warn("only 3 <events>", DataQualityWarning, stacklevel=1)
        return Section("x")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing escapes the section
        html = build().html
    assert "Caveat: only 3 &lt;events&gt;" in html


def test_env_source_is_named_never_resolved(demo_small_dir, monkeypatch):
    from csresearch.reports import notebook as rn

    monkeypatch.setenv("CS_TEST_DB", str(demo_small_dir))
    ctx = rn.start("retention", data="env:CS_TEST_DB", as_of="2025-12-31")
    html = rn.header(ctx, "Retention report").html + rn.provenance(ctx).html
    assert "env:CS_TEST_DB" in html and str(demo_small_dir) not in html


def _pm(start: str, end: str, duration: float | None = None) -> dict:
    return {"papermill": {"start_time": start, "end_time": end, "duration": duration}}


def test_cell_timings_splits_papermill_timestamps():
    from nbformat.v4 import new_markdown_cell

    from csresearch.reports.render import cell_timings

    day = "2026-01-01T00:00:"
    nb = new_notebook(cells=[
        new_code_cell("rn.setup()", metadata={"tags": ["setup"], **_pm(day + "02.000000", day + "03.000000", 1.0)}),
        new_code_cell("as_of = ''", metadata={"tags": ["parameters"], **_pm(day + "03.000000", day + "03.500000", 0.5)}),
        new_markdown_cell("text"),
        new_code_cell("ctx = rn.start()", metadata={"tags": ["start"], **_pm(day + "03.500000", day + "06.000000", 2.5)}),
        new_code_cell("a()", metadata=_pm(day + "06.000000", day + "10.000000", 4.0)),
        new_code_cell("b()", metadata=_pm(day + "10.000000", day + "16.000000", 6.0)),
    ], metadata=_pm(day + "00.000000", day + "20.000000"))
    # start-up: 00:00 (papermill start, before the kernel) to 03.5 (end of the parameters) = 3.5 s;
    # loading: the 'start' cell, 2.5 s; computation: 4.0 + 6.0 = 10.0 s; execution: 20 s.
    assert cell_timings(nb) == {"startup": 3.5, "loading": 2.5, "computation": 10.0, "execution": 20.0}
    nb.cells[3].metadata.tags = []
    with pytest.raises(ValueError, match="no code cell tagged 'start'"):
        cell_timings(nb)


def test_render_result_has_the_time_split(tmp_path):
    """A real render: the 'start' cell sleeps 0.6 s, the next one 0.4 s."""
    nb = new_notebook(cells=[
        new_code_cell("import time", metadata={"tags": ["setup"]}),
        new_code_cell('as_of: str = "2025-12-31"  # snapshot date', metadata={"tags": ["parameters"]}),
        new_code_cell("time.sleep(0.6)", metadata={"tags": ["start"]}),
        new_code_cell("time.sleep(0.4)\n'done'"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    (tmp_path / "t").mkdir()
    nbformat.write(nb, str(tmp_path / "t" / "split.ipynb"))
    res = render_report("split", {}, tmp_path / "out", templates=tmp_path / "t", progress=False)
    t = res.timings
    assert set(t) == {"startup", "loading", "computation", "execution", "rendering"}
    assert 0.6 <= t["loading"] < 5 and 0.4 <= t["computation"] < 5
    assert t["startup"] > 0.2 and t["rendering"] > 0  # a kernel takes well over 0.2 s to start
    assert t["startup"] + t["loading"] + t["computation"] <= t["execution"] <= res.seconds + 0.1
    assert "timings" not in json.loads((tmp_path / "out" / "_index.json").read_text())[0]


def test_maturity_changes_are_signed_and_na_evidence_is_explained(demo_small):
    from csresearch.reports import sections
    from csresearch.reports.context import ReportContext

    data = REPO / "data"
    ctx = ReportContext.from_source(demo_small, "2025-12-31", report="maturity",
                                    questionnaire_path=str(CONFIGS / "maturity.yaml"),
                                    answers_path=str(data / "maturity_answers.yaml"),
                                    previous_answers_path=str(data / "maturity_answers_previous.yaml"))
    change = sections.maturity_change(ctx).html
    # the committed answers: Customer master management 2 -> 3, i.e. +1
    assert '<td>Customer master management</td><td class="num">2</td><td class="num">3</td><td class="num">+1</td>' \
        in change
    levels = sections.maturity_levels(ctx).html
    assert "is n/a where no evidence in the data measures that capability" in levels


def test_health_component_table_lists_bands_red_yellow_green(demo_small):
    from csresearch.reports import sections
    from csresearch.reports.context import ReportContext

    ctx = ReportContext.from_source(demo_small, "2025-12-31", report="health",
                                    health_config_path=str(CONFIGS / "health.yaml"),
                                    playbook_path=str(CONFIGS / "playbooks.yaml"))
    html = sections.health_components(ctx).html
    head = html[html.index("<thead>"):html.index("</thead>")]
    assert head.index(">red<") < head.index(">yellow<") < head.index(">green<")
    assert "score points" in html


def test_at_risk_card_and_whole_durations(demo_small):
    import re

    from csresearch.reports import sections
    from csresearch.reports.context import ReportContext

    ctx = ReportContext.from_source(demo_small, "2025-12-31", report="churn_drivers", segment="segment",
                                    covariates=[], duration="", event="", time_unit="months", id_column="",
                                    value_column="")
    html = sections.drivers_at_risk(ctx).html
    assert " of the " in html and "active customers on 2025-12-31 have a churn probability" in html
    assert "without covariates left out" not in html
    days = re.findall(r'<td class="num">(\d[\d,.]*)</td>', html)
    assert days and not any(d.endswith(".0") for d in days)  # days since day 90 are whole numbers


def test_duration_axis_label_reads_as_words():
    from types import SimpleNamespace

    from csresearch.reports.sections.drivers import _duration_label

    assert _duration_label(SimpleNamespace(duration="days_after_window", unit="days")) == \
        "days after the first 90 days"
    assert _duration_label(SimpleNamespace(duration="tenure", unit="months")) == "tenure (months)"


def test_health_summary_puts_red_mrr_in_proportion(demo_small):
    import re

    from csresearch.reports import sections
    from csresearch.reports.context import ReportContext

    ctx = ReportContext.from_source(demo_small, "2025-12-31", report="health",
                                    health_config_path=str(CONFIGS / "health.yaml"),
                                    playbook_path=str(CONFIGS / "playbooks.yaml"))
    html = sections.health_summary(ctx).html
    assert re.search(r"\d+\.\d % of active MRR; per month, as of 2025-12-31", html)


# -- custom templates and the kernel -----------------------------------------------------------
def test_custom_template_by_path_gets_checks_index_and_label(tmp_path, monkeypatch):
    _template(tmp_path / "mine", name="csm_review")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="unknown parameter 'tpo'; did you mean 'top'"):
        render_report("mine/csm_review.ipynb", {"tpo": 3}, tmp_path / "out", progress=False)
    with pytest.raises(ConfigError, match="template notebook not found"):
        render_report("mine/nope.ipynb", {}, tmp_path / "out", progress=False)
    res = render_report("mine/csm_review.ipynb", {"as_of": "2025-10-31"}, tmp_path / "out", progress=False)
    assert res.status == "ok" and res.report == "csm_review" and res.path == "2025-10-31/csm_review.html"
    assert 'href="2025-10-31/csm_review.html"' in (tmp_path / "out" / "index.html").read_text()


def test_custom_template_in_a_config_is_relative_to_the_config(tmp_path, monkeypatch):
    _template(tmp_path / "proj" / "mine", name="csm_review")
    cfg = tmp_path / "proj" / "reports.yaml"
    cfg.write_text("out: out\ndefaults: {data: data/x}\nreports: [{report: mine/csm_review.ipynb}]\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    plan = load_config(cfg)
    assert plan.out == (tmp_path / "proj" / "out").resolve()
    (job,) = plan.jobs
    assert job.label == "csm_review" and Path(job.report) == (tmp_path / "proj" / "mine" / "csm_review.ipynb")


def test_kernel_falls_back_to_the_current_python(tmp_path):
    import sys

    from csresearch.reports.kernel import CurrentPythonSpecs, declared_kernel, kernel_name_for

    assert kernel_name_for("csresearch", available={"python3"}) == "python3"
    assert kernel_name_for("csresearch", available={"csresearch"}) == "csresearch"
    assert kernel_name_for("python3", available=set()) == "python3"
    assert CurrentPythonSpecs().get_kernel_spec("python3").argv[0] == sys.executable
    nb = new_notebook(metadata={"kernelspec": {"name": "csresearch", "display_name": "x", "language": "python"}})
    nbformat.write(nb, str(tmp_path / "k.ipynb"))
    assert declared_kernel(tmp_path / "k.ipynb") == "csresearch"
    nbformat.write(new_notebook(), str(tmp_path / "none.ipynb"))
    assert declared_kernel(tmp_path / "none.ipynb") == "python3"


URL_S = "postgresql+psycopg2://analyst:S3cretPW@db.internal:5432/cs"
URL_AT = "postgresql+psycopg2://analyst:Tr0ub@dor-PW@db.internal:5432/cs"


def _no_secret_under(folder: Path, *secrets: str) -> None:
    for f in folder.rglob("*"):
        if f.is_file():
            text = f.read_bytes().decode("utf-8", "replace")
            for s in secrets:
                assert s not in text, f"{s} in {f}"


def test_failed_notebook_index_and_message_never_hold_a_url_password(tmp_path, monkeypatch):
    # the kernel resolves env:CS_DB itself and raises with the URL, the bare password (a library
    # that reformats the URL) and a second URL whose password holds '@' (traceback and evalue)
    monkeypatch.setenv("CS_DB", URL_S)
    body = ("import os\nu = os.environ[data[4:]]\npw = u.split(':')[2].split('@')[0]\n"
            f"raise ValueError(f\"Don't know how to connect to {{u!r}} (password {{pw}}); also {URL_AT}\")")
    templates = _template(tmp_path / "t", body=body)
    with pytest.raises(ReportError) as err:
        render_report("tiny", {"data": "env:CS_DB"}, tmp_path / "out", templates=templates, progress=False)
    assert "analyst:***@db.internal" in str(err.value)
    assert (tmp_path / "out" / "_failed" / "2025-12-31" / "tiny.ipynb").exists()
    _no_secret_under(tmp_path / "out", "S3cretPW", "Tr0ub", "dor-PW")
    assert "S3cretPW" not in str(err.value) and "Tr0ub" not in str(err.value)


def _record_many(out: str, worker: int, start, n: int) -> None:
    from csresearch.reports.index import record as rec

    start.wait()
    for i in range(n):
        rec(Path(out), {"report": "r", "label": f"w{worker}_{i}", "as_of": "2025-12-31", "status": "ok",
                        "path": None, "message": "cell 3 raised ValueError: " + "a long message " * 40})


def test_index_records_from_several_processes_at_once_are_all_kept(tmp_path):
    import multiprocessing as mp

    from csresearch.reports import index as _  # noqa: F401 - imported once, before the fork

    ctx = mp.get_context("fork")  # spawn re-imports the kit in each process (seconds)
    workers, n = 6, 10
    start = ctx.Barrier(workers)
    procs = [ctx.Process(target=_record_many, args=(str(tmp_path), w, start, n)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs)
    labels = {e["label"] for e in json.loads((tmp_path / "_index.json").read_text())}
    assert len(labels) == workers * n  # the per-process lock lost entries here
    assert (tmp_path / "index.html").read_text().count("<tr>") == workers * n + 1


def test_stale_work_folders_of_killed_runs_are_cleaned_at_the_start_of_a_run(tmp_path, monkeypatch):
    import os
    import socket
    import subprocess
    import time

    from csresearch.reports import index as index_mod
    from csresearch.reports import render as render_mod

    out = tmp_path / "out"
    out.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that has ended
    owner = {"host": socket.gethostname(), "started": time.time()}
    for name, pid in ((".work-dead-1", gone.pid), (".work-live-1", os.getpid())):
        (out / name).mkdir()
        (out / name / ".owner.json").write_text(json.dumps({**owner, "pid": pid}))
    (out / ".work-old-1").mkdir()  # an old run without owner file: by age
    os.utime(out / ".work-old-1", (time.time() - 7200, time.time() - 7200))
    (out / ".work-new-1").mkdir()  # a run starting right now in another process
    templates = _template(tmp_path / "t")

    def killed(*a, **k):
        raise RuntimeError("kernel died")

    monkeypatch.setattr(render_mod, "execute", killed)  # a cheap failing run: no kernel
    with pytest.raises(ReportError, match="kernel died"):
        render_report("tiny", {}, out, templates=templates, progress=False, timeout=60)
    assert sorted(p.name for p in out.glob(".work-*")) == [".work-live-1", ".work-new-1"]
    assert not index_mod.is_stale(out / ".work-live-1", 60)


@pytest.mark.parametrize("timeout", [0, -5, float("nan"), float("inf")])
def test_timeout_of_zero_or_less_is_refused_before_anything_runs(tmp_path, timeout):
    templates = _template(tmp_path / "t", body="open('ran', 'w').write('x')")
    with pytest.raises(ConfigError, match="timeout must be a number of seconds above 0"):
        render_report("tiny", {}, tmp_path / "out", templates=templates, progress=False, timeout=timeout)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("label", ["ret\n", "ret\nx", "../up", ".hidden", "a/b", ""])
def test_label_that_is_not_a_plain_file_name_is_refused(tmp_path, label):
    templates = _template(tmp_path / "t")
    with pytest.raises(ConfigError, match="use letters, digits"):
        render_report("tiny", {}, tmp_path / "out", label=label or " ", templates=templates, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("line, says", [
    ("timeout: abc", "timeout must be a number of seconds above 0"),
    ("timeout: 0", "timeout must be a number of seconds above 0"),
    ("jobs: two", "jobs must be a whole number"),
    ("jobs: 0", "jobs must be a whole number"),
    ("defaults: [a, b]", "defaults must be a mapping"),
])
def test_config_values_of_the_wrong_kind_are_named(tmp_path, line, says):
    templates = _template(tmp_path / "t")
    cfg = tmp_path / "r.yaml"
    cfg.write_text(f"templates: {templates}\n{line}\nreports: [{{report: tiny}}]\n")
    with pytest.raises(ConfigError, match=says):
        load_config(cfg)
    cfg.write_text(f"templates: {templates}\nreports:\n  - report: tiny\n    label: \"ret\\n\"\n"
                   "  - report: tiny\n    timeout: -1\n")
    with pytest.raises(ConfigError, match=r"reports\[1\]: label 'ret\\n'"):
        load_config(cfg)


def _fake_execute(path, output, params, timeout, progress=True, kernel=None):
    """Stand-in for the kernel run: the template itself as the 'executed' notebook."""
    nb = nbformat.read(str(path), as_version=4)
    nbformat.write(nb, str(output))


@pytest.mark.parametrize("err", [OSError(28, "No space left on device"), PermissionError(13, "Permission denied")])
def test_full_disk_or_read_only_folder_keeps_the_good_report_and_names_the_path(tmp_path, monkeypatch, err):
    import csresearch.outputs as outputs
    from csresearch.reports import render as render_mod

    templates = _template(tmp_path / "t")
    out = tmp_path / "out"
    (out / "2025-12-31").mkdir(parents=True)
    (out / "2025-12-31" / "tiny.html").write_text("good")
    monkeypatch.setattr(render_mod, "execute", _fake_execute)
    real_replace = outputs.os.replace

    def replace(src, dst):
        if str(dst).endswith("tiny.html"):
            raise err
        real_replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", replace)
    with pytest.raises(ConfigError, match=r"cannot write the report folder \(--out\) .*(disk is full|permission)"):
        render_report("tiny", {}, out, templates=templates, progress=False)
    assert (out / "2025-12-31" / "tiny.html").read_text() == "good"
    assert sorted(p.name for p in (out / "2025-12-31").iterdir()) == ["tiny.html"]  # no temp file left
    assert not list(out.glob(".work-*"))


def test_out_folder_that_cannot_be_made_is_one_paragraph(tmp_path):
    templates = _template(tmp_path / "t")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match=r"cannot write the report folder \(--out\) .*afile"):
        render_report("tiny", {}, tmp_path / "afile" / "out", templates=templates, progress=False)
