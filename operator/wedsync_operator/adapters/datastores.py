"""What the Redis and Postgres adapters share: their error, and keeping secrets out of it.

Every failure to talk to a data store becomes a :class:`DataStoreError` whose ``reason``
is a CamelCase word fit for a condition (``RedisUnreachable``, ``PostgresTimeout``, …)
and whose message is a sentence for an SRE. URLs and DSNs come from Secrets and may carry
a password: messages name a store by :func:`redact` of its URL (scheme, host, port,
database — no user information, no query), and :func:`scrub` removes the password
should a driver echo it back.
"""

from __future__ import annotations

import urllib.parse
from typing import Literal

__all__ = ["DataStoreError", "Reason", "redact", "scrub"]

Reason = Literal[
    "RedisUnreachable",
    "RedisTimeout",
    "RedisAuthFailed",
    "RedisError",
    "PostgresUnreachable",
    "PostgresTimeout",
    "PostgresAuthFailed",
    "PostgresQueryFailed",
    "PostgresNotPrimary",
    "CacheQueryInvalid",
]

_REDACTED = "***"


class DataStoreError(Exception):
    """A data-store call that gave no usable answer; ``reason`` says which kind."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"DataStoreError({self.reason!r}, {self.message!r})"


def redact(url: str) -> str:
    """``scheme://host:port/path`` of a URL or DSN: no user, password, query or fragment.

    Something that is not a URL (a libpq ``key=value`` DSN) is not echoed at all.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "(unparseable URL)"
    if not parts.scheme or not parts.netloc:
        return "(a DSN that is not a URL)"
    where = host or "localhost"
    if ":" in where:
        where = f"[{where}]"
    if port is not None:
        where += f":{port}"
    return f"{parts.scheme}://{where}{parts.path}"


def _secrets(url: str) -> list[str]:
    found: list[str] = []
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password:
            found.append(parts.password)
            found.append(urllib.parse.unquote(parts.password))
        for key, value in urllib.parse.parse_qsl(parts.query):
            if key.lower() in ("password", "pass", "passwd") and value:
                found.append(value)
    except ValueError:
        pass
    # A libpq key=value DSN.
    for token in url.split():
        key, sep, value = token.partition("=")
        if sep and key.lower() == "password" and value:
            found.append(value.strip("'\""))
    # Longest first, so that a secret containing another is replaced whole.
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrub(message: str, url: str) -> str:
    """``message`` with any password found in ``url`` (and the URL itself) replaced."""
    for secret in (url, *_secrets(url)):
        if secret:
            message = message.replace(secret, _REDACTED)
    return message
