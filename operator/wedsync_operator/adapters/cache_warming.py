"""Cache warming, the I/O glue: couples' core fields from Postgres into Redis.

Thin on purpose: the keys, batches, TTL and the report are ``engine.warming``'s; the
reads and writes are ``postgres_store``'s and ``redis_store``'s. Both clients belong to
the caller.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import redis.asyncio

from wedsync_operator.adapters import postgres_store, redis_store
from wedsync_operator.adapters.datastores import DataStoreError
from wedsync_operator.engine.warming import WarmResult, batches, cache_key, ttl_seconds
from wedsync_operator.model.types import CacheWarming

__all__ = ["warm_cache"]


async def warm_cache(
    pg_pool: Any,
    redis_client: redis.asyncio.Redis,
    warming: CacheWarming,
    couple_ids: Sequence[str],
    *,
    ttl: timedelta,
    timeout_s: float,
) -> WarmResult:
    """Read ``warming.query`` for ``couple_ids`` and ``SET`` each row's payload under
    ``warming.key_template`` with ``EX ttl``, ``warming.batch_size`` keys per pipeline.

    Never raises for a data-store problem: a failed read, or the first failed batch
    (the rest would most likely fail the same way, each after a timeout), ends the run
    with the error in :attr:`WarmResult.errors` and the counts so far. Each call (the
    read, each batch) is bounded by ``timeout_s``. Running it again rewrites the same
    keys (``SET`` overwrites), so a retry after a restart or a failure is harmless.
    """
    started = time.monotonic()
    ttl_s = ttl_seconds(ttl)

    def result(**counts: Any) -> WarmResult:
        return WarmResult(duration_seconds=time.monotonic() - started, **counts)

    try:
        rows = await postgres_store.fetch_cache_rows(
            pg_pool, warming.query, couple_ids, timeout_s=timeout_s
        )
    except DataStoreError as exc:
        return result(errors=(f"reading the couples from Postgres failed: {exc.message}",))

    written = done = 0
    errors: tuple[str, ...] = ()
    for batch in batches(rows.items, warming.batch_size):
        items = [(cache_key(warming.key_template, key), payload) for key, payload in batch]
        try:
            written += await redis_store.write_batch(
                redis_client, items, ttl_s, timeout_s=timeout_s
            )
        except DataStoreError as exc:
            errors = (
                f"writing batch {done + 1} ({len(items)} keys) to Redis failed: {exc.message}",
            )
            break
        done += 1
    return result(
        keys_written=written,
        rows_read=rows.rows_read,
        batches=done,
        errors=errors,
        skipped_rows=rows.skipped,
    )
