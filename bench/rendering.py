"""The report-rendering rows of the report: the `report all` runs, their split and targets."""

from __future__ import annotations

from bench.config import FIXED_TARGET, RENDER_STEP, RENDER_TARGETS, SPLIT, fmt_n, gib

RENDER_HOW = (
    "- Report rendering: `bench.cases.render_all` writes a config with the four reports "
    "(retention, health, churn_drivers, maturity; `jobs: 1`, `timeout: 600` s per report) and runs "
    "it with `csresearch.reports.config.run_config`, the code of `csresearch report all`: the "
    "reports render in turn, each in its own kernel, and the next report's kernel is started and "
    "warmed (`reports/kernel.py` `start_ahead`) while the one before renders; the first report's "
    "kernel is started (not warmed) when the run begins. Data: the demo set `csresearch.demo.generate(n_accounts=N, seed=42, "
    "usage_scale=s, model='dynamic')`, s = 1.0 up to 100k accounts and 0.19 at 1M (about 100M "
    "usage events), on "
    "DuckDB. `report all` seconds = wall clock of `run_config` in the child process (its imports, "
    "about 1-2 s, excluded); peak RSS = the summed RSS of the process tree (the child and every "
    "kernel) polled with psutil (every 20 ms in the runs of 2026-12-01 up to 100k accounts, "
    "every 200 ms since: at 20 ms the polling itself took about a tenth of a core) and the "
    "child's ru_maxrss; "
    "the run is stopped after 600 s (1,200 s at 1M) or above 16 GiB, and the report that was "
    "running is named with the cell it was in (from its executed notebook). Per report: seconds "
    "= from the end of the report before (the start of the run for the first) to the end of this "
    "one, so the four add up to the total (in turn, a report's HTML export runs while the next "
    "report's notebook runs, since 2026-12-02: its split can then add up to a little more than "
    "its seconds, and other is negative); split from papermill's timestamps in the executed "
    "notebook (`csresearch.reports.html.cell_timings`): kernel start-up = papermill's start of "
    "execution to the end of the hidden setup cell and the parameters (with a kernel started "
    "ahead: the connection, setup cell and parameters only; the wait for the warm-up, if any, is "
    "in other); data loading = the cell tagged `start` (`rn.start(...)` opens and validates the "
    "source; sections read tables lazily, so reading counts as computation); computation = the "
    "later cells; HTML export = nbconvert's export timed in `render_report`; other = the rest "
    "(waiting for the kernel started ahead, starting the next one, papermill's notebook writes, "
    "kernel shut-down, summary JSON, index). Fixed cost per report = seconds - data loading - "
    "computation (= kernel start-up + HTML export + other): what a report costs whatever the "
    "data; \"first\" is the report whose kernel was started when it began, \"later\" the mean of the three "
    "that got one started ahead. Slowest cells: the three longest cells of each report. At 100k "
    "accounts (`bench.config.RENDER_PARALLEL`) the same config runs again with `jobs: 2` (two "
    "reports at a time, a kernel each, on the machine's 2 cores): its per-report seconds are each "
    "report's own render time, so they overlap and add up to more than the total."
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


def render_result_line(r: dict) -> str:
    return (f"| {r['step']} | {r['n']:,} accounts, {_ev(r)} events | {r['method']} | "
            f"{_render_status(r)} | {gib(r['peak'])} |  |  |")


def _size(r: dict) -> str:
    """The accounts of a render row, and how many reports ran at a time when more than one."""
    jobs = r.get("jobs", 1)
    return f"{r['n']:,}" + (f" ({jobs} at a time)" if jobs > 1 else "")


def render_section(rows: list[dict]) -> list[str]:
    rs = [r for r in rows if r["step"] == RENDER_STEP]
    if not rs:
        return []
    lines = ["", "## Report rendering (`report all`: the four reports in turn, kernels started ahead)",
             "",
             "Seconds of the split are summed over the reports (share of the `report all` time; "
             "with reports at a time, of the sum of their times).",
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
            lines.append(f"| {_size(r)} | {_ev(r)} | {_render_status(r)} | {gib(r['peak'])} "
                         f"| {load} | - | - | - | - | - | - |")
            continue
        sp = {k: sum(v.get(k, 0.0) for v in ok) for k in SPLIT}
        total = sum(v["seconds"] for v in ok)
        other = total - sum(sp.values())
        share = a["seconds"] if r.get("jobs", 1) == 1 else total  # reports at a time: of their sum
        mean, first, later = _fixed(a)
        lines.append(f"| {_size(r)} | {_ev(r)} | {_render_status(r)} | {gib(r['peak'])} | "
                     f"{load} | "
                     + " | ".join(f"{sp[k]:.1f} ({sp[k] / share:.0%})" for k in SPLIT)
                     + f" | {other:.1f} | {_s(mean)}; {_s(first)} / {_s(later)} |")
    gens = [r for r in rs if r.get("gen")]
    if gens:
        lines += [""] + [
            f"Demo set of {_size(r)} accounts (usage scale {r.get('usage_scale', 1.0):g}) "
            + (f"not generated: {g['error']}, peak RSS {gib(g['peak'])} GiB" if g.get("error") else
               f"generated for this run in {g['seconds']:.0f} s ({g['wall']:.0f} s with the child's "
               f"start), peak RSS {gib(g['peak'])} GiB")
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
                lines.append(f"| {_size(r)} | {name} | {v['seconds']:.1f} | {v.get('status', '?')}: "
                             f"{v.get('error', '')}{where} | | | | | | {cells} |")
                continue
            other = v["seconds"] - sum(v.get(k, 0.0) for k in SPLIT)
            lines.append(f"| {_size(r)} | {name} | {v['seconds']:.1f} | "
                         + " | ".join(f"{v.get(k, 0.0):.1f}" for k in SPLIT)
                         + f" | {other:.1f} | {v['fixed']:.1f} | {cells} |")
        if r.get("error"):
            lines.append(f"| {_size(r)} | {'(run stopped)' if r.get('events') is not None else '(not rendered)'} "
                         f"| | {r['error']}"
                         + (f"; in {r['where']}" if r.get("where") else "") + " | | | | | | |")
    return lines


def render_targets(rows: list[dict]) -> list[str]:
    out = []
    by_n = {r["n"]: r for r in rows if r["step"] == RENDER_STEP and r.get("jobs", 1) == 1}
    parallel = {r["n"]: r for r in rows if r["step"] == RENDER_STEP and r.get("jobs", 1) > 1}
    for n, limit, max_gib in RENDER_TARGETS:
        for r in (by_n.get(n), parallel.get(n)):
            if r is not None:
                out.append(_target_line(r, limit, max_gib))
    fixed = [(r["n"], _fixed(r if "seconds" in r else r.get("partial") or {})[0]) for r in by_n.values()]
    fixed = [(n, f) for n, f in fixed if f is not None]
    if fixed:
        bad = [f"{n:,}" for n, f in fixed if f > FIXED_TARGET]
        out.append("- Fixed cost per report (mean over the four reports; kernel start-up + HTML "
                   "export + other): " + ", ".join(f"{fmt_n(n)} accounts {f:.2f} s" for n, f in fixed)
                   + (": met" if not bad else f": NOT met at {', '.join(bad)} accounts")
                   + f" (<= {FIXED_TARGET} s).")
    return out


def _target_line(r: dict, limit: float, max_gib: float | None) -> str:
    """One "- All four reports ..." line of the targets: the row's time (and peak) against them."""
    a = r if "seconds" in r else r.get("partial") or {}
    all_ok = "seconds" in r and not r.get("error") and len(_ok_reports(a)) == 4
    mem = f", peak {gib(r['peak'])} GiB" if max_gib and r.get("events") is not None else ""
    met = all_ok and r["seconds"] < limit and (not max_gib or r["peak"] < max_gib * 2**30)
    want = f"< {limit:.0f} s" + (f", < {max_gib:.0f} GiB" if max_gib else "")
    got = f"{r['seconds']:.1f} s{mem}" if all_ok else f"{_render_status(r)}{mem}"
    jobs = r.get("jobs", 1)
    how = "`report all`" if jobs == 1 else f"`report all --jobs {jobs}`, {jobs} at a time"
    return (f"- All four reports ({how}) at {r['n']:,} accounts ({_ev(r)} usage "
            f"events): {got}: {'met' if met else 'NOT met'} ({want}).")
