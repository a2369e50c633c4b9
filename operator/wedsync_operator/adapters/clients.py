"""The operator's data-store clients: one Redis client and one asyncpg pool per URL/DSN.

URLs and DSNs come from Secrets that policies reference, so clients cannot all be made at
startup: :class:`DataStoreClients` (made in the startup handler, kept on ``memo``) makes
each on first use, hands the same one to every later caller, and closes them all in the
cleanup handler. A Secret whose value changed simply yields a new client; :meth:`retain`
closes the ones no policy references any more.

The URL is the key and is kept in memory only: never logged, never put in status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import redis.asyncio

from wedsync_operator.adapters import postgres_store, redis_store

__all__ = ["DataStoreClients"]

logger = logging.getLogger(__name__)


class DataStoreClients:
    """Pooled clients keyed by URL/DSN.

    ``socket_timeout_s`` bounds each socket operation of a client; every adapter call
    also has its own (usually shorter) ``asyncio.timeout``, which is the real bound.
    """

    def __init__(self, *, socket_timeout_s: float = 10.0, pg_max_size: int = 2) -> None:
        self.socket_timeout_s = socket_timeout_s
        self.pg_max_size = pg_max_size
        self._redis: dict[str, redis.asyncio.Redis] = {}
        self._pools: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        # Never the URLs.
        return f"DataStoreClients(redis={len(self._redis)}, postgres={len(self._pools)})"

    def redis(self, url: str) -> redis.asyncio.Redis:
        """The client for a Redis URL (made without I/O on first use)."""
        self._check_open()
        client = self._redis.get(url)
        if client is None:
            client = redis_store.connect(url, timeout=self.socket_timeout_s)
            self._redis[url] = client
        return client

    async def postgres(self, dsn: str) -> Any:
        """The asyncpg pool for a DSN (made without connecting on first use)."""
        self._check_open()
        pool = self._pools.get(dsn)
        if pool is not None:
            return pool
        async with self._lock:
            pool = self._pools.get(dsn)
            if pool is None:
                pool = await postgres_store.create_pool(
                    dsn, timeout_s=self.socket_timeout_s, max_size=self.pg_max_size
                )
                self._pools[dsn] = pool
        return pool

    def redis_link(self, url: str) -> redis_store.RedisLink:
        """The Redis at ``url``, as the operator reads and writes it."""
        return redis_store.RedisLink(self.redis(url))

    async def postgres_link(self, dsn: str) -> postgres_store.PostgresLink:
        """The Postgres at ``dsn``, as the operator reads it."""
        return postgres_store.PostgresLink(await self.postgres(dsn))

    async def retain(self, urls: Iterable[str], *, timeout_s: float = 10.0) -> None:
        """Close the clients whose URL/DSN is not in ``urls`` (a rotated Secret's)."""
        keep = set(urls)
        redis_gone = [self._redis.pop(u) for u in list(self._redis) if u not in keep]
        pools_gone = [self._pools.pop(d) for d in list(self._pools) if d not in keep]
        await _close(redis_gone, pools_gone, timeout_s)

    async def aclose(self, *, timeout_s: float = 10.0) -> None:
        """Close every client and pool (the cleanup handler); a pool that does not close
        within ``timeout_s`` is terminated."""
        self._closed = True
        redis_gone, self._redis = list(self._redis.values()), {}
        pools_gone, self._pools = list(self._pools.values()), {}
        await _close(redis_gone, pools_gone, timeout_s)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the data-store clients are closed")


async def _close(clients: list[redis.asyncio.Redis], pools: list[Any], timeout_s: float) -> None:
    async def close_redis(client: redis.asyncio.Redis) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                await client.aclose()
        except Exception:
            logger.warning("a Redis client did not close cleanly", exc_info=True)

    async def close_pool(pool: Any) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                await pool.close()
        except Exception:
            logger.warning("a Postgres pool did not close in time; terminating it")
            with contextlib.suppress(Exception):
                pool.terminate()

    await asyncio.gather(*(close_redis(c) for c in clients), *(close_pool(p) for p in pools))
