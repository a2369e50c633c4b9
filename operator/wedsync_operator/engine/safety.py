"""Safety gates for the stateful tiers: may a cache or database target shrink right now?

A gate reads the replication state of the tier's primary — Redis ``INFO replication``,
Postgres ``pg_stat_replication`` — which an adapter fetches and hands in here as plain
data. The verdict is a :class:`~wedsync_operator.engine.replicas.GateVerdict` that
``decide_target`` consumes: a failed verdict defers a scale-down (never a scale-up).

Fail closed: a store that cannot be asked gets :func:`unreachable_verdict`, a failed
verdict like any other. Lag is measured in replication positions (Redis offsets,
Postgres LSNs), never as "time since the last replayed transaction", which grows on an
idle primary even when every replica is caught up (CONVENTIONS.md, "Reliability habits").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from wedsync_operator.engine.replicas import GateVerdict
from wedsync_operator.model.observations import PgReplica, RedisReplica, RedisReplication, Store

__all__ = [
    "DEFAULT_MAX_ACK_AGE_SECONDS",
    "format_bytes",
    "postgres_gate",
    "redis_gate",
    "required_replicas",
    "unreachable_verdict",
]

# A Redis replica acknowledges its offset every second; one silent for longer than this
# is hung or partitioned even while the primary still lists it as online.
DEFAULT_MAX_ACK_AGE_SECONDS = 10


# ----------------------------------------------------------------------------- helpers


def format_bytes(n: int) -> str:
    """A byte count as an SRE reads it: ``512 bytes``, ``1 MiB``, ``5.2 MiB``."""
    if n < 1024:
        return f"{n} byte" if n == 1 else f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def _seconds(d: timedelta) -> str:
    return f"{d.total_seconds():g}s"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def required_replicas(configured: int | None, current_replicas: int) -> int:
    """How many replicas a gate requires in sync: the configured number
    (``minReplicasInSync``) or, by default, the target's current replica count."""
    return max(0, configured if configured is not None else current_replicas)


def unreachable_verdict(store: Store, error: str, reason: str | None = None) -> GateVerdict:
    """The failed verdict for a store that could not be asked (fail closed).

    ``error`` is the adapter's message (never a credential); ``reason`` overrides the
    default ``<Store>Unreachable`` with the adapter's own (``RedisTimeout``, …).
    """
    detail = error.strip().rstrip(".") or "no details"
    return GateVerdict(
        passed=False,
        reason=reason or f"{store}Unreachable",
        message=f"the {store} safety check could not run ({detail}); failing closed",
    )


def _failed(store: Store, problems: list[str], in_sync: list[str], required: int) -> GateVerdict:
    tally = f"{len(in_sync)} of {required} required {store} replicas in sync"
    if in_sync:
        tally += f" ({', '.join(in_sync)})"
    if problems:
        return GateVerdict(False, "ReplicaBehind", f"{'; '.join(problems)}; {tally}")
    # Nothing listed is behind: the replicas that are missing are not connected at all.
    missing = _count(required - len(in_sync), f"{store} replica")
    return GateVerdict(False, "ReplicaMissing", f"{missing} not connected to the primary; {tally}")


# ------------------------------------------------------------------------------- Redis


def redis_gate(
    info: RedisReplication,
    required_replicas: int,
    max_offset_lag: int,
    max_ack_age_seconds: int = DEFAULT_MAX_ACK_AGE_SECONDS,
) -> GateVerdict:
    """Pass when at least ``required_replicas`` replicas are ``online``, acknowledged
    within ``max_ack_age_seconds`` and within ``max_offset_lag`` bytes of the primary's
    ``master_repl_offset``. The message names the replica that is behind or missing."""
    if info.role != "master":
        return GateVerdict(
            passed=False,
            reason="RedisNotPrimary",
            message=(
                f"the configured Redis is a {info.role or 'server of unknown role'}, not the "
                "primary; point spec.safety.redis at the primary to check its replicas"
            ),
        )
    limit = format_bytes(max_offset_lag)
    in_sync: list[RedisReplica] = []
    problems: list[str] = []
    for r in sorted(info.replicas, key=lambda r: (r.ip, r.port)):
        behind = max(0, info.master_repl_offset - r.offset)
        if r.state != "online":
            problems.append(f"replica {r.address} is not online (state {r.state})")
        elif behind > max_offset_lag:
            problems.append(f"replica {r.address} is {format_bytes(behind)} behind (limit {limit})")
        elif r.lag > max_ack_age_seconds:
            problems.append(
                f"replica {r.address} has not acknowledged for {r.lag}s "
                f"(limit {max_ack_age_seconds}s)"
            )
        else:
            in_sync.append(r)
    if len(in_sync) >= required_replicas:
        if not info.replicas:
            return GateVerdict(True, "ReplicasInSync", "no Redis replica is required in sync")
        summary = (
            f"{_count(len(in_sync), 'Redis replica')} in sync within {limit} "
            f"({required_replicas} required)"
        )
        if problems:
            summary += f"; {'; '.join(problems)}"
        return GateVerdict(True, "ReplicasInSync", summary)
    return _failed(Store.REDIS, problems, [r.address for r in in_sync], required_replicas)


# ---------------------------------------------------------------------------- Postgres


def postgres_gate(
    replicas: Sequence[PgReplica],
    required: int,
    max_lag: timedelta,
    max_lag_bytes: int,
) -> GateVerdict:
    """Pass when at least ``required`` replicas stream with replay within
    ``max_lag_bytes`` of the primary's current WAL position and a replay lag (when
    Postgres reports one) within ``max_lag``.

    A NULL ``replay_lag`` is what Postgres shows for a replica that caught up on an
    idle primary, so the byte distance decides then; a NULL replay position is unknown
    and never counts as in sync.
    """
    in_sync: list[PgReplica] = []
    problems: list[str] = []
    limit = format_bytes(max_lag_bytes)
    for r in sorted(replicas, key=lambda r: (r.application_name, r.client_addr or "")):
        if r.state is None:
            # The row is visible, its columns are not: a role without pg_monitor.
            problems.append(
                f"replica {r.name} reports no replication positions "
                "(does the gate's role have pg_monitor?)"
            )
        elif r.state != "streaming":
            problems.append(f"replica {r.name} is not streaming (state {r.state})")
        elif r.replay_lag_bytes is None:
            problems.append(f"replica {r.name} has not reported a replay position yet")
        elif r.replay_lag_bytes > max_lag_bytes:
            problems.append(
                f"replica {r.name} is {format_bytes(r.replay_lag_bytes)} behind in replay "
                f"(limit {limit})"
            )
        elif r.replay_lag is not None and r.replay_lag > max_lag:
            problems.append(
                f"replica {r.name} replays {_seconds(r.replay_lag)} behind "
                f"(limit {_seconds(max_lag)})"
            )
        else:
            in_sync.append(r)
    if len(in_sync) >= required:
        if not replicas:
            return GateVerdict(True, "ReplicasInSync", "no Postgres replica is required in sync")
        summary = (
            f"{_count(len(in_sync), 'Postgres replica')} in sync within {limit} and "
            f"{_seconds(max_lag)} ({required} required)"
        )
        if problems:
            summary += f"; {'; '.join(problems)}"
        return GateVerdict(True, "ReplicasInSync", summary)
    return _failed(Store.POSTGRES, problems, [r.name for r in in_sync], required)
