"""report all validates a folder source once: the stamp, the skip, the failure left to each report."""

import os

import pytest

from csresearch.data import validated
from csresearch.data.sources import open_source
from csresearch.errors import DataValidationError
from tests.test_schema import good
from tests.test_sources import write_folder


def test_within_a_run_a_folder_is_checked_once_until_a_file_changes(tmp_path, monkeypatch):
    monkeypatch.delenv(validated.ENV, raising=False)
    folder = write_folder(tmp_path / "d", good())
    open_source(folder)  # outside a run: checked, nothing recorded
    with validated.validated_once():
        log = os.environ[validated.ENV]
        open_source(folder)  # the first report checks it and records the stamp
        calls = []
        real = open_source.__globals__["DataSource"].validate
        monkeypatch.setattr("csresearch.data.sources.DataSource.validate",
                            lambda self: calls.append(1) or real(self))
        open_source(folder)
        assert calls == []  # the next reports do not check it again
        (folder / "accounts.parquet").touch()  # changed since: checked again
        open_source(folder)
        assert calls == [1]
    assert validated.ENV not in os.environ and not os.path.exists(log)  # restored, removed


def test_a_failing_folder_records_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(validated.ENV, raising=False)
    frames = good()
    frames["subscriptions"].loc[0, "mrr"] = -5.0
    folder = write_folder(tmp_path / "bad", frames)
    with validated.validated_once():
        for _ in range(2):  # every report still sees the failure
            with pytest.raises(DataValidationError):
                open_source(folder)


def test_within_a_run_the_data_fingerprint_is_read_once_until_a_file_changes(tmp_path, monkeypatch):
    monkeypatch.delenv(validated.ENV, raising=False)
    folder = write_folder(tmp_path / "d", good())
    want = open_source(folder).fingerprint()  # outside a run: read from the files, nothing recorded
    with validated.validated_once():
        src = open_source(folder)
        assert src.fingerprint() == want  # the first report reads the files and records it
        log = os.environ[validated.ENV]
        text = open(log).read()
        assert text.count(want) == 1
        with open(log, "w") as f:  # the later reports take the recorded value (here a marker)
            f.write(text.replace(want, "recorded"))
        assert open_source(folder).fingerprint() == "recorded"
        (folder / "accounts.parquet").touch()  # changed since: read again
        assert open_source(folder).fingerprint() == want
    assert open_source(folder).fingerprint() == want


def test_a_run_value_is_computed_by_the_first_report_until_a_file_changes(tmp_path, monkeypatch):
    monkeypatch.delenv(validated.ENV, raising=False)
    folder = write_folder(tmp_path / "d", good())
    calls = []

    def count():
        calls.append(1)
        return {"active_customers": len(calls)}

    assert validated.run_value(open_source(folder), "customers", count) == {"active_customers": 1}
    assert validated.run_value(open_source(folder), "customers", count) == {"active_customers": 2}  # no run
    with validated.validated_once():
        first = validated.run_value(open_source(folder), "customers", count)
        assert [validated.run_value(open_source(folder), "customers", count) for _ in range(2)] == [first] * 2
        assert len(calls) == 3  # once in the run
        (folder / "accounts.parquet").touch()  # changed since: counted again
        assert validated.run_value(open_source(folder), "customers", count) == {"active_customers": 4}
