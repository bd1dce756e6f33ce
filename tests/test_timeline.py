"""The customer timeline against hand-worked numbers, brute force, the metrics on the demo, and
PostgreSQL / Spark (compiled always; run on a throw-away PostgreSQL server where one can start).
"""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csresearch.data import timeline as tl
from csresearch.data.sources import DataSource
from csresearch.errors import ConfigError, DataValidationError

AS_OF = "2024-12-31"
D = pd.Timestamp

# account, start, end (None = open; exclusive), mrr, product
BOOK = [
    ("a_churn", "2024-01-01", "2024-04-01", 100.0, "core"),     # plain churner
    ("a_down", "2024-02-01", "2024-05-01", 50.0, "core"),       # paid -> free: churn on 05-01
    ("a_down", "2024-05-01", None, 0.0, "core"),
    ("a_freepaid", "2024-01-01", "2024-03-01", 0.0, "core"),    # free trial, paid from 03-01
    ("a_freepaid", "2024-03-01", None, 80.0, "core"),
    ("a_free", "2024-01-01", None, 0.0, "core"),                # free only: not a customer
    ("a_react", "2024-01-15", "2024-03-15", 30.0, "core"),      # gap 03-15 .. 05-31, back 06-01
    ("a_react", "2024-06-01", None, 40.0, "core"),
    ("a_chain", "2024-01-01", "2024-02-01", 10.0, "core"),      # upgrades on adjacent rows
    ("a_chain", "2024-02-01", "2024-03-01", 20.0, "core"),
    ("a_chain", "2024-03-01", "2024-07-01", 30.0, "core"),
    ("a_open", "2024-06-01", None, 200.0, "core"),              # open, with an overlapping add-on
    ("a_open", "2024-07-01", "2024-08-01", 25.0, "addon"),
    ("a_9999", "2024-09-01", "9999-12-31", 60.0, "core"),       # 'never ends' written as a date
    ("a_future", "2025-02-01", None, 70.0, "core"),             # starts after as_of: unknown yet
    ("a_asof", "2024-11-01", "2024-12-31", 15.0, "core"),       # ends ON as_of: churned on as_of
    ("a_after", "2024-10-01", "2025-01-01", 20.0, "core"),      # ends the day after: censored
]


def _frames(rows: list[tuple]) -> dict[str, pd.DataFrame]:
    s = pd.DataFrame(rows, columns=["account_id", "start_date", "end_date", "mrr", "product"])
    s.insert(0, "subscription_id", [f"s{i}" for i in range(len(s))])
    s["start_date"] = [date.fromisoformat(x) for x in s["start_date"]]
    # date objects (not datetime64[ns], which cannot hold 9999-12-31); None = open
    s["end_date"] = pd.Series([date.fromisoformat(x) if x else None for x in s["end_date"]], dtype=object)
    ids = sorted(s["account_id"].unique())
    acc = pd.DataFrame({"account_id": ids, "name": ids, "segment": "smb", "created_at": D("2023-12-01")})
    return {"accounts": acc, "subscriptions": s}


@pytest.fixture(scope="module")
def book() -> DataSource:
    return DataSource.from_frames(_frames(BOOK))


def _by_account(expr) -> pd.DataFrame:
    return expr.execute().set_index("account_id").sort_index()


def test_paid_intervals_drop_free_future_and_censor(book):
    p = tl.paid_intervals(book, AS_OF).execute().set_index("subscription_id")
    # 17 rows - 3 free (s2, s3, s5) - 1 after as_of (s14) = 13
    assert len(p) == 13 and not {"s2", "s3", "s5", "s14"} & set(p.index)
    assert pd.isna(p.loc["s13", "end_date"])  # 9999-12-31 > as_of: open
    assert pd.isna(p.loc["s16", "end_date"])  # 2025-01-01 > as_of: censored
    assert D(p.loc["s15", "end_date"]) == D("2024-12-31")  # on as_of: kept, a churn


def test_episodes_by_hand(book):
    e = tl.episodes(book, AS_OF).order_by(["account_id", "episode"]).execute()
    got = {(r.account_id, r.episode): (str(D(r.start).date()), None if pd.isna(r.end) else str(D(r.end).date()),
                                        r.churned, r.tenure_days, r.mrr_start, r.mrr_last, r.n_subscriptions)
           for r in e.itertuples()}
    assert got == {
        ("a_churn", 1): ("2024-01-01", "2024-04-01", 1, 91, 100.0, 100.0, 1),    # 31+29+31
        ("a_down", 1): ("2024-02-01", "2024-05-01", 1, 90, 50.0, 50.0, 1),       # 29+31+30
        ("a_freepaid", 1): ("2024-03-01", None, 0, 305, 80.0, 80.0, 1),          # 03-01 .. 12-31
        ("a_react", 1): ("2024-01-15", "2024-03-15", 1, 60, 30.0, 30.0, 1),      # 31+29
        ("a_react", 2): ("2024-06-01", None, 0, 213, 40.0, 40.0, 1),             # 06-01 .. 12-31
        ("a_chain", 1): ("2024-01-01", "2024-07-01", 1, 182, 10.0, 30.0, 3),     # 31+29+31+30+31+30
        ("a_open", 1): ("2024-06-01", None, 0, 213, 200.0, 200.0, 2),            # add-on ended 08-01
        ("a_9999", 1): ("2024-09-01", None, 0, 121, 60.0, 60.0, 1),              # 30+31+30+30
        ("a_asof", 1): ("2024-11-01", "2024-12-31", 1, 60, 15.0, 15.0, 1),       # 30+30
        ("a_after", 1): ("2024-10-01", None, 0, 91, 20.0, 20.0, 1),              # 31+30+30
    }


def test_account_timeline_by_hand(book):
    t = _by_account(tl.account_timeline(book, AS_OF))
    assert "a_future" not in t.index and len(t) == 10  # 11 accounts, one not started by as_of
    assert t.loc["a_free", ["free_only", "n_episodes", "active_on_as_of"]].tolist() == [1, 0, 0]
    assert pd.isna(t.loc["a_free", "first_paid_day"]) and pd.isna(t.loc["a_free", "tenure_days"])
    # free-then-paid: first subscription 01-01, tenure from the first paid day 03-01
    fp = t.loc["a_freepaid"]
    assert (D(fp.first_subscription_day), D(fp.first_paid_day)) == (D("2024-01-01"), D("2024-03-01"))
    assert fp.tenure_days == 305 and fp.active_on_as_of == 1 and fp.mrr_as_of == 80.0
    assert D(t.loc["a_down", "first_churn_day"]) == D("2024-05-01")  # the first free day
    r = t.loc["a_react"]
    assert (r.n_episodes, r.reactivated, r.churned, r.tenure_days, r.active_on_as_of) == (2, 1, 1, 60, 1)
    assert D(r.first_churn_day) == D("2024-03-15") and D(r.last_episode_start) == D("2024-06-01")
    assert pd.isna(r.last_episode_end)
    assert t.loc["a_chain", ["n_episodes", "churned"]].tolist() == [1, 1]
    assert D(t.loc["a_asof", "last_episode_end"]) == D("2024-12-31")
    active = sorted(t.index[t["active_on_as_of"] == 1])
    assert active == ["a_9999", "a_after", "a_freepaid", "a_open", "a_react"]
    assert t["mrr_as_of"].sum() == 60 + 20 + 80 + 200 + 40


def test_active_on_and_the_one_number(book):
    assert tl.active_customers(book, AS_OF) == 5 and tl.free_only_accounts(book, AS_OF) == 1
    day = _by_account(tl.active_on(book, "2024-03-01"))
    # churn (to 04-01), down (to 05-01), freepaid (paid from 03-01), react (to 03-15), chain (30 from 03-01)
    assert day["mrr"].to_dict() == {"a_chain": 30.0, "a_churn": 100.0, "a_down": 50.0,
                                    "a_freepaid": 80.0, "a_react": 30.0}
    assert "a_down" not in _by_account(tl.active_on(book, "2024-05-01")).index  # free from 05-01
    assert tl.active_customers(book, "2025-02-01") == 5  # a_asof gone, a_after gone, a_future in
    # the subscriptions table itself works as input (any engine's table)
    assert tl.active_customers(book.table("subscriptions"), AS_OF) == 5



def test_active_on_days_is_active_on_of_each_day(book):
    # one query for several days (the worklist's replayed weeks) gives each day's active_on
    days = ["2024-01-15", "2024-03-01", "2024-03-15", "2024-05-01", "2024-12-31", "2025-02-01"]
    got = tl.active_on_days(book, days)
    for day in days:
        want = sorted(tl.active_on(book, day).select("account_id").execute()["account_id"].astype(str))
        assert list(got[day]) == want, day
    assert "a_down" in got["2024-03-01"] and "a_down" not in got["2024-05-01"]  # free from 05-01
    # the engine-side table of the same days (the KPI tree's adoption) holds the same customers
    t = tl.customers_on_days(book, days).execute()
    for day in days:
        on = t.loc[pd.to_datetime(t["day"]) == pd.Timestamp(day), "account_id"].astype(str)
        assert sorted(on) == list(got[day]) and on.is_unique, day

MONTHS = [  # (start, new, reactivated, churned, end): events on day x count in p < x <= next
    (2, 2, 0, 0, 4),  # Jan: start churn+chain (01-01); new down (02-01), react (01-15)
    (4, 1, 0, 0, 5),  # Feb: new freepaid (03-01)
    (5, 0, 0, 2, 3),  # Mar: churn (04-01), react (03-15) churn
    (3, 0, 0, 1, 2),  # Apr: down churns (05-01)
    (2, 1, 1, 0, 4),  # May: new open (06-01), react back (06-01)
    (4, 0, 0, 1, 3),  # Jun: chain churns (07-01)
    (3, 0, 0, 0, 3),  # Jul
    (3, 1, 0, 0, 4),  # Aug: new 9999 (09-01)
    (4, 1, 0, 0, 5),  # Sep: new after (10-01)
    (5, 1, 0, 0, 6),  # Oct: new asof (11-01)
    (6, 0, 0, 0, 6),  # Nov
    (6, 0, 0, 1, 5),  # Dec: asof churns (12-31); after's end 2025-01-01 is past as_of
]
COUNTS = ["customers_start", "new", "reactivated", "churned", "customers_end"]


def test_active_by_period_by_hand(book):
    t = tl.active_by_period(book, AS_OF).execute()
    assert [tuple(r) for r in t[COUNTS].itertuples(index=False)] == MONTHS
    assert t["customers_end"].iloc[-1] == tl.active_customers(book, AS_OF)
    assert t["logo_churn_rate"].iloc[2] == pytest.approx(2 / 5)
    q = tl.active_by_period(book, AS_OF, grain="quarter").execute()
    # Q1: 2 + 3 new (down, react, freepaid) - 2 (churn 04-01, react 03-15) = 3;
    # Q2: + open + react back - down - chain (07-01) = 3; Q3: + 9999, after (10-01) = 5; Q4: +asof -asof
    assert [tuple(r) for r in q[COUNTS].itertuples(index=False)] == [
        (2, 3, 0, 2, 3), (3, 1, 1, 2, 3), (3, 2, 0, 0, 5), (5, 1, 0, 1, 5)]


def test_no_full_period_is_an_empty_table(book):
    t = tl.active_by_period(book, "2024-01-30").execute()  # January ends after as_of
    assert list(t.columns) == ["period_start", "period_end", *COUNTS, "logo_churn_rate"] and t.empty


def test_bridge_differs_only_where_it_looks_past_as_of(book):
    from csresearch.metrics.revenue import mrr_bridge

    b = mrr_bridge(book.df("subscriptions"), AS_OF)
    bridge = b[["accounts_start", "accounts_new", "accounts_reactivated", "accounts_churned", "accounts_end"]]
    rows = [tuple(int(v) for v in r) for r in bridge.itertuples(index=False)]
    # the bridge reads the timeline: its last snapshot (2025-01-01 = as_of + 1) is read as of
    # as_of, so a_after (end 2025-01-01) is still a customer, as here: (6, 0, 0, 1, 5)
    assert rows == MONTHS


def test_events_inside_one_period_are_counted():
    # paid 01-01..02-10, back 02-20: the bridge sees Feb 1 and Mar 1 both paid (flat),
    # the timeline counts the churn on 02-10 and the reactivation on 02-20
    src = DataSource.from_frames(_frames([("x", "2024-01-01", "2024-02-10", 10.0, "core"),
                                          ("x", "2024-02-20", None, 10.0, "core")]))
    t = tl.active_by_period(src, "2024-03-31").execute()
    assert [tuple(r) for r in t[COUNTS].itertuples(index=False)] == [
        (1, 0, 0, 0, 1), (1, 0, 1, 1, 1), (1, 0, 0, 0, 1)]


def test_bad_input_named(book):
    with pytest.raises(ConfigError, match="ISO date"):
        tl.episodes(book, "31/12/2024")
    with pytest.raises(ConfigError, match="ISO date string"):
        tl.active_customers(book, pd.Timestamp("2024-12-31"))
    t = book.table("subscriptions").drop("mrr")
    with pytest.raises(DataValidationError, match=r"table 'subscriptions': missing column\(s\) mrr"):
        tl.paid_intervals(t, AS_OF)


# -- brute force: day by day -----------------------------------------------------------------
def _brute(rows: list[tuple], as_of: date) -> dict[str, list[tuple]]:
    """Episodes by walking every day: (start, end or None) per account."""
    out: dict[str, list[tuple]] = {}
    day0 = min(r[1] for r in rows)
    for acc in sorted({r[0] for r in rows}):
        paid = [any(r[0] == acc and r[3] > 0 and r[1] <= d and (r[2] is None or d < r[2]) for r in rows)
                for d in (day0 + timedelta(days=i) for i in range((as_of - day0).days + 1))]
        eps, start = [], None
        for i, p in enumerate(paid):
            d = day0 + timedelta(days=i)
            if p and start is None:
                start = d
            if not p and start is not None:
                eps.append((start, d))
                start = None
        if start is not None:
            eps.append((start, None))
        out[acc] = eps
    return out


_day = st.integers(0, 60).map(lambda k: date(2024, 1, 1) + timedelta(days=k))
_row = st.tuples(st.sampled_from(["a", "b", "c"]), _day, st.one_of(st.none(), st.integers(0, 30)),
                 st.sampled_from([0.0, 5.0, 20.0]))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_row, min_size=1, max_size=8))
def test_episodes_match_brute_force(raw):
    rows = [(a, s, None if k is None else s + timedelta(days=k), m) for a, s, k, m in raw]
    as_of = date(2024, 2, 15)
    t = ibis.memtable(pd.DataFrame(rows, columns=["account_id", "start_date", "end_date", "mrr"]),
                      schema={"account_id": "string", "start_date": "date", "end_date": "date",
                              "mrr": "float64"})
    e = tl.episodes(t, as_of.isoformat()).order_by(["account_id", "episode"]).execute()
    got: dict[str, list[tuple]] = {}
    for r in e.itertuples():
        got.setdefault(r.account_id, []).append((D(r.start).date(), None if pd.isna(r.end) else D(r.end).date()))
    want = {a: eps for a, eps in _brute(rows, as_of).items() if eps}
    assert got == want  # so active_customers (open last episodes) is right as well


# -- the demo: the timeline agrees with the metrics where definitions agree -----------------
DEMO_AS_OF = "2025-12-31"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DataSource:
    """2,000 demo accounts, seed 7, static model (``csresearch demo-data --accounts 2000 --seed 7
    --model static``)."""
    from csresearch.data.sources import open_source
    from csresearch.demo import generate

    out = tmp_path_factory.mktemp("timeline_demo")
    generate(n_accounts=2000, seed=7, out=out, model="static")
    return open_source(out)


def test_demo_periods_equal_the_bridge(demo):
    from csresearch.metrics import period_table

    t = tl.active_by_period(demo, DEMO_AS_OF).execute()
    pt = period_table(demo, DEMO_AS_OF)
    assert len(t) == len(pt) == 35  # Feb 2023 .. Dec 2025 (the first start is in January)
    assert (pd.to_datetime(t["period_start"]).to_numpy() == pt["period_start"].to_numpy()).all()
    pairs = dict(zip(COUNTS, ["accounts_start", "accounts_new", "accounts_reactivated",
                              "accounts_churned", "accounts_end"], strict=True))
    for ours, theirs in pairs.items():
        np.testing.assert_array_equal(t[ours].to_numpy(), pt[theirs].to_numpy(), err_msg=ours)
    np.testing.assert_allclose(t["logo_churn_rate"].astype(float), pt["logo_churn_rate"], equal_nan=True)
    assert t["customers_end"].iloc[-1] == tl.active_customers(demo, DEMO_AS_OF) > 1000


def test_demo_timeline_equals_the_survival_table(demo):
    from csresearch.survival.tables import survival_table

    s = survival_table(demo, DEMO_AS_OF).set_index("account_id").sort_index()
    t = _by_account(tl.account_timeline(demo, DEMO_AS_OF))
    # the demo has no zero-MRR subscription, so "active" means the same in both
    assert (demo.df("subscriptions")["mrr"] > 0).all() and tl.free_only_accounts(demo, DEMO_AS_OF) == 0
    assert list(s.index) == list(t.index)
    for c in ("tenure_days", "churned", "reactivated"):
        np.testing.assert_array_equal(s[c].to_numpy(), t[c].to_numpy(), err_msg=c)
    assert (pd.to_datetime(t["first_paid_day"]) == s["start_date"]).all()
    assert t["active_on_as_of"].sum() == tl.active_customers(demo, DEMO_AS_OF)


# -- other engines -----------------------------------------------------------------------------
EXPRS = [tl.paid_intervals, tl.episodes, tl.account_timeline, tl.active_on, tl.active_by_period]


@pytest.mark.parametrize("dialect", ["postgres", "pyspark"])
def test_expressions_compile(book, dialect, monkeypatch):
    if dialect == "pyspark" and ibis.options.pyspark is None:  # pyspark not installed: its options
        class _Opts(ibis.config.Config):  # are registered by the backend; the compiler needs one
            treat_nan_as_null: bool = False

        monkeypatch.setattr(ibis.options, "pyspark", _Opts())
    for f in EXPRS:
        sql = ibis.to_sql(f(book, AS_OF), dialect=dialect)
        assert "SELECT" in sql and "BIT_" not in sql.upper() and "<<" not in sql


@pytest.fixture(scope="module")
def postgres():
    """A throw-away PostgreSQL server (tests/pg.py; skipped with the reason if none can start)."""
    from tests import pg

    with pg.served() as url:
        yield ibis.connect(url)


DATE_COLUMNS = {"start", "end", "start_date", "end_date", "period_start", "period_end", "first_paid_day",
                "first_subscription_day", "first_churn_day", "last_episode_start", "last_episode_end"}


def test_postgres_equals_duckdb(book, postgres):
    df = book.table("subscriptions").drop("term_months").execute()  # all NULL: no type for Postgres
    t = postgres.create_table("timeline_subscriptions", df, overwrite=True)
    for f, key in [(tl.episodes, ["account_id", "episode"]), (tl.account_timeline, ["account_id"]),
                   (tl.active_by_period, ["period_start"]), (tl.paid_intervals, ["subscription_id"])]:
        a = f(t, AS_OF).execute().sort_values(key, ignore_index=True)
        b = f(book, AS_OF).execute().sort_values(key, ignore_index=True)
        for c in DATE_COLUMNS & set(a.columns):  # Postgres returns them as timestamps
            a[c], b[c] = pd.to_datetime(a[c]), pd.to_datetime(b[c])
        pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=f.__name__)
    assert tl.active_customers(t, AS_OF) == 5 and tl.free_only_accounts(t, AS_OF) == 1
