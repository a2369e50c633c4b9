"""Safety gates for the stateful tiers: the Redis and Postgres verdicts, table-driven, and
the verdict for a store that cannot be asked (fail closed)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wedsync_operator.engine.replicas import GateVerdict
from wedsync_operator.engine.safety import (
    format_bytes,
    postgres_gate,
    redis_gate,
    required_replicas,
    unreachable_verdict,
)
from wedsync_operator.model.observations import PgReplica, RedisReplica, RedisReplication, Store

MiB = 1024 * 1024


# ------------------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (MiB, "1 MiB"),
        (int(5.2 * MiB), "5.2 MiB"),
        (16 * MiB, "16 MiB"),
        (3 * 1024 * MiB, "3 GiB"),
        (5000 * 1024 * 1024 * MiB, "5000 TiB"),
    ],
)
def test_byte_counts_read_as_an_sre_reads_them(n: int, text: str) -> None:
    assert format_bytes(n) == text


@pytest.mark.parametrize(
    ("configured", "current", "required"),
    [(None, 3, 3), (None, 0, 0), (1, 3, 1), (0, 3, 0), (5, 2, 5), (-1, 2, 0)],
)
def test_required_replicas_default_to_the_current_count(
    configured: int | None, current: int, required: int
) -> None:
    assert required_replicas(configured, current) == required


@pytest.mark.parametrize(
    ("store", "reason", "expected_reason"),
    [
        (Store.REDIS, None, "RedisUnreachable"),
        (Store.POSTGRES, None, "PostgresUnreachable"),
        (Store.REDIS, "RedisTimeout", "RedisTimeout"),
        (Store.POSTGRES, "PostgresAuthFailed", "PostgresAuthFailed"),
    ],
)
def test_a_store_that_cannot_be_asked_fails_the_gate_closed(
    store: Store, reason: str | None, expected_reason: str
) -> None:
    verdict = unreachable_verdict(store, "could not be reached: Connection refused.", reason)
    assert verdict == GateVerdict(
        passed=False,
        reason=expected_reason,
        message=(
            f"the {store} safety check could not run (could not be reached: Connection "
            "refused); failing closed"
        ),
    )


# ------------------------------------------------------------------------------- Redis


def replica(
    port: int = 6391, *, state: str = "online", offset: int = 1000, lag: int = 0
) -> RedisReplica:
    return RedisReplica(ip="127.0.0.1", port=port, state=state, offset=offset, lag=lag)


def primary(*replicas: RedisReplica, offset: int = 1000, role: str = "master") -> RedisReplication:
    return RedisReplication(
        role=role,
        connected_slaves=len(replicas),
        master_repl_offset=offset,
        replicas=replicas,
    )


REDIS_CASES = [
    # (case, info, required, passed, reason, message fragment)
    (
        "all in sync",
        primary(replica(6391), replica(6392)),
        2,
        True,
        "ReplicasInSync",
        "2 Redis replicas in sync within 1 MiB (2 required)",
    ),
    (
        "exactly at the limit",
        primary(replica(offset=0), offset=MiB),
        1,
        True,
        "ReplicasInSync",
        "1 Redis replica in sync",
    ),
    (
        "one byte over the limit",
        primary(replica(offset=0), offset=MiB + 1),
        1,
        False,
        "ReplicaBehind",
        "replica 127.0.0.1:6391 is 1 MiB behind (limit 1 MiB)",
    ),
    (
        "far behind",
        primary(replica(offset=1000), offset=1000 + int(5.2 * MiB)),
        1,
        False,
        "ReplicaBehind",
        "replica 127.0.0.1:6391 is 5.2 MiB behind (limit 1 MiB); 0 of 1 required",
    ),
    (
        "still in its initial sync",
        primary(replica(state="wait_bgsave")),
        1,
        False,
        "ReplicaBehind",
        "replica 127.0.0.1:6391 is not online (state wait_bgsave)",
    ),
    (
        "silent for too long",
        primary(replica(lag=30)),
        1,
        False,
        "ReplicaBehind",
        "replica 127.0.0.1:6391 has not acknowledged for 30s (limit 10s)",
    ),
    (
        "stopped replica is gone from the list",
        primary(),
        1,
        False,
        "ReplicaMissing",
        "1 Redis replica not connected to the primary; 0 of 1 required Redis replicas in sync",
    ),
    (
        "one of two missing",
        primary(replica(6391)),
        2,
        False,
        "ReplicaMissing",
        "1 Redis replica not connected to the primary; 1 of 2 required Redis replicas in sync "
        "(127.0.0.1:6391)",
    ),
    (
        "enough in sync although another is behind",
        primary(replica(6391), replica(6392, offset=0), offset=2 * MiB),
        0,
        True,
        "ReplicasInSync",
        "replica 127.0.0.1:6391 is 2 MiB behind",
    ),
    (
        "none required, none there",
        primary(),
        0,
        True,
        "ReplicasInSync",
        "no Redis replica is required in sync",
    ),
    (
        "a replica, not the primary",
        primary(role="slave"),
        0,
        False,
        "RedisNotPrimary",
        "the configured Redis is a slave, not the primary",
    ),
    (
        "offset ahead of the primary's (read across a reconnect) counts as caught up",
        primary(replica(offset=2000), offset=1000),
        1,
        True,
        "ReplicasInSync",
        "1 Redis replica in sync",
    ),
]


@pytest.mark.parametrize(
    ("info", "required", "passed", "reason", "fragment"),
    [case[1:] for case in REDIS_CASES],
    ids=[case[0] for case in REDIS_CASES],
)
def test_the_redis_gate_passes_only_with_enough_replicas_in_sync(
    info: RedisReplication, required: int, passed: bool, reason: str, fragment: str
) -> None:
    verdict = redis_gate(info, required, max_offset_lag=MiB)
    assert (verdict.passed, verdict.reason) == (passed, reason)
    assert fragment in verdict.message


def test_the_redis_gate_names_every_replica_that_is_behind() -> None:
    info = primary(
        replica(6391, offset=0),
        replica(6392, state="send_bulk"),
        replica(6393, offset=3 * MiB),
        offset=3 * MiB,
    )
    verdict = redis_gate(info, 3, max_offset_lag=MiB)
    assert not verdict.passed
    assert verdict.message == (
        "replica 127.0.0.1:6391 is 3 MiB behind (limit 1 MiB); "
        "replica 127.0.0.1:6392 is not online (state send_bulk); "
        "1 of 3 required Redis replicas in sync (127.0.0.1:6393)"
    )


def test_an_ipv6_replica_is_named_with_brackets() -> None:
    info = primary(
        RedisReplica(ip="::1", port=6391, state="online", offset=0, lag=0), offset=MiB * 2
    )
    assert "replica [::1]:6391 is 2 MiB behind" in redis_gate(info, 1, MiB).message


# ---------------------------------------------------------------------------- Postgres


def pg(
    name: str = "replica-1",
    *,
    state: str | None = "streaming",
    replay_bytes: int | None = 0,
    replay_lag: timedelta | None = None,
    addr: str | None = "10.0.0.7",
) -> PgReplica:
    return PgReplica(
        application_name=name,
        client_addr=addr,
        state=state,
        sent_lag_bytes=0 if replay_bytes is not None else None,
        write_lag_bytes=0 if replay_bytes is not None else None,
        flush_lag_bytes=0 if replay_bytes is not None else None,
        replay_lag_bytes=replay_bytes,
        replay_lag=replay_lag,
    )


PG_CASES = [
    # (case, replicas, required, passed, reason, message fragment)
    (
        "caught up on an idle primary: NULL replay_lag, zero bytes",
        [pg()],
        1,
        True,
        "ReplicasInSync",
        "1 Postgres replica in sync within 16 MiB and 10s (1 required)",
    ),
    (
        "small lag in time and bytes",
        [pg(replay_bytes=4096, replay_lag=timedelta(seconds=2))],
        1,
        True,
        "ReplicasInSync",
        "1 Postgres replica in sync",
    ),
    (
        "replay paused while the primary writes: bytes over the bound",
        [pg(replay_bytes=40 * 1024 * 1024, replay_lag=timedelta(milliseconds=20))],
        1,
        False,
        "ReplicaBehind",
        "replica replica-1 (10.0.0.7) is 40 MiB behind in replay (limit 16 MiB)",
    ),
    (
        "bytes over the bound with a NULL replay_lag",
        [pg(replay_bytes=17 * 1024 * 1024)],
        1,
        False,
        "ReplicaBehind",
        "is 17 MiB behind in replay",
    ),
    (
        "slow replay: time over the bound, few bytes",
        [pg(replay_bytes=100, replay_lag=timedelta(seconds=42))],
        1,
        False,
        "ReplicaBehind",
        "replica replica-1 (10.0.0.7) replays 42s behind (limit 10s)",
    ),
    (
        "catching up after a restart",
        [pg(state="catchup", replay_bytes=0)],
        1,
        False,
        "ReplicaBehind",
        "is not streaming (state catchup)",
    ),
    (
        "a role without pg_monitor sees NULL positions",
        [pg(state=None, replay_bytes=None)],
        1,
        False,
        "ReplicaBehind",
        "reports no replication positions (does the gate's role have pg_monitor?)",
    ),
    (
        "streaming but no replay position reported yet",
        [pg(replay_bytes=None)],
        1,
        False,
        "ReplicaBehind",
        "replica replica-1 (10.0.0.7) has not reported a replay position yet",
    ),
    (
        "no replica connected",
        [],
        1,
        False,
        "ReplicaMissing",
        "1 Postgres replica not connected to the primary; 0 of 1 required",
    ),
    (
        "two required, one connected",
        [pg("a")],
        2,
        False,
        "ReplicaMissing",
        "1 of 2 required Postgres replicas in sync (a (10.0.0.7))",
    ),
    (
        "none required",
        [],
        0,
        True,
        "ReplicasInSync",
        "no Postgres replica is required in sync",
    ),
    (
        "a pg_basebackup connection does not count as a replica",
        [pg("pg_basebackup", state="backup"), pg("a")],
        2,
        False,
        "ReplicaBehind",
        "replica pg_basebackup (10.0.0.7) is not streaming (state backup)",
    ),
]


@pytest.mark.parametrize(
    ("replicas", "required", "passed", "reason", "fragment"),
    [case[1:] for case in PG_CASES],
    ids=[case[0] for case in PG_CASES],
)
def test_the_postgres_gate_compares_replay_positions_and_lag(
    replicas: list[PgReplica], required: int, passed: bool, reason: str, fragment: str
) -> None:
    verdict = postgres_gate(
        replicas, required, max_lag=timedelta(seconds=10), max_lag_bytes=16 * 1024 * 1024
    )
    assert (verdict.passed, verdict.reason) == (passed, reason)
    assert fragment in verdict.message


def test_a_postgres_replica_without_an_address_is_named_by_its_application() -> None:
    verdict = postgres_gate(
        [pg("walreceiver", addr=None, replay_bytes=2 * MiB)], 1, timedelta(seconds=1), MiB
    )
    assert verdict.message.startswith("replica walreceiver is 2 MiB behind in replay")
