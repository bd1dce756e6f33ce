"""Secrets masked in URLs and in free text (third-party errors, tracebacks, notebooks)."""

from __future__ import annotations

import pytest

from csresearch import redaction
from csresearch.redaction import has_password, mask_secrets, redact, register_url, url_password


@pytest.mark.parametrize(
    ("url", "masked", "password"),
    [
        ("postgresql+psycopg2://analyst:S3cretPW@db.internal:5432/cs",
         "postgresql+psycopg2://analyst:***@db.internal:5432/cs", "S3cretPW"),
        # the authority's user information ends at its LAST '@'
        ("postgresql://analyst:Tr0ub@dor-PW@db.internal:5432/cs",
         "postgresql://analyst:***@db.internal:5432/cs", "Tr0ub@dor-PW"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0", "pw"),
        ("postgres://ana@h/db", "postgres://ana@h/db", None),
        ("duckdb:///tmp/x.db", "duckdb:///tmp/x.db", None),
        ("postgres://h/db?sslmode=require&password=x1", "postgres://h/db?sslmode=require&password=***", None),
    ],
)
def test_redact_parses_the_authority(url, masked, password):
    assert redact(url) == masked
    assert url_password(url) == password


def test_mask_secrets_in_free_text_and_registered_values(monkeypatch):
    monkeypatch.setattr(redaction, "_SECRETS", set())
    url = "postgresql://analyst:Tr0ub@dor-PW@db.internal:5432/cs"
    msg = f"Don't know how to connect to '{url}'"
    assert "Tr0ub" not in mask_secrets(msg) and "analyst:***@db.internal" in mask_secrets(msg)
    # a library that reformats the URL (quotes it, percent-encodes it) cannot leak it once registered
    register_url(url)
    text = "password=Tr0ub%40dor-PW host=db.internal; raw Tr0ub@dor-PW"
    assert "Tr0ub" not in mask_secrets(text)
    assert has_password(url) and not has_password("duckdb:///x.db")


def test_mask_secrets_on_long_text_finds_urls_after_letters():
    # a URL right after a long run of letters is still found (the scheme absorbs them)
    text = "x" * 5000 + "postgres://u:pw12@h/db " + "y" * 5000
    assert "pw12" not in mask_secrets(text)
