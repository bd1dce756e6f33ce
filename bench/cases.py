"""The measurements, each run in a child process (``python -m bench --case ...``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bench.config import AS_OF, DEMO_MODEL, REPORT_TIMEOUT, SPLIT


def pandas_usage_features(path: str, as_of: str = AS_OF):
    """The usage features of :mod:`csresearch.features.usage` in pandas (the in-memory reference)."""
    import pandas as pd
    import pyarrow.parquet as pq

    df = pq.read_table(path, read_dictionary=["account_id", "event_type", "user_id"]).to_pandas()
    cut = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    last_mi = cut.year * 12 + cut.month - 2
    df = df[df["occurred_at"] < pd.Timestamp(cut.year, cut.month, 1)]
    ts = df["occurred_at"]
    df = df.assign(mi=ts.dt.year * 12 + ts.dt.month - 1, day=ts.dt.normalize())
    g = df.groupby(["account_id", "mi"], observed=True)
    agg = g.agg(events=("event_type", "size"), quantity=("quantity", "sum"),
                active_days=("day", "nunique"), event_types=("event_type", "nunique"),
                users=("user_id", "nunique"), with_user=("user_id", "count")).reset_index()
    first = agg.groupby("account_id", observed=True)["mi"].min()
    lens = last_mi + 1 - first.to_numpy()
    spine = pd.DataFrame({"account_id": np.repeat(first.index.astype(str).to_numpy(), lens),
                          "mi": np.concatenate([np.arange(f, last_mi + 1) for f in first.to_numpy()])})
    agg["account_id"] = agg["account_id"].astype(str)
    out = spine.merge(agg, on=["account_id", "mi"], how="left")
    for c in ("events", "active_days", "event_types"):
        out[c] = out[c].fillna(0).astype("int64")
    out["quantity"] = out["quantity"].fillna(0.0)
    out["active_users"] = np.where(out["events"] == 0, 0,
                                   np.where(out["with_user"] > 0, out["users"], np.nan))
    sh = out.groupby("account_id")["events"]
    out["prev3_mean"] = (sh.shift(1) + sh.shift(2) + sh.shift(3)) / 3.0
    out["trend"] = np.log((out["events"] + 1.0) / (out["prev3_mean"] + 1.0))
    out["month"] = pd.to_datetime({"year": out["mi"] // 12, "month": out["mi"] % 12 + 1, "day": 1})
    return out[["account_id", "month", "events", "quantity", "active_days", "event_types",
                "active_users", "prev3_mean", "trend"]]


def _features_check(df) -> list[float]:
    return [float(len(df)), float(df["events"].sum()), float(df["active_days"].sum()),
            float(np.nansum(df["trend"]))]


def _cells(nb, top: int = 3) -> list[list]:
    """The ``top`` slowest code cells of an executed notebook: [first line, seconds]."""
    out = []
    for c in nb.cells:
        d = (c.metadata.get("papermill") or {}).get("duration")
        if c.cell_type == "code" and d is not None:
            out.append([c.source.strip().splitlines()[0][:70] if c.source.strip() else "", float(d)])
    return sorted(out, key=lambda x: -x[1])[:top]


def where_stopped(nb_path: Path, until=None) -> str | None:
    """The cell a (failed, interrupted or killed) executed notebook stopped in, with how long
    it ran (to its end time, else to ``until``, the moment the run was killed, else to the
    file's last save): ``code cell 5 (sections.health_movers(ctx)), 412 s``."""
    import nbformat

    try:
        nb = nbformat.read(str(nb_path), as_version=4)
    except Exception:  # noqa: BLE001 - a notebook cut by a kill may not parse
        return None
    from datetime import datetime

    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, c in enumerate(code):
        pm = c.metadata.get("papermill") or {}
        if pm.get("exception") or pm.get("status") in ("running", "failed"):
            line = c.source.strip().splitlines()[0][:70] if c.source.strip() else ""
            ran = ""
            if pm.get("start_time") and not pm.get("end_time") and until is not None:
                ran = " (still running when the run was stopped)"
            if pm.get("start_time"):
                end = pm.get("end_time") or until or datetime.fromtimestamp(nb_path.stat().st_mtime).astimezone()
                end = datetime.fromisoformat(end) if isinstance(end, str) else end
                ran = f", {(end - datetime.fromisoformat(pm['start_time'])).total_seconds():.0f} s" + ran
            return f"code cell {i + 1} ({line}){ran}"
    return None


def render_all(demo: str, result: str | None = None, report_timeout: int = REPORT_TIMEOUT, jobs: int = 1) -> dict:
    """``report all`` on the demo set ``demo``: the four reports from a config with ``jobs: 1``
    through :func:`csresearch.reports.config.run_config`, as ``csresearch report all`` runs them
    (in turn, each next report's kernel started and warmed while the one before renders); with
    ``jobs`` > 1, that many reports at a time (each report's ``seconds`` is then its own render
    time, :attr:`RenderResult.seconds`, and the output folder ends in ``_j<jobs>``).

    Per report: ``seconds`` = from the end of the report before (the start of the run for
    the first) to the end of this one; the split of :attr:`RenderResult.timings`; ``fixed`` =
    seconds - data loading - computation (kernel start-up or the wait for the kernel started
    ahead, the hidden setup cell and the parameters, the HTML export, papermill's and the
    index's writes, kernel shut-down); ``cells`` = its three slowest cells. The output goes to
    ``_reports_<folder name>`` beside ``demo``; after each report the answer so far is written
    to ``result`` (when given), so that a stopped run still tells what finished.
    """
    import yaml

    from csresearch.reports import REPORTS
    from csresearch.reports import render as render_mod
    from csresearch.reports.config import run_config

    demo_p = Path(demo).resolve()
    tag = f"_reports_{demo_p.name}" + (f"_j{jobs}" if jobs > 1 else "")
    out_dir, cfg = demo_p.parent / tag, demo_p.parent / f"{tag}.yaml"
    cfg.write_text(yaml.safe_dump({
        "out": str(out_dir), "timeout": report_timeout, "jobs": jobs,
        "defaults": {"data": str(demo_p), "as_of": AS_OF},
        "reports": [{"report": r} for r in REPORTS]}))
    slowest: dict = {}
    timings = render_mod.cell_timings

    def timings_and_cells(nb):  # the executed notebook is deleted after export: look now
        slowest["cells"] = _cells(nb)
        return timings(nb)

    render_mod.cell_timings = timings_and_cells
    ans: dict = {"reports": {}, "split": dict.fromkeys(SPLIT, 0.0)}
    t0 = time.perf_counter()
    last = [t0]

    def done(res) -> None:
        now = time.perf_counter()
        tim = {k: v for k, v in (res.timings or {}).items()}
        tim.update(seconds=now - last[0] if jobs == 1 else res.seconds, status=res.status,
                   cells=slowest.pop("cells", []) if jobs == 1 else [])
        last[0] = now
        if res.status == "ok" and "computation" in tim:
            tim["fixed"] = tim["seconds"] - tim["loading"] - tim["computation"]
            for k in SPLIT:
                ans["split"][k] += tim.get(k, 0.0)
        else:
            tim["error"] = res.message
            if res.failed_notebook:
                tim["where"] = where_stopped(out_dir / res.failed_notebook)
        ans["reports"][res.label] = tim
        ans["seconds"] = now - t0
        if result:
            Path(result).write_text(json.dumps({**ans, "partial": True}))

    run_config(cfg, progress=False, on_done=done)
    ans["seconds"] = time.perf_counter() - t0
    ans["check"] = [float(sum(r["status"] == "ok" for r in ans["reports"].values()))]
    return ans


def run_case(case: str, path: str, result: str | None = None, size: int | None = None,
             usage_scale: float = 1.0, jobs: int = 1) -> dict:
    """Run one measurement in this process; return seconds, setup seconds and a check value."""
    t_setup = time.perf_counter()
    out: dict = {}
    if case == "gen_demo":  # a demo set for report rendering, measured like the rest
        from csresearch.demo import generate

        t0 = time.perf_counter()
        generate(n_accounts=size, seed=42, out=path, usage_scale=usage_scale, model=DEMO_MODEL)
        return {"seconds": time.perf_counter() - t0, "setup": t0 - t_setup, "check": [float(size)]}
    if case == "render_all":
        t0 = time.perf_counter()
        out = render_all(path, result, jobs=jobs)
        return {**out, "setup": t0 - t_setup}
    run = _reference_case if case in REFERENCE_CASES else _kit_case
    t0, check = run(case, path, out)
    out.update(seconds=time.perf_counter() - t0, setup=t0 - t_setup, check=check)
    return out


REFERENCE_CASES = ("features_pandas", "km_lifelines", "cox_lifelines")


def _reference_case(case: str, path: str, out: dict) -> tuple[float, list]:
    """An in-memory reference (pandas, lifelines): the time its step started and a check."""
    if case == "features_pandas":
        t0 = time.perf_counter()
        check = _features_check(pandas_usage_features(path))
    elif case == "km_lifelines":
        import pyarrow.parquet as pq
        from lifelines import KaplanMeierFitter

        t0 = time.perf_counter()
        tab = pq.read_table(path, columns=["duration", "event"])
        kmf = KaplanMeierFitter().fit(tab["duration"].to_numpy(), tab["event"].to_numpy())
        check = kmf.survival_function_.iloc[:, 0].to_numpy().tolist()
    else:  # cox_lifelines
        import pandas as pd
        from lifelines import CoxPHFitter

        t0 = time.perf_counter()
        df = pd.read_parquet(path)
        df = pd.get_dummies(df, columns=["segment"], drop_first=True, dtype=float)
        df.columns = [c.replace("segment_", "segment[") + "]" if c.startswith("segment_") else c
                      for c in df.columns]
        cph = CoxPHFitter().fit(df, "duration", "event")
        check = cph.params_.sort_index().tolist()
    return t0, check


def _kit_case(case: str, path: str, out: dict) -> tuple[float, list]:
    """A step of the kit on an engine: the time its step started and a check (``out`` may get
    more fields)."""
    if case in ("features_duckdb", "features_spark"):
        from csresearch.data.engine import connect
        from csresearch.features.usage import usage_features

        con = connect("duckdb" if case == "features_duckdb" else "pyspark")
        t0 = time.perf_counter()
        t = con.read_parquet(path, table_name="events")
        check = _features_check(usage_features(t, AS_OF))
    elif case == "validate_duckdb":
        from csresearch.data.sources import open_source

        t0 = time.perf_counter()
        rep = open_source(path, validate=False).validate()
        check = [float(rep.row_counts.get("usage_events", 0)), float(len(rep.failures))]
    elif case == "km_engine":
        from csresearch.data.engine import connect
        from csresearch.survival.counts import km_counts

        con = connect("duckdb")
        t0 = time.perf_counter()
        km = km_counts(con.read_parquet(path), "duration", "event")
        check = km["survival"].tolist()
    elif case == "cox_engine":
        from csresearch.data.engine import connect
        from csresearch.survival.large import EngineCoxPH

        con = connect("duckdb")
        t0 = time.perf_counter()
        m = EngineCoxPH().fit(con.read_parquet(path), "duration", "event", ["x1", "x2"], ["segment"])
        check = m.params_.sort_index().tolist()
        out["passes"] = m.n_iter_ + 2
    elif case == "health_duckdb":
        from csresearch.data.sources import open_source
        from csresearch.health.score import health_history

        t0 = time.perf_counter()
        h = health_history(open_source(path, validate=False), AS_OF)
        check = [float(len(h))]
    else:
        raise SystemExit(f"unknown case {case}")
    return t0, check
