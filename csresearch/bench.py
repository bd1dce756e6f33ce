"""Benchmarks of the engine-side steps against the in-memory references (``make bench``).

``python -m csresearch.bench --out bench/results.md`` synthesises the data with DuckDB
``range()`` into Parquet under ``bench/_work/`` (git-ignored; reused when present), runs every
measurement in its own child process, one at a time, and writes a Markdown table: seconds,
peak memory, the ratio to the reference measured in the same run, a check that the results
agree, and how each step's time grows with data size (three sizes).

Peak memory is the child's peak resident set: the largest of (a) the sum of RSS over the
child and all its descendants (the Spark JVM is a grandchild), polled every 20 ms with
psutil, and (b) the child's own ``ru_maxrss`` from ``os.wait4``. Times are wall-clock for the
step only: from Parquet on disk to the result in pandas (imports, data generation and Spark's
start-up are excluded and reported apart).

Report rendering (``render_all``) renders the four reports on a demo set one after the other,
each in its own kernel as ``csresearch report all`` does (kernels are descendants, so their
memory counts), and splits the time with :attr:`csresearch.reports.RenderResult.timings`.
``--only render`` re-measures just that and merges it into the rows of the last full run
(``bench/_work/rows.json``).

Example
-------
$ python -m csresearch.bench --out bench/results.md --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

AS_OF = "2025-12-31"
EVENTS_PER_ACCOUNT = 500
TIMEOUT = 900.0
SPARK_TIMEOUT = 600.0
RENDER_TIMEOUT = 600.0  # the "too long": 10 min for the four reports at one size
RENDER_TIMEOUTS = {1_000_000: 1200.0}  # 1M accounts: twice the 10 min target, then stopped
GEN_TIMEOUT = 1200.0  # generating a demo set for rendering (20 min)
RENDER_MEM_LIMIT = 16 * 2**30  # the render run is stopped above this (24 GiB, shared machine)
REPORT_TIMEOUT = 600  # seconds per report in the config: a slower report fails, naming its cell
#: usage_scale of the demo set per size: 1M accounts with about 100M usage events (10k accounts
#: give 4.4M events at 1.0 and 100k give 46M, so 1M at 1.0 would give about 460M)
RENDER_USAGE_SCALE = {1_000_000: 0.22}
#: (accounts, seconds for `report all`, peak GiB or None): issue 11 and the earlier 10k target
RENDER_TARGETS = ((10_000, 120.0, None), (100_000, 60.0, None), (1_000_000, 600.0, 8.0))
FIXED_TARGET = 1.5  # seconds of fixed cost per report (issue 11)
SPLIT = ("startup", "loading", "computation", "rendering")


# -- data ------------------------------------------------------------------------------------
def _u(k: int) -> str:
    """A deterministic uniform(0, 1) per row i from DuckDB's hash (stream k)."""
    return f"((hash(i * 8 + {k}) % 1000000007) / 1000000007.0)"


def make_events(path: Path, n: int) -> Path:
    """``n`` usage events over 2023-2025 for n/500 accounts (contract columns)."""
    if path.exists():
        return path
    import duckdb

    n_acc = max(n // EVENTS_PER_ACCOUNT, 1)
    tmp = path.with_suffix(".tmp")
    duckdb.sql(f"""
        COPY (SELECT 'A' || lpad(CAST(i % {n_acc} AS VARCHAR), 7, '0') AS account_id,
          TIMESTAMP '2023-01-01' + to_seconds(CAST(floor({_u(1)} * 94608000) AS BIGINT)) AS occurred_at,
          ['login', 'report', 'export', 'api_call', 'invite', 'dashboard'][1 + CAST(floor({_u(2)} * 6) AS INT)] AS event_type,
          'U' || CAST(i % {n_acc} AS VARCHAR) || '_' || CAST(floor({_u(3)} * 8) AS INT) AS user_id,
          round({_u(4)} * 10, 2) AS quantity
        FROM range({n}) t(i)) TO '{tmp}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
    """)
    tmp.rename(path)
    return path


def make_validation_source(folder: Path, events: Path, n_events: int) -> Path:
    """accounts, subscriptions (one per account) and the events (a link) for validation."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "usage_events.parquet").exists():
        return folder
    import duckdb

    n_acc = max(n_events // EVENTS_PER_ACCOUNT, 1)
    acc = "'A' || lpad(CAST(i AS VARCHAR), 7, '0')"
    duckdb.sql(f"""COPY (SELECT {acc} AS account_id, 'Co ' || i AS name,
        ['enterprise', 'mid_market', 'smb'][1 + i % 3] AS segment,
        TIMESTAMP '2023-01-01' AS created_at FROM range({n_acc}) t(i))
        TO '{folder / "accounts.parquet"}' (FORMAT parquet)""")
    duckdb.sql(f"""COPY (SELECT 'S' || i AS subscription_id, {acc} AS account_id,
        DATE '2023-01-01' AS start_date, CAST(NULL AS DATE) AS end_date, 100.0 AS mrr
        FROM range({n_acc}) t(i)) TO '{folder / "subscriptions.parquet"}' (FORMAT parquet)""")
    os.symlink(events.resolve(), folder / "usage_events.parquet")
    return folder


def make_survival(path: Path, n: int) -> Path:
    """``n`` subscribers: x1 ~ N(0,1), x2 ~ Bernoulli(0.4), segment (3 levels); Weibull-free
    exponential churn in days with administrative censoring at 1,095 days."""
    if path.exists():
        return path
    import duckdb

    tmp = path.with_suffix(".tmp")
    duckdb.sql(f"""
        COPY (WITH b AS (SELECT i,
            sqrt(-2 * ln({_u(1)} + 1e-12)) * cos(2 * pi() * {_u(2)}) AS x1,
            CAST({_u(3)} < 0.4 AS DOUBLE) AS x2,
            ['enterprise', 'mid_market', 'smb'][1 + CAST(floor({_u(4)} * 3) AS INT)] AS segment,
            {_u(5)} AS u, {_u(6)} AS c FROM range({n}) t(i)),
          t AS (SELECT *, -ln(u + 1e-12) / (0.0015 * exp(0.4 * x1 - 0.6 * x2
                 + CASE segment WHEN 'smb' THEN 0.5 WHEN 'mid_market' THEN 0.2 ELSE 0 END)) AS tt,
                 least(1095, 30 + c * 1065) AS cens FROM b)
          SELECT x1, x2, segment, CAST(ceil(least(tt, cens)) AS BIGINT) AS duration,
                 CAST(tt <= cens AS INT) AS event FROM t)
        TO '{tmp}' (FORMAT parquet)
    """)
    tmp.rename(path)
    return path


# -- cases (run in a child process) -----------------------------------------------------------
def pandas_usage_features(path: str, as_of: str = AS_OF):
    """The usage features of :mod:`csresearch.features` in pandas (the in-memory reference)."""
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


def render_all(demo: str, result: str | None = None, report_timeout: int = REPORT_TIMEOUT) -> dict:
    """``report all`` on the demo set ``demo``: the four reports from a config with ``jobs: 1``
    through :func:`csresearch.reports.config.run_config`, as ``csresearch report all`` runs them
    (in turn, each next report's kernel started and warmed while the one before renders).

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
    out_dir = demo_p.parent / f"_reports_{demo_p.name}"
    cfg = demo_p.parent / f"_reports_{demo_p.name}.yaml"
    cfg.write_text(yaml.safe_dump({
        "out": str(out_dir), "timeout": report_timeout, "jobs": 1,
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
        tim.update(seconds=now - last[0], status=res.status, cells=slowest.pop("cells", []))
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
             usage_scale: float = 1.0) -> dict:
    """Run one measurement in this process; return seconds, setup seconds and a check value."""
    t_setup = time.perf_counter()
    out: dict = {}
    if case == "gen_demo":  # a demo set for report rendering, measured like the rest
        from csresearch.demo import generate

        t0 = time.perf_counter()
        generate(n_accounts=size, seed=42, out=path, usage_scale=usage_scale)
        return {"seconds": time.perf_counter() - t0, "setup": t0 - t_setup, "check": [float(size)]}
    if case == "render_all":
        t0 = time.perf_counter()
        out = render_all(path, result)
        return {**out, "setup": t0 - t_setup}
    if case == "features_pandas":
        t0 = time.perf_counter()
        check = _features_check(pandas_usage_features(path))
    elif case in ("features_duckdb", "features_spark"):
        from csresearch.engine import connect
        from csresearch.features import usage_features

        con = connect("duckdb" if case == "features_duckdb" else "pyspark")
        t0 = time.perf_counter()
        t = con.read_parquet(path, table_name="events")
        check = _features_check(usage_features(t, AS_OF))
    elif case == "validate_duckdb":
        from csresearch.sources import open_source

        t0 = time.perf_counter()
        rep = open_source(path, validate=False).validate()
        check = [float(rep.row_counts.get("usage_events", 0)), float(len(rep.failures))]
    elif case == "km_lifelines":
        import pyarrow.parquet as pq
        from lifelines import KaplanMeierFitter

        t0 = time.perf_counter()
        tab = pq.read_table(path, columns=["duration", "event"])
        kmf = KaplanMeierFitter().fit(tab["duration"].to_numpy(), tab["event"].to_numpy())
        check = kmf.survival_function_.iloc[:, 0].to_numpy().tolist()
    elif case == "km_engine":
        from csresearch.engine import connect
        from csresearch.survival.counts import km_counts

        con = connect("duckdb")
        t0 = time.perf_counter()
        km = km_counts(con.read_parquet(path), "duration", "event")
        check = km["survival"].tolist()
    elif case == "cox_lifelines":
        import pandas as pd
        from lifelines import CoxPHFitter

        t0 = time.perf_counter()
        df = pd.read_parquet(path)
        df = pd.get_dummies(df, columns=["segment"], drop_first=True, dtype=float)
        df.columns = [c.replace("segment_", "segment[") + "]" if c.startswith("segment_") else c
                      for c in df.columns]
        cph = CoxPHFitter().fit(df, "duration", "event")
        check = cph.params_.sort_index().tolist()
    elif case == "cox_engine":
        from csresearch.engine import connect
        from csresearch.survival.large import EngineCoxPH

        con = connect("duckdb")
        t0 = time.perf_counter()
        m = EngineCoxPH().fit(con.read_parquet(path), "duration", "event", ["x1", "x2"], ["segment"])
        check = m.params_.sort_index().tolist()
        out["passes"] = m.n_iter_ + 2
    elif case == "health_duckdb":
        from csresearch.health import health_history
        from csresearch.sources import open_source

        t0 = time.perf_counter()
        h = health_history(open_source(path, validate=False), AS_OF)
        check = [float(len(h))]
    else:
        raise SystemExit(f"unknown case {case}")
    out.update(seconds=time.perf_counter() - t0, setup=t0 - t_setup, check=check)
    return out


# -- parent: measuring children -----------------------------------------------------------------
def measure(case: str, path: Path, timeout: float = TIMEOUT, mem_limit: float | None = None,
            extra: list[str] | None = None, poll: float = 0.02) -> dict:
    """Run ``case`` in a child process; wall time, peak RSS (bytes) and the child's answer.
    The child and its descendants are killed after ``timeout`` s or above ``mem_limit`` bytes.
    ``poll``: seconds between two RSS samples (each lists every process of the machine: at
    20 ms that is about a tenth of a core, so long runs poll less often)."""
    import psutil

    out_file = path.parent / f"_{case}_{path.stem}.json"
    out_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "csresearch.bench", "--case", case, "--path", str(path),
           "--result", str(out_file)] + (extra or [])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    peak, start, timed_out = 0, time.perf_counter(), False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        over = mem_limit is not None and peak > mem_limit
        if (time.perf_counter() - start > timeout or over) and not timed_out:
            timed_out = (f"stopped at {peak / 2**30:.1f} GiB (limit {mem_limit / 2**30:.0f} GiB)"
                         if over else f"timed out after {timeout:.0f} s")
            for c in ps.children(recursive=True):
                c.kill()
            proc.kill()
        time.sleep(poll)
    peak = max(peak, usage.ru_maxrss * 1024)
    res = {"case": case, "path": str(path), "peak": peak, "wall": time.perf_counter() - start}
    if timed_out:
        res["error"] = timed_out
        if out_file.exists():  # what finished before the limit (cases that write as they go)
            res["partial"] = json.loads(out_file.read_text())
    elif os.waitstatus_to_exitcode(status) != 0 or not out_file.exists():
        err = proc.stderr.read().decode(errors="replace").strip().splitlines()
        res["error"] = (err[-1] if err else "failed")[:200]
    else:
        res.update(json.loads(out_file.read_text()))
    proc.stderr.close()
    print(f"  {case:16s} {path.name:28s} "
          + (res.get("error") or f"{res['seconds']:8.2f} s  {peak / 2**30:5.2f} GiB"), flush=True)
    return res


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f}"


def _close(a, b, tol=1e-6) -> bool:
    if a is None or b is None or len(a) != len(b):
        return False
    return bool(np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=tol, atol=tol))


def _growth(sizes, times) -> str:
    ok = [(s, t) for s, t in zip(sizes, times, strict=True) if t is not None]
    if len(ok) < 2:
        return "n/a"
    (s0, t0), (s1, t1) = ok[0], ok[-1]
    return f"x{t1 / t0:.1f} for x{s1 / s0:.0f} data (exponent {np.log(t1 / t0) / np.log(s1 / s0):.2f})"


FULL = {"events": [5_000_000, 15_000_000, 50_000_000], "km": [1_000_000, 3_000_000, 10_000_000],
        "cox": [100_000, 300_000, 1_000_000], "render": [1_000, 10_000, 100_000, 1_000_000]}
QUICK = {"events": [200_000, 500_000, 1_000_000], "km": [100_000, 300_000, 1_000_000],
         "cox": [20_000, 50_000, 100_000], "render": [1_000]}


def _fmt_n(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def _gen(kind: str, path: Path, n: int, src: Path | None = None, usage_scale: float = 1.0) -> Path:
    """Generate data in a child process: the parent stays small, because on Linux a child's
    ``ru_maxrss`` starts at the parent's resident size when it is forked."""
    if not (path / "truth.json" if kind == "demo" else path / "usage_events.parquet"
            if kind == "validation" else path).exists():
        cmd = [sys.executable, "-m", "csresearch.bench", "--gen", kind, "--path", str(path),
               "--size", str(n)] + (["--src", str(src)] if src else []) + (
                   ["--usage-scale", f"{usage_scale:g}"] if usage_scale != 1.0 else [])
        subprocess.run(cmd, check=True)
    return path


RENDER_STEP = "render all 4 reports"
RENDER_METHOD = "`report all`: papermill + nbconvert, a kernel per report, the next started ahead"


def demo_dir(work: Path, n: int) -> Path:
    """The demo set of ``n`` accounts for report rendering (its usage scale in the name)."""
    scale = RENDER_USAGE_SCALE.get(n, 1.0)
    return work / (f"demo_{n}" if scale == 1.0 else f"demo_{n}_u{scale:g}")


def run_render(work: Path, sizes: dict) -> list[dict]:
    """The report-rendering rows: ``report all`` on demo sets of ``sizes["render"]`` accounts."""
    rows = []
    print("report rendering", flush=True)
    for n in sizes["render"]:
        scale = RENDER_USAGE_SCALE.get(n, 1.0)
        demo = demo_dir(work, n)
        row = {"step": RENDER_STEP, "n": n, "unit": "accounts", "usage_scale": scale,
               "date": time.strftime("%Y-%m-%d"), "method": RENDER_METHOD}
        if not (demo / "truth.json").exists():  # generated here, measured, stopped like a render
            gen = measure("gen_demo", demo, GEN_TIMEOUT, RENDER_MEM_LIMIT,
                          ["--size", str(n), "--usage-scale", f"{scale:g}"], poll=0.2)
            row["gen"] = {k: gen.get(k) for k in ("seconds", "wall", "peak", "error")}
            if "error" in gen:
                rows.append({**row, "events": None, "peak": gen["peak"], "load": list(os.getloadavg()),
                             "error": f"not rendered: generating the demo set {gen['error']}"})
                continue
        n_ev = int(json.loads((demo / "truth.json").read_text())["rows"]["usage_events"])
        load = os.getloadavg()
        res = measure("render_all", demo, RENDER_TIMEOUTS.get(n, RENDER_TIMEOUT), RENDER_MEM_LIMIT, poll=0.2)
        if "error" in res:  # killed: the report that was running, from its work folder
            from datetime import UTC, datetime

            until = datetime.now(UTC)
            out = demo.parent / f"_reports_{demo.name}"
            done = set((res.get("partial") or {}).get("reports", {}))
            nbs = [q for q in out.glob(".work-*/*.ipynb") if q.stem not in done]
            if nbs:
                nb = max(nbs, key=lambda q: q.stat().st_mtime)
                res["where"] = f"{nb.stem}: {where_stopped(nb, until) or 'before its first cell'}"
        rows.append({**row, "events": n_ev, "load": list(load), **res})
    return rows


def run_all(work: Path, sizes: dict, spark: bool, demo_accounts: int = 10_000) -> list[dict]:
    """Every measurement, one child process at a time; rows for the report."""
    work.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []

    def add(step, n, unit, method, res, ref=None, check_tol=1e-6):
        row = {"step": step, "n": n, "unit": unit, "method": method, **res}
        if ref is not None and "seconds" in ref and "seconds" in res:
            row["ratio"] = res["seconds"] / ref["seconds"]
            row["agrees"] = _close(res.get("check"), ref.get("check"), check_tol)
        rows.append(row)
        return res

    print("usage features", flush=True)
    for n in sizes["events"]:
        ev = _gen("events", work / f"events_{_fmt_n(n)}.parquet", n)
        ref = add("usage features", n, "events", "pandas", measure("features_pandas", ev))
        add("usage features", n, "events", "kit on DuckDB", measure("features_duckdb", ev), ref)
        if spark and n in sorted(sizes["events"])[:2]:  # local[2] Spark took > 600 s at 50M
            add("usage features", n, "events", "kit on Spark local[2]",
                measure("features_spark", ev, SPARK_TIMEOUT), ref)
    print("validation", flush=True)
    for n in sizes["events"]:
        folder = _gen("validation", work / f"source_{_fmt_n(n)}", n,
                      work / f"events_{_fmt_n(n)}.parquet")
        add("validation (all contract rules)", n, "events", "kit on DuckDB",
            measure("validate_duckdb", folder))
    print("kaplan-meier", flush=True)
    for n in sizes["km"]:
        sv = _gen("survival", work / f"survival_{_fmt_n(n)}.parquet", n)
        ref = add("Kaplan-Meier", n, "subscribers", "lifelines", measure("km_lifelines", sv))
        add("Kaplan-Meier", n, "subscribers", "engine-side counts (DuckDB)",
            measure("km_engine", sv), ref, 1e-10)
    print("cox", flush=True)
    for n in sizes["cox"]:
        sv = _gen("survival", work / f"survival_{_fmt_n(n)}.parquet", n)
        ref = add("Cox PH (4 parameters)", n, "rows", "lifelines", measure("cox_lifelines", sv))
        add("Cox PH (4 parameters)", n, "rows", "engine-side Newton (DuckDB)",
            measure("cox_engine", sv), ref, 1e-5)
    print("demo data set", flush=True)
    demo = _gen("demo", work / f"demo_{demo_accounts}", demo_accounts)
    ev = demo / "usage_events.parquet"
    n_demo = int(json.loads((demo / "truth.json").read_text())["rows"]["usage_events"])
    step = f"usage features, demo {demo_accounts:,} accounts"
    ref = add(step, n_demo, "events", "pandas", measure("features_pandas", ev))
    add(step, n_demo, "events", "kit on DuckDB", measure("features_duckdb", ev), ref)
    if (Path(__file__).parent / "health.py").exists():
        add(f"health score history, demo {demo_accounts:,} accounts", demo_accounts, "accounts",
            "kit (DuckDB + pandas)", measure("health_duckdb", demo))
    return rows + run_render(work, sizes)


def _load(load) -> str:
    return " / ".join(f"{x:.2f}" for x in load)


def render(rows: list[dict], sizes: dict, spark: bool, seconds: float,
           load: tuple | None = None, render_run: dict | None = None, date: str = "") -> str:
    """The Markdown report; ``load`` = load averages (1/5/15 min) at the start and the end;
    ``render_run`` = seconds and load of a separate ``--only render`` run, if any; ``date``
    = the full run's date (``" on 2026-12-01"``)."""
    import duckdb
    import ibis
    import lifelines
    import pandas as pd
    import psutil

    try:
        import pyspark

        spark_v = pyspark.__version__
    except ImportError:
        spark_v = "not installed"
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`python -m csresearch.bench`){date} in {seconds / 60:.1f} min on "
        f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}; "
        f"pandas {pd.__version__}, DuckDB {duckdb.__version__}, ibis {ibis.__version__}, "
        f"PySpark {spark_v}, lifelines {lifelines.__version__}. Other work may have shared "
        "the machine: read ratios measured in the same run, not absolute seconds.",
        "",
    ] + ([f"Load average (1 / 5 / 15 min, `os.getloadavg()`) at the start: {_load(load[0])}; "
          f"at the end: {_load(load[1])} ({os.cpu_count()} cores: above that, others were "
          "running too).", ""] if load else []) + ([_render_run_note(render_run), ""]
                                                   if render_run else []) + [
        "## Results",
        "",
        "| step | data | method | seconds | peak RSS (GiB) | time vs reference | same result |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        if r["step"] == RENDER_STEP:
            lines.append(_render_result_line(r))
            continue
        secs = r.get("error") or f"{r['seconds']:.2f}"
        if r.get("partial"):
            p = r["partial"]
            secs += f" ({len(p['reports'])} of 4 reports done in {p['seconds']:.0f} s)"
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else "(reference)" if r["method"] in (
            "pandas", "lifelines") else ""
        agrees = {True: "yes", False: "NO"}.get(r.get("agrees"), "")
        if r["step"].startswith("Cox") and "check" in r and r["method"] != "lifelines":
            ref = next((x for x in rows if x["step"] == r["step"] and x["n"] == r["n"]
                        and x["method"] == "lifelines" and "check" in x), None)
            if ref:
                diff = np.max(np.abs(np.subtract(r["check"], ref["check"])))
                agrees += f" (max abs coef diff {diff:.1e}, {r.get('passes', '?')} engine passes)"
        lines.append(f"| {r['step']} | {r['n']:,} {r['unit']} | {r['method']} | {secs} | "
                     f"{_gib(r['peak'])} | {ratio} | {agrees} |")
    lines += ["", "## Growth with data size", "",
              "| step | method | sizes | seconds | peak RSS (GiB) | growth (time) |",
              "|---|---|---|---|---|---|"]
    groups: dict = {}
    for r in rows:
        if "demo" not in r["step"] and r["step"] != RENDER_STEP:
            groups.setdefault((r["step"], r["method"]), []).append(r)
    for (step, method), rs in groups.items():
        ns = [r["n"] for r in rs]
        ts = [r.get("seconds") for r in rs]
        lines.append(
            f"| {step} | {method} | {' / '.join(_fmt_n(n) for n in ns)} | "
            f"{' / '.join('-' if t is None else f'{t:.2f}' for t in ts)} | "
            f"{' / '.join(_gib(r['peak']) for r in rs)} | {_growth(ns, ts)} |")
    lines += _render_section(rows)
    lines += ["", "## Targets", ""] + _targets(rows, sizes) + [
        "",
        "## Not measured yet",
        "",
    ] + ([] if any(r["step"] == RENDER_STEP for r in rows) else [
        "- Report rendering split: not measured in this run."]) + [
        "- Validation on Spark: checked equal to DuckDB in tests/test_spark.py, not timed here "
        "(only DuckDB is).",
    ]
    if not spark:
        lines.append("- Spark: not measured in this run (pyspark or Java missing, or --no-spark).")
    lines += [
        "",
        "## How it was measured",
        "",
        "- Data synthesised with DuckDB `range()` and a hash-based uniform per row straight into "
        "Parquet under bench/_work/ (500 events per account over 2023-2025; subscribers with "
        "exponential churn in whole days, censored by 1,095 days; covariates x1 ~ N(0, 1), x2 ~ "
        "Bernoulli(0.4), segment with 3 levels), plus the 10,000-account demo set.",
        "- Each measurement runs alone in its own child process (`python -m csresearch.bench "
        "--case ...`). Time = wall clock of the step from Parquet on disk to the result in "
        "pandas (imports and Spark start-up excluded). Peak RSS = max of the summed RSS of the "
        "child and its descendants (the Spark JVM) polled every 20 ms with psutil, and the "
        "child's ru_maxrss from os.wait4.",
        "- pandas reference for usage features: the kit's definitions in pandas "
        "(`csresearch.bench.pandas_usage_features`, strings read as categoricals), "
        "checked against the kit (row count, sums of events, active days and trend).",
        "- Kaplan-Meier: lifelines `KaplanMeierFitter` on the two columns read from Parquet "
        "vs `csresearch.survival.counts.km_counts` on DuckDB; \"same result\" = every S(t) "
        "within 1e-10.",
        "- Cox: lifelines `CoxPHFitter` (default settings) on the table read into pandas with "
        "segment dummies vs `csresearch.survival.large.EngineCoxPH`; lifelines stops at its "
        "default step precision, hence differences around 1e-6.",
        RENDER_HOW,
    ]
    return "\n".join(lines) + "\n"


RENDER_HOW = (
    "- Report rendering: `csresearch.bench.render_all` writes a config with the four reports "
    "(retention, health, churn_drivers, maturity; `jobs: 1`, `timeout: 600` s per report) and runs "
    "it with `csresearch.reports.config.run_config`, the code of `csresearch report all`: the "
    "reports render in turn, each in its own kernel, and the next report's kernel is started and "
    "warmed (`reports/kernel.py` `start_ahead`) while the one before renders; the first report "
    "starts its own. Data: the demo set `csresearch.demo.generate(n_accounts=N, seed=42, "
    "usage_scale=s)`, s = 1.0 up to 100k accounts and 0.22 at 1M (about 100M usage events), on "
    "DuckDB. `report all` seconds = wall clock of `run_config` in the child process (its imports, "
    "about 1-2 s, excluded); peak RSS = the summed RSS of the process tree (the child and every "
    "kernel) polled with psutil (every 20 ms in the runs of 2026-12-01 up to 100k accounts, "
    "every 200 ms since: at 20 ms the polling itself took about a tenth of a core) and the "
    "child's ru_maxrss; "
    "the run is stopped after 600 s (1,200 s at 1M) or above 16 GiB, and the report that was "
    "running is named with the cell it was in (from its executed notebook). Per report: seconds "
    "= from the end of the report before (the start of the run for the first) to the end of this "
    "one, so the four add up to the total; split from papermill's timestamps in the executed "
    "notebook (`csresearch.reports.html.cell_timings`): kernel start-up = papermill's start of "
    "execution to the end of the hidden setup cell and the parameters (with a kernel started "
    "ahead: the connection, setup cell and parameters only; the wait for the warm-up, if any, is "
    "in other); data loading = the cell tagged `start` (`rn.start(...)` opens and validates the "
    "source; sections read tables lazily, so reading counts as computation); computation = the "
    "later cells; HTML export = nbconvert's export timed in `render_report`; other = the rest "
    "(waiting for the kernel started ahead, starting the next one, papermill's notebook writes, "
    "kernel shut-down, summary JSON, index). Fixed cost per report = seconds - data loading - "
    "computation (= kernel start-up + HTML export + other): what a report costs whatever the "
    "data; \"first\" is the report that started its own kernel, \"later\" the mean of the three "
    "that got one started ahead. Slowest cells: the three longest cells of each report."
)


def _s(x) -> str:
    return "-" if x is None else f"{x:.1f}"


def _ok_reports(a: dict) -> list[dict]:
    return [v for v in a.get("reports", {}).values() if v.get("status") == "ok" and "fixed" in v]


def _fixed(a: dict) -> tuple[float | None, float | None, float | None]:
    """Fixed cost per report: mean of the reports that rendered, the first, the later ones."""
    reps = list(a.get("reports", {}).values())
    ok = _ok_reports(a)
    if not ok:
        return None, None, None
    first = reps[0].get("fixed") if reps and reps[0].get("status") == "ok" else None
    later = [v["fixed"] for v in reps[1:] if v.get("status") == "ok" and "fixed" in v]
    return (sum(v["fixed"] for v in ok) / len(ok), first,
            sum(later) / len(later) if later else None)


def _render_status(r: dict) -> str:
    """The total for a finished run, else the error, what finished and where it stopped."""
    a = r if "seconds" in r else r.get("partial") or {}
    bad = [f"{k} failed: {v.get('error', '')}" + (f" in {v['where']}" if v.get("where") else "")
           for k, v in a.get("reports", {}).items() if v.get("status") != "ok"]
    if "seconds" in r and not r.get("error"):
        return f"{r['seconds']:.1f}" + (f" ({'; '.join(bad)})" if bad else "")
    n_ok = len(_ok_reports(a))
    text = r.get("error", "failed")
    if a:
        text += f"; {n_ok} of 4 done in {a.get('seconds', 0):.0f} s"
    if r.get("where"):
        text += f"; stopped in {r['where']}"
    return text + (f" ({'; '.join(bad)})" if bad else "")


def _ev(r: dict) -> str:
    """The usage events of a render row (expected ones when the set was not generated)."""
    if r.get("events") is not None:
        return f"{r['events']:,}"
    return f"about {r['n'] * 460 * r.get('usage_scale', 1.0) / 1e6:.0f}M expected"


def _render_result_line(r: dict) -> str:
    return (f"| {r['step']} | {r['n']:,} accounts, {_ev(r)} events | {r['method']} | "
            f"{_render_status(r)} | {_gib(r['peak'])} |  |  |")


def _render_section(rows: list[dict]) -> list[str]:
    rs = [r for r in rows if r["step"] == RENDER_STEP]
    if not rs:
        return []
    lines = ["", "## Report rendering (`report all`: the four reports in turn, kernels started ahead)",
             "",
             "Seconds of the split are summed over the reports (share of the `report all` time).",
             "",
             "| accounts | usage events | `report all` s | peak RSS (GiB) | load avg at start | "
             "kernel start-up | data loading | computation | HTML export | other | "
             "fixed cost per report (s): mean; first / later |",
             "|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for r in rs:
        a = r if "seconds" in r else r.get("partial") or {}
        load = " / ".join(f"{x:.1f}" for x in r["load"]) if r.get("load") else "-"
        ok = _ok_reports(a)
        if not ok:
            lines.append(f"| {r['n']:,} | {_ev(r)} | {_render_status(r)} | {_gib(r['peak'])} "
                         f"| {load} | - | - | - | - | - | - |")
            continue
        sp = {k: sum(v.get(k, 0.0) for v in ok) for k in SPLIT}
        total = sum(v["seconds"] for v in ok)
        other = total - sum(sp.values())
        mean, first, later = _fixed(a)
        lines.append(f"| {r['n']:,} | {_ev(r)} | {_render_status(r)} | {_gib(r['peak'])} | "
                     f"{load} | "
                     + " | ".join(f"{sp[k]:.1f} ({sp[k] / a['seconds']:.0%})" for k in SPLIT)
                     + f" | {other:.1f} | {_s(mean)}; {_s(first)} / {_s(later)} |")
    gens = [r for r in rs if r.get("gen")]
    if gens:
        lines += [""] + [
            f"Demo set of {r['n']:,} accounts (usage scale {r.get('usage_scale', 1.0):g}) "
            + (f"not generated: {g['error']}, peak RSS {_gib(g['peak'])} GiB" if g.get("error") else
               f"generated for this run in {g['seconds']:.0f} s ({g['wall']:.0f} s with the child's "
               f"start), peak RSS {_gib(g['peak'])} GiB")
            + (f"; {g['how']}" if g.get("how") else "") + "."
            for r in gens for g in [r["gen"]]]
    lines += ["", "### Split per report", "",
              "| accounts | report | seconds | kernel start-up | data loading | computation | "
              "HTML export | other | fixed cost | slowest cells (s) |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rs:
        a = r if "seconds" in r else r.get("partial") or {}
        for name, v in a.get("reports", {}).items():
            cells = "; ".join(f"`{c}` {d:.1f}" for c, d in v.get("cells", []))
            if v.get("status") != "ok" or "fixed" not in v:
                where = f" in {v['where']}" if v.get("where") else ""
                lines.append(f"| {r['n']:,} | {name} | {v['seconds']:.1f} | {v.get('status', '?')}: "
                             f"{v.get('error', '')}{where} | | | | | | {cells} |")
                continue
            other = v["seconds"] - sum(v.get(k, 0.0) for k in SPLIT)
            lines.append(f"| {r['n']:,} | {name} | {v['seconds']:.1f} | "
                         + " | ".join(f"{v.get(k, 0.0):.1f}" for k in SPLIT)
                         + f" | {other:.1f} | {v['fixed']:.1f} | {cells} |")
        if r.get("error"):
            lines.append(f"| {r['n']:,} | {'(run stopped)' if r.get('events') is not None else '(not rendered)'} "
                         f"| | {r['error']}"
                         + (f"; in {r['where']}" if r.get("where") else "") + " | | | | | | |")
    return lines


def _render_targets(rows: list[dict]) -> list[str]:
    out = []
    by_n = {r["n"]: r for r in rows if r["step"] == RENDER_STEP}
    for n, limit, gib in RENDER_TARGETS:
        r = by_n.get(n)
        if r is None:
            continue
        a = r if "seconds" in r else r.get("partial") or {}
        all_ok = "seconds" in r and not r.get("error") and len(_ok_reports(a)) == 4
        mem = f", peak {_gib(r['peak'])} GiB" if gib and r.get("events") is not None else ""
        met = all_ok and r["seconds"] < limit and (not gib or r["peak"] < gib * 2**30)
        want = f"< {limit:.0f} s" + (f", < {gib:.0f} GiB" if gib else "")
        got = f"{r['seconds']:.1f} s{mem}" if all_ok else f"{_render_status(r)}{mem}"
        out.append(f"- All four reports (`report all`) at {n:,} accounts ({_ev(r)} usage "
                   f"events): {got}: {'met' if met else 'NOT met'} ({want}).")
    fixed = [(r["n"], _fixed(r if "seconds" in r else r.get("partial") or {})[0]) for r in by_n.values()]
    fixed = [(n, f) for n, f in fixed if f is not None]
    if fixed:
        bad = [f"{n:,}" for n, f in fixed if f > FIXED_TARGET]
        out.append("- Fixed cost per report (mean over the four reports; kernel start-up + HTML "
                   "export + other): " + ", ".join(f"{_fmt_n(n)} accounts {f:.2f} s" for n, f in fixed)
                   + (": met" if not bad else f": NOT met at {', '.join(bad)} accounts")
                   + f" (<= {FIXED_TARGET} s).")
    return out


def _targets(rows: list[dict], sizes: dict) -> list[str]:
    out = []
    big = max(sizes["events"])
    feats = [r for r in rows if r["step"] == "usage features" and r["n"] == big and "seconds" in r]
    if feats:
        best = min(feats, key=lambda r: r["seconds"])
        duck = next((r for r in feats if r["method"] == "kit on DuckDB"), None)
        ok = duck is best
        out.append(f"- Usage features at {_fmt_n(big)} events: fastest is {best['method']} "
                   f"({best['seconds']:.1f} s): {'met' if ok else 'NOT met'} (kit on DuckDB "
                   "fastest).")
        if duck:
            out.append(f"- Kit on DuckDB peak memory there: {_gib(duck['peak'])} GiB: "
                       f"{'met' if duck['peak'] < 4 * 2**30 else 'NOT met'} (< 4 GiB).")
    n_km = max(sizes["km"])
    km = {r["method"]: r for r in rows if r["step"] == "Kaplan-Meier" and r["n"] == n_km}
    eng = km.get("engine-side counts (DuckDB)")
    if eng and "ratio" in eng:
        out.append(f"- Kaplan-Meier at {_fmt_n(n_km)} subscribers: engine-side takes "
                   f"{eng['ratio']:.3f} of lifelines' time: "
                   f"{'met' if eng['ratio'] < 0.25 else 'NOT met'} (< 0.25).")
    out += _render_targets(rows)
    return out or ["- (no target measured)"]


def _render_run_note(run: dict) -> str:
    sizes = ", ".join(f"{n:,}" for n in run.get("sizes", []))
    sizes_opt = f" --sizes {','.join(str(n) for n in run['sizes'])}" if run.get("sizes") else ""
    return (f"{RENDER_NOTE} on {run.get('date', '?')} (`python -m csresearch.bench --only render"
            f"{sizes_opt}`; "
            f"accounts {sizes}) in {run['seconds'] / 60:.1f} min; load average (1 / 5 / 15 min) at "
            f"its start: {_load(run['load'][0])}; at its end: {_load(run['load'][1])}. Each render "
            "row also gives the load at its own start. Every other row is from the full run above."
            + (f" Code: {run['code']}." if run.get("code") else ""))


def _code_state() -> str:
    """The commit measured and how many files under csresearch/ differed from it (others' work)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "csresearch"], capture_output=True,
                               text=True, timeout=10).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError):
        return ""
    if not head:
        return ""
    return f"commit {head} at the start" + (
        f" plus uncommitted changes of others in {len(dirty)} files under csresearch/ (the working tree "
        "as it was; others kept committing and editing during the run)" if dirty else "")


RENDER_NOTE = "Report-rendering rows and sections re-measured apart"


def _section(lines: list[str], title: str) -> tuple[int, int]:
    """[start, end) of the Markdown section whose heading starts with ``title``."""
    i = next((k for k, x in enumerate(lines) if x.startswith(title)), len(lines))
    j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
    return i, j


def splice_render(text: str, rows: list[dict], run: dict, full_date: str = "") -> str:
    """``text`` (a results.md of a full run) with its report-rendering rows, section, targets
    and method replaced by ``rows``; every other line is kept as it is. ``run`` = seconds,
    load, date and sizes of this render run; ``full_date`` (" on 2026-11-24") is added to the
    full run's first line when it has no date."""
    import re

    lines = text.rstrip("\n").split("\n")
    if full_date and not any(re.search(r"`\) on \d{4}-\d\d-\d\d", x) for x in lines
                             if x.startswith("Generated by `make bench`")):
        lines = [x.replace("`python -m csresearch.bench`) in", f"`python -m csresearch.bench`){full_date} in", 1)
                 if x.startswith("Generated by `make bench`") else x for x in lines]
    notes = [k for k, x in enumerate(lines) if x.startswith((RENDER_NOTE, "Report rendering re-measured"))]
    for k in reversed(notes):  # the note and the blank line after it
        del lines[k:k + 2 if k + 1 < len(lines) and not lines[k + 1] else k + 1]
    i, j = _section(lines, "## Results")
    k = i  # insert the note right before "## Results"
    lines[k:k] = [_render_run_note(run), ""]
    i, j = _section(lines, "## Results")
    body = [x for x in lines[i:j] if not x.startswith(f"| {RENDER_STEP} ")]
    last = max(n for n, x in enumerate(body) if x.startswith("|"))
    body[last + 1:last + 1] = [_render_result_line(r) for r in rows]
    lines[i:j] = body
    i, j = _section(lines, "## Report rendering")
    new = _render_section(rows)[1:] + [""]
    if i < len(lines):
        lines[i:j] = new
    else:
        t, _ = _section(lines, "## Targets")
        lines[t:t] = new
    i, j = _section(lines, "## Targets")
    body = [x for x in lines[i:j] if not x.startswith(("- All four reports", "- Fixed cost per report"))]
    last = max(n for n, x in enumerate(body) if x.startswith("- "))
    body[last + 1:last + 1] = _render_targets(rows)
    lines[i:j] = body
    lines = [x for x in lines if not x.startswith("- Report rendering split: not measured")]
    lines = [RENDER_HOW if x.startswith("- Report rendering:") else x for x in lines]
    return "\n".join(lines) + "\n"


def _git_date(path: Path) -> str:
    try:
        d = subprocess.run(["git", "log", "-1", "--format=%cs", "--", str(path)], capture_output=True,
                           text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f" on {d}" if d else ""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench/results.md")
    ap.add_argument("--work", default="bench/_work")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--case")
    ap.add_argument("--path")
    ap.add_argument("--result")
    ap.add_argument("--gen", choices=["events", "validation", "survival", "demo"])
    ap.add_argument("--size", type=int)
    ap.add_argument("--src")
    ap.add_argument("--only", choices=["render"],
                    help="re-measure only this and merge it into the last full run (its rows in "
                         "WORK/rows.json, else the render rows and sections of --out)")
    ap.add_argument("--sizes", help="with --only render: accounts, e.g. 1000,10000,100000; the "
                    "render rows of other sizes measured before (WORK/render_rows.json) are kept")
    ap.add_argument("--usage-scale", type=float, default=1.0)
    a = ap.parse_args(argv)
    if a.gen:  # child: data generation
        p = Path(a.path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if a.gen == "events":
            make_events(p, a.size)
        elif a.gen == "validation":
            make_validation_source(p, Path(a.src), a.size)
        elif a.gen == "survival":
            make_survival(p, a.size)
        else:
            from csresearch.demo import generate

            generate(n_accounts=a.size, seed=42, out=p, usage_scale=a.usage_scale)
        return
    if a.case:  # child
        Path(a.result).write_text(json.dumps(run_case(a.case, a.path, a.result, a.size, a.usage_scale)))
        return
    from csresearch.engine import spark_unavailable_reason

    spark = not a.no_spark and spark_unavailable_reason() is None
    sizes = QUICK if a.quick else FULL
    saved_at = Path(a.work) / "rows.json"
    t0, load0 = time.perf_counter(), os.getloadavg()
    if a.only:
        if a.sizes:
            sizes = {**sizes, "render": [int(x) for x in a.sizes.split(",")]}
        Path(a.work).mkdir(parents=True, exist_ok=True)
        kept_at = Path(a.work) / "render_rows.json"
        kept = json.loads(kept_at.read_text()) if kept_at.exists() else []
        code = _code_state()
        new = run_render(Path(a.work), sizes)
        done = {r["n"] for r in new}
        render_rows = sorted([r for r in kept if r["n"] not in done] + new, key=lambda r: r["n"])
        kept_at.write_text(json.dumps(render_rows, default=str))
        run = {"seconds": time.perf_counter() - t0, "load": [load0, os.getloadavg()],
               "date": time.strftime("%Y-%m-%d"), "sizes": sorted(done), "code": code}
        (Path(a.work) / "render_run.json").write_text(json.dumps(run))
        out = Path(a.out)
        if saved_at.exists():
            saved = json.loads(saved_at.read_text())
            saved.update(rows=[r for r in saved["rows"] if r["step"] != RENDER_STEP] + render_rows,
                         render_run=run)
            saved_at.write_text(json.dumps(saved, default=str))
            text = render(saved["rows"], saved.get("sizes", sizes), saved["spark"], saved["seconds"],
                          saved["load"], saved["render_run"], saved.get("date", ""))
        elif out.exists():  # no rows of the full run here: keep its lines, replace the render ones
            text = splice_render(out.read_text(), render_rows, run, _git_date(out))
        else:
            raise SystemExit(f"--only needs a full run: {saved_at} or {out}; run without it first")
    else:
        rows = run_all(Path(a.work), sizes, spark, demo_accounts=1_000 if a.quick else 10_000)
        saved = {"rows": rows, "spark": spark, "seconds": time.perf_counter() - t0,
                 "load": [load0, os.getloadavg()], "render_run": None, "sizes": sizes,
                 "date": f" on {time.strftime('%Y-%m-%d')}"}
        saved_at.write_text(json.dumps(saved, default=str))
        text = render(saved["rows"], sizes, saved["spark"], saved["seconds"], saved["load"],
                      None, saved["date"])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
