"""Write the dynamic demo: accounts first, then blocks of accounts simulated and written in turn.

Random streams: ``np.random.SeedSequence(seed).spawn(1 + blocks)``; the first draws the
accounts table (the static demo's :func:`csresearch.demo.population.draw_accounts`, then the
contract terms), block ``b`` (accounts ``b * BLOCK .. (b + 1) * BLOCK - 1``) the rest of
their lives. Memory is bounded by a block, whatever the number of accounts, and the files
are byte-identical per seed (and :data:`BLOCK`).

Example
-------
>>> paths = generate_dynamic(500, seed=1, out=Path("/tmp/demo_dyn"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from csresearch.demo import population
from csresearch.demo.dynamic.block import new_block
from csresearch.demo.dynamic.describe import Tally, truth_info
from csresearch.demo.dynamic.simulate import simulate
from csresearch.demo.dynamic.sink import TableSink
from csresearch.demo.dynamic.tables import (
    SCHEMAS,
    TS,
    milestones_table,
    monthly_tables,
    nps_table,
    reasons_table,
    subscriptions_table,
    support_tables,
    usage_events,
)
from csresearch.demo.dynamic.truth import DynamicTruth

BLOCK = 20_000  # accounts per block (part of the output: another size gives other files)
ACCOUNTS = pa.schema([("account_id", pa.string()), ("name", pa.string()), ("segment", pa.string()),
                      ("plan", pa.string()), ("industry", pa.string()), ("region", pa.string()),
                      ("csm_owner", pa.string()), ("created_at", TS)])
ORDER = ("accounts", "subscriptions", "usage_events", "nps_responses", "ces_responses", "csat_responses",
         "support_tickets", "email_events", "onboarding_milestones", "csm_sentiment", "churn_reasons",
         "truth_risk")


def generate_dynamic(n_accounts: int, seed: int, out: Path, fmt: str = "parquet",
                     truth: DynamicTruth | None = None, usage_scale: float = 1.0) -> list[Path]:
    """Write the dynamic demo's tables, ``truth_risk.parquet`` and ``truth.json`` into ``out``.

    Parameters
    ----------
    n_accounts
        Number of accounts.
    seed
        Random seed; the same seed gives byte-identical files.
    out
        Output folder (created).
    fmt
        ``"parquet"`` or ``"csv"`` (``truth_risk`` is Parquet either way).
    truth
        The generating model; :class:`DynamicTruth` by default.
    usage_scale
        Multiplies the expected usage events; the hazard reads usage per day divided by it.

    Returns
    -------
    list of Path
        The files written, ``truth.json`` last.

    Examples
    --------
    >>> paths = generate_dynamic(500, seed=1, out=Path("/tmp/demo_dyn"))  # doctest: +SKIP
    """
    truth = truth or DynamicTruth()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_blocks = -(-n_accounts // BLOCK)
    streams = np.random.SeedSequence(seed).spawn(1 + n_blocks)
    rng0 = np.random.default_rng(streams[0])
    accounts, pop = population.draw_accounts(rng0, n_accounts)
    term = np.where(rng0.random(n_accounts) < np.array(truth.annual_share)[pop.seg], 12, 1)
    schemas = {"accounts": ACCOUNTS, **{k: SCHEMAS[k] for k in ORDER[1:]}}
    tally = Tally()
    with TableSink(out, fmt, schemas, parquet_only=("truth_risk",)) as sink:
        sink.write("accounts", pa.Table.from_pandas(accounts, preserve_index=False))
        del accounts
        offsets = {"ticket": 0, "subscription": 0}
        for b in range(n_blocks):
            lo, hi = b * BLOCK, min(n_accounts, (b + 1) * BLOCK)
            rng = np.random.default_rng(streams[1 + b])
            blk = new_block(rng, pop.ids[lo:hi], pop.start[lo:hi], pop.seg[lo:hi], term[lo:hi], truth)
            simulate(blk, rng, truth, usage_scale)
            tables = {"usage_events": usage_events(blk, rng, truth), **support_tables(blk, offsets["ticket"]),
                      "nps_responses": nps_table(blk), **monthly_tables(blk),
                      "onboarding_milestones": milestones_table(blk, rng),
                      "subscriptions": subscriptions_table(blk, offsets["subscription"]),
                      "churn_reasons": reasons_table(blk, rng)}
            offsets["ticket"] += tables["support_tickets"].num_rows
            offsets["subscription"] += tables["subscriptions"].num_rows
            tally.add(blk)
            for name in ORDER[1:]:
                sink.write(name, tables[name])
            del blk, tables
    info = truth_info(seed, n_accounts, truth, tally, {k: sink.rows[k] for k in ORDER[:-1]}, usage_scale)
    info["rows_truth_risk"] = sink.rows["truth_risk"]
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(info, indent=2) + "\n")
    return [*(sink.paths[k] for k in ORDER), truth_path]
