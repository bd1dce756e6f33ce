"""Provenance: secrets masked, fingerprints of files, the block's content escaped."""

from __future__ import annotations

import re
import time

from csresearch import __version__
from csresearch.provenance import (
    collect,
    file_fingerprint,
    git_commit,
    redact,
    to_html,
)
from csresearch.redaction import has_password


def test_passwords_are_masked_everywhere():
    assert redact("postgres://me:s3cret@db:5432/cs") == "postgres://me:***@db:5432/cs"
    assert redact({"data": "mysql://u:p@h/x", "api_key": "abc", "n": 3}) == {
        "data": "mysql://u:***@h/x", "api_key": "***", "n": 3}
    assert redact("env:CS_DB") == "env:CS_DB"
    assert has_password("postgres://me:s3cret@db/cs")
    assert not has_password("duckdb:///tmp/x.db") and not has_password("data/demo")
    # no user name, or the password in the query string: still a password
    assert has_password("redis://:s3cret@cache:6379/0") and redact("redis://:s3cret@h/0") == "redis://:***@h/0"
    assert has_password("postgres://db/cs?user=me&password=s3cret&sslmode=require")
    assert redact("postgres://db/cs?user=me&password=s3cret&sslmode=require") == (
        "postgres://db/cs?user=me&password=***&sslmode=require")
    assert not has_password("postgres://db/cs?user=me") and not has_password("data/x?password=1.csv")


def test_collect_with_a_source(demo_small):
    t0 = time.time() - 2.0
    p = collect({"data": "x", "as_of": "2025-12-31"}, source=demo_small, as_of="2025-12-31", started=t0)
    assert p["fingerprint"] == demo_small.fingerprint() and len(p["fingerprint"]) == 16
    assert p["row_counts"]["accounts"] == 400
    assert p["package"] == f"csresearch {__version__}"
    assert p["run_seconds"] >= 2.0
    html = to_html(p).html
    for needle in ("Provenance", "fingerprint", "accounts 400", "2025-12-31", "git commit"):
        assert needle in html


def test_flat_table_fingerprint_changes_with_content(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("a,b\n1,2\n")
    one = file_fingerprint([f])
    f.write_text("a,b\n1,3\n")
    assert file_fingerprint([f]) != one
    p = collect({}, table=(f, 1), as_of="2025-01-01")
    assert p["row_counts"] == {"t": 1} and p["fingerprint"] == file_fingerprint([f])


def test_git_commit_is_a_hash_or_unknown(tmp_path):
    assert re.match(r"^[0-9a-f]{12}", git_commit()) or git_commit() == "unknown"
    assert git_commit(tmp_path) == "unknown"


def test_block_escapes_parameters():
    html = to_html(collect({"segment": "<script>alert(1)</script>"}, as_of="2025-12-31")).html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_other_input_files_get_a_fingerprint(tmp_path):
    cfg = tmp_path / "health.yaml"
    cfg.write_text("weights: {nps: 1}\n")
    p = collect({"health_config_path": str(cfg)}, as_of="2025-12-31", files={"health_config_path": cfg})
    assert p["file_fingerprints"] == {"health_config_path": file_fingerprint([cfg])}
    assert f"health_config_path {file_fingerprint([cfg])}" in to_html(p).html
    cfg.write_text("weights: {nps: 2}\n")
    assert collect({}, files={"x": cfg})["file_fingerprints"]["x"] != p["file_fingerprints"]["health_config_path"]


def test_input_files_are_the_existing_path_parameters(tmp_path):
    from csresearch.reports.notebook import input_files

    f = tmp_path / "answers.yaml"
    f.write_text("a: 1\n")
    params = {"answers_path": str(f), "previous_answers_path": "", "data": str(tmp_path), "as_of": "2025-12-31",
              "missing_path": str(tmp_path / "nope.yaml")}
    assert input_files(params) == {"answers_path": str(f)}


def test_a_reports_provenance_does_not_import_nbformat(tmp_path):
    # the kernel's last cell (rn.provenance) reads the *_path parameters; importing nbformat for
    # that cost every report about 1.5-2 s (jsonschema) before the HTML export
    import subprocess
    import sys

    cfg = tmp_path / "health.yaml"
    cfg.write_text("x: 1\n")
    code = ("import sys; from csresearch.reports import notebook as rn; "
            f"files = rn.input_files({{'health_config_path': {str(cfg)!r}, 'data': 'x'}}); "
            "print(sorted(files), 'nbformat' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['health_config_path'] False"
