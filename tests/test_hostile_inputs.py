"""A standing suite of hostile and messy inputs: each case must give a named error or a
result that loses nothing (see issue 10). Cases are built from small generated frames or
files in tmp_path, never from the big demo."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest

from csresearch.data.contract_checks import validate
from csresearch.data.sources import DataSource, open_source
from csresearch.errors import ConfigError, DataQualityWarning, DataValidationError
from csresearch.metrics import period_table
from csresearch.metrics.revenue import mrr_bridge
from tests.test_schema import good


# --- data rules (silent drops) ---
def _far_future_end() -> dict[str, pd.DataFrame]:
    f = good()
    # s2 (a1, 150 from 2024-03-01) is "still active" written as the warehouse placeholder
    f["subscriptions"]["end_date"] = [dt.date(2024, 3, 1), dt.date(9999, 12, 31),
                                      dt.date(2024, 6, 1), None]
    return f


def test_hostile_far_future_end_date_is_open_in_metrics():
    t = period_table(DataSource.from_frames(_far_future_end()), "2024-12-31")
    dec = t.set_index("period_start").loc[pd.Timestamp("2024-12-01")]
    # a1 150 (open, placeholder) + a3 1000 (open, empty) = 1150; a2 ended Jun 1
    assert dec.mrr_end == 1150.0


def test_hostile_far_future_end_date_reads_as_empty():
    df = DataSource.from_frames(_far_future_end()).df("subscriptions")
    assert str(df.end_date.dtype) == "datetime64[ns]"
    assert df.end_date.isna().tolist() == [False, True, False, True]


def test_hostile_far_past_or_future_dates_elsewhere_are_named():
    f = good()
    f["accounts"]["created_at"] = [pd.Timestamp("2024-01-01"), dt.datetime(9999, 12, 31),
                                   dt.datetime(1, 1, 1)]
    fails = validate(DataSource.from_frames(f, validate=False)).failures
    assert [(x.table, x.column, x.rule, x.n_failing) for x in fails] == [
        ("accounts", "created_at", "date range", 2)
    ]
    with pytest.raises(DataValidationError, match=r"(?s)'accounts', column 'created_at'.*2200-01-01"):
        DataSource.from_frames(f, validate=False).df("accounts")


def test_hostile_far_future_dates_in_a_pandas_frame():
    s = good()["subscriptions"]
    s["start_date"] = pd.to_datetime(s["start_date"])
    s["end_date"] = pd.Series(np.array(["2024-03-01", "9999-12-31", "2024-06-01", "NaT"],
                                       dtype="datetime64[s]"))
    b = mrr_bridge(s, "2024-12-31").set_index("period_start")
    assert b.loc[pd.Timestamp("2024-12-01"), "mrr_end"] == 1150.0
    s["start_date"] = s["start_date"].astype("datetime64[s]")
    s.loc[0, "start_date"] = pd.Timestamp("9000-01-01")
    with pytest.raises(DataValidationError, match=r"column 'start_date'.*date range"):
        mrr_bridge(s, "2024-12-31")


def test_hostile_far_future_end_date_keeps_the_account_in_health():
    from csresearch.health.score import health_history

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        h = health_history(DataSource.from_frames(_far_future_end()), "2024-12-31")
    assert set(h.account_id) == {"a1", "a2", "a3"}


def test_hostile_mrr_too_large_for_exact_sums_is_named():
    f = good()
    f["subscriptions"].loc[3, "mrr"] = 9.2e12
    with pytest.raises(DataValidationError, match=r"(?s)'subscriptions', column 'mrr': rule 'too large'.*s4"):
        DataSource.from_frames(f)
    with pytest.raises(DataValidationError, match=r"mrr is too large in 1 row"):
        mrr_bridge(f["subscriptions"], "2024-12-31")


@pytest.mark.parametrize("value", ["NaN", "inf", "-inf"])
def test_hostile_nan_or_inf_mrr_fails_validate_and_metrics_alike(tmp_path, value):
    f = good()
    f["subscriptions"]["mrr"] = f["subscriptions"]["mrr"].astype(object)
    f["subscriptions"].loc[1, "mrr"] = value
    for name, df in f.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    src = open_source(tmp_path, validate=False)
    assert [(x.column, x.rule) for x in validate(src).failures] == [("mrr", "not finite")]
    with pytest.raises(DataValidationError, match=r"column 'mrr': mrr is (infinite|missing)"):
        mrr_bridge(src.df("subscriptions"), "2024-12-31")


def test_hostile_duplicated_csv_header_is_a_named_error(tmp_path):
    for name, df in good().items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    text = (tmp_path / "subscriptions.csv").read_text().splitlines()
    lines = [text[0] + ",mrr"] + [ln + ",1" for ln in text[1:]]
    (tmp_path / "subscriptions.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError, match=r"(?s)subscriptions\.csv.*('mrr' appears 2 times.*rename|'mrr_1')"):
        open_source(tmp_path)


def test_hostile_mapping_to_missing_column_is_a_config_error(tmp_path):
    for name, df in good().items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("columns:\n  subscriptions: {mrr: monthly_amount}\n")
    with pytest.raises(ConfigError, match=r"(?s)columns\.subscriptions\.mrr.*'monthly_amount'.*subscriptions\.csv"):
        open_source(tmp_path, mapping=mapping)


def _two_months() -> dict[str, pd.DataFrame]:
    f = good()  # subscriptions start 2024-01-01 .. 2024-03-01; last observed date 2024-03-01
    f["nps_responses"]["responded_at"] = pd.Timestamp("2024-02-01")
    return f


def test_hostile_as_of_years_after_the_data_marks_every_invented_period():
    src = DataSource.from_frames(_two_months())
    with pytest.warns(DataQualityWarning, match=r"81 period\(s\) from 2024-04-01 start after the data's last date 2024-03-01"):
        t = period_table(src, "2030-12-31")
    past = t.period_start > pd.Timestamp("2024-03-01")
    assert past.sum() == 81  # Apr 2024 .. Dec 2030 = 9 + 6 * 12 months
    assert t.loc[past, "note"].str.contains("no data observed").all()
    assert not t.loc[~past, "note"].str.contains("no data observed").any()


def test_hostile_as_of_before_the_data_is_a_config_error():
    with pytest.raises(ConfigError, match=r"as_of 2020-01-31 is before the data starts.*2024-01-01"):
        period_table(DataSource.from_frames(_two_months()), "2020-01-31")


def test_hostile_as_of_9999_is_a_config_error_not_an_overflow():
    with pytest.raises(ConfigError, match=r"as_of 9999-12-31 is outside the supported dates"):
        period_table(DataSource.from_frames(_two_months()), "9999-12-31")


def test_hostile_duplicated_parquet_column_is_a_named_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name, df in good().items():
        df.to_parquet(tmp_path / f"{name}.parquet", index=False)
    s = good()["subscriptions"]
    cols = [pa.array(s[c].astype(str)) for c in s.columns] + [pa.array(["1"] * len(s))]
    pq.write_table(pa.Table.from_arrays(cols, names=[*s.columns, "mrr"]), tmp_path / "subscriptions.parquet")
    with pytest.raises(DataValidationError, match=r"(?s)subscriptions\.parquet.*'mrr' appears 2 times"):
        open_source(tmp_path)


# --- loading (clear errors) ---
# Each unreadable input must raise a kit error naming the file, what is wrong and the fix;
# before these, each printed an engine traceback (DuckDB, pyarrow, yaml) and exited 1.
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from csresearch.cli import app  # noqa: E402
from csresearch.data.mapping import load_mapping  # noqa: E402
from csresearch.errors import CSResearchError  # noqa: E402
from csresearch.survival.tables import read_flat_table  # noqa: E402

_ACC = "account_id,name,segment,created_at\na1,Åsa AB,smb,2024-01-01 00:00:00\na2,Beta,mid,2024-02-01 00:00:00\n"
_SUB = (
    "subscription_id,account_id,start_date,end_date,mrr\n"
    "s1,a1,2024-01-01,,100.0\ns2,a2,2024-02-01,2024-06-01,50\n"
)


def _source(folder: Path, accounts: str | bytes = _ACC, subscriptions: str | bytes = _SUB) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("accounts", accounts), ("subscriptions", subscriptions)):
        data = text.encode() if isinstance(text, str) else text
        (folder / f"{name}.csv").write_bytes(data)
    return folder


def test_load_empty_csv_names_the_file(tmp_path):
    folder = _source(tmp_path / "d", accounts=b"")
    with pytest.raises(DataValidationError, match=r"accounts\.csv.*empty \(0 bytes\).*header row"):
        open_source(folder)


def test_load_header_only_csv_is_an_empty_table_and_validation_speaks(tmp_path):
    folder = _source(tmp_path / "d", accounts=_ACC.splitlines()[0] + "\n")
    src = open_source(folder, validate=False)
    report = src.validate()
    assert report.row_counts == {"accounts": 0, "subscriptions": 2}
    # both subscriptions point at accounts that the empty table does not hold
    assert [(f.table, f.rule, f.n_failing) for f in report.failures] == [("subscriptions", "foreign key", 2)]


def test_load_latin1_csv_says_resave_as_utf8(tmp_path):
    folder = _source(tmp_path / "d", accounts=_ACC.encode("latin-1"))
    with pytest.raises(DataValidationError, match=r"accounts\.csv.*not UTF-8.*Re-save it as UTF-8"):
        open_source(folder)


def test_load_latin1_byte_past_the_sniffed_rows_names_its_line(tmp_path):
    # DuckDB sniffs the first rows only, and checks text only in the columns a query reads
    # ('name' has no rule): the kit reads the whole file as UTF-8 itself
    rows = "".join(f"a{i},n{i},smb,2024-01-01 00:00:00\n" for i in range(30_000))
    text = (_ACC.splitlines()[0] + "\n" + rows + "a_x,Caf\xe9,smb,2024-01-01 00:00:00\n").encode("latin-1")
    folder = _source(tmp_path / "d", accounts=text)
    # header + 30,000 rows: the bad byte is on line 30,002
    with pytest.raises(DataValidationError, match=r"accounts\.csv.*not UTF-8 text: line 30002"):
        open_source(folder)


def test_load_ragged_csv_row_is_named(tmp_path):
    # on a small file DuckDB's sniffer took the ragged last row for the header (and skipped
    # the rows above it); the header check refuses that
    folder = _source(tmp_path / "d", subscriptions=_SUB + "s3,a1,2024-01-01,,5,extra\n")
    with pytest.raises(DataValidationError, match=r"subscriptions\.csv.*first line as the header.*as many fields"):
        open_source(folder)


def test_load_ragged_row_deep_in_a_csv_is_named_by_validation(tmp_path):
    rows = "".join(f"s{i},a1,2024-01-01,,1\n" for i in range(30_000))
    folder = _source(tmp_path / "d", subscriptions=_SUB + rows + "s_x,a1,2024-01-01,,5,extra\n")
    src = open_source(folder, validate=False)  # the sniffed sample is consistent ...
    with pytest.raises(DataValidationError, match=r"subscriptions\.csv.*not a well-formed CSV.*delimiter"):
        src.validate()  # ... the validator's full pass names the file


def test_load_semicolon_csv_is_read_with_its_delimiter(tmp_path):
    folder = _source(tmp_path / "d", accounts=_ACC.replace(",", ";"), subscriptions=_SUB.replace(",", ";"))
    src = open_source(folder)
    assert src.row_counts() == {"accounts": 2, "subscriptions": 2}
    assert src.df("subscriptions").mrr.tolist() == [100.0, 50.0]
    flat = tmp_path / "flat.csv"
    flat.write_text("tenure;Churn\n3;Yes\n5;No\n")
    assert list(read_flat_table(flat).columns) == ["tenure", "Churn"]


def _parquet_source(folder: Path, subscriptions: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    accounts = pd.read_csv(_source(folder / "csv") / "accounts.csv", parse_dates=["created_at"])
    shutil.rmtree(folder / "csv")
    accounts.to_parquet(folder / "accounts.parquet")
    subscriptions.to_parquet(folder / "subscriptions.parquet")
    return folder


def test_load_truncated_parquet_names_the_file(tmp_path):
    subs = pd.read_csv(_source(tmp_path / "c") / "subscriptions.csv")
    folder = _parquet_source(tmp_path / "d", subs)
    whole = (folder / "subscriptions.parquet").read_bytes()
    (folder / "subscriptions.parquet").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataValidationError, match=r"subscriptions\.parquet.*truncated or corrupt"):
        open_source(folder)


def test_load_bigint_dates_and_every_other_type_failure_are_reported(tmp_path):
    subs = pd.read_csv(_source(tmp_path / "c") / "subscriptions.csv")
    subs["start_date"] = [20240101, 20240201]  # a date stored as BIGINT
    subs["mrr"] = ["lots", "50"]  # and, in the same table, text in a number column
    folder = _parquet_source(tmp_path / "d", subs)
    with pytest.raises(DataValidationError) as e:
        open_source(folder)
    text = str(e.value)
    assert "column 'start_date': rule 'stored type' fails for 2 rows" in text
    assert "stored as int64" in text and "ISO text" in text and "DATE column" in text
    assert "column 'mrr': rule 'type' fails for 1 row" in text


def test_load_table_path_that_is_a_folder(tmp_path):
    folder = _source(tmp_path / "d")
    (folder / "subscriptions.csv").unlink()
    (folder / "subscriptions.csv").mkdir()
    with pytest.raises(ConfigError, match=r"subscriptions\.csv.*is a folder, not a file"):
        open_source(folder)


def test_load_a_file_that_is_not_a_duckdb_database(tmp_path):
    db = tmp_path / "cs.duckdb"
    db.write_bytes(b"not a database")
    with pytest.raises(ConfigError, match=r"cs\.duckdb is a file but not a DuckDB database"):
        open_source(db)


def test_load_accounts_without_account_id_is_a_rule_not_a_crash(tmp_path):
    folder = _source(tmp_path / "d", accounts="name,segment,created_at\nAcme,smb,2024-01-01\n")
    with pytest.raises(DataValidationError, match=r"'accounts', column 'account_id': rule 'missing column'"):
        open_source(folder)


@pytest.mark.parametrize(
    "text, says",
    [
        ("- accounts\n- subscriptions\n", "must be a YAML mapping.*not a list"),
        ("just a string\n", "must be a YAML mapping.*not a string"),
        ("columns: {accounts: [a, b]}\n", r"columns\.accounts must map contract columns.*not a list"),
        ("columns: {accounts: x}\n", r"columns\.accounts must map.*not a string"),
        ("tables: [accounts]\n", "'tables' must be a mapping, not a list"),
        ("tables: {accounts: {a: b}}\n", r"tables\.accounts must be your table's name"),
        ("tables: !!python/object:builtins.object {}\n", "not valid YAML at line 1.*!!python/object are not allowed"),
        ("tables: [\n", "not valid YAML at line 2"),
    ],
)
def test_load_mapping_of_the_wrong_shape(tmp_path, text, says):
    path = tmp_path / "map.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"mapping file .*map\.yaml.*{says}"):
        load_mapping(path)
    with pytest.raises(ConfigError, match=r"map\.yaml"):
        open_source(_source(tmp_path / "d"), mapping=path)


def test_load_mapping_that_is_a_folder_or_not_utf8(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        load_mapping(tmp_path)
    path = tmp_path / "map.yaml"
    path.write_bytes("tables: {accounts: kunden_\xfc}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"map\.yaml is not UTF-8"):
        load_mapping(path)
    with pytest.raises(ConfigError, match="'columns' must be a mapping"):
        load_mapping({"columns": ["a"]})


@pytest.mark.parametrize(
    "content, says",
    [
        (b"", r"empty \(0 bytes\)"),
        ("tenure,Churn\n3,Oui\n5,Non\xe9\n".encode("latin-1"), "not UTF-8"),
        (None, "is a folder"),
    ],
)
def test_load_flat_table_for_survival_names_the_file(tmp_path, content, says):
    flat = tmp_path / "t.csv"
    flat.mkdir() if content is None else flat.write_bytes(content)
    with pytest.raises(CSResearchError, match=rf"t\.csv.*{says}"):
        read_flat_table(flat)
    r = CliRunner().invoke(app, ["survival", "km", "--table", str(flat), "--duration", "tenure", "--event", "Churn=Oui"])
    assert r.exit_code == 2, r.output
    assert "error:" in r.output and "t.csv" in r.output and "Traceback" not in r.output
    assert isinstance(r.exception, SystemExit)


def test_load_truncated_flat_parquet(tmp_path):
    flat = tmp_path / "t.parquet"
    pd.DataFrame({"tenure": [1, 2], "churned": [0, 1]}).to_parquet(flat)
    flat.write_bytes(flat.read_bytes()[:40])
    with pytest.raises(DataValidationError, match=r"t\.parquet.*truncated or corrupt"):
        read_flat_table(flat)


def test_load_cli_validate_latin1_exits_2_with_a_message(tmp_path):
    folder = _source(tmp_path / "d", accounts=_ACC.encode("latin-1"))
    r = CliRunner().invoke(app, ["validate", str(folder)])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and "accounts.csv" in r.output and "UTF-8" in r.output
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)


_FUZZ_COLUMNS = {
    "accounts": ["account_id", "name", "segment", "created_at"],
    "subscriptions": ["subscription_id", "account_id", "start_date", "end_date", "mrr"],
}


def _fuzz_frames(n: int) -> dict[str, pd.DataFrame]:
    ids = [f"a{i}" for i in range(n)]
    return {
        "accounts": pd.DataFrame({
            "account_id": ids, "name": [f"Name {i}" for i in range(n)], "segment": ["smb"] * n,
            "created_at": [f"2024-01-0{1 + i % 9} 00:00:00" for i in range(n)],
        }),
        "subscriptions": pd.DataFrame({
            "subscription_id": [f"s{i}" for i in range(n)], "account_id": ids,
            "start_date": [f"2024-02-0{1 + i % 9}" for i in range(n)],
            "end_date": ["" if i % 2 else "2024-06-01" for i in range(n)],
            "mrr": [str(10.5 * (i + 1)) for i in range(n)],
        }),
    }


_mutation = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(sorted(_FUZZ_COLUMNS)), st.integers(0, 4)),
    # text where a date or number belongs (or anywhere: a text column must take it)
    st.tuples(st.just("swap"), st.sampled_from(sorted(_FUZZ_COLUMNS)), st.integers(0, 4),
              st.integers(0, 5), st.sampled_from(["not a date", "12,5", "n/a", "1e999", "-", "2024-13-45"])),
    st.tuples(st.just("nulls"), st.sampled_from(sorted(_FUZZ_COLUMNS)), st.integers(0, 4),
              st.integers(0, 5), st.integers(1, 6)),
)


def _mutate(frames: dict[str, pd.DataFrame], op: tuple) -> None:
    kind, table, col_i = op[:3]
    df = frames[table]
    if not len(df.columns):
        return
    col = df.columns[col_i % len(df.columns)]
    if kind == "drop":
        frames[table] = df.drop(columns=[col])
    elif kind == "swap":
        df.loc[df.index[op[3] % len(df)], col] = op[4]
    else:
        start = op[3] % len(df)
        df.loc[df.index[start:start + op[4]], col] = ""


@settings(max_examples=25, deadline=None, derandomize=True)
@given(n=st.integers(1, 5), ops=st.lists(_mutation, max_size=3))
def test_load_fuzz_named_error_or_nothing_lost(n, ops):
    import tempfile

    frames = _fuzz_frames(n)
    for op in ops:
        _mutate(frames, op)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, df in frames.items():
            df.to_csv(folder / f"{name}.csv", index=False)
        try:
            src = open_source(folder)  # validates: returned means every rule passed
        except CSResearchError:
            return  # a named error (the test fails on any other exception)
        # nothing lost: every input row is in the source, and in the frames analyses use
        assert src.row_counts() == {"accounts": n, "subscriptions": n}
        assert len(src.df("accounts")) == n and len(src.df("subscriptions")) == n
        src.con.disconnect()


# --- reports, CLI and exports ---
_URLS = ["postgresql+psycopg2://analyst:S3cretPW@db.internal:5432/cs",
         "postgresql+psycopg2://analyst:Tr0ub@dor-PW@db.internal:5432/cs"]


def _no_password(text: str) -> bool:
    return not any(s in text for s in ("S3cretPW", "Tr0ub", "dor-PW"))


@pytest.mark.parametrize("url", _URLS)
def test_cli_report_and_validate_never_show_a_url_password(tmp_path, monkeypatch, url):
    # the kernel's failure stood in for (no kernel): its notebook holds the URL, the bare
    # password and a traceback, as a failed `report health --data env:CS_DB` had them
    import nbformat
    from typer.testing import CliRunner

    from csresearch.cli import app
    from csresearch.reports import render

    monkeypatch.setenv("CS_DB", url)
    pw = url.split("analyst:")[1].rsplit("@", 1)[0]

    def kernel(path, output, params, timeout, progress=True, kernel=None):
        nb = nbformat.read(str(path), as_version=4)
        nb.cells[0].outputs = [nbformat.v4.new_output(
            "error", ename="ValueError", evalue=f"Don't know how to connect to {url!r}",
            traceback=[f"ibis.connect({url!r})", f"password={pw}"])]
        nbformat.write(nb, str(output))
        raise ValueError(f"Don't know how to connect to {url!r} (user analyst, password {pw})")

    monkeypatch.setattr(render, "execute", kernel)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["report", "health", "--data", "env:CS_DB", "--as-of", "2025-12-31",
                                 "--out", str(out), "--quiet"])
    assert r.exit_code == 1 and "analyst:***@db.internal" in r.stderr, r.output
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".ipynb" for p in files) and any(p.name == "index.html" for p in files)
    assert all(_no_password(p.read_text(errors="replace")) for p in files)
    assert _no_password(r.stdout + r.stderr) and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["validate", "env:CS_DB"])
    assert r.exit_code in (2, 3) and _no_password(r.output) and "Traceback" not in r.output


def test_cli_csv_export_neutralises_formulas_unless_raw():
    from csresearch.cli._common import write_table

    df = pd.DataFrame({"name": ["=cmd|' /C calc'!A0", "@SUM(1)", "+1", "-1", "ok"], "x": [-3.5, 1, 2, 3, 4]})
    import io
    import sys

    buf, saved = io.StringIO(), sys.stdout
    sys.stdout = buf
    try:
        write_table(df, "csv")
        write_table(df, "csv", csv_safe=False)
    finally:
        sys.stdout = saved
    safe, raw = buf.getvalue().split("name,x\n")[1:]
    assert pd.read_csv(io.StringIO("name,x\n" + safe))["name"].str[0].tolist() == ["'"] * 4 + ["o"]
    assert pd.read_csv(io.StringIO("name,x\n" + safe))["x"].tolist() == [-3.5, 1, 2, 3, 4]
    assert raw.startswith("=cmd")


def test_cli_csv_export_is_plain_csv_with_a_sidecar(tmp_path):
    from csresearch.cli._common import write_table

    write_table(pd.DataFrame({"a": [1, 2]}), "csv", tmp_path / "t.csv", {"as_of": "2025-12-31"})
    assert len(pd.read_csv(tmp_path / "t.csv")) == 2
    assert '"as_of": "2025-12-31"' in (tmp_path / "t.csv.meta.json").read_text()


def test_cli_json_and_csv_floats_round_trip(tmp_path):
    import json

    from csresearch.cli._common import write_table

    df = pd.DataFrame({"p": [9.2e-12, 1 / 3, np.nan]})
    write_table(df, "json", tmp_path / "p.json")
    write_table(df, "csv", tmp_path / "p.csv")
    assert [r["p"] for r in json.loads((tmp_path / "p.json").read_text())] == [9.2e-12, 1 / 3, None]
    back = pd.read_csv(tmp_path / "p.csv", float_precision="round_trip")["p"].tolist()
    assert back[:2] == [9.2e-12, 1 / 3] and np.isnan(back[2])


def test_report_index_writers_in_several_processes_lose_nothing(tmp_path):
    import json
    import multiprocessing as mp

    from csresearch.reports.index import record

    def write(i: int) -> None:
        record(tmp_path, {"report": "r", "label": f"l{i}", "as_of": "2025-12-31", "status": "ok", "path": None})

    procs = [mp.get_context("fork").Process(target=write, args=(i,)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert len(json.loads((tmp_path / "_index.json").read_text())) == 6


def test_report_killed_runs_work_folders_are_cleaned(tmp_path):
    import os
    import time

    from csresearch.reports.index import clean_stale_work

    (tmp_path / ".work-x-1").mkdir()
    os.utime(tmp_path / ".work-x-1", (time.time() - 3600, time.time() - 3600))
    assert [p.name for p in clean_stale_work(tmp_path, 900)] == [".work-x-1"]


@pytest.mark.parametrize("argv, says", [
    (["--timeout", "0"], "timeout must be a number of seconds above 0"),
    (["--timeout", "-5"], "timeout must be a number of seconds above 0"),
    (["--label", "ret\n"], "use letters, digits"),
])
def test_report_cli_refuses_no_time_limit_and_odd_labels(tmp_path, argv, says):
    from typer.testing import CliRunner

    from csresearch.cli import app

    r = CliRunner().invoke(app, ["report", "retention", "--out", str(tmp_path / "o"), *argv])
    assert r.exit_code == 2 and says in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


def test_report_config_timeout_not_a_number_is_named(tmp_path):
    from csresearch.reports import load_config

    cfg = tmp_path / "r.yaml"
    cfg.write_text("timeout: abc\nreports: [{report: retention}]\n")
    with pytest.raises(ConfigError, match="timeout must be a number of seconds"):
        load_config(cfg)


def test_cli_out_into_a_missing_folder_or_full_disk_is_one_paragraph(tmp_path, monkeypatch):
    import errno

    from csresearch import outputs
    from csresearch.cli._common import write_table

    with pytest.raises(ConfigError, match="does not exist; create it first"):
        write_table(pd.DataFrame({"a": [1]}), "csv", tmp_path / "missing" / "t.csv")
    (tmp_path / "t.csv").write_text("good")

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "replace", full)
    with pytest.raises(ConfigError, match="disk is full"):
        write_table(pd.DataFrame({"a": [1]}), "csv", tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == "good" and len(list(tmp_path.iterdir())) == 1
