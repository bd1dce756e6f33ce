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
RENDER_TARGET = (10_000, 120.0)  # accounts, seconds for all four reports
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


def render_all(demo: str, result: str | None = None) -> dict:
    """Render the four reports on the demo set ``demo`` one after the other; their split.

    The output goes to ``_reports_<folder name>`` beside ``demo``. After each report the
    answer so far is written to ``result`` (when given), so that a run stopped by the time
    limit still tells which reports finished and how long they took.
    """
    from csresearch.reports import REPORTS, render_report

    demo_p = Path(demo).resolve()
    out_dir = demo_p.parent / f"_reports_{demo_p.name}"
    t0 = time.perf_counter()
    ans: dict = {"reports": {}, "split": dict.fromkeys(SPLIT, 0.0)}
    for name in REPORTS:
        t = time.perf_counter()
        res = render_report(name, {"data": str(demo_p), "as_of": AS_OF}, out_dir, progress=False)
        tim = dict(res.timings or {})
        tim["seconds"] = time.perf_counter() - t
        ans["reports"][name] = tim
        for k in SPLIT:
            ans["split"][k] += tim.get(k, float("nan"))
        ans["seconds"] = time.perf_counter() - t0
        if result:
            Path(result).write_text(json.dumps({**ans, "partial": True}))
    ans["check"] = [float(len(ans["reports"]))]
    return ans


def run_case(case: str, path: str, result: str | None = None) -> dict:
    """Run one measurement in this process; return seconds, setup seconds and a check value."""
    t_setup = time.perf_counter()
    out: dict = {}
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
def measure(case: str, path: Path, timeout: float = TIMEOUT) -> dict:
    """Run ``case`` in a child process; wall time, peak RSS (bytes) and the child's answer."""
    import psutil

    out_file = path.parent / f"_{case}_{path.stem}.json"
    out_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "csresearch.bench", "--case", case, "--path", str(path),
           "--result", str(out_file)]
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
        if time.perf_counter() - start > timeout and not timed_out:
            timed_out = True
            for c in ps.children(recursive=True):
                c.kill()
            proc.kill()
        time.sleep(0.02)
    peak = max(peak, usage.ru_maxrss * 1024)
    res = {"case": case, "path": str(path), "peak": peak, "wall": time.perf_counter() - start}
    if timed_out:
        res["error"] = f"timed out after {timeout:.0f} s"
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
        "cox": [100_000, 300_000, 1_000_000], "render": [1_000, 10_000, 100_000]}
QUICK = {"events": [200_000, 500_000, 1_000_000], "km": [100_000, 300_000, 1_000_000],
         "cox": [20_000, 50_000, 100_000], "render": [1_000]}


def _fmt_n(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def _gen(kind: str, path: Path, n: int, src: Path | None = None) -> Path:
    """Generate data in a child process: the parent stays small, because on Linux a child's
    ``ru_maxrss`` starts at the parent's resident size when it is forked."""
    if not (path / "truth.json" if kind == "demo" else path / "usage_events.parquet"
            if kind == "validation" else path).exists():
        cmd = [sys.executable, "-m", "csresearch.bench", "--gen", kind, "--path", str(path),
               "--size", str(n)] + (["--src", str(src)] if src else [])
        subprocess.run(cmd, check=True)
    return path


RENDER_STEP = "render all 4 reports"


def run_render(work: Path, sizes: dict) -> list[dict]:
    """The report-rendering rows: all four reports on demo sets of ``sizes["render"]`` accounts."""
    rows = []
    print("report rendering", flush=True)
    for n in sizes["render"]:
        demo = _gen("demo", work / f"demo_{n}", n)
        n_ev = int(json.loads((demo / "truth.json").read_text())["rows"]["usage_events"])
        res = measure("render_all", demo, RENDER_TIMEOUT)
        rows.append({"step": RENDER_STEP, "n": n, "unit": "accounts", "events": n_ev,
                     "method": "papermill + nbconvert (a kernel per report)", **res})
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
           load: tuple | None = None, render_run: dict | None = None) -> str:
    """The Markdown report; ``load`` = load averages (1/5/15 min) at the start and the end;
    ``render_run`` = seconds and load of a separate ``--only render`` run, if any."""
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
        f"Generated by `make bench` (`python -m csresearch.bench`) in {seconds / 60:.1f} min on "
        f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}; "
        f"pandas {pd.__version__}, DuckDB {duckdb.__version__}, ibis {ibis.__version__}, "
        f"PySpark {spark_v}, lifelines {lifelines.__version__}. Other work may have shared "
        "the machine: read ratios measured in the same run, not absolute seconds.",
        "",
    ] + ([f"Load average (1 / 5 / 15 min, `os.getloadavg()`) at the start: {_load(load[0])}; "
          f"at the end: {_load(load[1])} ({os.cpu_count()} cores: above that, others were "
          "running too).", ""] if load else []) + ([
        f"Report rendering re-measured apart (`python -m csresearch.bench --only render`) in "
        f"{render_run['seconds'] / 60:.1f} min; load average at its start: "
        f"{_load(render_run['load'][0])}; at its end: {_load(render_run['load'][1])}.", ""]
        if render_run else []) + [
        "## Results",
        "",
        "| step | data | method | seconds | peak RSS (GiB) | time vs reference | same result |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
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
        "- Report rendering: `csresearch.bench.render_all` renders retention, health, "
        "churn_drivers and maturity with `csresearch.reports.render_report` (papermill runs "
        "each template in a new kernel; nbconvert exports HTML) on the demo set "
        "(`csresearch.demo.generate(n_accounts=N, seed=42)`), one after the other, as `csresearch "
        "report all` does with `jobs: 1`. Seconds = wall clock of the four renders (the child's "
        "imports excluded); peak RSS includes the kernels. Split from papermill's timestamps in "
        "each executed notebook (`csresearch.reports.render.cell_timings`): kernel start-up = "
        "start of execution (before the kernel is launched) to the end of the hidden setup cell "
        "and the parameters; data loading = the cell tagged `start` (`rn.start(...)` opens and "
        "validates the source; tables are read into pandas lazily by the first section that "
        "needs them, so that reading counts as computation); computation = the later cells; "
        "rendering = the nbconvert HTML export timed in `render_report`; other = the rest "
        "(parameter checks, papermill's notebook writes, kernel shut-down, index).",
    ]
    return "\n".join(lines) + "\n"


def _render_section(rows: list[dict]) -> list[str]:
    rs = [r for r in rows if r["step"] == RENDER_STEP]
    if not rs:
        return []
    lines = ["", "## Report rendering (all four reports, seconds summed over the reports)", "",
             "| accounts | events | total s | peak RSS (GiB) | kernel start-up | data loading | "
             "computation | rendering (HTML) | other | per report (s) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rs:
        a = r if "seconds" in r else r.get("partial")
        if not a:
            lines.append(f"| {r['n']:,} | {r['events']:,} | {r['error']} | {_gib(r['peak'])} |"
                         " - | - | - | - | - | none finished |")
            continue
        sp = a["split"]
        other = a["seconds"] - sum(sp[k] for k in SPLIT)
        total = f"{a['seconds']:.1f}" if "seconds" in r else (
            f"{r['error']}; {len(a['reports'])} of 4 done in {a['seconds']:.1f}")
        per = ", ".join(f"{k} {v['seconds']:.1f}" for k, v in a["reports"].items())
        lines.append(f"| {r['n']:,} | {r['events']:,} | {total} | {_gib(r['peak'])} | "
                     + " | ".join(f"{sp[k]:.1f} ({sp[k] / a['seconds']:.0%})" for k in SPLIT)
                     + f" | {other:.1f} | {per} |")
    return lines


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
    n_t, limit = RENDER_TARGET
    ren = next((r for r in rows if r["step"] == RENDER_STEP and r["n"] == n_t), None)
    if ren:
        secs = ren.get("seconds")
        out.append(f"- All four reports at {n_t:,} accounts: "
                   + (f"{secs:.1f} s: {'met' if secs < limit else 'NOT met'}" if secs is not None
                      else f"{ren['error']}: NOT met") + f" (< {limit:.0f} s).")
    return out or ["- (no target measured)"]


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
                    help="re-measure only this and merge into the rows of the last full run")
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

            generate(n_accounts=a.size, seed=42, out=p)
        return
    if a.case:  # child
        Path(a.result).write_text(json.dumps(run_case(a.case, a.path, a.result)))
        return
    from csresearch.engine import spark_unavailable_reason

    spark = not a.no_spark and spark_unavailable_reason() is None
    sizes = QUICK if a.quick else FULL
    saved_at = Path(a.work) / "rows.json"
    t0, load0 = time.perf_counter(), os.getloadavg()
    if a.only:
        if not saved_at.exists():
            raise SystemExit(f"--only needs the rows of a full run ({saved_at}); run without it first")
        saved = json.loads(saved_at.read_text())
        rows = [r for r in saved["rows"] if r["step"] != RENDER_STEP] + run_render(Path(a.work), sizes)
        saved.update(rows=rows, render_run={"seconds": time.perf_counter() - t0,
                                            "load": [load0, os.getloadavg()]})
    else:
        rows = run_all(Path(a.work), sizes, spark, demo_accounts=1_000 if a.quick else 10_000)
        saved = {"rows": rows, "spark": spark, "seconds": time.perf_counter() - t0,
                 "load": [load0, os.getloadavg()], "render_run": None, "sizes": sizes}
    saved_at.write_text(json.dumps(saved, default=str))
    text = render(saved["rows"], saved.get("sizes", sizes), saved["spark"], saved["seconds"], saved["load"],
                  saved["render_run"])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
