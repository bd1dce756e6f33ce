"""Settings of the benchmarks: sizes, time and memory limits, targets, row names."""

AS_OF = "2025-12-31"
EVENTS_PER_ACCOUNT = 500
TIMEOUT = 900.0
SPARK_TIMEOUT = 600.0
RENDER_TIMEOUT = 600.0  # the "too long": 10 min for the four reports at one size
RENDER_TIMEOUTS = {1_000_000: 1200.0}  # 1M accounts: twice the 10 min target, then stopped
GEN_TIMEOUT = 1200.0  # generating a demo set for rendering (20 min)
RENDER_MEM_LIMIT = 16 * 2**30  # the render run is stopped above this (24 GiB, shared machine)
REPORT_TIMEOUT = 600  # seconds per report in the config: a slower report fails, naming its cell
#: usage_scale of the demo set per size: 1M accounts with about 100M usage events (the dynamic
#: demo: 10k accounts give 5.4M events at 1.0; 1M at 0.22 gave 116M, so 0.19 gives about 100M)
RENDER_USAGE_SCALE = {1_000_000: 0.19}
#: sizes also rendered two reports at a time (`report all --jobs 2`, one kernel each; 2 cores)
RENDER_PARALLEL = {100_000: 2}
DEMO_MODEL = "dynamic"  # the demo's generating model (the default of csresearch.demo.generate)
#: (accounts, seconds for `report all`, peak GiB or None): issue 11 and the earlier 10k target
RENDER_TARGETS = ((10_000, 120.0, None), (100_000, 60.0, None), (1_000_000, 600.0, 8.0))
FIXED_TARGET = 1.5  # seconds of fixed cost per report (issue 11)
SPLIT = ("startup", "loading", "computation", "rendering")

FULL = {"events": [5_000_000, 15_000_000, 50_000_000], "km": [1_000_000, 3_000_000, 10_000_000],
        "cox": [100_000, 300_000, 1_000_000], "render": [1_000, 10_000, 100_000, 1_000_000]}
QUICK = {"events": [200_000, 500_000, 1_000_000], "km": [100_000, 300_000, 1_000_000],
         "cox": [20_000, 50_000, 100_000], "render": [1_000]}

RENDER_STEP = "render all 4 reports"
RENDER_METHOD = "`report all`: papermill + nbconvert, a kernel per report, the next started ahead"
RENDER_METHOD_JOBS = "`report all --jobs {jobs}`: {jobs} reports at a time, a kernel each"
RENDER_NOTE = "Report-rendering rows and sections re-measured apart"


def gib(b: float) -> str:
    return f"{b / 2**30:.2f}"


def fmt_n(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def load_avg(load) -> str:
    return " / ".join(f"{x:.2f}" for x in load)

