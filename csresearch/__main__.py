"""``python -m csresearch``: the same command line as the ``csresearch`` console script."""

from csresearch.cli import app

if __name__ == "__main__":
    app(prog_name="csresearch")
