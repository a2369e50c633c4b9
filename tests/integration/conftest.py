"""Integration fixtures, per session: a real exporter and a real Prometheus scraping it; a
Redis primary with a replica; a Postgres primary with a streaming replica; Alertmanager.
Function-scoped clients for the adapters (the event loop is per test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio

from services.postgres import PostgresPair
from services.redis import RedisPair
from wedsync_operator.adapters import postgres_store, redis_store

INTEGRATION = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Called with every collected item of the session, not only this folder's.
    for item in items:
        if INTEGRATION in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def redis_client(redis_pair: RedisPair) -> AsyncIterator[redis.asyncio.Redis]:
    """The adapter's client for the primary, made as the operator makes it."""
    client = redis_store.connect(redis_pair.url, timeout=5)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def pg_pool(postgres_pair: PostgresPair) -> AsyncIterator[Any]:
    """The adapter's asyncpg pool on the primary, made as the operator makes it."""
    pool = await postgres_store.create_pool(postgres_pair.primary_dsn, timeout_s=10)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A loopback port that accepts TCP connections and never answers (a hung server)."""
    connections: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read()  # until the client gives up and closes the connection
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
