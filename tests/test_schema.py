"""Every validation rule: a small broken copy must fail with a message naming table,
column, rule and the count of failing rows."""

import pandas as pd
import pytest

from csresearch.data.contract_checks import validate
from csresearch.data.schema import CONTRACT
from csresearch.data.sources import DataSource
from csresearch.errors import DataValidationError


def good() -> dict[str, pd.DataFrame]:
    ts = pd.Timestamp
    return {
        "accounts": pd.DataFrame(
            {
                "account_id": ["a1", "a2", "a3"],
                "name": ["Acme", "Beta", "Gamma"],
                "segment": ["smb", "smb", "enterprise"],
                "created_at": [ts("2024-01-01")] * 3,
            }
        ),
        "subscriptions": pd.DataFrame(
            {
                "subscription_id": ["s1", "s2", "s3", "s4"],
                "account_id": ["a1", "a1", "a2", "a3"],
                "start_date": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-01-15", "2024-02-01"]).date,
                "end_date": [pd.Timestamp("2024-03-01").date(), None, pd.Timestamp("2024-06-01").date(), None],
                "mrr": [100.0, 150.0, 80.0, 1000.0],
                "product": ["core", "core", "core", "core"],
            }
        ),
        "nps_responses": pd.DataFrame(
            {"account_id": ["a1", "a2"], "responded_at": [ts("2024-02-01")] * 2, "score": [9, 3]}
        ),
        "support_tickets": pd.DataFrame(
            {
                "ticket_id": ["t1", "t2"],
                "account_id": ["a1", "a3"],
                "opened_at": [ts("2024-02-01"), ts("2024-02-03")],
                "closed_at": [ts("2024-02-02"), None],
                "priority": ["high", "low"],
            }
        ),
        "csm_sentiment": pd.DataFrame(
            {"account_id": ["a3"], "recorded_at": [ts("2024-03-01")], "sentiment": ["green"]}
        ),
    }


def failures(frames):
    return validate(DataSource.from_frames(frames, validate=False)).failures


def only_failure(frames):
    f = failures(frames)
    assert len(f) == 1, [x.message() for x in f]
    return f[0]


def test_good_frames_pass():
    report = validate(DataSource.from_frames(good(), validate=False))
    assert report.ok, report.message()
    assert report.row_counts["subscriptions"] == 4
    assert "usage_events" in report.absent_optional
    assert "valid" in report.message()


def test_missing_required_table():
    frames = good()
    del frames["subscriptions"]
    f = only_failure(frames)
    assert (f.table, f.rule) == ("subscriptions", "missing table")
    assert "subscriptions.csv" in f.message()


def test_missing_column():
    frames = good()
    frames["accounts"] = frames["accounts"].drop(columns="segment")
    f = only_failure(frames)
    assert (f.table, f.column, f.rule) == ("accounts", "segment", "missing column")
    assert "mapping YAML" in f.fix


def test_not_null():
    frames = good()
    frames["accounts"].loc[1, "segment"] = None
    f = only_failure(frames)
    assert (f.table, f.column, f.rule, f.n_failing) == ("accounts", "segment", "not null", 1)
    assert "a2" in f.examples


def test_range_mrr_negative():
    frames = good()
    frames["subscriptions"].loc[[0, 2], "mrr"] = -5.0
    f = only_failure(frames)
    assert (f.table, f.column, f.rule, f.n_failing) == ("subscriptions", "mrr", "range", 2)
    msg = f.message()
    assert "table 'subscriptions', column 'mrr': rule 'range' fails for 2 rows" in msg
    assert "s1" in msg and "s3" in msg and "how to fix" in msg


def test_range_nps_score():
    frames = good()
    frames["nps_responses"].loc[0, "score"] = 11
    f = only_failure(frames)
    assert (f.table, f.column, f.rule, f.n_failing) == ("nps_responses", "score", "range", 1)


def test_integer_score():
    frames = good()
    frames["nps_responses"]["score"] = [9.5, 3.0]
    f = only_failure(frames)
    assert (f.column, f.rule, f.n_failing) == ("score", "integer", 1)


def test_allowed_values():
    frames = good()
    frames["csm_sentiment"]["sentiment"] = ["amber"]
    f = only_failure(frames)
    assert (f.table, f.column, f.rule, f.n_failing) == ("csm_sentiment", "sentiment", "allowed values", 1)
    assert "red" in f.fix


def test_unique_key():
    frames = good()
    frames["accounts"].loc[2, "account_id"] = "a1"
    fs = failures(frames)
    f = next(x for x in fs if x.rule == "unique key")
    assert (f.table, f.column, f.n_failing) == ("accounts", "account_id", 2)


def test_foreign_key():
    frames = good()
    frames["nps_responses"].loc[1, "account_id"] = "zz9"
    f = only_failure(frames)
    assert (f.table, f.column, f.rule, f.n_failing) == ("nps_responses", "account_id", "foreign key", 1)
    assert "zz9" in f.examples


def test_date_order_subscriptions_and_tickets():
    frames = good()
    frames["subscriptions"].loc[2, "end_date"] = pd.Timestamp("2023-12-01").date()
    frames["support_tickets"].loc[0, "closed_at"] = pd.Timestamp("2024-01-01")
    fs = {(f.table, f.column, f.rule): f for f in failures(frames)}
    assert fs[("subscriptions", "end_date", "date order")].n_failing == 1
    assert fs[("support_tickets", "closed_at", "date order")].n_failing == 1
    assert len(fs) == 2


def test_overlapping_duplicate_subscriptions():
    frames = good()
    s = frames["subscriptions"]
    frames["subscriptions"] = pd.concat(
        [s, s.iloc[[3]].assign(subscription_id="s5", start_date=pd.Timestamp("2024-05-01").date())]
    )
    f = only_failure(frames)
    assert (f.table, f.rule, f.n_failing) == ("subscriptions", "overlapping duplicate subscriptions", 1)
    assert "s4" in f.examples and "s5" in f.examples
    # a different product may overlap: an add-on is not a duplicate
    frames["subscriptions"].iloc[-1, frames["subscriptions"].columns.get_loc("product")] = "addon"
    assert failures(frames) == []


def test_sequential_mrr_changes_do_not_overlap():
    # s1 ends 2024-03-01 (exclusive) and s2 starts that day: a change of MRR, not an overlap
    assert failures(good()) == []


def test_type_errors_in_csv(tmp_path):
    frames = good()
    for name, df in frames.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    text = (tmp_path / "subscriptions.csv").read_text().replace("2024-02-01", "01/02/2024?")
    (tmp_path / "subscriptions.csv").write_text(text)
    from csresearch.data.sources import open_source

    with pytest.raises(DataValidationError, match=r"table 'subscriptions', column 'start_date': rule 'type' fails for 1 row"):
        open_source(tmp_path)


def test_raise_lists_every_failure():
    frames = good()
    frames["subscriptions"].loc[0, "mrr"] = -1.0
    frames["csm_sentiment"]["sentiment"] = ["blue"]
    with pytest.raises(DataValidationError, match="fails 2 validation rule") as e:
        DataSource.from_frames(frames)
    assert "mrr" in str(e.value) and "sentiment" in str(e.value)
    assert isinstance(e.value, ValueError)


def test_extra_columns_are_kept():
    frames = good()
    frames["accounts"]["favourite_colour"] = ["red", "blue", "green"]
    src = DataSource.from_frames(frames)
    assert "favourite_colour" in src.df("accounts").columns
    assert "plan" in src.df("accounts").columns  # optional contract column, absent -> empty


def test_contract_covers_the_documented_tables():
    assert list(CONTRACT) == [
        "accounts", "subscriptions", "usage_events", "nps_responses", "ces_responses",
        "csat_responses", "support_tickets", "email_events", "onboarding_milestones",
        "csm_sentiment", "churn_reasons",
    ]


def test_range_is_checked_on_the_raw_value_and_says_the_bound():
    frames = good()
    # -0.4 used to be cast to int 0 first and pass the range rule (only 'integer' failed)
    frames["nps_responses"]["score"] = [-0.4, 3.0]
    f = {x.rule: x for x in failures(frames)}
    assert set(f) == {"range", "integer"}
    assert f["range"].n_failing == 1 and "values must be in [0, 10]" in f["range"].fix
    frames = good()
    frames["subscriptions"].loc[0, "mrr"] = -5.0
    assert "values must be >= 0;" in only_failure(frames).fix  # was "[0, None]"


def test_a_type_failure_does_not_hide_key_and_foreign_key_failures():
    frames = good()
    subs = frames["subscriptions"].astype({"start_date": str})  # as read from a CSV
    subs.loc[0, "start_date"] = "2024-02-30"  # not a date
    subs.loc[1, "subscription_id"] = subs.loc[0, "subscription_id"]  # duplicate key
    subs.loc[2, "account_id"] = "nobody"  # orphan
    frames["subscriptions"] = subs
    rules = {(x.column, x.rule) for x in failures(frames)}
    assert {("start_date", "type"), ("subscription_id", "unique key"), ("account_id", "foreign key")} <= rules


# -- data rules: dates must fit pandas; far-future end dates are open ------------------------
def test_date_range_rule_refuses_placeholders_but_not_an_open_end_date():
    import datetime as dt

    frames = good()
    # 9999-12-31 in end_date is "still active" (open); in start_date and created_at it fails
    frames["subscriptions"]["end_date"] = [dt.date(2024, 3, 1), dt.date(9999, 12, 31),
                                           dt.date(2024, 6, 1), None]
    frames["subscriptions"]["start_date"] = [dt.date(2024, 1, 1), dt.date(2024, 3, 1),
                                             dt.date(2024, 1, 15), dt.date(9999, 12, 31)]
    frames["accounts"]["created_at"] = [pd.Timestamp("2024-01-01")] * 2 + [dt.datetime(1, 1, 1)]
    got = sorted((f.table, f.column, f.n_failing) for f in failures(frames) if f.rule == "date range")
    assert got == [("accounts", "created_at", 1), ("subscriptions", "start_date", 1)]


# -- data rules: MRR that cannot be summed exactly, NaN and inf are refused by validation ----
def test_mrr_too_large_to_sum_exactly_is_named():
    frames = good()
    frames["subscriptions"].loc[1, "mrr"] = 2e12  # above the 1e12 a row may hold
    f = only_failure(frames)
    assert (f.table, f.column, f.rule, f.n_failing) == ("subscriptions", "mrr", "too large", 1)
    assert "s2" in f.examples and "1e+12" in f.fix


def test_mrr_total_too_large_to_sum_exactly_is_named():
    frames = good()
    frames["subscriptions"]["mrr"] = 9e11  # each below the limit; total 3.6e12 < 9e12
    assert not failures(frames)
    frames["subscriptions"] = pd.concat([frames["subscriptions"]] * 3, ignore_index=True).assign(
        subscription_id=lambda d: [f"s{i}" for i in range(len(d))],
        product=lambda d: [f"p{i}" for i in range(len(d))],
    )
    # 12 rows * 9e11 = 1.08e13 > 9e12: the bridge's integer micro-unit sums would overflow
    f = only_failure(frames)
    assert (f.column, f.rule, f.n_failing) == ("mrr", "total too large", 12)


@pytest.mark.parametrize("value", ["NaN", "inf", "-inf"])
def test_mrr_nan_or_inf_fails_validation_as_metrics_refuses_it(tmp_path, value):
    from csresearch.data.sources import open_source

    frames = good()
    frames["subscriptions"]["mrr"] = frames["subscriptions"]["mrr"].astype(object)
    frames["subscriptions"].loc[2, "mrr"] = value  # a CSV cell DuckDB reads as a DOUBLE
    for name, df in frames.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    f = validate(open_source(tmp_path, validate=False)).failures
    assert [(x.table, x.column, x.rule, x.n_failing) for x in f] == [("subscriptions", "mrr", "not finite", 1)]
