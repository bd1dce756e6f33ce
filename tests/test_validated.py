"""report all validates a folder source once: the stamp, the skip, the failure left to the reports."""

import os

import pytest

from csresearch.data import validated
from csresearch.data.sources import open_source
from csresearch.errors import DataValidationError
from tests.test_schema import good
from tests.test_sources import write_folder


def test_a_stamped_folder_is_not_checked_again_until_a_file_changes(tmp_path, monkeypatch):
    monkeypatch.delenv(validated.ENV, raising=False)
    folder = write_folder(tmp_path / "d", good())
    with validated.validated_once([(str(folder), None)]):
        assert os.environ[validated.ENV]
        calls = []
        monkeypatch.setattr("csresearch.data.sources.DataSource.validate", lambda self: calls.append(1))
        open_source(folder)
        assert calls == []  # checked once, by validated_once
        (folder / "accounts.parquet").touch()  # changed since: checked again
        with pytest.raises(AttributeError):  # the patched validate returns None: it ran
            open_source(folder)
        assert calls == [1]
    assert validated.ENV not in os.environ  # the environment is restored


def test_a_failing_folder_records_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(validated.ENV, raising=False)
    frames = good()
    frames["subscriptions"].loc[0, "mrr"] = -5.0
    folder = write_folder(tmp_path / "bad", frames)
    with validated.validated_once([(str(folder), None), (str(tmp_path / "absent"), None)]):
        assert not os.environ.get(validated.ENV)
        with pytest.raises(DataValidationError):  # each report still sees the failure
            open_source(folder)
