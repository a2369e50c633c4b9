"""Redis: the primary's replication state (for the cache tier's safety gate) and pipelined
writes (for cache warming), over ``redis.asyncio``.

The caller owns the client — one per Redis URL, made with :func:`connect` at startup
(or on first use of a Secret's URL), reused, and closed with ``await client.aclose()``
on shutdown. Every call here is bounded by ``asyncio.timeout``; every failure becomes a
:class:`~wedsync_operator.adapters.datastores.DataStoreError` whose message never
carries the URL's password.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from wedsync_operator.adapters.datastores import DataStoreError, redact, scrub
from wedsync_operator.model.observations import RedisReplica, RedisReplication

__all__ = [
    "RedisLink",
    "connect",
    "describe",
    "replication_from_info",
    "replication_info",
    "write_batch",
]

logger = logging.getLogger(__name__)


def connect(url: str, *, timeout: float) -> redis.asyncio.Redis:
    """A client for ``url`` (``redis://[:password@]host:port/db``, ``rediss://``,
    ``unix://``) whose sockets give up after ``timeout`` seconds. No I/O happens here:
    connections are opened on first use and pooled.

    One retry (without backoff) on a connection error: it replaces a pooled connection
    that died with a restarted Redis; a Redis that is down still fails at once.
    """
    _check_timeout(timeout)
    try:
        return redis.asyncio.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
    except ValueError as exc:
        raise DataStoreError(
            "RedisError", f"the Redis URL {redact(url)} is not valid: {scrub(str(exc), url)}"
        ) from None


def describe(client: redis.asyncio.Redis) -> str:
    """``redis://host:port/db`` of a client, without credentials."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    host, port = kwargs.get("host", "localhost"), kwargs.get("port", 6379)
    return f"redis://{host}:{port}/{kwargs.get('db', 0)}"


async def replication_info(client: redis.asyncio.Redis, *, timeout_s: float) -> RedisReplication:
    """``INFO replication`` of the server behind ``client``, parsed."""
    timeout = _check_timeout(timeout_s)
    where = describe(client)
    try:
        async with asyncio.timeout(timeout):
            info = await client.info("replication")
    except Exception as exc:
        error = _as_error(exc, client, timeout)
        if error is None:
            raise
        raise error from exc
    return replication_from_info(info, where)


async def write_batch(
    client: redis.asyncio.Redis,
    items: Sequence[tuple[str, str]],
    ttl_seconds: int,
    *,
    timeout_s: float,
) -> int:
    """``SET key value EX ttl_seconds`` for every item in one pipeline (no MULTI); the
    number of keys written. Overwrites, so writing the same batch again is harmless."""
    timeout = _check_timeout(timeout_s)
    if ttl_seconds < 1:
        raise ValueError(f"ttl_seconds must be at least 1, not {ttl_seconds}")
    if not items:
        return 0
    try:
        async with asyncio.timeout(timeout), client.pipeline(transaction=False) as pipe:
            for key, value in items:
                pipe.set(key, value, ex=ttl_seconds)
            results: list[Any] = await pipe.execute()
    except Exception as exc:
        error = _as_error(exc, client, timeout)
        if error is None:
            raise
        raise error from exc
    return sum(1 for r in results if r is True or r == b"OK" or r == "OK")


@dataclass(frozen=True)
class RedisLink:
    """One Redis as the operator uses it: its replication state, pipelined writes."""

    client: redis.asyncio.Redis

    async def replication(self, *, timeout_s: float) -> RedisReplication:
        return await replication_info(self.client, timeout_s=timeout_s)

    async def write_batch(
        self, items: Sequence[tuple[str, str]], ttl_seconds: int, *, timeout_s: float
    ) -> int:
        return await write_batch(self.client, items, ttl_seconds, timeout_s=timeout_s)


# ------------------------------------------------------------------------------ parsing


def _int(value: object, what: str, where: str) -> int:
    if isinstance(value, bool):
        raise _bad(where, what, value)
    if isinstance(value, int):
        return value
    if isinstance(value, (str, bytes)):
        try:
            return int(value)
        except ValueError:
            pass
    raise _bad(where, what, value)


def _str(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _bad(where: str, what: str, value: object) -> DataStoreError:
    return DataStoreError(
        "RedisError",
        f"Redis at {where} answered INFO replication with {what} = {value!r}, "
        "which is not what a Redis server reports",
    )


def replication_from_info(info: Mapping[str, Any], where: str = "Redis") -> RedisReplication:
    """:class:`RedisReplication` from redis-py's parsed ``INFO replication``, where each
    ``slaveN:ip=…,port=…,state=…,offset=…,lag=…`` line is already a dict."""
    role = _str(info.get("role", ""))
    replicas: list[RedisReplica] = []
    index = 0
    while (line := info.get(f"slave{index}")) is not None:
        if not isinstance(line, Mapping):
            raise _bad(where, f"slave{index}", line)
        replicas.append(
            RedisReplica(
                ip=_str(line.get("ip", "")),
                port=_int(line.get("port"), f"slave{index}.port", where),
                state=_str(line.get("state", "")),
                offset=_int(line.get("offset", 0), f"slave{index}.offset", where),
                lag=_int(line.get("lag", 0), f"slave{index}.lag", where),
            )
        )
        index += 1
    link = info.get("master_link_status")
    return RedisReplication(
        role=role,
        connected_slaves=_int(info.get("connected_slaves", 0), "connected_slaves", where),
        master_repl_offset=_int(info.get("master_repl_offset", 0), "master_repl_offset", where),
        replicas=tuple(replicas),
        master_link_status=None if link is None else _str(link),
    )


# ------------------------------------------------------------------------------- errors


def _check_timeout(timeout: float) -> float:
    if not timeout > 0 or not math.isfinite(timeout):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return timeout


def _as_error(
    exc: BaseException, client: redis.asyncio.Redis, timeout: float
) -> DataStoreError | None:
    """The :class:`DataStoreError` for a failed call, ``None`` for other exceptions (bugs)."""
    if isinstance(exc, DataStoreError):
        return exc
    where = describe(client)
    detail = (str(exc) or type(exc).__name__).rstrip(".")
    password = client.connection_pool.connection_kwargs.get("password")
    if password:
        detail = detail.replace(str(password), "***")
    # redis.exceptions.TimeoutError is not the built-in one; asyncio.timeout raises that.
    if isinstance(exc, TimeoutError | redis.exceptions.TimeoutError):
        return DataStoreError(
            "RedisTimeout", f"Redis at {where} did not answer within {timeout:g}s"
        )
    # What the server said stays out of status (a policy's Secret may point anywhere):
    # the error's kind is reported; the local words of a connection failure are kept.
    if isinstance(exc, redis.exceptions.AuthenticationError):
        return DataStoreError(
            "RedisAuthFailed", f"Redis at {where} refused the credentials ({type(exc).__name__})"
        )
    if isinstance(exc, redis.exceptions.ConnectionError | OSError):
        return DataStoreError(
            "RedisUnreachable", f"Redis at {where} could not be reached: {detail}"
        )
    if isinstance(exc, redis.exceptions.RedisError):
        return DataStoreError(
            "RedisError", f"Redis at {where} answered with an error ({type(exc).__name__})"
        )
    return None
