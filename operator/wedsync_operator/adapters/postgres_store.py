"""Postgres: the primary's replication state (for the database tier's safety gate) and the
rows that cache warming copies to Redis, over ``asyncpg``.

The caller owns the pool — one per DSN, made with :func:`create_pool` at startup (or on
first use of a Secret's DSN), reused, and closed on shutdown (``await
asyncio.wait_for(pool.close(), timeout)``; ``pool.terminate()`` if that times out).
asyncpg waits forever by default: here every call is bounded three ways — the pool's
``command_timeout``, ``pool.acquire(timeout=)`` (which also bounds the release) and an
``asyncio.timeout`` around the whole. Every failure becomes a
:class:`~wedsync_operator.adapters.datastores.DataStoreError` without the DSN's password.

The gate's role needs ``pg_monitor`` (or ``pg_read_all_stats``): without it
``pg_stat_replication`` shows each replica's row but NULL positions, which the gate
reads as "not known to be in sync" — closed, with a message saying so.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from wedsync_operator.adapters.datastores import DataStoreError, redact, scrub
from wedsync_operator.model.observations import PgReplica

__all__ = [
    "REPLICATION_QUERY",
    "CacheRows",
    "PostgresLink",
    "create_pool",
    "fetch_cache_rows",
    "replication_status",
]

logger = logging.getLogger(__name__)

# Distances in bytes from what the primary has written (pg_current_wal_lsn) to each
# position the replica reported; LSNs, not timestamps, decide whether it is caught up.
REPLICATION_QUERY = """
SELECT application_name,
       host(client_addr) AS client_addr,
       state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn)::bigint AS sent_lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), write_lsn)::bigint AS write_lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint AS flush_lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS replay_lag_bytes,
       replay_lag
  FROM pg_stat_replication
 ORDER BY application_name, client_addr
"""


async def create_pool(dsn: str, *, timeout_s: float, max_size: int = 2) -> Any:
    """An ``asyncpg`` pool for ``dsn`` (``postgresql://user:password@host:port/db``) that
    opens connections lazily (``min_size=0``: no I/O here, an unreachable database does
    not fail the operator's startup) and bounds connecting and every statement by
    ``timeout_s``."""
    timeout = _check_timeout(timeout_s)
    try:
        return await asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=max_size,
            timeout=timeout,  # connecting
            command_timeout=timeout,  # every statement
            # Idle connections are closed; the gate runs every few seconds at most.
            max_inactive_connection_lifetime=60,
        )
    except Exception as exc:
        error = _as_error(exc, redact(dsn), timeout, dsn)
        if error is None:
            raise
        raise error from None


async def replication_status(pool: Any, *, timeout_s: float) -> list[PgReplica]:
    """One :class:`PgReplica` per row of the primary's ``pg_stat_replication``.

    Raises ``DataStoreError("PostgresNotPrimary")`` when the DSN points at a standby,
    whose ``pg_stat_replication`` says nothing about the replicas of the primary.
    """
    timeout = _check_timeout(timeout_s)
    where = _where(pool)
    try:
        async with asyncio.timeout(timeout), pool.acquire(timeout=timeout) as conn:
            if await conn.fetchval("SELECT pg_is_in_recovery()", timeout=timeout):
                raise DataStoreError(
                    "PostgresNotPrimary",
                    f"Postgres at {where} is a standby, not the primary; point the gate's "
                    "DSN at the primary to check its replicas",
                )
            rows = await conn.fetch(REPLICATION_QUERY, timeout=timeout)
    except DataStoreError:
        raise
    except Exception as exc:
        error = _as_error(exc, where, timeout, _dsn(pool))
        if error is None:
            raise
        raise error from exc
    return [
        PgReplica(
            application_name=row["application_name"] or "",
            client_addr=row["client_addr"],
            state=row["state"],
            sent_lag_bytes=row["sent_lag_bytes"],
            write_lag_bytes=row["write_lag_bytes"],
            flush_lag_bytes=row["flush_lag_bytes"],
            replay_lag_bytes=row["replay_lag_bytes"],
            replay_lag=row["replay_lag"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class CacheRows:
    """What the cache query returned: ``(key, payload)`` pairs, and how many rows had a
    NULL key or payload and were left out."""

    items: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0

    @property
    def rows_read(self) -> int:
        return len(self.items) + self.skipped


async def fetch_cache_rows(
    pool: Any, query: str, couple_ids: Sequence[str], *, timeout_s: float
) -> CacheRows:
    """Run the cache-warming query, which returns columns ``key`` and ``payload``.

    ``$1`` is the couples' ids as ``text[]``. A query without parameters (e.g. "all
    weddings of today") runs without it; one with more than one is refused. A ``json``,
    ``jsonb`` or ``text`` payload arrives as text; ``bytea`` is decoded as UTF-8.
    """
    timeout = _check_timeout(timeout_s)
    where = _where(pool)
    try:
        async with asyncio.timeout(timeout), pool.acquire(timeout=timeout) as conn:
            statement = await conn.prepare(query, timeout=timeout)
            columns = [a.name for a in statement.get_attributes()]
            missing = [c for c in ("key", "payload") if c not in columns]
            if missing:
                raise DataStoreError(
                    "CacheQueryInvalid",
                    f"the cache-warming query must return columns key and payload; it "
                    f"returns {', '.join(columns) or 'no columns'}",
                )
            params = statement.get_parameters()
            if len(params) > 1:
                raise DataStoreError(
                    "CacheQueryInvalid",
                    f"the cache-warming query takes {len(params)} parameters; it may take "
                    "at most one, $1, the couples' ids as text[]",
                )
            args = [list(couple_ids)] if params else []
            rows = await statement.fetch(*args, timeout=timeout)
    except DataStoreError:
        raise
    except Exception as exc:
        error = _as_error(exc, where, timeout, _dsn(pool))
        if error is None:
            raise
        raise error from exc
    items: list[tuple[str, str]] = []
    skipped = 0
    for row in rows:
        key, payload = row["key"], row["payload"]
        if key is None or payload is None:
            skipped += 1
            continue
        if isinstance(payload, bytes | bytearray | memoryview):
            payload = bytes(payload).decode("utf-8", "replace")
        items.append((str(key), payload if isinstance(payload, str) else str(payload)))
    return CacheRows(items=items, skipped=skipped)


@dataclass(frozen=True)
class PostgresLink:
    """One Postgres primary as the operator uses it: its replicas, the warming query."""

    pool: Any

    async def replication(self, *, timeout_s: float) -> list[PgReplica]:
        return await replication_status(self.pool, timeout_s=timeout_s)

    async def cache_rows(
        self, query: str, couple_ids: Sequence[str], *, timeout_s: float
    ) -> CacheRows:
        return await fetch_cache_rows(self.pool, query, couple_ids, timeout_s=timeout_s)


# ------------------------------------------------------------------------------- errors


def _check_timeout(timeout: float) -> float:
    if not timeout > 0 or not math.isfinite(timeout):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return timeout


def _dsn(pool: Any) -> str:
    # The DSN the pool connects with (asyncpg keeps no public accessor); only used to
    # name the server and to scrub its password from messages.
    args = getattr(pool, "_connect_args", ()) or ()
    return args[0] if args and isinstance(args[0], str) else ""


def _where(pool: Any) -> str:
    dsn = _dsn(pool)
    return redact(dsn) if dsn else "the configured DSN"


_AUTH_ERRORS = (
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidAuthorizationSpecificationError,
)
_CONNECTION_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.exceptions.ClientConfigurationError,
    asyncpg.InterfaceError,
)


def _as_error(exc: BaseException, where: str, timeout: float, dsn: str) -> DataStoreError | None:
    """The :class:`DataStoreError` for a failed call, ``None`` for other exceptions (bugs)."""
    if isinstance(exc, DataStoreError):
        return exc
    detail = str(exc) or type(exc).__name__
    if dsn:
        detail = scrub(detail, dsn)
    detail = detail.rstrip(".")
    if isinstance(exc, TimeoutError):
        return DataStoreError(
            "PostgresTimeout", f"Postgres at {where} did not answer within {timeout:g}s"
        )
    # What the server said stays out of status (a policy's Secret may point anywhere):
    # asyncpg's class names the error and SQLSTATE codes it; a connection failure's
    # words are local and kept.
    if isinstance(exc, _AUTH_ERRORS):
        return DataStoreError(
            "PostgresAuthFailed",
            f"Postgres at {where} refused the credentials ({type(exc).__name__})",
        )
    if isinstance(exc, _CONNECTION_ERRORS):
        if isinstance(exc, asyncpg.PostgresError):  # sent by the server: its kind only
            detail = type(exc).__name__
        return DataStoreError(
            "PostgresUnreachable", f"Postgres at {where} could not be reached: {detail}"
        )
    if isinstance(exc, asyncpg.PostgresError):
        code = getattr(exc, "sqlstate", None)
        return DataStoreError(
            "PostgresQueryFailed",
            f"Postgres at {where} rejected the query: {type(exc).__name__}"
            + (f" (SQLSTATE {code})" if code else ""),
        )
    return None
