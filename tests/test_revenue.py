"""MRR movements, bridge, churn, GRR/NRR and renewals against hand-worked numbers."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from csresearch.errors import ConfigError, DataQualityWarning, DataValidationError
from csresearch.metrics.revenue import (
    first_active_dates,
    mrr_bridge,
    mrr_movements,
    mrr_snapshots,
    renewal_events,
    renewal_rates,
    source_of,
)

D = pd.Timestamp


def subs_frame() -> pd.DataFrame:
    """Hand-made book. MRR on the snapshot days (Jan1 Feb1 Mar1 Apr1 May1, 2024):

    A: 100 100 150 150 150   (s2 +50 from Feb 15: expansion in Feb)
    B: 200 200 120 120 120   (s3 ends Mar 1, s4 starts Mar 1 at 120: contraction in Feb)
    C:  80  80   0  90  90   (s5 ends Feb 10: churn in Feb; s6 from Mar 20: reactivation in Mar)
    D:   0  60  60  60  60   (starts Jan 20: new in Jan)
    E:   0   0   0   0   0   (only a zero-MRR subscription: never active)
    F:   0   0   0   0  40   (starts Apr 5: new in Apr)
    G:  10  10  10  10   0   (ends Apr 15: churn in Apr)
    H:   0  25  25   0   0   (Jan 15 .. Mar 15: new in Jan, churn in Mar)
    """
    rows = [
        ("s1", "A", "2024-01-01", None, 100.0, 1),
        ("s2", "A", "2024-02-15", None, 50.0, None),
        ("s3", "B", "2024-01-01", "2024-03-01", 200.0, 1),
        ("s4", "B", "2024-03-01", None, 120.0, None),
        ("s5", "C", "2024-01-01", "2024-02-10", 80.0, 12),
        ("s6", "C", "2024-03-20", None, 90.0, None),
        ("s7", "D", "2024-01-20", None, 60.0, None),
        ("s8", "E", "2024-02-01", None, 0.0, None),
        ("s9", "F", "2024-04-05", None, 40.0, None),
        ("s10", "G", "2024-01-01", "2024-04-15", 10.0, 3),
        ("s11", "H", "2024-01-15", "2024-03-15", 25.0, 2),
    ]
    df = pd.DataFrame(rows, columns=["subscription_id", "account_id", "start_date", "end_date",
                                     "mrr", "term_months"])
    df["start_date"] = pd.to_datetime(df["start_date"])
    df["end_date"] = pd.to_datetime(df["end_date"])
    df["term_months"] = df["term_months"].astype("Int64")
    return df


def accounts_frame() -> pd.DataFrame:
    # G is missing from accounts and F has no segment: both go to '(missing)'
    return pd.DataFrame(
        {"account_id": list("ABCDEFH"), "segment": ["ent", "ent", "smb", "smb", "smb", None, "smb"],
         "region": ["eu"] * 7}
    )


AS_OF = "2024-04-30"


def test_snapshots_by_hand():
    snap = mrr_snapshots(subs_frame(), ["2024-01-01", "2024-03-01", "2024-04-01"])
    wide = snap.pivot(index="account_id", columns="snapshot_date", values="mrr")
    assert wide.loc["A"].tolist() == [100, 150, 150]
    assert wide.loc["B"].tolist() == [200, 120, 120]
    assert wide.loc["C"].tolist() == [80, 0, 90]
    assert wide.loc["E"].tolist() == [0, 0, 0]


def test_first_active_ignores_zero_mrr():
    fa = first_active_dates(subs_frame())
    assert fa["D"] == D("2024-01-20")
    assert pd.isna(fa["E"])


def test_movements_by_hand():
    m = mrr_movements(subs_frame(), AS_OF)
    # active on either snapshot: Jan A B C G + D H (6), Feb A B C D G H (6),
    # Mar A B C D G H (6), Apr A B C D F G (6); E never
    assert m.groupby("period_start").size().tolist() == [6, 6, 6, 6]
    got = {(r.period_start.month, r.account_id): r.movement for r in m.itertuples()}
    assert got[(1, "D")] == "new" and got[(1, "H")] == "new" and got[(1, "A")] == "flat"
    assert got[(2, "A")] == "expansion" and got[(2, "B")] == "contraction"
    assert got[(2, "C")] == "churn"
    assert got[(3, "C")] == "reactivation" and got[(3, "H")] == "churn"
    assert got[(4, "F")] == "new" and got[(4, "G")] == "churn"
    assert "E" not in set(m["account_id"])
    row = m[(m.period_start == D("2024-02-01")) & (m.account_id == "B")].iloc[0]
    assert (row.mrr_start, row.mrr_end, row.mrr_change) == (200, 120, -80)


def test_bridge_by_hand():
    b = mrr_bridge(subs_frame(), AS_OF).set_index("period_start")
    assert list(b.index) == [D("2024-01-01"), D("2024-02-01"), D("2024-03-01"), D("2024-04-01")]
    jan, feb, mar, apr = (b.loc[D(f"2024-0{m}-01")] for m in (1, 2, 3, 4))
    # Jan: start A100 B200 C80 G10 = 390 (4 accounts); new D60 + H25 = 85; end 475
    assert (jan.accounts_start, jan.accounts_new, jan.mrr_start, jan.mrr_new, jan.mrr_end) == (4, 2, 390, 85, 475)
    assert jan.grr == 1 and jan.nrr == 1 and jan.logo_churn_rate == 0
    # Feb: start 475 (6 accounts); A +50, B -80, C churns 80 -> end 365
    assert (feb.mrr_expansion, feb.mrr_contraction, feb.mrr_churned, feb.mrr_end) == (50, 80, 80, 365)
    assert feb.accounts_churned == 1 and feb.logo_churn_rate == pytest.approx(1 / 6)
    assert feb.grr == pytest.approx((475 - 80 - 80) / 475)  # 315/475 = 0.6632
    assert feb.nrr == pytest.approx((475 + 50 - 80 - 80) / 475)  # 365/475 = 0.7684
    assert feb.gross_mrr_churn_rate == pytest.approx(160 / 475)
    # Mar: start 365 (A B D G H); H churns 25; C comes back with 90 -> end 430
    assert (mar.mrr_churned, mar.mrr_reactivation, mar.accounts_reactivated, mar.mrr_end) == (25, 90, 1, 430)
    assert mar.mrr_new == 0 and mar.grr == pytest.approx(340 / 365) and mar.nrr == pytest.approx(340 / 365)
    # Apr: start 430 (5 accounts); G churns 10, F new 40 -> 460; accounts_end 5 (A B C D F)
    assert (apr.accounts_start, apr.mrr_new, apr.mrr_churned, apr.mrr_end, apr.accounts_end) == (5, 40, 10, 460, 5)
    assert apr.logo_churn_rate == pytest.approx(1 / 5)


def test_bridge_reconciles_and_chains():
    b = mrr_bridge(subs_frame(), AS_OF)
    lhs = b.mrr_start + b.mrr_new + b.mrr_expansion - b.mrr_contraction - b.mrr_churned + b.mrr_reactivation
    assert (lhs == b.mrr_end).all()
    assert (b.mrr_end.iloc[:-1].to_numpy() == b.mrr_start.iloc[1:].to_numpy()).all()
    assert (b.accounts_end.iloc[:-1].to_numpy() == b.accounts_start.iloc[1:].to_numpy()).all()


def test_periods_follow_as_of():
    # as_of Apr 29: April has not finished, so March is the last period
    assert mrr_bridge(subs_frame(), "2024-04-29").period_start.max() == D("2024-03-01")
    # data starting mid-month: the first full period is the next month
    s = subs_frame()
    s.loc[s.start_date == D("2024-01-01"), "start_date"] = D("2024-01-02")
    assert mrr_bridge(s, AS_OF).period_start.min() == D("2024-02-01")


def test_quarter_grain_by_hand():
    # as_of 2024-06-30: one quarter, Apr 1 -> Jul 1. Apr1: A150 B120 C90 D60 G10 = 430;
    # Jul1: A150 B120 C90 D60 F40 = 460 (F new 40, G churn 10)
    b = mrr_bridge(subs_frame(), "2024-06-30", grain="quarter")
    assert b.period_start.tolist() == [D("2024-01-01"), D("2024-04-01")]
    q2 = b.iloc[1]
    assert (q2.mrr_start, q2.mrr_new, q2.mrr_churned, q2.mrr_end) == (430, 40, 10, 460)
    assert q2.period_end == D("2024-07-01")
    # Q1: Jan1 390 -> Apr1 430: A +50 and C 80 -> 90 (+10) expand, B -80, D new 60; H 0 on both days
    q1 = b.iloc[0]
    assert (q1.mrr_start, q1.mrr_new, q1.mrr_expansion, q1.mrr_contraction, q1.mrr_end) == (390, 60, 60, 80, 430)


def test_bridge_by_segment():
    b = mrr_bridge(subs_frame(), AS_OF, by="segment", accounts=accounts_frame())
    assert set(b.segment) == {"ent", "smb", "(missing)"}
    assert len(b) == 4 * 3  # every period x group
    feb_ent = b[(b.period_start == D("2024-02-01")) & (b.segment == "ent")].iloc[0]
    # ent = A, B: start 300, +50, -80, end 270 -> NRR 270/300 = 0.9, GRR 220/300
    assert (feb_ent.mrr_start, feb_ent.mrr_end) == (300, 270)
    assert feb_ent.nrr == pytest.approx(0.9) and feb_ent.grr == pytest.approx(220 / 300)
    apr_missing = b[(b.period_start == D("2024-04-01")) & (b.segment == "(missing)")].iloc[0]
    assert (apr_missing.mrr_start, apr_missing.mrr_new, apr_missing.mrr_churned) == (10, 40, 10)
    # groups add up to the total
    tot = mrr_bridge(subs_frame(), AS_OF)
    summed = b.groupby("period_start")[["mrr_start", "mrr_end", "accounts_churned"]].sum()
    assert (summed.to_numpy() == tot[["mrr_start", "mrr_end", "accounts_churned"]].to_numpy()).all()


def test_unknown_by_column_names_it_and_lists_columns():
    with pytest.raises(DataValidationError, match=r"by='tier'.*available columns: account_id, segment, region"):
        mrr_bridge(subs_frame(), AS_OF, by="tier", accounts=accounts_frame())
    with pytest.raises(DataValidationError, match="needs the accounts table"):
        mrr_bridge(subs_frame(), AS_OF, by="segment")


def test_empty_and_bad_inputs():
    with pytest.raises(DataValidationError, match="'subscriptions' is empty"):
        mrr_bridge(subs_frame().iloc[0:0], AS_OF)
    bad = subs_frame()
    bad.loc[0, "mrr"] = -5
    with pytest.raises(DataValidationError, match=r"mrr is missing or negative in 1 row"):
        mrr_bridge(bad, AS_OF)
    bad = subs_frame()
    bad.loc[2, "end_date"] = D("2023-12-01")
    with pytest.raises(DataValidationError, match="end_date is before start_date"):
        mrr_movements(bad, AS_OF)
    with pytest.raises(DataValidationError, match="missing column.*mrr"):
        mrr_bridge(subs_frame().drop(columns="mrr"), AS_OF)
    with pytest.raises(ConfigError, match="grain"):
        mrr_bridge(subs_frame(), AS_OF, grain="week")


def test_no_full_period_gives_empty_table():
    b = mrr_bridge(subs_frame(), "2024-01-30")
    assert b.empty and "mrr_start" in b.columns


def test_period_without_active_accounts_is_nan_with_note():
    # only F (from Apr 5, 40) and H (Jan 15 .. Mar 15, 25): periods Feb..May (data starts Jan 15)
    s = subs_frame()[lambda d: d.account_id.isin(["F", "H"])]
    b = mrr_bridge(s, "2024-05-31").set_index("period_start")
    # Apr 1: nobody active -> rates NaN with a note; F is new in April (40)
    apr = b.loc[D("2024-04-01")]
    assert apr.accounts_start == 0 and np.isnan(apr.nrr) and np.isnan(apr.logo_churn_rate)
    assert apr.note == "no account active at period start"
    assert apr.mrr_new == 40


def test_inputs_untouched():
    s, a = subs_frame(), accounts_frame()
    s0, a0 = s.copy(deep=True), a.copy(deep=True)
    mrr_bridge(s, AS_OF, by="segment", accounts=a)
    mrr_movements(s, AS_OF)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        renewal_rates(s, AS_OF, by="segment", accounts=a)
    pd.testing.assert_frame_equal(s, s0)
    pd.testing.assert_frame_equal(a, a0)


def test_renewals_by_hand():
    # term anniversaries in Jan..Apr 2024 (while active on the term's last day):
    # A s1 (1 m): Feb1 Mar1 Apr1, renewed; B s3 (1 m, ends Mar1): Feb1 renewed, Mar1 up -
    # account renewed (s4 starts Mar1) but the subscription itself is not;
    # G s10 (3 m): Apr1 renewed; H s11 (2 m, ends Mar15): Mar15 up, not renewed;
    # C s5 (12 m) ended before its anniversary.
    with pytest.warns(DataQualityWarning, match="6 of 11 subscriptions have no term_months"):
        ev = renewal_events(subs_frame(), AS_OF)
    assert len(ev) == 3 + 2 + 1 + 1
    with pytest.warns(DataQualityWarning):
        r = renewal_rates(subs_frame(), AS_OF).set_index("period_start")
    assert r.loc[D("2024-01-01"), "up_for_renewal"] == 0
    assert np.isnan(r.loc[D("2024-01-01"), "renewal_rate"])
    assert r.loc[D("2024-01-01"), "note"] == "no term anniversary in period"
    mar = r.loc[D("2024-03-01")]
    # Mar: A, B renewed, H not: 2/3; by MRR (100 + 200) / (100 + 200 + 25) = 300/325
    assert (mar.up_for_renewal, mar.renewed) == (3, 2)
    assert mar.renewal_rate == pytest.approx(2 / 3)
    assert mar.renewal_rate_mrr == pytest.approx(300 / 325)
    apr = r.loc[D("2024-04-01")]
    assert (apr.up_for_renewal, apr.renewed, apr.mrr_up_for_renewal) == (2, 2, 110)
    with pytest.warns(DataQualityWarning):
        rs = renewal_rates(subs_frame(), AS_OF, level="subscription").set_index("period_start")
    # subscription level in Mar: only A's s1 keeps running: 1/3, MRR 100/325
    assert rs.loc[D("2024-03-01"), "renewed"] == 1
    assert rs.loc[D("2024-03-01"), "renewal_rate_mrr"] == pytest.approx(100 / 325)


def test_renewal_anniversary_clips_to_month_end():
    s = pd.DataFrame({"subscription_id": ["x"], "account_id": ["a"], "start_date": [D("2024-01-31")],
                      "end_date": [pd.NaT], "mrr": [10.0], "term_months": [1]})
    ev = renewal_events(s, "2024-04-30")
    # Jan 31 + 1, 2, 3 months = Feb 29, Mar 31, Apr 30; periods start Feb (first full month)
    assert ev.anniversary.tolist() == [D("2024-02-29"), D("2024-03-31"), D("2024-04-30")]


def test_renewals_without_terms_say_so():
    s = subs_frame().assign(term_months=pd.NA)
    with pytest.warns(DataQualityWarning):
        r = renewal_rates(s, AS_OF)
    assert (r.note == "term_months unknown for every subscription").all()
    assert r.renewal_rate.isna().all()


# -- properties ------------------------------------------------------------------------------
@st.composite
def books(draw):
    n = draw(st.integers(1, 25))
    rows = []
    for i in range(n):
        start = D("2024-01-01") + pd.Timedelta(days=draw(st.integers(0, 400)))
        length = draw(st.one_of(st.none(), st.integers(0, 300)))
        rows.append(
            {
                "subscription_id": f"s{i}",
                "account_id": f"a{draw(st.integers(0, 6))}",
                "start_date": start,
                "end_date": pd.NaT if length is None else start + pd.Timedelta(days=length),
                "mrr": float(draw(st.integers(0, 1000))) + draw(st.sampled_from([0.0, 0.25, 0.1])),
            }
        )
    return pd.DataFrame(rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.sampled_from(["month", "quarter"]))
def test_bridge_properties(subs, grain):
    b = mrr_bridge(subs, "2025-06-30", grain=grain)
    if b.empty:
        return
    lhs = b.mrr_start + b.mrr_new + b.mrr_expansion - b.mrr_contraction - b.mrr_churned + b.mrr_reactivation
    np.testing.assert_allclose(lhs, b.mrr_end, rtol=0, atol=1e-9)  # exact up to float printing
    ok = b.mrr_start > 0
    assert ((b.grr[ok] >= 0) & (b.grr[ok] <= 1 + 1e-12)).all()
    np.testing.assert_allclose((b.nrr - b.grr)[ok], (b.mrr_expansion / b.mrr_start)[ok], atol=1e-12)
    rate = b.logo_churn_rate[b.accounts_start > 0]
    assert ((rate >= 0) & (rate <= 1)).all()
    assert (b.mrr_end.iloc[:-1].to_numpy() == b.mrr_start.iloc[1:].to_numpy()).all()
    assert b.loc[~ok, "grr"].isna().all()


@settings(max_examples=40, deadline=None)
@given(books())
def test_integer_mrr_bridge_is_exact(subs):
    subs = subs.assign(mrr=subs.mrr.round())
    b = mrr_bridge(subs, "2025-06-30")
    lhs = b.mrr_start + b.mrr_new + b.mrr_expansion - b.mrr_contraction - b.mrr_churned + b.mrr_reactivation
    assert (lhs == b.mrr_end).all()


# -- review fixes: inputs that used to be mis-read silently ---------------------------------
def test_duplicated_index_does_not_change_renewals():
    # two monthly subscriptions from Jan 1 concatenated without ignore_index (index [0, 0]):
    # anniversaries Feb 1, Mar 1, Apr 1 each, before May 1 -> 2 x 3 = 6 events
    one = subs_frame().iloc[[0]].assign(term_months=1)
    two = one.assign(subscription_id="s1b", account_id="Z")
    book = pd.concat([one, two])
    assert book.index.tolist() == [0, 0]
    ev = renewal_events(book, AS_OF)
    assert len(ev) == 6
    assert ev.groupby("subscription_id").size().tolist() == [3, 3]


def test_missing_account_id_is_an_error_not_a_silent_drop():
    bad = subs_frame()
    bad.loc[2, "account_id"] = None
    with pytest.raises(DataValidationError,
                       match=r"(?s)table 'subscriptions', column 'account_id': account_id is missing in 1 row.*s3"):
        mrr_bridge(bad, AS_OF)


def test_non_numeric_infinite_mrr_and_bad_dates_are_named():
    bad = subs_frame().astype({"mrr": object})
    bad.loc[1, "mrr"] = "fifty"
    with pytest.raises(DataValidationError, match=r"(?s)column 'mrr': mrr is not a number in 1 row.*fifty"):
        mrr_bridge(bad, AS_OF)
    bad = subs_frame()
    bad.loc[0, "mrr"] = np.inf  # used to turn into 0 MRR without a word
    with pytest.raises(DataValidationError, match=r"column 'mrr': mrr is infinite in 1 row"):
        mrr_bridge(bad, AS_OF)
    bad = subs_frame().astype({"start_date": object})
    bad.loc[3, "start_date"] = "2024-13-45"
    with pytest.raises(DataValidationError, match=r"(?s)column 'start_date': start_date is not a date in 1 row.*2024-13-45"):
        mrr_bridge(bad, AS_OF)


def test_term_months_below_one_is_named():
    bad = subs_frame()
    bad.loc[0, "term_months"] = 0  # used to end in a pandas IntCastingNaNError
    with pytest.raises(DataValidationError, match=r"column 'term_months'.*in 1 row"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        renewal_events(bad, AS_OF)


def _brute_force_bridge(subs: pd.DataFrame, periods: pd.DatetimeIndex, nxt: pd.Timestamp,
                        as_of: str | None = None) -> pd.DataFrame:
    """The definitions, day by day with plain loops (a test oracle, slow on purpose).

    An end date after ``as_of`` is not known yet on ``as_of``: the subscription is open (the
    timeline's rule; a subscription ending on ``as_of + 1`` has not churned as of ``as_of``).
    """
    if as_of is not None:
        subs = subs.assign(end_date=subs["end_date"].where(subs["end_date"] <= pd.Timestamp(as_of)))

    def mrr_on(acc, d):
        rows = subs[subs.account_id == acc]
        live = (rows.start_date <= d) & (rows.end_date.isna() | (d < rows.end_date))
        return round(float(rows.mrr[live].sum()) * 1e6)

    first = subs.start_date.min()
    out = []
    edges = [*periods, nxt]
    for p, q in zip(edges[:-1], edges[1:], strict=True):
        r = dict.fromkeys(["start", "new", "exp", "con", "churn", "react", "end"], 0)
        for acc in subs.account_id.unique():
            a, b = mrr_on(acc, p), mrr_on(acc, q)
            r["start"] += a
            r["end"] += b
            if a > 0 and b == 0:
                r["churn"] += a
            elif a > 0:
                r["exp"] += max(b - a, 0)
                r["con"] += max(a - b, 0)
            elif b > 0:
                before = any(mrr_on(acc, d) > 0 for d in pd.date_range(first, p - pd.Timedelta(days=1)))
                r["react" if before else "new"] += b
        out.append({k: v / 1e6 for k, v in r.items()})
    return pd.DataFrame(out)


@settings(max_examples=int(os.environ.get("CSRESEARCH_EXAMPLES", 25)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(books())
@example(pd.DataFrame({"subscription_id": ["s0"], "account_id": ["a0"], "start_date": [D("2025-01-01")],
                       "end_date": [D("2025-07-01")], "mrr": [100.0]}))  # ends on as_of + 1: not churned yet
def test_bridge_matches_day_by_day_definitions(subs):
    b = mrr_bridge(subs, "2025-06-30")
    if b.empty:
        return
    ref = _brute_force_bridge(subs, pd.DatetimeIndex(b.period_start), b.period_end.iloc[-1], "2025-06-30")
    got = b[["mrr_start", "mrr_new", "mrr_expansion", "mrr_contraction", "mrr_churned",
             "mrr_reactivation", "mrr_end"]].to_numpy()
    np.testing.assert_allclose(got, ref[["start", "new", "exp", "con", "churn", "react", "end"]].to_numpy(),
                               rtol=0, atol=1e-9)


# -- data rules: far-future end dates are open, never a nanosecond overflow ------------------
def test_far_future_end_date_is_open_and_far_start_is_named():
    s = subs_frame()
    # B's s4 (120 from Mar 1, open) written with the warehouse placeholder 9999-12-31
    s["end_date"] = s["end_date"].astype("datetime64[s]")
    s.loc[3, "end_date"] = pd.Timestamp("9999-12-31")
    pd.testing.assert_frame_equal(mrr_bridge(s, AS_OF), mrr_bridge(subs_frame(), AS_OF))
    s = subs_frame().astype({"start_date": object})
    s.loc[0, "start_date"] = "0001-01-01"
    with pytest.raises(DataValidationError, match=r"(?s)column 'start_date': start_date is out of the date range.*1800-01-01"):
        mrr_bridge(s, AS_OF)


def test_mrr_too_large_for_micro_units_is_named_not_dropped():
    s = subs_frame()
    s.loc[0, "mrr"] = 9.3e12  # used to overflow int64 micro-units: A dropped, a RuntimeWarning
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(DataValidationError, match=r"(?s)column 'mrr': mrr is too large in 1 row.*s1"):
            mrr_bridge(s, AS_OF)
    s = pd.concat([subs_frame()] * 12, ignore_index=True).assign(mrr=9e11)
    with pytest.raises(DataValidationError, match=r"column 'mrr': total mrr is too large"):
        mrr_bridge(s, AS_OF)


def test_as_of_before_the_data_is_a_config_error_naming_the_range():
    # used to return an empty table with no note
    with pytest.raises(ConfigError, match=r"as_of 2023-06-30 is before the data starts.*2024-01-01 to 2024-04-15"):
        mrr_bridge(subs_frame(), "2023-06-30")
    with pytest.raises(ConfigError, match="before the data starts"):
        renewal_rates(subs_frame(), "2023-12-31")


@pytest.mark.parametrize("as_of", ["9999-12-31", "2300-01-01"])
def test_as_of_past_the_date_range_is_a_config_error_not_an_overflow(as_of):
    with pytest.raises(ConfigError, match=rf"as_of {as_of} is outside the supported dates.*2200-01-01"):
        mrr_bridge(subs_frame(), as_of)


def test_start_churners_are_the_logo_churn_numerator(demo_small):
    """Churn by reason (KPI tree) counts these accounts: they must give the logo churn rate."""
    from csresearch.metrics.revenue import start_churners

    for grain in ("month", "quarter"):
        b = mrr_bridge(demo_small, "2025-12-31", grain).set_index("period_start")
        n = start_churners(demo_small, "2025-12-31", grain).groupby("period_start").size()
        rate = (n.reindex(b.index).fillna(0) / b["accounts_start"]).where(b["accounts_start"] > 0)
        np.testing.assert_allclose(rate.to_numpy(), b["logo_churn_rate"].to_numpy(), atol=1e-12)


def test_renewal_by_term_by_hand():
    from csresearch.metrics.renewals import renewal_by_term

    subs = pd.DataFrame({
        "subscription_id": ["a", "b", "c", "d"], "account_id": ["A", "B", "C", "D"],
        "start_date": pd.to_datetime(["2024-01-01", "2024-03-01", "2025-10-01", "2023-06-01"]),
        "end_date": pd.to_datetime([None, "2025-03-01", None, "2024-06-01"]),
        "mrr": [100.0, 200.0, 10.0, 50.0], "term_months": [12, 12, 1, 12],
    })
    before = subs.copy()
    t = renewal_by_term(subs, "2025-12-31")
    pd.testing.assert_frame_equal(subs, before)
    # the 12 months Jan..Dec 2025: A's anniversary 2025-01-01 renewed; B's 2025-03-01 was up (active
    # on its term's last day) and not renewed (not a customer on 2025-03-01); D's 2024-06-01 is
    # before the window. C: 2025-11-01 and 2025-12-01, both renewed (2026-01-01 is after as_of)
    assert t.attrs == {"since": "2025-01-01", "until": "2025-12-01"}
    assert t.loc["annual", ["up_for_renewal", "renewed"]].tolist() == [2, 1]
    assert t.loc["annual", "renewal_rate"] == pytest.approx(0.5)
    assert t.loc["monthly", ["up_for_renewal", "renewed"]].tolist() == [2, 2]


def _plus_months(d: pd.Timestamp, k: int) -> pd.Timestamp:
    import calendar

    y, m = divmod(d.year * 12 + d.month - 1 + k, 12)
    return pd.Timestamp(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def _renewals_by_loops(subs: pd.DataFrame, first: pd.Timestamp, end: pd.Timestamp) -> list[tuple]:
    """The term anniversaries in [first, end), one by one (a test oracle): (account, subscription,
    anniversary, renewed at account level, renewed at subscription level)."""
    out = []
    for r in subs.itertuples():
        if pd.isna(r.term_months):
            continue
        k = 1
        while (a := _plus_months(r.start_date, k * int(r.term_months))) < end:
            if a >= first and (pd.isna(r.end_date) or a <= r.end_date):
                paid = [(s.start_date <= a) and (pd.isna(s.end_date) or a < s.end_date)
                        for s in subs.itertuples() if s.account_id == r.account_id and s.mrr > 0]
                out.append((r.account_id, r.subscription_id, a, any(paid), pd.isna(r.end_date) or r.end_date > a))
            k += 1
    return sorted(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.lists(st.sampled_from([1, 1, 2, 3, 12, None]), min_size=25, max_size=25))
def test_renewal_events_equal_a_loop_over_anniversaries(subs, terms):
    """The engine's anniversaries (month-end clipping, active on the term's last day, customer on
    the day after the term) against plain loops, at both levels."""
    from csresearch.metrics import _engine as eng

    subs = subs.assign(term_months=terms[: len(subs)])
    if subs.term_months.isna().all():
        return
    periods = eng.report_periods(source_of(subs), "2025-06-30", "month")
    if len(periods) == 0:
        return
    want = _renewals_by_loops(subs, periods[0], periods[-1] + pd.offsets.MonthBegin(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        got = renewal_events(subs, "2025-06-30")
        by_sub = renewal_events(subs, "2025-06-30", level="subscription")
    assert sorted(zip(got.account_id, got.subscription_id, got.anniversary, got.renewed, by_sub.renewed, strict=True)) == want
    assert (got.period_start == got.anniversary.dt.to_period("M").dt.start_time).all()
