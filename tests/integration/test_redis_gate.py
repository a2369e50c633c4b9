"""The Redis safety gate against a real primary with a real replica.

Each failure is made for real — the replica stopped, the replica hung while the primary
takes writes, Redis absent, hung or refusing the password — and the gate must fail for
that reason and pass again once replication has recovered.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis.asyncio

from services.prometheus import free_port
from services.redis import RedisPair
from wedsync_operator.adapters import redis_store
from wedsync_operator.adapters.datastores import DataStoreError
from wedsync_operator.adapters.redis_store import RedisLink
from wedsync_operator.handlers.datatier import redis_gate_verdict
from wedsync_operator.model.types import RedisSafety, SecretKeyRef

SAFETY = RedisSafety(
    secret=SecretKeyRef("redis-primary", "url"),
    max_offset_lag=1024 * 1024,
    timeout=timedelta(seconds=2),
)
PASSWORD_FRAGMENT = "redis-test-secret"


@pytest.fixture
async def client_for() -> AsyncIterator[list[redis.asyncio.Redis]]:
    """Clients made by a test (``connect`` is synchronous), closed after it."""
    made: list[redis.asyncio.Redis] = []
    yield made
    for client in made:
        await client.aclose()


def connect(made: list[redis.asyncio.Redis], url: str, timeout: float = 2) -> redis.asyncio.Redis:
    client = redis_store.connect(url, timeout=timeout)
    made.append(client)
    return client


async def test_replication_info_lists_the_real_replica_at_the_primary_offset(
    redis_pair: RedisPair, redis_client: redis.asyncio.Redis
) -> None:
    info = await redis_store.replication_info(redis_client, timeout_s=2)

    assert info.role == "master"
    assert info.connected_slaves == 1
    [replica] = info.replicas
    assert replica.address == redis_pair.replica.address
    assert replica.state == "online"
    assert 0 <= info.master_repl_offset - replica.offset <= 1024


async def test_the_gate_passes_with_the_replica_linked_and_in_sync(
    redis_pair: RedisPair, redis_client: redis.asyncio.Redis
) -> None:
    verdict = await redis_gate_verdict(RedisLink(redis_client), SAFETY, required_replicas=1)

    assert verdict.passed, verdict.message
    assert verdict.reason == "ReplicasInSync"
    assert "1 Redis replica in sync within 1 MiB (1 required)" in verdict.message


async def test_a_stopped_replica_fails_the_gate_until_it_is_back_and_synced(
    redis_pair: RedisPair, redis_client: redis.asyncio.Redis
) -> None:
    redis_pair.stop_replica()
    try:
        verdict = await redis_gate_verdict(RedisLink(redis_client), SAFETY, required_replicas=1)
        assert not verdict.passed
        assert verdict.reason == "ReplicaMissing"
        assert verdict.message == (
            "1 Redis replica not connected to the primary; 0 of 1 required Redis replicas in sync"
        )
        # Writes while it is away: it must resynchronise, not only reconnect.
        redis_pair.write_on_primary(3 * 1024 * 1024)
    finally:
        redis_pair.start_replica()

    verdict = await redis_gate_verdict(RedisLink(redis_client), SAFETY, required_replicas=1)
    assert verdict.passed, verdict.message


async def test_a_hung_replica_behind_the_primary_fails_the_gate_naming_it(
    redis_pair: RedisPair, redis_client: redis.asyncio.Redis
) -> None:
    redis_pair.freeze_replica()
    try:
        redis_pair.write_on_primary(5 * 1024 * 1024)
        verdict = await redis_gate_verdict(RedisLink(redis_client), SAFETY, required_replicas=1)
    finally:
        redis_pair.thaw_replica()

    assert not verdict.passed
    assert verdict.reason == "ReplicaBehind"
    address = redis_pair.replica.address
    assert verdict.message.startswith(f"replica {address} is 5 MiB behind (limit 1 MiB)"), (
        verdict.message
    )
    assert verdict.message.endswith("0 of 1 required Redis replicas in sync")

    # Caught up again (thaw_replica waited for it): the gate passes.
    verdict = await redis_gate_verdict(RedisLink(redis_client), SAFETY, required_replicas=1)
    assert verdict.passed, verdict.message


async def test_more_replicas_required_than_exist_fails_the_gate(
    redis_client: redis.asyncio.Redis,
) -> None:
    verdict = await redis_gate_verdict(RedisLink(redis_client), SAFETY, required_replicas=2)
    assert not verdict.passed
    assert verdict.reason == "ReplicaMissing"
    assert "1 of 2 required Redis replicas in sync" in verdict.message


async def test_an_unreachable_redis_fails_the_gate_closed_without_leaking_the_password(
    client_for: list[redis.asyncio.Redis],
) -> None:
    port = free_port()
    client = connect(client_for, f"redis://:{PASSWORD_FRAGMENT}@127.0.0.1:{port}/0")

    started = time.monotonic()
    verdict = await redis_gate_verdict(RedisLink(client), SAFETY, required_replicas=1)

    assert time.monotonic() - started < 2.5
    assert not verdict.passed
    assert verdict.reason == "RedisUnreachable"
    assert f"Redis at redis://127.0.0.1:{port}/0 could not be reached" in verdict.message
    assert verdict.message.endswith("failing closed")
    assert PASSWORD_FRAGMENT not in verdict.message


async def test_a_hung_redis_fails_the_gate_closed_within_its_timeout(
    silent_port: int, client_for: list[redis.asyncio.Redis]
) -> None:
    client = connect(client_for, f"redis://127.0.0.1:{silent_port}/0", timeout=30)
    safety = RedisSafety(secret=SAFETY.secret, timeout=timedelta(seconds=0.5))

    started = time.monotonic()
    verdict = await redis_gate_verdict(RedisLink(client), safety, required_replicas=1)

    # asyncio.timeout bounds the call even when the socket timeout is longer.
    assert time.monotonic() - started < 1.5
    assert (verdict.passed, verdict.reason) == (False, "RedisTimeout")
    assert "did not answer within 0.5s" in verdict.message


async def test_a_wrong_password_fails_the_gate_as_an_auth_failure(
    redis_pair: RedisPair, client_for: list[redis.asyncio.Redis]
) -> None:
    url = f"redis://:not-the-{PASSWORD_FRAGMENT}@127.0.0.1:{redis_pair.primary.port}/0"
    verdict = await redis_gate_verdict(RedisLink(connect(client_for, url)), SAFETY, 1)

    assert (verdict.passed, verdict.reason) == (False, "RedisAuthFailed")
    assert PASSWORD_FRAGMENT not in verdict.message


async def test_a_gate_pointed_at_the_replica_says_so(
    redis_pair: RedisPair, client_for: list[redis.asyncio.Redis]
) -> None:
    verdict = await redis_gate_verdict(
        RedisLink(connect(client_for, redis_pair.replica.url)), SAFETY, required_replicas=0
    )
    assert (verdict.passed, verdict.reason) == (False, "RedisNotPrimary")


async def test_the_adapter_raises_a_data_store_error_with_a_condition_reason(
    client_for: list[redis.asyncio.Redis],
) -> None:
    client = connect(client_for, f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(DataStoreError) as caught:
        await redis_store.replication_info(client, timeout_s=2)
    assert caught.value.reason == "RedisUnreachable"


def test_an_invalid_url_is_a_data_store_error_without_the_password() -> None:
    with pytest.raises(DataStoreError) as caught:
        redis_store.connect(f"http://:{PASSWORD_FRAGMENT}@cache:6379", timeout=1)
    assert caught.value.reason == "RedisError"
    assert PASSWORD_FRAGMENT not in caught.value.message
