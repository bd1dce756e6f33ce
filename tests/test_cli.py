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
