"""The parent: every measurement in its own child process, one at a time; rows for the report."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.cases import where_stopped
from bench.config import (
    DEMO_MODEL,
    GEN_TIMEOUT,
    RENDER_MEM_LIMIT,
    RENDER_METHOD,
    RENDER_METHOD_JOBS,
    RENDER_PARALLEL,
    RENDER_STEP,
    RENDER_TIMEOUT,
    RENDER_TIMEOUTS,
    RENDER_USAGE_SCALE,
    SPARK_TIMEOUT,
    TIMEOUT,
    fmt_n,
)


def child_env() -> dict:
    """The environment of a child ``python -m bench``: this folder's parent first on the path,
    so that the child finds the ``bench`` package whatever its working directory."""
    root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def measure(case: str, path: Path, timeout: float = TIMEOUT, mem_limit: float | None = None,
            extra: list[str] | None = None, poll: float = 0.02) -> dict:
    """Run ``case`` in a child process; wall time, peak RSS (bytes) and the child's answer.
    The child and its descendants are killed after ``timeout`` s or above ``mem_limit`` bytes.
    ``poll``: seconds between two RSS samples (each lists every process of the machine: at
    20 ms that is about a tenth of a core, so long runs poll less often)."""
    import psutil

    out_file = path.parent / f"_{case}_{path.stem}.json"
    out_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench", "--case", case, "--path", str(path),
           "--result", str(out_file)] + (extra or [])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env())
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


def _close(a, b, tol=1e-6) -> bool:
    if a is None or b is None or len(a) != len(b):
        return False
    return bool(np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=tol, atol=tol))


def _gen(kind: str, path: Path, n: int, src: Path | None = None, usage_scale: float = 1.0) -> Path:
    """Generate data in a child process: the parent stays small, because on Linux a child's
    ``ru_maxrss`` starts at the parent's resident size when it is forked."""
    if not (path / "truth.json" if kind == "demo" else path / "usage_events.parquet"
            if kind == "validation" else path).exists():
        cmd = [sys.executable, "-m", "bench", "--gen", kind, "--path", str(path),
               "--size", str(n)] + (["--src", str(src)] if src else []) + (
                   ["--usage-scale", f"{usage_scale:g}"] if usage_scale != 1.0 else [])
        subprocess.run(cmd, check=True, env=child_env())
    return path


def demo_dir(work: Path, n: int) -> Path:
    """The demo set of ``n`` accounts for report rendering (its usage scale in the name)."""
    scale = RENDER_USAGE_SCALE.get(n, 1.0)
    name = f"demo_{DEMO_MODEL}_{n}"  # the model in the name: a set of another model is not reused
    return work / (name if scale == 1.0 else f"{name}_u{scale:g}")


def run_render(work: Path, sizes: dict) -> list[dict]:
    """The report-rendering rows: ``report all`` on demo sets of ``sizes["render"]`` accounts
    (and, at the sizes of :data:`RENDER_PARALLEL`, again with that many reports at a time)."""
    rows = []
    print("report rendering", flush=True)
    for n in sizes["render"]:
        scale = RENDER_USAGE_SCALE.get(n, 1.0)
        demo = demo_dir(work, n)
        row = {"step": RENDER_STEP, "n": n, "unit": "accounts", "usage_scale": scale,
               "date": time.strftime("%Y-%m-%d"), "method": RENDER_METHOD, "jobs": 1}
        if not (demo / "truth.json").exists():  # generated here, measured, stopped like a render
            gen = measure("gen_demo", demo, GEN_TIMEOUT, RENDER_MEM_LIMIT,
                          ["--size", str(n), "--usage-scale", f"{scale:g}"], poll=0.2)
            row["gen"] = {k: gen.get(k) for k in ("seconds", "wall", "peak", "error")}
            if "error" in gen:
                rows.append({**row, "events": None, "peak": gen["peak"], "load": list(os.getloadavg()),
                             "error": f"not rendered: generating the demo set {gen['error']}"})
                continue
        rows.append(_render_row(demo, row))
        if RENDER_PARALLEL.get(n, 1) > 1:
            jobs = RENDER_PARALLEL[n]
            rows.append(_render_row(demo, {**{k: v for k, v in row.items() if k != "gen"}, "jobs": jobs,
                                           "method": RENDER_METHOD_JOBS.format(jobs=jobs)}))
    return rows


def _render_row(demo: Path, row: dict) -> dict:
    """One ``report all`` measured on ``demo`` (``row['jobs']`` at a time): ``row`` with its result."""
    n, jobs = row["n"], row.get("jobs", 1)
    n_ev = int(json.loads((demo / "truth.json").read_text())["rows"]["usage_events"])
    load = os.getloadavg()
    res = measure("render_all", demo, RENDER_TIMEOUTS.get(n, RENDER_TIMEOUT), RENDER_MEM_LIMIT,
                  ["--jobs", str(jobs)], poll=0.2)
    if "error" in res:  # killed: the report that was running, from its work folder
        from datetime import UTC, datetime

        until = datetime.now(UTC)
        out = demo.parent / (f"_reports_{demo.name}" + (f"_j{jobs}" if jobs > 1 else ""))
        done = set((res.get("partial") or {}).get("reports", {}))
        nbs = [q for q in out.glob(".work-*/*.ipynb") if q.stem not in done]
        if nbs:
            nb = max(nbs, key=lambda q: q.stat().st_mtime)
            res["where"] = f"{nb.stem}: {where_stopped(nb, until) or 'before its first cell'}"
    return {**row, "events": n_ev, "load": list(load), **res}


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
        ev = _gen("events", work / f"events_{fmt_n(n)}.parquet", n)
        ref = add("usage features", n, "events", "pandas", measure("features_pandas", ev))
        add("usage features", n, "events", "kit on DuckDB", measure("features_duckdb", ev), ref)
        if spark and n in sorted(sizes["events"])[:2]:  # local[2] Spark took > 600 s at 50M
            add("usage features", n, "events", "kit on Spark local[2]",
                measure("features_spark", ev, SPARK_TIMEOUT), ref)
    print("validation", flush=True)
    for n in sizes["events"]:
        folder = _gen("validation", work / f"source_{fmt_n(n)}", n,
                      work / f"events_{fmt_n(n)}.parquet")
        add("validation (all contract rules)", n, "events", "kit on DuckDB",
            measure("validate_duckdb", folder))
    print("kaplan-meier", flush=True)
    for n in sizes["km"]:
        sv = _gen("survival", work / f"survival_{fmt_n(n)}.parquet", n)
        ref = add("Kaplan-Meier", n, "subscribers", "lifelines", measure("km_lifelines", sv))
        add("Kaplan-Meier", n, "subscribers", "engine-side counts (DuckDB)",
            measure("km_engine", sv), ref, 1e-10)
    print("cox", flush=True)
    for n in sizes["cox"]:
        sv = _gen("survival", work / f"survival_{fmt_n(n)}.parquet", n)
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
    if importlib.util.find_spec("csresearch.health") is not None:
        add(f"health score history, demo {demo_accounts:,} accounts", demo_accounts, "accounts",
            "kit (DuckDB + pandas)", measure("health_duckdb", demo))
    return rows + run_render(work, sizes)
