"""``python -m bench``: the options, the child entry points and the two kinds of run."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import bench
from bench.cases import run_case
from bench.config import DEMO_MODEL, FULL, QUICK, RENDER_STEP
from bench.data import make_events, make_survival, make_validation_source
from bench.measure import run_all, run_render
from bench.report import render
from bench.splice import code_state, git_date, splice_render


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description=(bench.__doc__ or "").split("\n")[0])
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
    ap.add_argument("--jobs", type=int, default=1, help="child render_all: reports rendered at a time")
    return ap


def generate(a: argparse.Namespace) -> None:
    """Child: data generation (``--gen``)."""
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

        generate(n_accounts=a.size, seed=42, out=p, usage_scale=a.usage_scale, model=DEMO_MODEL)


def only_render(a: argparse.Namespace, sizes: dict, t0: float, load0: tuple) -> str:
    """``--only render``: re-measure the rendering and merge it into the last full run."""
    saved_at = Path(a.work) / "rows.json"
    if a.sizes:
        sizes = {**sizes, "render": [int(x) for x in a.sizes.split(",")]}
    Path(a.work).mkdir(parents=True, exist_ok=True)
    kept_at = Path(a.work) / "render_rows.json"
    kept = json.loads(kept_at.read_text()) if kept_at.exists() else []
    code = code_state()
    new = [{**r, "code": code} for r in run_render(Path(a.work), sizes)]
    done = {(r["n"], r.get("jobs", 1)) for r in new}
    render_rows = sorted([r for r in kept if (r["n"], r.get("jobs", 1)) not in done] + new,
                         key=lambda r: (r["n"], r.get("jobs", 1)))
    kept_at.write_text(json.dumps(render_rows, default=str))
    run = {"seconds": time.perf_counter() - t0, "load": [load0, os.getloadavg()],
           "date": time.strftime("%Y-%m-%d"), "sizes": sorted({n for n, _ in done}), "code": code}
    (Path(a.work) / "render_run.json").write_text(json.dumps(run))
    out = Path(a.out)
    if saved_at.exists():
        saved = json.loads(saved_at.read_text())
        saved.update(rows=[r for r in saved["rows"] if r["step"] != RENDER_STEP] + render_rows,
                     render_run=run)
        saved_at.write_text(json.dumps(saved, default=str))
        return render(saved["rows"], saved.get("sizes", sizes), saved["spark"], saved["seconds"],
                      saved["load"], saved["render_run"], saved.get("date", ""))
    if out.exists():  # no rows of the full run here: keep its lines, replace the render ones
        return splice_render(out.read_text(), render_rows, run, git_date(out))
    raise SystemExit(f"--only needs a full run: {saved_at} or {out}; run without it first")


def full_run(a: argparse.Namespace, sizes: dict, spark: bool, t0: float, load0: tuple) -> str:
    """Every measurement; the rows are kept in WORK/rows.json for a later ``--only render``."""
    rows = run_all(Path(a.work), sizes, spark, demo_accounts=1_000 if a.quick else 10_000)
    saved = {"rows": rows, "spark": spark, "seconds": time.perf_counter() - t0,
             "load": [load0, os.getloadavg()], "render_run": None, "sizes": sizes,
             "date": f" on {time.strftime('%Y-%m-%d')}"}
    (Path(a.work) / "rows.json").write_text(json.dumps(saved, default=str))
    return render(saved["rows"], sizes, saved["spark"], saved["seconds"], saved["load"],
                  None, saved["date"])


def main(argv: list[str] | None = None) -> None:
    a = parser().parse_args(argv)
    if a.gen:  # child: data generation
        generate(a)
        return
    if a.case:  # child
        Path(a.result).write_text(json.dumps(run_case(a.case, a.path, a.result, a.size, a.usage_scale, a.jobs)))
        return
    from csresearch.data.engine import spark_unavailable_reason

    spark = not a.no_spark and spark_unavailable_reason() is None
    sizes = QUICK if a.quick else FULL
    t0, load0 = time.perf_counter(), os.getloadavg()
    text = only_render(a, sizes, t0, load0) if a.only else full_run(a, sizes, spark, t0, load0)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)
    print(f"wrote {a.out}")
