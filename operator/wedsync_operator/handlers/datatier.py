"""Data-tier wiring for a policy evaluation: safety gates before a stateful tier shrinks,
cache warming while a day prepares, Alertmanager silences while the mode is on.

Each function reads the Secrets it needs by name, calls the adapters for observations,
hands them to the engine, and returns plain results for the status; none raises for a
data-store outage (gates fail closed, warming and silences report and are retried by the
next evaluation).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from wedsync_operator.adapters.alertmanager import AlertmanagerError
from wedsync_operator.adapters.datastores import DataStoreError
from wedsync_operator.adapters.egress import EgressRefused, check_resolved
from wedsync_operator.adapters.kube import KubeError
from wedsync_operator.engine.dryrun import would_warm
from wedsync_operator.engine.mode import ModeResolution
from wedsync_operator.engine.replicas import Decision, GateVerdict
from wedsync_operator.engine.safety import (
    postgres_gate,
    redis_gate,
    required_replicas,
    unreachable_verdict,
)
from wedsync_operator.engine.silences import (
    SilenceOwner,
    SilenceSpec,
    plan_silences,
    silence_payload,
    wanted_silence,
)
from wedsync_operator.engine.warming import (
    WarmResult,
    batches,
    cache_key,
    ttl_seconds,
    warm_fingerprint,
    warming_status,
)
from wedsync_operator.handlers.ports import PostgresStore, RedisStore, Silencer
from wedsync_operator.handlers.runtime import Runtime
from wedsync_operator.model.observations import Store
from wedsync_operator.model.status import WarmingStatus
from wedsync_operator.model.types import (
    CacheWarming,
    PlatformScaling,
    PostgresSafety,
    RedisSafety,
    Role,
    SecretKeyRef,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")


async def _secret_url(runtime: Runtime, namespace: str, ref: SecretKeyRef) -> str:
    """A data store's URL from a Secret of the policy's namespace, if the operator may
    connect there (EgressRefused otherwise; the URL itself is never in the message)."""
    url = await runtime.kube.secret_value(namespace, ref.name, ref.key)
    if (reason := runtime.egress.refusal(url)) is not None:
        raise EgressRefused(f"the URL in Secret {ref.name} (key {ref.key}): {reason}")
    await check_resolved(url)
    return url


def needs_gate(policy: PlatformScaling, d: Decision) -> bool:
    """A scale-down of a stateful tier whose safety check is configured."""
    return d.direction == "down" and policy.safety.covers(d.role)


async def gate_verdicts(
    runtime: Runtime, policy: PlatformScaling, decisions: Iterable[Decision]
) -> dict[str, GateVerdict]:
    """Check, concurrently, the gate of every stateful target the engine wants to
    shrink. The replicas that must be in sync are those that remain (the desired
    count) unless ``minReplicasInSync`` says otherwise."""
    wanted = [d for d in decisions if needs_gate(policy, d)]
    verdicts = await asyncio.gather(
        *(sync_verdict(runtime, policy, d.role, d.desired) for d in wanted)
    )
    return {d.target: v for d, v in zip(wanted, verdicts, strict=True)}


async def sync_verdict(
    runtime: Runtime, policy: PlatformScaling, role: Role, count: int
) -> GateVerdict:
    """The tier's safety check with ``count`` replicas that must be in sync (Redis) or
    streaming within the lag bounds (Postgres); a policy must configure the store's check."""
    namespace = policy.meta.namespace
    if role is Role.CACHE and (redis := policy.safety.redis) is not None:
        try:
            url = await _secret_url(runtime, namespace, redis.secret)
        except KubeError as exc:
            return unreachable_verdict(Store.REDIS, str(exc), "SecretUnavailable")
        except EgressRefused as exc:
            return unreachable_verdict(Store.REDIS, str(exc), "EndpointNotAllowed")
        required = required_replicas(redis.min_replicas_in_sync, count)
        return await redis_gate_verdict(runtime.datastores.redis_link(url), redis, required)
    postgres = policy.safety.postgres
    assert postgres is not None  # the caller checked it
    try:
        dsn = await _secret_url(runtime, namespace, postgres.secret)
        store = await runtime.datastores.postgres_link(dsn)
    except KubeError as exc:
        return unreachable_verdict(Store.POSTGRES, str(exc), "SecretUnavailable")
    except EgressRefused as exc:
        return unreachable_verdict(Store.POSTGRES, str(exc), "EndpointNotAllowed")
    except Exception as exc:  # pool creation: a bad DSN; the gate fails closed
        return unreachable_verdict(Store.POSTGRES, type(exc).__name__, "PostgresUnreachable")
    return await postgres_gate_verdict(store, postgres, count)


async def warm(
    runtime: Runtime,
    policy: PlatformScaling,
    couple_ids: Sequence[str],
    previous: WarmingStatus | None,
    now: datetime,
    *,
    dry_run: bool = False,
) -> dict[str, Any] | None:
    """Warm the cache for ``couple_ids`` unless this exact warming already completed;
    returns the new ``status.cacheWarming`` block, or None when there was nothing to do.
    A dry run touches neither store and returns what it would warm.

    Safe at any instant of a restart: each key is an overwriting ``SET … EX``, and only a
    completed run is recorded as done, so a kill mid-run means the next run redoes it."""
    warming = policy.wedding_day.cache_warming
    if not warming.enabled or warming.redis is None or warming.postgres is None:
        return None
    fingerprint = warm_fingerprint(warming, couple_ids, warming.ttl)
    if previous is not None and previous.fingerprint == fingerprint and previous.complete:
        return None  # a restart or the next tick: the work is done, do not repeat it
    if dry_run:
        return would_warm(couple_ids, fingerprint)
    namespace = policy.meta.namespace
    try:
        url = await _secret_url(runtime, namespace, warming.redis)
        dsn = await _secret_url(runtime, namespace, warming.postgres)
        pg = await runtime.datastores.postgres_link(dsn)
    except Exception as exc:  # a missing Secret or an unusable DSN: report, retry next tick
        return {
            "fingerprint": fingerprint,
            "complete": False,
            "reason": "WarmingUnavailable",
            "message": f"cache warming could not start: {exc}",
            "finishedAt": None,
        }
    result = await warm_cache(
        pg,
        runtime.datastores.redis_link(url),
        warming,
        couple_ids,
        ttl=warming.ttl,
        timeout_s=30.0,
    )
    return warming_status(result, fingerprint, now)


async def sync_silences(
    runtime: Runtime, policy: PlatformScaling, mode: ModeResolution, now: datetime
) -> tuple[list[str] | None, str | None]:
    """Make the policy's silences match the mode; (silence ids, error message)."""
    silence_alerts = policy.wedding_day.silence_alerts
    if silence_alerts is None:
        return None, None
    owner = SilenceOwner(policy.meta.namespace, policy.meta.name)
    spec = (
        wanted_silence(owner, silence_alerts, mode.active_days, mode.until, now)
        if mode.on and mode.until
        else None
    )
    client = runtime.silencers(silence_alerts.alertmanager_url, timeout=5.0)
    try:
        sync = await reconcile_silences(client, owner, [spec] if spec else [])
    except AlertmanagerError as exc:
        return None, f"{exc.reason}: {exc}"
    return list(sync.ids), None


async def redis_gate_verdict(
    store: RedisStore, safety: RedisSafety, required_replicas: int
) -> GateVerdict:
    """The cache tier's safety gate, fail closed: the engine's verdict on the primary's
    replication state, or a failed verdict when Redis cannot be asked."""
    info = await _replication(Store.REDIS, store.replication(timeout_s=_seconds(safety)))
    if isinstance(info, GateVerdict):
        return info
    return redis_gate(info, required_replicas, safety.max_offset_lag)


async def postgres_gate_verdict(
    store: PostgresStore, safety: PostgresSafety, required_replicas: int
) -> GateVerdict:
    """The database tier's safety gate, fail closed: the engine's verdict on
    ``pg_stat_replication``, or a failed verdict when Postgres cannot be asked."""
    replicas = await _replication(Store.POSTGRES, store.replication(timeout_s=_seconds(safety)))
    if isinstance(replicas, GateVerdict):
        return replicas
    return postgres_gate(
        replicas, required_replicas, safety.max_replica_lag, safety.max_replica_lag_bytes
    )


def _seconds(safety: RedisSafety | PostgresSafety) -> float:
    return safety.timeout.total_seconds()


async def _replication(store: Store, read: Awaitable[T]) -> T | GateVerdict:
    """A store's replication state, or the failed verdict of a store that could not be
    asked. Never raises for a store problem, so a caller can gather it with other gates."""
    try:
        return await read
    except DataStoreError as exc:
        return unreachable_verdict(store, exc.message, exc.reason)
    except Exception as exc:
        # A safety gate fails closed even on a bug; the traceback goes to the log.
        logger.exception("the %s safety check failed unexpectedly", store.value)
        return unreachable_verdict(store, type(exc).__name__, f"{store.value}CheckFailed")


@dataclass(frozen=True)
class SilenceSync:
    """After :func:`reconcile_silences`: the owner's live silence ids (for status), and
    what this run created and expired."""

    ids: tuple[str, ...]
    created: tuple[str, ...]
    expired: tuple[str, ...]


async def reconcile_silences(
    client: Silencer, owner: SilenceOwner, wanted: Sequence[SilenceSpec]
) -> SilenceSync:
    """Make the owner's live silences exactly ``wanted`` (empty: the mode is off).

    Alertmanager is the state: list, plan (``engine.silences.plan_silences``), create
    the missing ones, then expire the stale ones, so a restart or a repeated run creates
    nothing twice and a changed end leaves no unsilenced gap. Raises
    :class:`AlertmanagerError`; a run that failed half-way is completed by the next.
    """
    plan = plan_silences(await client.list_silences(), wanted, owner)
    created = [await client.create_silence(silence_payload(spec)) for spec in plan.create]
    for silence in plan.expire:
        await client.expire_silence(silence.id)
    return SilenceSync(
        ids=tuple(sorted((*(s.id for s in plan.keep), *created))),
        created=tuple(created),
        expired=tuple(s.id for s in plan.expire),
    )


async def warm_cache(
    postgres: PostgresStore,
    redis: RedisStore,
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
        rows = await postgres.cache_rows(warming.query, couple_ids, timeout_s=timeout_s)
    except DataStoreError as exc:
        return result(errors=(f"reading the couples from Postgres failed: {exc.message}",))

    written = done = 0
    errors: tuple[str, ...] = ()
    for batch in batches(rows.items, warming.batch_size):
        items = [(cache_key(warming.key_template, key), payload) for key, payload in batch]
        try:
            written += await redis.write_batch(items, ttl_s, timeout_s=timeout_s)
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
