import hashlib

import duckdb
import pytest
from typer.testing import CliRunner

from csresearch.cli import app
from csresearch.data.mapping import load_mapping
from csresearch.data.sources import open_source
from csresearch.errors import ConfigError, DataValidationError
from csresearch.redaction import redact
from tests.test_schema import good


def write_folder(path, frames, names=None):
    path.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        df.to_parquet(path / f"{(names or {}).get(name, name)}.parquet", index=False)
    return path


def test_folder_of_parquet(tmp_path):
    src = open_source(write_folder(tmp_path / "d", good()))
    assert src.names == ["accounts", "subscriptions", "nps_responses", "support_tickets", "csm_sentiment"]
    assert src.df("subscriptions").start_date.dtype.kind == "M"


def test_small_tables_are_read_once_and_each_caller_gets_its_own_copy(tmp_path, monkeypatch):
    import pandas as pd

    from csresearch.data import sources

    src = open_source(write_folder(tmp_path / "d", good()))
    runs = []
    real = sources.fetch
    monkeypatch.setattr(sources, "fetch", lambda t: runs.append(1) or real(t))
    first = src.df("accounts")
    first.loc[:, "segment"] = "changed by a caller"  # a caller's change stays its own
    second, third = src.df("accounts"), src.df("accounts")
    assert len(runs) == 1
    assert second is not third and not second["segment"].eq("changed by a caller").any()
    pd.testing.assert_frame_equal(second, third)
    pd.testing.assert_frame_equal(src.df("accounts", ["account_id"]), second[["account_id"]])  # its own read
    assert len(runs) == 2
    monkeypatch.setattr(sources, "KEEP_ROWS", 1)  # larger tables are read each time
    src.df("subscriptions"), src.df("subscriptions")
    assert len(runs) == 4


def test_loading_never_modifies_files(tmp_path):
    folder = write_folder(tmp_path / "d", good())
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    src = open_source(folder)
    src.df("accounts"), src.validate(), src.fingerprint()
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert before == after


def test_mapping_renames_tables_and_columns(tmp_path):
    frames = good()
    frames["accounts"] = frames["accounts"].rename(columns={"account_id": "cust_id", "segment": "tier"})
    folder = write_folder(tmp_path / "d", frames, names={"accounts": "customers"})
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "tables:\n  accounts: customers\ncolumns:\n  accounts: {account_id: cust_id, segment: tier}\n"
    )
    src = open_source(folder, mapping=mapping)
    assert {"account_id", "segment"} <= set(src.df("accounts").columns)
    with pytest.raises(DataValidationError, match="table 'accounts', column 'segment': rule 'missing column'"):
        open_source(folder, mapping={"tables": {"accounts": "customers"}, "columns": {"accounts": {"account_id": "cust_id"}}})


def test_bad_mapping_is_refused():
    with pytest.raises(ConfigError, match="'customers' is not a contract table"):
        load_mapping({"tables": {"customers": "x"}})
    with pytest.raises(ConfigError, match="unknown key"):
        load_mapping({"renames": {}})


def test_duckdb_file_and_url_from_environment(tmp_path, monkeypatch):
    db = tmp_path / "cs.duckdb"
    con = duckdb.connect(str(db))
    for name, df in good().items():
        con.register("tmp_df", df)
        con.execute(f"create table {name} as select * from tmp_df")
        con.unregister("tmp_df")
    con.close()
    assert open_source(db).row_counts()["subscriptions"] == 4
    monkeypatch.setenv("CSR_TEST_URL", f"duckdb://{db}?read_only=true")
    src = open_source("env:CSR_TEST_URL")
    assert src.location == "env:CSR_TEST_URL"  # the URL itself is never shown
    monkeypatch.delenv("CSR_TEST_URL")
    with pytest.raises(ConfigError, match="CSR_TEST_URL is not set"):
        open_source("env:CSR_TEST_URL")


def test_redact_hides_passwords():
    assert redact("postgres://ana:s3cret@db.example/cs") == "postgres://ana:***@db.example/cs"
    assert redact("duckdb:///tmp/x.db") == "duckdb:///tmp/x.db"


def test_missing_source_and_optional_table(tmp_path):
    with pytest.raises(ConfigError, match="data source not found"):
        open_source(tmp_path / "nope")
    src = open_source(write_folder(tmp_path / "d", good()))
    with pytest.raises(DataValidationError, match="table 'usage_events' \\(optional\\) is not in the data source"):
        src.table("usage_events")


def test_fingerprint_changes_with_content(tmp_path):
    a = open_source(write_folder(tmp_path / "a", good())).fingerprint()
    assert a == open_source(write_folder(tmp_path / "b", good())).fingerprint()
    frames = good()
    frames["subscriptions"].loc[0, "mrr"] = 101.0
    assert a != open_source(write_folder(tmp_path / "c", frames)).fingerprint()


def test_cli_validate(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(write_folder(tmp_path / "ok", good()))])
    assert ok.exit_code == 0 and "data source is valid" in ok.output
    frames = good()
    frames["subscriptions"].loc[1, "mrr"] = -3.0
    bad = runner.invoke(app, ["validate", str(write_folder(tmp_path / "bad", frames))])
    assert bad.exit_code == 1
    assert "table 'subscriptions', column 'mrr': rule 'range' fails for 1 row" in bad.output
    missing = runner.invoke(app, ["validate", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "data source not found" in missing.output


def test_cli_demo_data(tmp_path):
    r = CliRunner().invoke(app, ["demo-data", "--accounts", "30", "--seed", "2", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "truth.json").exists() and (tmp_path / "usage_events.parquet").exists()


def test_redact_without_user_and_in_query():
    assert redact("redis://:pw@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact("postgres://h/db?sslmode=require&password=x1") == "postgres://h/db?sslmode=require&password=***"


def test_redact_password_with_at_sign_is_masked_whole():
    url = "postgresql://analyst:Tr0ub@dor-PW@db.internal:5432/cs"
    assert redact(url) == "postgresql://analyst:***@db.internal:5432/cs"
    assert "dor-PW" not in redact(url)


def test_far_future_end_date_reads_as_open_in_table_and_df(tmp_path):
    import datetime as dt

    frames = good()
    frames["subscriptions"]["end_date"] = [dt.date(2024, 3, 1), dt.date(9999, 12, 31),
                                           dt.date(2024, 6, 1), None]
    src = open_source(write_folder(tmp_path / "d", frames))
    assert src.table("subscriptions").end_date.isnull().sum().execute() == 2
    df = src.df("subscriptions")
    assert str(df.end_date.dtype) == "datetime64[ns]" and df.end_date.isna().sum() == 2


# -- data rules: nothing renamed or ignored silently -----------------------------------------
def test_duplicated_csv_column_name_is_named(tmp_path):
    frames = good()
    for name, df in frames.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    text = (tmp_path / "accounts.csv").read_text().splitlines()
    # a second 'segment' column: DuckDB's reader would call it segment_1 without a word
    lines = [text[0] + ",segment"] + [ln + ",vip" for ln in text[1:]]
    (tmp_path / "accounts.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError, match=r"(?s)accounts\.csv.*(column name 'segment' appears 2 times|'segment_1')"):
        open_source(tmp_path, validate=False)


def test_mapping_onto_a_column_that_does_not_exist_is_named(tmp_path):
    folder = write_folder(tmp_path / "d", good())
    with pytest.raises(ConfigError, match=r"(?s)columns\.accounts\.segment.*'tier'.*accounts\.parquet.*present columns: account_id"):
        open_source(folder, mapping={"columns": {"accounts": {"segment": "tier"}}})


@pytest.mark.parametrize("url", [
    "postgresql+psycopg2://analyst:S3cretPW@db.internal:5432/cs",
    "nosuchengine://analyst:Tr0ub@dor-PW@db.internal:5432/cs",
])
def test_unreachable_url_is_a_named_error_without_the_password(url):
    with pytest.raises(ConfigError, match=r"cannot connect|not installed") as e:
        open_source(url)
    assert "S3cretPW" not in str(e.value) and "Tr0ub" not in str(e.value)
    assert "analyst:***@db.internal" in str(e.value)


def test_duplicated_parquet_column_name_is_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = write_folder(tmp_path / "d", good())
    a = good()["accounts"]
    cols = [pa.array(a[c].astype(str)) for c in a.columns] + [pa.array(["x", "y", "z"])]
    pq.write_table(pa.Table.from_arrays(cols, names=[*a.columns, "segment"]), folder / "accounts.parquet")
    # DuckDB's reader would call the second one segment_1 without a word
    with pytest.raises(DataValidationError, match=r"(?s)accounts\.parquet.*column name 'segment' appears 2 times.*unique"):
        open_source(folder, validate=False)
