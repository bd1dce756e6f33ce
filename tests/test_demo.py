import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from csresearch.data.sources import open_source
from csresearch.demo import END, START, generate
from csresearch.errors import ConfigError


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# The sha256 of every file the static model writes (model="static"), for three small runs:
# (n_accounts, seed, fmt).
# Computed from the generator as of commit a933e51 (before `generate` was split into steps) with
# pyarrow 26.0.1, numpy 2.4.6, pandas 2.3.3:
#     paths = generate(n_accounts=n, seed=seed, out=tmp, fmt=fmt)
#     {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
# The bytes were identical across separate processes (and PYTHONHASHSEED values), so the files
# themselves are pinned, not a canonical form. A Parquet footer names its writer
# ("parquet-cpp-arrow version X"), so a pyarrow upgrade changes the Parquet hashes without any
# change to the data: recompute them then (the CSV run and truth.json stay). A deliberate change
# of the generator's output must update these literals too, and say so in its commit.
PINNED_PYARROW = "26.0.1"
PINNED = {
    (300, 42, "parquet"): {
        "accounts.parquet": "c1595ae36d0b6b2e3b018114c770528bbb6835b4e3dac6d3f9875d1d221b3e49",
        "subscriptions.parquet": "67681fdb70c095cc843976fe73147cce068ffeea7ff713ebb1dd981b46513e73",
        "usage_events.parquet": "e34aa479b9d48bde49429588b053e3ca88d08d19a6d7cf21c84b7e4c59671cd5",
        "nps_responses.parquet": "1256c18320316f2bd6b1e893db00ce2c34fdafa544d795d6d62bbec8417c1711",
        "ces_responses.parquet": "7ff1459ecb79e0ec1176e205fdabd092a79b023faccf4ce2cb413ffbbfee0697",
        "csat_responses.parquet": "d93ddcfabb2edde6873475868f95490113ec15c1243ecc071138c8d3d3f3eafa",
        "support_tickets.parquet": "91be22e0097c7fb00da47b35257b19d00a24c74b0da544008e18fc07610e7a3a",
        "email_events.parquet": "4f5c6b04a8a6a66a4dba60d8f172c1592e79610dca1646bb2cdf874e21c93c4a",
        "onboarding_milestones.parquet": "e9f741e8280d12e23f043f698745cbf15a8688038764fa4142662e913250220b",
        "csm_sentiment.parquet": "cfefcdedcc752a1282c3e6740d01d73e3372e7585c91118cbbe16c2ca003ff22",
        "churn_reasons.parquet": "af9cfa538eab3499b761ca1f6910549c014e24501c52ea31e7fcc8cfe36eaeb8",
        "truth.json": "e127898c22e7006952a2db4eeb05acfb9b39acb4c5deb19f18f7afaccc9f4f19",
    },
    (200, 7, "parquet"): {
        "accounts.parquet": "5585beeb0f09ba0d29d08dc9440a2694887e90c1838d687237b703439b8acb6a",
        "subscriptions.parquet": "256e4d7758909144a4c35466bb1c4e10fe23c55a620b7fc23a5642691f0fccd7",
        "usage_events.parquet": "41f5d46aa43c5ace981c75999ae4c28b74c98a54f98eba93caae3b36c90a5e5d",
        "nps_responses.parquet": "22072e90a0ebfb08cb5d72d8fd236c3c21416f24398f5235814f054b6acb52fc",
        "ces_responses.parquet": "d46b17d021d03712aaa6b1e29662c4a3a1a5ae4dfe8145dea26e3d19c5b72a3f",
        "csat_responses.parquet": "ffc22827854f92beaf9b5848e7e476edcbf0077e7d73c851960d9893ddac2193",
        "support_tickets.parquet": "d8c22e7c183b4058ae5db4ff5173b56fc8e6f3569c569a7d4799275f8f4bfde8",
        "email_events.parquet": "093ceb347793180380801121100e95df9e3f5b19bee3c2b9d0072821974a3e4b",
        "onboarding_milestones.parquet": "db89bb8c916baf3850ac756a780ae7dfe715b7712db04ce696fc34f6d210fec6",
        "csm_sentiment.parquet": "72001fd0c25098eb810ecae08ab2da0b5b8250371e370f12e6ba1ab45b9a2db5",
        "churn_reasons.parquet": "fba1bb1fb0ae1bf0905670eb267eddc0ca585f58356774c7e2c7f6bde775aa3d",
        "truth.json": "f97bc2dfb00f8e87078eec3eba960f9f96e200d1232cf46cb397a0decb534790",
    },
    (150, 5, "csv"): {
        "accounts.csv": "91ff81cb8b3e37f8bb3df45e776884e02bfc33bf8a04f17cd16fe4f6aef2c8fb",
        "subscriptions.csv": "c66214f1a71ab7fe3f7b869323da057873d6346ac0c6e16c62d8513bb8d506cd",
        "usage_events.csv": "4d963f044a35dc600b59ad44c3f048e41701f4867806369063dc212fb18e137e",
        "nps_responses.csv": "ee8729228f897142388f934f78732f3731fb5639aee82111277956dde9b63d90",
        "ces_responses.csv": "50973da269b21e3ec7d9153265a34099c8f442ba5cd6b4928d8592f076121e0e",
        "csat_responses.csv": "ab0da441d0c8ce045a1a19ce98ec69e2767e3e6adf8b8b799de8e85adf5f9e02",
        "support_tickets.csv": "9e0ba1c40ef6bec421de10fb2704d33e9ae34113fa3065c5e496d1a48fa20a0e",
        "email_events.csv": "13f0b9cb13fe6a515bf91fbcc0d7e597152a7d6d549770f8e4380307c12082d8",
        "onboarding_milestones.csv": "ea037c2fb526796a16909ef93a8db729d9a5845c9ce1bb5e18b701b617bc56cf",
        "csm_sentiment.csv": "25208e8d8a4d8dc82b45ee2efd130dcf9de126ea00959172264ac3b0a52a42b3",
        "churn_reasons.csv": "a2a9bc4ab1e08cd5dc5ca2c2525d3d3173bd884c9cdf6b05ab4804d2cd5ef7e5",
        "truth.json": "7595bb1887fbf7a09d8b35cdadedcf1ffebae0a72c6e2691c4b78f7f4acff69d",
    },
}


@pytest.mark.parametrize("n_accounts, seed, fmt", list(PINNED))
def test_output_is_pinned_per_seed(tmp_path, n_accounts, seed, fmt):
    import pyarrow

    paths = generate(n_accounts=n_accounts, seed=seed, out=tmp_path, fmt=fmt, usage_scale=1.0, model="static")
    got = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    want = PINNED[(n_accounts, seed, fmt)]
    assert list(got) == list(want)  # the same files, written in the same order
    changed = sorted(name for name in want if got[name] != want[name])
    hint = ""
    if fmt == "parquet" and pyarrow.__version__ != PINNED_PYARROW:
        hint = (f" (pyarrow is {pyarrow.__version__}, the hashes were taken with {PINNED_PYARROW}: "
                "the Parquet footer names the writer, recompute the hashes)")
    assert not changed, f"demo output changed for seed {seed}: {changed}{hint}"


def test_same_seed_gives_identical_files(tmp_path):
    a = generate(n_accounts=120, seed=11, out=tmp_path / "a", model="static")
    generate(n_accounts=120, seed=11, out=tmp_path / "b", model="static")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert len(a) == 12  # 11 tables + truth.json
    generate(n_accounts=120, seed=12, out=tmp_path / "c", model="static")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_demo_is_valid_and_complete(demo_small_dir):
    src = open_source(demo_small_dir)  # validates; raises on any broken rule
    assert src.names == [
        "accounts", "subscriptions", "usage_events", "nps_responses", "ces_responses",
        "csat_responses", "support_tickets", "email_events", "onboarding_milestones",
        "csm_sentiment", "churn_reasons",
    ]
    truth = json.loads((demo_small_dir / "truth.json").read_text())
    assert truth["rows"] == src.row_counts()
    assert set(truth["coefficients"]) == {
        "segment[enterprise]", "segment[mid_market]", "usage_trend", "nps_first",
        "tickets_90d", "onboarding_complete",
    }


def test_dates_stay_inside_the_fixed_window(demo_small):
    subs = demo_small.df("subscriptions")
    assert subs.start_date.min() >= pd.Timestamp(str(START))
    assert subs.end_date.max() <= pd.Timestamp(str(END))
    ev = demo_small.table("usage_events")
    assert ev.occurred_at.max().execute() <= pd.Timestamp(str(END)) + pd.Timedelta(days=1)
    acc = demo_small.df("accounts")
    assert set(acc.segment) == {"enterprise", "mid_market", "smb"}
    assert acc.name.str.contains("<script>").sum() == 1  # a hostile name, to test escaping


def test_new_customers_score_lower_nps(demo_small):
    nps = demo_small.df("nps_responses")
    first = demo_small.df("subscriptions").groupby("account_id").start_date.min()
    tenure = (nps.responded_at - nps.account_id.map(first)).dt.days
    early, late = nps.score[tenure < 180].mean(), nps.score[tenure >= 365].mean()
    assert early < late - 0.5


def test_churned_accounts_have_a_reason_and_no_churn_before_day_90(demo_small):
    subs = demo_small.df("subscriptions")
    reasons = demo_small.df("churn_reasons")
    first = subs.groupby("account_id").start_date.min()
    days = (reasons.churned_at - reasons.account_id.map(first)).dt.days
    assert (days > 90).all()
    assert reasons.reason.isin(["product", "adoption", "expectation", "price", "other"]).all()
    # an account with a reason has no subscription active across its churn day, unless reactivated
    s = subs.merge(reasons[["account_id", "churned_at"]], on="account_id")
    spanning = (s.start_date < s.churned_at) & (s.end_date.isna() | (s.end_date > s.churned_at))
    assert not spanning.any()


def test_usage_has_weekly_seasonality(demo_small):
    ev = demo_small.table("usage_events")
    dow = ev.group_by(d=ev.occurred_at.day_of_week.index()).aggregate(n=ev.count()).execute()
    per = dow.set_index("d").n.sort_index()
    assert per.loc[[5, 6]].mean() < 0.5 * per.loc[[0, 1, 2, 3, 4]].mean()


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="at least 10"):
        generate(n_accounts=3, out=tmp_path)
    with pytest.raises(ConfigError, match="parquet or csv"):
        generate(n_accounts=20, out=tmp_path, fmt="xlsx")


def test_csv_format_round_trips(tmp_path):
    generate(n_accounts=40, seed=5, out=tmp_path / "csv", fmt="csv", model="static")
    generate(n_accounts=40, seed=5, out=tmp_path / "pq", model="static")
    a = open_source(tmp_path / "csv").df("subscriptions")
    b = open_source(tmp_path / "pq").df("subscriptions")
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert np.isclose(a.mrr.sum(), b.mrr.sum())


def test_usage_scale_thins_the_usage_events_only(tmp_path):
    paths = generate(n_accounts=300, seed=42, out=tmp_path, usage_scale=0.25, model="static")
    got = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    want = PINNED[(300, 42, "parquet")]
    assert got["accounts.parquet"] == want["accounts.parquet"]  # drawn before any usage event
    assert got["usage_events.parquet"] != want["usage_events.parquet"]
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["usage_scale"] == 0.25
    src = open_source(tmp_path)  # still a valid data set
    assert truth["rows"] == src.row_counts()
    # the seed-42, 300-account run at scale 1 writes 152,315 usage events; a quarter is ~38,079
    assert 0.22 < truth["rows"]["usage_events"] / 152_315 < 0.28


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_usage_scale_must_be_positive(tmp_path, scale):
    with pytest.raises(ConfigError, match="usage-scale must be a positive number"):
        generate(n_accounts=20, out=tmp_path, usage_scale=scale)


def test_cli_usage_scale(tmp_path):
    from typer.testing import CliRunner

    from csresearch.cli import app

    r = CliRunner().invoke(app, ["demo-data", "--accounts", "30", "--seed", "2", "--usage-scale", "0.5",
                                 "--model", "static", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "usage scale 0.5" in r.output
    assert json.loads((tmp_path / "truth.json").read_text())["usage_scale"] == 0.5
