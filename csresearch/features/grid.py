"""The account x month grid behind :func:`csresearch.features.account.account_month_features`.

Who is a customer, and when, is read from :mod:`csresearch.data.timeline` (no other definition):

* the grid holds one row per account and complete month, from the month of the account's
  **first paid day** (the timeline's ``first_paid_day``: a free trial before it does not
  count; free-only accounts are not on the grid) to the last month ending by the cut-off;
* ``active``: a paid interval (:func:`csresearch.data.timeline.paid_intervals`, ``mrr > 0``, end
  exclusive) overlaps the month;
* ``mrr`` / ``active_at_snapshot``: paid MRR on the snapshot day (the month's last day)
  and whether it is > 0 (the account is a customer on that day: ``active_on``);
* ``tenure_days``: snapshot - first paid day;
* ``days_to_renewal``: days to the next term anniversary of a paid subscription covering
  the snapshot.

The timeline is read as of the cut-off (the last snapshot), so nothing later is seen. The
rest of this module is the numpy machinery that fills the grid (cumulative and rolling sums
within each account's block, "latest answer" look-ups) without looping over accounts.

Example
-------
>>> grid, out = customer_months(src, pd.Timestamp("2025-11-30"))  # doctest: +SKIP
>>> out[["account_id", "period_start", "active", "mrr"]].head(2)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from csresearch.data import timeline
from csresearch.data.embedded import fetch
from csresearch.data.periods import add_months, month_from_index, month_index, months_between
from csresearch.errors import DataValidationError

MICRO = 1_000_000  # MRR is summed in integer micro-units, as in the MRR bridge
CHUNK_ROWS = 1 << 21  # rows per chunk of date arithmetic over (subscription, month) pairs


@dataclass
class Grid:
    """Account x month cells, one contiguous block of months per account."""

    accounts: pd.Index  # account ids, block order
    first_m: np.ndarray  # first month index per account
    offset: np.ndarray  # first row of each account's block
    size: np.ndarray
    last_m: int
    first_day: np.ndarray  # first paid day per account (datetime64[ns])
    _arrow_ids: object = field(default=None, repr=False)  # accounts as an Arrow array, made on first use

    @property
    def n(self) -> int:
        """Number of cells."""
        return int(self.size.sum())

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(account code, month index, block start row) of every cell."""
        acc = np.repeat(np.arange(len(self.accounts)), self.size)
        within = np.arange(self.n) - self.offset[acc]
        return acc, self.first_m[acc] + within, self.offset[acc]

    def codes(self, account_id) -> np.ndarray:
        """Position of each account id in :attr:`accounts` (-1: not on the grid). A pyarrow
        string array (a query's column) is looked up in Arrow: no Python string per row, which
        for the usage aggregates of a million accounts is 16M strings and their hash look-ups."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(account_id, pa.ChunkedArray | pa.Array):
            if pa.types.is_string(account_id.type) or pa.types.is_large_string(account_id.type):
                if self._arrow_ids is None:
                    self._arrow_ids = pa.array(self.accounts.astype(str).to_numpy(), type=pa.string())
                idx = pc.index_in(account_id.cast(pa.string()), value_set=self._arrow_ids)
                return idx.fill_null(-1).to_numpy().astype("int64")
            account_id = account_id.to_pandas()
        return self.accounts.get_indexer(pd.Index(account_id))

    def pos(self, account_id, month: np.ndarray, clip_early: bool = False, code=None) -> np.ndarray:
        """Row of each (account, month); -1 outside the grid (early months clipped if asked).
        ``code``: the accounts' positions in :attr:`accounts` when already looked up."""
        code = self.codes(account_id) if code is None else code
        month = np.asarray(month, dtype="int64")
        ok = code >= 0
        first = np.where(ok, self.first_m[np.maximum(code, 0)], 0)
        if clip_early:
            month = np.maximum(month, first)
        ok &= (month >= first) & (month <= self.last_m)
        return np.where(ok, self.offset[np.maximum(code, 0)] + month - first, -1)

    def scatter(self, account_id, month, values, clip_early: bool = False, code=None, p=None) -> np.ndarray:
        """Per cell, the sum of ``values`` of the (account, month) pairs falling in it (``code``
        as in :meth:`pos`; ``p``: the pairs' :meth:`pos` when already known)."""
        out = np.zeros(self.n, dtype="float64")
        p = self.pos(account_id, month, clip_early, code) if p is None else p
        keep = p >= 0
        np.add.at(out, p[keep], np.asarray(values, dtype="float64")[keep])
        return out

    def window_sum(self, account_id, month, values, k: int, code=None) -> np.ndarray:
        """Per cell, the sum of ``values`` dated in the ``k`` months up to the cell's month.

        Data dated before an account's first month counts in the cells whose window reaches
        back to it: +value from its month (clipped to the first), -value ``k`` months later,
        cumulated within each account's block. ``code``: the accounts' positions in
        :attr:`accounts` when already looked up (as in :meth:`pos`).
        """
        month = np.asarray(month, dtype="int64")
        values = np.asarray(values, dtype="float64")
        code = self.codes(account_id) if code is None else code
        reach = month + k > np.where(code >= 0, self.first_m[np.maximum(code, 0)], 0)
        m, v, c = month[reach], values[reach], code[reach]
        diff = self.scatter(None, m, v, clip_early=True, code=c) - self.scatter(None, m + k, v, code=c)
        return cum_in_block(diff, self.rows()[2])


def rolling_sum(x: np.ndarray, k: int, block: np.ndarray) -> np.ndarray:
    """Sum of x over the last k rows of the same block (including the row)."""
    cs = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(len(x))
    lo = np.maximum(i - k + 1, block)
    return cs[i + 1] - cs[lo]


def cum_in_block(x: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Cumulative sum of x within each block (``block`` = the block's first row per row)."""
    cs = np.concatenate([[0.0], np.cumsum(x)])
    return cs[np.arange(len(x)) + 1] - cs[block]


def latest_in_block(has: np.ndarray, values: np.ndarray, when: np.ndarray, m: np.ndarray,
                    block: np.ndarray, window: int) -> np.ndarray:
    """Latest value of rows with ``has`` in the same block, dated (month ``when``) within
    ``window`` months of the row's month ``m``."""
    i = np.arange(len(has))
    idx = np.maximum.accumulate(np.where(has, i, -1))
    ok = (idx >= block) & (idx >= 0)
    ok &= m - when[np.maximum(idx, 0)] < window
    return np.where(ok, values[np.maximum(idx, 0)], np.nan)


# -- customer months from the timeline ---------------------------------------------------------
def _paid(src, day: str) -> tuple[pd.DataFrame, pd.Series]:
    """The timeline's paid intervals as of ``day`` (dates as datetime64[ns]) and the first paid
    day per account (sorted by account)."""
    p = fetch(timeline.paid_intervals(src, day))
    for c in ("start_date", "end_date"):
        p[c] = pd.to_datetime(p[c]).astype("datetime64[ns]")
    t = timeline.account_timeline(src, day)
    t = fetch(t.filter(t.first_paid_day.notnull()).select("account_id", "first_paid_day"))
    first = pd.Series(pd.to_datetime(t["first_paid_day"]).astype("datetime64[ns]").to_numpy(),
                      index=pd.Index(t["account_id"], name="account_id")).sort_index()
    return p, first


def spread_months(m0: np.ndarray, m1: np.ndarray, last_m: int) -> tuple[np.ndarray, np.ndarray]:
    """Each interval i over its months ``m0[i]`` .. ``min(m1[i], last_m)`` (month indexes): the
    interval and the month of each (interval, month) pair, by interval then month.

    Example
    -------
    >>> spread_months(np.array([3, 5]), np.array([4, 9]), 6)
    (array([0, 0, 1, 1]), array([3, 4, 5, 6]))
    """
    n_m = np.maximum(np.minimum(m1, last_m) - m0 + 1, 0)
    rep = np.repeat(np.arange(len(m0)), n_m)
    return rep, m0[rep] + (np.arange(n_m.sum()) - np.repeat(np.cumsum(n_m) - n_m, n_m))


def customer_months(src, cut: pd.Timestamp) -> tuple[Grid, pd.DataFrame, pd.DataFrame]:
    """The grid up to the month ending on ``cut`` and its customer columns (module docstring).

    Returns the :class:`Grid`, the frame (account_id, period_start, snapshot_date, active,
    mrr, arr, active_at_snapshot, tenure_days, segment) and the paid intervals as of ``cut``.
    :class:`DataValidationError` when no paid subscription starts by ``cut``.
    """
    p, first = _paid(src, str(cut.date()))
    if p.empty:
        raise DataValidationError(
            f"table 'subscriptions': no subscription with MRR > 0 starts on or before {cut.date()} "
            "(the end of the last complete month by as_of); there is no customer month to measure"
        )
    last_m = int(month_index([cut])[0])
    first_m = month_index(first)
    size = last_m - first_m + 1
    grid = Grid(first.index, first_m, np.concatenate([[0], np.cumsum(size)[:-1]]), size, last_m,
                first.to_numpy())
    acc, m, _ = grid.rows()
    months = np.arange(int(m.min()), int(m.max()) + 1)  # each month's first day converted once
    at = m - months[0]
    snap = (month_from_index(months + 1) - pd.Timedelta(days=1))[at]
    out = pd.DataFrame({"account_id": grid.accounts.to_numpy()[acc], "period_start": month_from_index(months)[at],
                        "snapshot_date": snap})
    # months each paid interval overlaps (m0..m1) and covers on the snapshot (m < end's month)
    m0 = month_index(p["start_date"])
    is_open = p["end_date"].isna().to_numpy()
    end_m = np.where(is_open, last_m + 1, month_index(p["end_date"].fillna(cut)))
    m1 = np.where(is_open, last_m, month_index((p["end_date"] - pd.Timedelta(days=1)).fillna(cut)))
    rep, ex_m = spread_months(m0, m1, last_m)
    ex_code = grid.codes(p["account_id"])[rep]  # ids looked up per interval, not per month
    out["active"] = grid.scatter(None, ex_m, np.ones(len(ex_m)), code=ex_code) > 0
    covers = ex_m < end_m[rep]
    micro = np.zeros(grid.n, dtype="int64")
    pos = grid.pos(None, ex_m[covers], code=ex_code[covers])
    np.add.at(micro, pos, np.round(p["mrr"].to_numpy() * MICRO).astype("int64")[rep][covers])
    out["mrr"] = micro / MICRO
    out["arr"] = 12 * out["mrr"]
    out["active_at_snapshot"] = out["mrr"] > 0
    days = (snap.to_numpy() - grid.first_day[acc]) // np.timedelta64(1, "D")
    out["tenure_days"] = days.astype("int64")
    if src.has("accounts"):
        seg = src.df("accounts", ["account_id", "segment"]).drop_duplicates("account_id")
        out["segment"] = seg.set_index("account_id")["segment"].reindex(grid.accounts).take(acc).to_numpy()
    out["segment"] = out.get("segment", pd.Series(index=out.index, dtype=object)).fillna("(missing)")
    return grid, out, p


def days_to_renewal(src, grid: Grid, paid: pd.DataFrame) -> tuple[np.ndarray, str | None]:
    """Per cell of ``grid``, days from its snapshot to the next term anniversary of a paid
    subscription covering it (the soonest when several do).

    ``paid`` are the timeline's paid intervals (:func:`customer_months`); their
    ``term_months`` come from ``subscriptions`` through ``subscription_id``. An interval covers
    the snapshots (months' last days) from the month of its start to the month before its end
    (end exclusive: the last day of the end's month is on or after it). Returns the values
    (NaN where no covering subscription has a term) and a note when they cannot be known (no
    ``term_months`` or no ``subscription_id`` column). Each interval is spread over the
    months it covers by position in the grid, as the MRR is: no join of the cells with the
    subscriptions by account id.
    """
    res = np.full(grid.n, np.inf)
    cols = src.table("subscriptions").columns
    if "term_months" not in cols:
        return np.full(grid.n, np.nan), None
    if "subscription_id" not in paid.columns:
        return np.full(grid.n, np.nan), "subscriptions without subscription_id: days_to_renewal is NaN"
    terms = src.df("subscriptions", ["subscription_id", "term_months"]).drop_duplicates("subscription_id")
    s = paid.merge(terms, on="subscription_id")
    s = s.loc[s["term_months"].notna()]
    if s.empty:
        return np.full(grid.n, np.nan), None
    m0 = month_index(s["start_date"])
    m1 = np.where(s["end_date"].isna(), grid.last_m, month_index(s["end_date"].fillna(s["start_date"])) - 1)
    rep, ex_m = spread_months(m0, m1, grid.last_m)
    if not len(ex_m):
        return np.full(grid.n, np.nan), None
    pos = grid.pos(None, ex_m, code=grid.codes(s["account_id"])[rep])
    lo = int(ex_m.min())
    snaps = (month_from_index(np.arange(lo, int(ex_m.max()) + 2)) - pd.Timedelta(days=1))[1:]
    starts, terms = s["start_date"].to_numpy(), s["term_months"].to_numpy(dtype="int64")
    for a in range(0, len(ex_m), CHUNK_ROWS):  # the date arithmetic's temporaries, a chunk at a time
        b = slice(a, a + CHUNK_ROWS)
        snap = pd.Series(snaps.to_numpy()[ex_m[b] - lo])  # each covered month's last day
        start, term = pd.Series(starts[rep[b]]), terms[rep[b]]
        k = months_between(start, snap) // term + 1
        ann = add_months(start, (k * term).astype("int64"))
        days = ((ann.to_numpy() - snap.to_numpy()) // np.timedelta64(1, "D")).astype("float64")
        keep = pos[b] >= 0
        np.minimum.at(res, pos[b][keep], days[keep])
    return np.where(np.isinf(res), np.nan, res), None


def sorted_by_account(acc: np.ndarray, month: np.ndarray) -> bool:
    """Whether rows are sorted by account, then month (as ``sort_values([account, month])``
    leaves them); False also when the values do not compare (e.g. missing ones).

    Example
    -------
    >>> sorted_by_account(np.array(["a", "a", "b"], dtype=object), np.array([1, 2, 1]))
    True
    """
    try:
        return bool(np.all((acc[1:] > acc[:-1]) | ((acc[1:] == acc[:-1]) & (month[1:] >= month[:-1]))))
    except TypeError:
        return False
