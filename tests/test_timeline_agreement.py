"""One story: the period table, cohorts and the survival table count the same customers and
churns as the customer timeline, on a hand-made source; and DuckDB and PostgreSQL agree.

The source (as of 2024-06-30; periods Jan..Jun 2024, the last read as of as_of):

* ``plain``: paid 100 from 2024-01-01, open.
* ``down``: paid 50 2024-01-01 .. 2024-03-01, then free (0) from 03-01: churns on 03-01.
* ``freepaid``: free 2024-01-01 .. 02-15, paid 80 from 02-15: first paid day 02-15.
* ``free``: free only (0 from 2024-01-01): never a customer.
* ``react``: paid 30 2024-01-01 .. 02-10, back at 40 from 04-05: churns 02-10, reactivates 04-05.
* ``after``: paid 20 2024-05-01 .. 2024-07-01 (the day after as_of): not known to end, a customer.
"""

from __future__ import annotations

import pandas as pd
import pytest

from csresearch.data import timeline as tl
from csresearch.data.sources import DataSource
from csresearch.metrics import period_table
from csresearch.metrics.cohorts import cohort_table
from csresearch.survival.tables import survival_table
from tests import pg

AS_OF = "2024-06-30"
D = pd.Timestamp
ROWS = [
    ("plain", "2024-01-01", None, 100.0),
    ("down", "2024-01-01", "2024-03-01", 50.0), ("down", "2024-03-01", None, 0.0),
    ("freepaid", "2024-01-01", "2024-02-15", 0.0), ("freepaid", "2024-02-15", None, 80.0),
    ("free", "2024-01-01", None, 0.0),
    ("react", "2024-01-01", "2024-02-10", 30.0), ("react", "2024-04-05", None, 40.0),
    ("after", "2024-05-01", "2024-07-01", 20.0),
]
# customers on each period's first day and the events between (the timeline's definitions):
# Jan 1: plain down react (freepaid, free are free) = 3; Jan: nothing happens after Jan 1
# Feb: freepaid new (02-15), react churns (02-10), down churns (03-01 belongs to Feb) -> 2
# Mar: nothing -> 2; Apr: react back (04-05) and after new (05-01, the last day before it is
# in April) -> 4; May, Jun: -> 4   (start, new, reactivated, churned, end)
PERIODS = [(3, 0, 0, 0, 3), (3, 1, 0, 2, 2), (2, 0, 0, 0, 2), (2, 1, 1, 0, 4), (4, 0, 0, 0, 4),
           (4, 0, 0, 0, 4)]
COUNTS = ["accounts_start", "accounts_new", "accounts_reactivated", "accounts_churned", "accounts_end"]


def frames() -> dict[str, pd.DataFrame]:
    s = pd.DataFrame(ROWS, columns=["account_id", "start_date", "end_date", "mrr"])
    s.insert(0, "subscription_id", [f"s{i}" for i in range(len(s))])
    s["start_date"] = pd.to_datetime(s["start_date"])
    s["end_date"] = pd.to_datetime(s["end_date"])
    ids = sorted(s["account_id"].unique())
    acc = pd.DataFrame({"account_id": ids, "name": ids, "segment": ["smb", "ent"] * 3,
                        "created_at": D("2023-12-01")})
    return {"accounts": acc, "subscriptions": s}


@pytest.fixture(scope="module")
def src() -> DataSource:
    return DataSource.from_frames(frames())


def _rows(t: pd.DataFrame, cols: list[str]) -> list[tuple]:
    return [tuple(int(v) for v in r) for r in t[cols].itertuples(index=False)]


def test_period_table_counts_the_timeline(src):
    t = period_table(src, AS_OF)
    assert _rows(t, COUNTS) == PERIODS
    tl_t = tl.active_by_period(src, AS_OF).execute()
    assert _rows(tl_t, ["customers_start", "new", "reactivated", "churned", "customers_end"]) == PERIODS
    assert t["accounts_end"].iloc[-1] == tl.active_customers(src, AS_OF) == 4
    assert tl.free_only_accounts(src, AS_OF) == 1  # free: in no count
    # MRR: Jun 1 = plain 100 + freepaid 80 + react 40 + after 20 = 240; Jul 1 read as of Jun 30
    jun = t.iloc[-1]
    assert (jun.mrr_start, jun.mrr_end, jun.mrr_churned) == (240, 240, 0)
    # Feb 1: plain 100 + down 50 + react 30 = 180; freepaid new 80; down and react churn 50 + 30;
    # Mar 1: plain 100 + freepaid 80 = 180
    feb = t.iloc[1]
    assert (feb.mrr_start, feb.mrr_new, feb.mrr_churned, feb.mrr_end) == (180, 80, 80, 180)
    assert feb.logo_churn_rate == pytest.approx(2 / 3)


def test_bridge_adds_up_with_events_inside_one_period():
    # paid 01-01 .. 02-10, back 02-20: one churn and one reactivation in February; the MRR
    # amounts compare the snapshots (10 on Feb 1 and on Mar 1: flat), so the bridge adds up
    f = frames()
    f["subscriptions"] = pd.DataFrame({
        "subscription_id": ["x1", "x2"], "account_id": ["plain"] * 2,
        "start_date": pd.to_datetime(["2024-01-01", "2024-02-20"]),
        "end_date": pd.to_datetime(["2024-02-10", None]), "mrr": [10.0, 10.0]})
    t = period_table(DataSource.from_frames(f), "2024-03-31")
    assert _rows(t, COUNTS) == [(1, 0, 0, 0, 1), (1, 0, 1, 1, 1), (1, 0, 0, 0, 1)]
    lhs = t.mrr_start + t.mrr_new + t.mrr_expansion + t.mrr_reactivation - t.mrr_contraction - t.mrr_churned
    assert (lhs == t.mrr_end).all() and (t.mrr_end == 10).all()
    assert t.logo_churn_rate.tolist() == [0, 1, 0]


def test_survival_table_has_the_same_customers_and_churns(src):
    s = survival_table(src, AS_OF).set_index("account_id").sort_index()
    assert list(s.index) == ["after", "down", "freepaid", "plain", "react"]  # not free
    # first paid days; tenure to the churn day or as_of: down 60 (Jan 1 -> Mar 1),
    # react 40 (Jan 1 -> Feb 10), freepaid 136 (Feb 15 -> Jun 30), plain 181, after 60 (May 1 -> Jun 30)
    assert s["start_date"].tolist() == [D("2024-05-01"), D("2024-01-01"), D("2024-02-15"),
                                        D("2024-01-01"), D("2024-01-01")]
    assert s["tenure_days"].tolist() == [60, 60, 136, 181, 40]
    assert s["churned"].tolist() == [0, 1, 0, 0, 1] and s["reactivated"].tolist() == [0, 0, 0, 0, 1]
    t = period_table(src, AS_OF)
    first_churns = tl.account_timeline(src, AS_OF).execute()
    assert int(s["churned"].sum()) == int(first_churns["churned"].sum()) == int(t.accounts_churned.sum())
    customers = set(tl.active_on(src, AS_OF).execute()["account_id"])
    assert customers == set(s.index[(s.churned == 0) | (s.reactivated == 1)])
    assert len(customers) == t.accounts_end.iloc[-1]


def test_cohorts_start_at_the_first_paid_day_and_read_active_on(src):
    c = cohort_table(src, AS_OF, max_months=5).set_index(["cohort", "k"])
    # Jan cohort: plain, down, react (first paid Jan 1); Feb: freepaid (Feb 15); May: after
    assert c.loc[(D("2024-01-01"), 0), "accounts"] == 3 and c.loc[(D("2024-02-01"), 0), "accounts"] == 1
    assert c.loc[(D("2024-05-01"), 0), "accounts"] == 1 and c["accounts"].sum() == 5 * 6
    jan = c.loc[D("2024-01-01")]
    # active on Jan 1 + k months = timeline customers among plain, down, react on that day
    for k in range(6):
        day = (D("2024-01-01") + pd.DateOffset(months=k)).date().isoformat()
        on = set(tl.active_on(src, day).execute()["account_id"]) & {"plain", "down", "react"}
        assert jan.loc[k, "active"] == len(on), k
    assert jan["active"].tolist() == [3, 3, 1, 1, 2, 2]  # down gone Mar 1, react Feb 10 .. Apr 5
    # freepaid: Feb 15 .. Jun 15 all paid; Jul 15 not observable
    feb = c.loc[D("2024-02-01")]
    assert feb["active"].tolist()[:5] == [1] * 5 and feb["logo_retention"].isna().tolist()[5]


# -- engines agree -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg_src(tmp_path_factory):
    """The hand-made source on a throw-away PostgreSQL server (skipped where none can start)."""
    from csresearch.data.sources import open_source

    folder = tmp_path_factory.mktemp("agreement")
    for name, df in frames().items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    with pg.served(folder) as url:
        yield open_source(url)


@pytest.mark.postgres
def test_duckdb_and_postgres_agree(src, pg_src):
    for by in (None, "segment"):
        pd.testing.assert_frame_equal(period_table(pg_src, AS_OF, by=by), period_table(src, AS_OF, by=by))
    pd.testing.assert_frame_equal(cohort_table(pg_src, AS_OF, 5), cohort_table(src, AS_OF, 5))
