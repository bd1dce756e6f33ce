from typer.testing import CliRunner

from csresearch import __version__
from csresearch.cli import app


def test_version_and_help_on_every_command():
    runner = CliRunner()
    assert runner.invoke(app, ["--version"]).output.strip() == f"csresearch {__version__}"
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    assert app.registered_commands
    for cmd in app.registered_commands:
        r = runner.invoke(app, [cmd.name, "--help"])
        assert r.exit_code == 0, (cmd.name, r.output)
        assert (cmd.callback.__doc__ or "").strip(), f"command {cmd.name} has no help text"
    for group in app.registered_groups:
        r = runner.invoke(app, [group.name, "--help"])
        assert r.exit_code == 0, (group.name, r.output)


# --- exit codes, no tracebacks, masked passwords ---
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

URLS = ["postgresql+psycopg2://analyst:S3cretPW@db.internal:5432/cs",
        "postgresql+psycopg2://analyst:Tr0ub@dor-PW@db.internal:5432/cs"]
SECRETS = ("S3cretPW", "Tr0ub", "dor-PW")


def _commands(group=app):
    import typer

    yield from group.registered_commands
    for g in group.registered_groups:
        yield from _commands(g.typer_instance) if isinstance(g.typer_instance, typer.Typer) else ()


def test_every_command_is_wrapped_in_handle_errors():
    for cmd in _commands():
        assert getattr(cmd.callback, "__cs_handled__", False), cmd.callback.__name__


@pytest.mark.parametrize("url", URLS)
def test_validate_env_url_prints_no_password_and_no_traceback(url, monkeypatch):
    monkeypatch.setenv("CS_DB", url)
    r = CliRunner().invoke(app, ["validate", "env:CS_DB"])
    assert r.exit_code in (2, 3), r.output
    assert "Traceback" not in r.output and "analyst:***@db.internal" in r.stderr
    assert not any(s in r.output for s in SECRETS)


def test_module_entry_point_masks_and_exits_with_a_documented_code(tmp_path):
    env = {"CS_DB": URLS[1], "PATH": "/usr/bin:/bin", "CSRESEARCH_DEBUG": "1"}
    r = subprocess.run([sys.executable, "-m", "csresearch", "validate", "env:CS_DB"], env=env,
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    # a URL that cannot connect is an input error (exit 2) naming the masked URL, no traceback
    assert r.returncode == 2, r.stderr
    assert "cannot connect" in r.stderr and "analyst:***@db.internal" in r.stderr
    assert not any(s in r.stdout + r.stderr for s in SECRETS)
    r = subprocess.run([sys.executable, "-m", "csresearch", "--version"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("csresearch ")


def test_an_unexpected_error_is_one_masked_paragraph_with_exit_3(monkeypatch):
    import csresearch.data.sources as sources

    def boom(*a, **k):
        raise RuntimeError("duckdb said: IO Error\n  at postgres://u:Tr0ub@dor-PW@h/db")

    monkeypatch.setattr(sources, "open_source", boom)
    monkeypatch.delenv("CSRESEARCH_DEBUG", raising=False)
    r = CliRunner().invoke(app, ["validate", "somewhere"])
    assert r.exit_code == 3
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: RuntimeError: duckdb said")
    assert "unexpected error in" in r.stderr and "CSRESEARCH_DEBUG=1" in r.stderr
    assert "Tr0ub" not in r.stderr and "Traceback" not in r.stderr
