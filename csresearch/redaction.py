"""Masking secrets (URL passwords) in everything the kit writes or prints.

A connection URL such as ``postgresql://analyst:Tr0ub@dor-PW@db.internal:5432/cs`` must never
reach a message, a log, a saved notebook, the report index or a provenance block. Two layers:

- :func:`redact` parses one URL with :func:`urllib.parse.urlsplit`, which splits
  ``user:password@host`` at the *last* ``@`` of the authority part, so a password holding ``@``
  is masked whole; ``?password=...`` style query parameters are masked too.
- :func:`mask_secrets` masks every URL found in a free text (a third-party error message, a
  traceback, a notebook's JSON) *and* every secret value registered with
  :func:`register_secret` (the kit registers the password of each URL it resolves from
  ``env:VAR``), so a library that reformats the URL cannot leak it either.

Example
-------
>>> redact("postgresql://analyst:Tr0ub@dor-PW@db.internal:5432/cs")
'postgresql://analyst:***@db.internal:5432/cs'
>>> mask_secrets("Don't know how to connect to 'redis://:pw@cache:6379/0'")
"Don't know how to connect to 'redis://:***@cache:6379/0'"
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

MASK = "***"

QUERY_SECRET = re.compile(
    r"([?&;](?:password|passwd|pwd|secret|token|api_?key|access_?key)=)[^&;#\s'\"]*", re.I
)
# A URL in free text: scheme://, then everything up to white space or a quote/bracket.
# The lookbehind anchors the scheme at a word start: without it a long run of letters is
# tried from every position (quadratic time).
_URL_IN_TEXT = re.compile(r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")

_SECRETS: set[str] = set()


def _split_authority(url: str) -> tuple[str, str, str] | None:
    """(``scheme://``, authority, rest) of a URL, or None when it has no authority part.

    The authority ends at the first ``/``, ``?`` or ``#`` after ``scheme://`` (as
    :func:`urllib.parse.urlsplit` has it); its user information ends at its *last* ``@``.
    """
    m = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*://)(.*)$", url, re.S)
    if not m:
        return None
    head, tail = m.groups()
    try:
        authority = urlsplit(head + tail).netloc
    except ValueError:  # an invalid IPv6 literal and the like: cut by hand, same rule
        authority = re.match(r"[^/?#]*", tail).group(0)
    if not tail.startswith(authority):  # urlsplit normalised something: cut by hand
        authority = re.match(r"[^/?#]*", tail).group(0)
    return head, authority, tail[len(authority) :]


def redact(url: str) -> str:
    """Hide the password of a connection URL (and secret query parameters).

    ``postgres://u:secret@h/db`` -> ``postgres://u:***@h/db``; a password holding ``@`` is
    masked up to the last ``@`` of the authority; ``?password=x`` -> ``?password=***``.

    >>> redact("postgres://ana:s3cret@db/cs?sslmode=require&password=x")
    'postgres://ana:***@db/cs?sslmode=require&password=***'
    """
    text = str(url)
    split = _split_authority(text)
    if split is not None:
        head, authority, rest = split
        userinfo, at, host = authority.rpartition("@")
        if at and ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            text = f"{head}{user}:{MASK}@{host}{rest}"
    return QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)


def url_password(url: str) -> str | None:
    """The password of a URL (as written, and None when there is none)."""
    split = _split_authority(str(url))
    if split is None:
        return None
    userinfo = split[1].rpartition("@")[0]
    return userinfo.split(":", 1)[1] if ":" in userinfo else None


def has_password(value: str | None) -> bool:
    """Whether ``value`` holds a URL password or a secret query parameter."""
    text = value or ""
    return bool(url_password(text)) or ("://" in text and bool(QUERY_SECRET.search(text)))


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`mask_secrets` hides it wherever it appears.

    The raw value, its percent-decoded and percent-encoded forms are all registered.
    Values shorter than 4 characters are not (they would mask ordinary words).
    """
    if not value:
        return
    for form in {value, unquote(value), quote(value, safe="")}:
        if len(form) >= 4:
            _SECRETS.add(form)


def register_url(url: str) -> None:
    """Register the password and secret query values of ``url`` (see :func:`register_secret`)."""
    register_secret(url_password(url))
    for m in QUERY_SECRET.finditer(str(url)):
        register_secret(str(url)[m.end(1) : m.end()])


def mask_secrets(text: str) -> str:
    """``text`` with every URL password and every registered secret replaced by ``***``."""
    if not text:
        return text
    out = _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), str(text))
    for secret in sorted(_SECRETS, key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out


__all__ = [
    "MASK",
    "has_password",
    "mask_secrets",
    "redact",
    "register_secret",
    "register_url",
    "url_password",
]
