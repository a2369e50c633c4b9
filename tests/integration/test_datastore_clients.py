"""The operator's client registry against the real Redis and Postgres: one client per
URL/DSN, reused, closed together."""

from __future__ import annotations

import pytest

from services.postgres import PostgresPair
from services.redis import RedisPair
from wedsync_operator.adapters import postgres_store, redis_store
from wedsync_operator.adapters.clients import DataStoreClients


async def test_each_url_gets_one_client_reused_and_closed_together(
    redis_pair: RedisPair, postgres_pair: PostgresPair
) -> None:
    clients = DataStoreClients(socket_timeout_s=5)
    try:
        client = clients.redis(redis_pair.url)
        pool = await clients.postgres(postgres_pair.primary_dsn)

        assert clients.redis(redis_pair.url) is client
        assert await clients.postgres(postgres_pair.primary_dsn) is pool
        assert clients.redis(redis_pair.replica.url) is not client
        assert (await redis_store.replication_info(client, timeout_s=2)).role == "master"
        assert await postgres_store.replication_status(pool, timeout_s=3)
        assert redis_pair.password not in repr(clients)
    finally:
        await clients.aclose()

    assert pool.is_closing()
    with pytest.raises(RuntimeError, match="closed"):
        clients.redis(redis_pair.url)


async def test_retain_closes_the_clients_of_urls_no_longer_referenced(
    redis_pair: RedisPair, postgres_pair: PostgresPair
) -> None:
    clients = DataStoreClients(socket_timeout_s=5)
    try:
        old_pool = await clients.postgres(postgres_pair.primary_dsn)
        await postgres_store.replication_status(old_pool, timeout_s=3)
        kept = clients.redis(redis_pair.url)

        await clients.retain([redis_pair.url])

        assert old_pool.is_closing()
        assert clients.redis(redis_pair.url) is kept
        assert await clients.postgres(postgres_pair.primary_dsn) is not old_pool
    finally:
        await clients.aclose()
