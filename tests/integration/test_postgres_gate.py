"""The Postgres safety gate against a real primary with a real streaming replica.

Real lag: replay is paused on the replica (it keeps receiving WAL) while the primary
writes; the gate must fail on the replay distance in bytes, and pass again once replay
resumes and catches up. A database that cannot be asked fails the gate closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from services.postgres import REPLICA_NAME, PostgresPair
from services.prometheus import free_port
from wedsync_operator.adapters import postgres_store
from wedsync_operator.adapters.datastores import DataStoreError
from wedsync_operator.adapters.postgres_store import PostgresLink
from wedsync_operator.engine.replicas import GateVerdict
from wedsync_operator.handlers.datatier import postgres_gate_verdict
from wedsync_operator.model.types import PostgresSafety, SecretKeyRef

MiB = 1024 * 1024
SAFETY = PostgresSafety(
    secret=SecretKeyRef("postgres-primary", "dsn"),
    max_replica_lag=timedelta(seconds=30),
    max_replica_lag_bytes=1 * MiB,
    timeout=timedelta(seconds=3),
)
PASSWORD_FRAGMENT = "pg-test-secret"


@pytest.fixture
async def pools() -> AsyncIterator[list[Any]]:
    """Pools made by a test, closed after it."""
    made: list[Any] = []
    yield made
    for pool in made:
        await asyncio.wait_for(pool.close(), 10)


async def pool_for(made: list[Any], dsn: str, timeout_s: float = 3) -> Any:
    pool = await postgres_store.create_pool(dsn, timeout_s=timeout_s)
    made.append(pool)
    return pool


async def wait_for_verdict(pool: Any, passed: bool, within: float = 30) -> GateVerdict:
    deadline = time.monotonic() + within
    while True:
        verdict = await postgres_gate_verdict(PostgresLink(pool), SAFETY, required_replicas=1)
        if verdict.passed is passed or time.monotonic() >= deadline:
            return verdict
        await asyncio.sleep(0.2)


async def test_replication_status_reads_the_streaming_replica(
    postgres_pair: PostgresPair, pg_pool: Any
) -> None:
    postgres_pair.wait_streaming()
    [replica] = await postgres_store.replication_status(pg_pool, timeout_s=3)

    assert replica.application_name == REPLICA_NAME
    assert replica.client_addr == "127.0.0.1"
    assert replica.state == "streaming"
    assert replica.replay_lag_bytes == 0
    assert replica.sent_lag_bytes == 0


async def test_the_gate_passes_for_a_caught_up_replica(
    postgres_pair: PostgresPair, pg_pool: Any
) -> None:
    postgres_pair.wait_streaming()
    verdict = await wait_for_verdict(pg_pool, passed=True)

    assert verdict.passed, verdict.message
    assert verdict.reason == "ReplicasInSync"
    assert "1 Postgres replica in sync within 1 MiB and 30s (1 required)" in verdict.message


async def test_paused_replay_with_writes_on_the_primary_fails_the_gate_until_resumed(
    postgres_pair: PostgresPair, pg_pool: Any
) -> None:
    postgres_pair.wait_streaming()
    postgres_pair.pause_replay()
    try:
        written = postgres_pair.write_wal(megabytes=6)
        assert written > 5 * MiB
        # The replica receives the WAL (sent/flush catch up) but does not apply it.
        verdict = await wait_for_verdict(pg_pool, passed=False)
        [replica] = await postgres_store.replication_status(pg_pool, timeout_s=3)
    finally:
        postgres_pair.resume_replay()

    assert not verdict.passed
    assert verdict.reason == "ReplicaBehind"
    assert verdict.message.startswith(f"replica {REPLICA_NAME} (127.0.0.1) is "), verdict.message
    assert "MiB behind in replay (limit 1 MiB)" in verdict.message
    assert verdict.message.endswith("0 of 1 required Postgres replicas in sync")
    assert replica.replay_lag_bytes is not None and replica.replay_lag_bytes >= 5 * MiB

    # Resumed: replay catches up and the gate passes again.
    verdict = await wait_for_verdict(pg_pool, passed=True)
    assert verdict.passed, verdict.message


async def test_an_unreachable_postgres_fails_the_gate_closed_without_leaking_the_password(
    pools: list[Any],
) -> None:
    port = free_port()
    pool = await pool_for(pools, f"postgresql://app:{PASSWORD_FRAGMENT}@127.0.0.1:{port}/wed")

    started = time.monotonic()
    verdict = await postgres_gate_verdict(PostgresLink(pool), SAFETY, required_replicas=1)

    assert time.monotonic() - started < 3.5
    assert not verdict.passed
    assert verdict.reason == "PostgresUnreachable"
    assert f"Postgres at postgresql://127.0.0.1:{port}/wed could not be reached" in (
        verdict.message
    )
    assert verdict.message.endswith("failing closed")
    assert PASSWORD_FRAGMENT not in verdict.message


async def test_a_hung_postgres_fails_the_gate_closed_within_its_timeout(
    silent_port: int, pools: list[Any]
) -> None:
    pool = await pool_for(pools, f"postgresql://app@127.0.0.1:{silent_port}/wed", timeout_s=30)
    safety = PostgresSafety(secret=SAFETY.secret, timeout=timedelta(seconds=0.5))

    started = time.monotonic()
    verdict = await postgres_gate_verdict(PostgresLink(pool), safety, required_replicas=1)

    assert time.monotonic() - started < 1.5
    assert (verdict.passed, verdict.reason) == (False, "PostgresTimeout")
    assert "did not answer within 0.5s" in verdict.message


async def test_a_gate_pointed_at_the_replica_says_so(
    postgres_pair: PostgresPair, pools: list[Any]
) -> None:
    pool = await pool_for(pools, postgres_pair.replica_dsn)
    verdict = await postgres_gate_verdict(PostgresLink(pool), SAFETY, required_replicas=1)
    assert (verdict.passed, verdict.reason) == (False, "PostgresNotPrimary")


async def test_a_role_without_pg_monitor_sees_no_positions_and_fails_closed(
    postgres_pair: PostgresPair, pools: list[Any]
) -> None:
    postgres_pair.wait_streaming()
    postgres_pair.psql(
        "DO $$ BEGIN CREATE ROLE gate_without_monitor LOGIN; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    dsn = postgres_pair.primary_dsn.replace("postgres@", "gate_without_monitor@", 1)
    verdict = await postgres_gate_verdict(
        PostgresLink(await pool_for(pools, dsn)), SAFETY, required_replicas=1
    )

    assert not verdict.passed
    assert "reports no replication positions (does the gate's role have pg_monitor?)" in (
        verdict.message
    )

    postgres_pair.psql("GRANT pg_monitor TO gate_without_monitor")
    try:
        verdict = await postgres_gate_verdict(
            PostgresLink(await pool_for(pools, dsn)), SAFETY, required_replicas=1
        )
        assert verdict.passed, verdict.message
    finally:
        postgres_pair.psql("REVOKE pg_monitor FROM gate_without_monitor")


async def test_the_adapter_raises_a_data_store_error_with_a_condition_reason(
    pools: list[Any],
) -> None:
    pool = await pool_for(pools, f"postgresql://app@127.0.0.1:{free_port()}/wed")
    with pytest.raises(DataStoreError) as caught:
        await postgres_store.replication_status(pool, timeout_s=2)
    assert caught.value.reason == "PostgresUnreachable"
