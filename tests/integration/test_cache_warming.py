"""Cache warming against real Postgres (the seed's ``core_fields`` table) and real Redis.

Keys are read back from Redis independently of the adapter: their count, their TTL and
their payload, which must be the row as JSON.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
import redis.asyncio

from services.postgres import CoreFields, PostgresPair
from services.prometheus import free_port
from services.redis import RedisPair
from wedsync_operator.adapters import redis_store
from wedsync_operator.adapters.postgres_store import PostgresLink
from wedsync_operator.adapters.redis_store import RedisLink
from wedsync_operator.handlers.datatier import warm_cache
from wedsync_operator.model.types import CacheWarming, SecretKeyRef

TTL = timedelta(hours=24)


@pytest.fixture
def prefix() -> str:
    """Keys and couples of one test only (the stores are shared by the session)."""
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def primary(redis_pair: RedisPair) -> Iterator[redis.Redis]:
    """A synchronous client on the primary, to check what the adapter wrote."""
    with redis_pair.primary.client() as client:
        yield client


def warming(prefix: str, **changes: Any) -> CacheWarming:
    return CacheWarming(
        enabled=True,
        redis=SecretKeyRef("cache", "url"),
        postgres=SecretKeyRef("db", "dsn"),
        key_template=f"{prefix}:couple:{{key}}:core",
        **changes,
    )


def keys(client: redis.Redis, prefix: str) -> list[str]:
    return sorted(k.decode() for k in client.scan_iter(match=f"{prefix}:*", count=1000))


async def test_warming_writes_every_couple_with_its_row_as_json_and_the_ttl(
    postgres_pair: PostgresPair,
    pg_pool: Any,
    redis_client: redis.asyncio.Redis,
    primary: redis.Redis,
    prefix: str,
) -> None:
    rows = postgres_pair.seed_core_fields(1234, prefix=prefix)
    config = warming(prefix, batch_size=500)

    result = await warm_cache(
        PostgresLink(pg_pool),
        RedisLink(redis_client),
        config,
        [r.couple_id for r in rows],
        ttl=TTL,
        timeout_s=10,
    )

    assert result.errors == ()
    assert (result.keys_written, result.rows_read, result.batches) == (1234, 1234, 3)
    assert result.skipped_rows == 0
    assert 0 < result.duration_seconds < 10
    assert keys(primary, prefix) == sorted(f"{prefix}:couple:{r.couple_id}:core" for r in rows)
    by_id: dict[str, CoreFields] = {r.couple_id: r for r in rows}
    for couple_id in (rows[0].couple_id, rows[7].couple_id, rows[-1].couple_id):
        key = f"{prefix}:couple:{couple_id}:core"
        value = primary.get(key)
        assert value is not None
        assert json.loads(value) == by_id[couple_id].as_json()
        ttl = primary.ttl(key)
        assert TTL.total_seconds() - 30 <= ttl <= TTL.total_seconds()


async def test_warming_again_rewrites_the_same_keys_without_adding_any(
    postgres_pair: PostgresPair,
    pg_pool: Any,
    redis_client: redis.asyncio.Redis,
    primary: redis.Redis,
    prefix: str,
) -> None:
    rows = postgres_pair.seed_core_fields(120, prefix=prefix)
    ids = [r.couple_id for r in rows]
    config = warming(prefix, batch_size=50)

    first = await warm_cache(
        PostgresLink(pg_pool), RedisLink(redis_client), config, ids, ttl=TTL, timeout_s=10
    )
    # A restart in the Preparing phase runs it again (ids in another order, repeated).
    second = await warm_cache(
        PostgresLink(pg_pool),
        RedisLink(redis_client),
        config,
        [*reversed(ids), ids[0]],
        ttl=TTL,
        timeout_s=10,
    )

    assert (first.keys_written, first.batches) == (120, 3)
    assert (second.keys_written, second.batches, second.errors) == (120, 3, ())
    assert len(keys(primary, prefix)) == 120


async def test_only_the_wedding_days_couples_are_warmed(
    postgres_pair: PostgresPair,
    pg_pool: Any,
    redis_client: redis.asyncio.Redis,
    primary: redis.Redis,
    prefix: str,
) -> None:
    rows = postgres_pair.seed_core_fields(30, prefix=prefix)
    chosen = [rows[1].couple_id, rows[5].couple_id, f"{prefix}-unknown"]

    result = await warm_cache(
        PostgresLink(pg_pool),
        RedisLink(redis_client),
        warming(prefix),
        chosen,
        ttl=TTL,
        timeout_s=10,
    )

    assert (result.keys_written, result.rows_read) == (2, 2)
    assert keys(primary, prefix) == sorted(f"{prefix}:couple:{c}:core" for c in chosen[:2])


async def test_a_query_without_parameters_warms_all_weddings_it_selects(
    postgres_pair: PostgresPair,
    pg_pool: Any,
    redis_client: redis.asyncio.Redis,
    primary: redis.Redis,
    prefix: str,
) -> None:
    rows = postgres_pair.seed_core_fields(9, prefix=prefix)
    query = (
        "SELECT couple_id AS key, row_to_json(c)::text AS payload FROM core_fields c "
        f"WHERE couple_id LIKE '{prefix}-%' AND wedding_date = DATE '2027-06-05'"
    )

    result = await warm_cache(
        PostgresLink(pg_pool),
        RedisLink(redis_client),
        warming(prefix, query=query),
        [],
        ttl=timedelta(minutes=5),
        timeout_s=10,
    )

    same_day = [r for r in rows if r.wedding_date.isoformat() == "2027-06-05"]
    assert result.keys_written == len(same_day) == 3
    key = f"{prefix}:couple:{same_day[0].couple_id}:core"
    assert 290 <= primary.ttl(key) <= 300


async def test_rows_with_a_null_payload_are_skipped_and_counted(
    postgres_pair: PostgresPair,
    pg_pool: Any,
    redis_client: redis.asyncio.Redis,
    prefix: str,
) -> None:
    rows = postgres_pair.seed_core_fields(10, prefix=prefix)
    # venue is NULL for every seventh couple: use it as the payload.
    query = (
        "SELECT couple_id AS key, venue AS payload FROM core_fields "
        "WHERE couple_id = ANY($1::text[])"
    )
    result = await warm_cache(
        PostgresLink(pg_pool),
        RedisLink(redis_client),
        warming(prefix, query=query),
        [r.couple_id for r in rows],
        ttl=TTL,
        timeout_s=10,
    )

    nulls = sum(1 for r in rows if r.venue is None)
    assert nulls == 2
    assert (result.rows_read, result.keys_written, result.skipped_rows) == (10, 8, 2)
    assert "skipped 2 without a key or payload" in result.message


async def test_a_query_without_the_payload_column_is_reported_and_writes_nothing(
    pg_pool: Any, redis_client: redis.asyncio.Redis, primary: redis.Redis, prefix: str
) -> None:
    query = "SELECT couple_id AS key FROM core_fields WHERE couple_id = ANY($1::text[])"

    result = await warm_cache(
        PostgresLink(pg_pool),
        RedisLink(redis_client),
        warming(prefix, query=query),
        ["x"],
        ttl=TTL,
        timeout_s=10,
    )

    assert (result.keys_written, result.batches, result.complete) == (0, 0, False)
    assert result.errors == (
        "reading the couples from Postgres failed: the cache-warming query must return "
        "columns key and payload; it returns key",
    )
    assert keys(primary, prefix) == []


async def test_an_unreachable_redis_is_reported_without_its_password(
    postgres_pair: PostgresPair, pg_pool: Any, prefix: str
) -> None:
    rows = postgres_pair.seed_core_fields(5, prefix=prefix)
    client = redis_store.connect(f"redis://:warm-secret@127.0.0.1:{free_port()}/0", timeout=2)
    try:
        result = await warm_cache(
            PostgresLink(pg_pool),
            RedisLink(client),
            warming(prefix, batch_size=2),
            [r.couple_id for r in rows],
            ttl=TTL,
            timeout_s=2,
        )
    finally:
        await client.aclose()

    assert (result.rows_read, result.keys_written, result.batches) == (5, 0, 0)
    [error] = result.errors
    assert error.startswith("writing batch 1 (2 keys) to Redis failed: Redis at redis://127.0.0.1:")
    assert "warm-secret" not in error
    assert result.reason == "CacheWarmingFailed"


async def test_the_warmed_keys_reach_the_replica(
    redis_pair: RedisPair,
    postgres_pair: PostgresPair,
    pg_pool: Any,
    redis_client: redis.asyncio.Redis,
    prefix: str,
) -> None:
    rows = postgres_pair.seed_core_fields(3, prefix=prefix)
    await warm_cache(
        PostgresLink(pg_pool),
        RedisLink(redis_client),
        warming(prefix),
        [r.couple_id for r in rows],
        ttl=TTL,
        timeout_s=10,
    )
    redis_pair.wait_linked()
    with redis_pair.replica.client() as replica:
        assert len(keys(replica, prefix)) == 3
