"""Data-tier wiring for a policy evaluation: safety gates before a stateful tier shrinks,
cache warming while a day prepares, Alertmanager silences while the mode is on.

Each function reads the Secrets it needs by name, calls an adapter, and returns plain
results for the status; none raises for a data-store outage (gates fail closed, warming
and silences report and are retried by the next evaluation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from wedsync_operator.adapters import postgres_store, redis_store
from wedsync_operator.adapters.alertmanager import (
    AlertmanagerClient,
    AlertmanagerError,
    reconcile_silences,
)
from wedsync_operator.adapters.cache_warming import warm_cache
from wedsync_operator.adapters.egress import EgressRefused, check_resolved
from wedsync_operator.adapters.kube import KubeError
from wedsync_operator.engine.dryrun import would_warm
from wedsync_operator.engine.mode import ModeResolution
from wedsync_operator.engine.replicas import Decision, GateVerdict
from wedsync_operator.engine.safety import Store, required_replicas, unreachable_verdict
from wedsync_operator.engine.silences import SilenceOwner, wanted_silence
from wedsync_operator.engine.warming import warm_fingerprint, warming_status
from wedsync_operator.handlers.runtime import Runtime
from wedsync_operator.model.types import PlatformScaling, Role, SecretKeyRef


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
    if d.direction != "down":
        return False
    return (d.role is Role.CACHE and policy.safety.redis is not None) or (
        d.role is Role.DATABASE and policy.safety.postgres is not None
    )


async def gate_verdicts(
    runtime: Runtime, policy: PlatformScaling, decisions: Iterable[Decision]
) -> dict[str, GateVerdict]:
    """Check, concurrently, the gate of every stateful target the engine wants to
    shrink. The replicas that must be in sync are those that remain (the desired
    count) unless ``minReplicasInSync`` says otherwise."""
    wanted = [d for d in decisions if needs_gate(policy, d)]
    verdicts = await asyncio.gather(*(_gate(runtime, policy, d) for d in wanted))
    return {d.target: v for d, v in zip(wanted, verdicts, strict=True)}


async def _gate(runtime: Runtime, policy: PlatformScaling, d: Decision) -> GateVerdict:
    namespace = policy.meta.namespace
    if d.role is Role.CACHE and (redis := policy.safety.redis) is not None:
        try:
            url = await _secret_url(runtime, namespace, redis.secret)
        except KubeError as exc:
            return unreachable_verdict(Store.REDIS, str(exc), "SecretUnavailable")
        except EgressRefused as exc:
            return unreachable_verdict(Store.REDIS, str(exc), "EndpointNotAllowed")
        required = required_replicas(redis.min_replicas_in_sync, d.desired)
        return await redis_store.check_gate(runtime.datastores.redis(url), redis, required)
    postgres = policy.safety.postgres
    assert postgres is not None  # needs_gate checked it
    try:
        dsn = await _secret_url(runtime, namespace, postgres.secret)
        pool = await runtime.datastores.postgres(dsn)
    except KubeError as exc:
        return unreachable_verdict(Store.POSTGRES, str(exc), "SecretUnavailable")
    except EgressRefused as exc:
        return unreachable_verdict(Store.POSTGRES, str(exc), "EndpointNotAllowed")
    except Exception as exc:  # pool creation: a bad DSN; the gate fails closed
        return unreachable_verdict(Store.POSTGRES, type(exc).__name__, "PostgresUnreachable")
    return await postgres_store.check_gate(pool, postgres, d.desired)


async def warm(
    runtime: Runtime,
    policy: PlatformScaling,
    couple_ids: Sequence[str],
    previous: Mapping[str, Any] | None,
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
    if previous and previous.get("fingerprint") == fingerprint and previous.get("complete"):
        return None  # a restart or the next tick: the work is done, do not repeat it
    if dry_run:
        return would_warm(couple_ids, fingerprint)
    namespace = policy.meta.namespace
    try:
        url = await _secret_url(runtime, namespace, warming.redis)
        dsn = await _secret_url(runtime, namespace, warming.postgres)
        pool = await runtime.datastores.postgres(dsn)
    except Exception as exc:  # a missing Secret or an unusable DSN: report, retry next tick
        return {
            "fingerprint": fingerprint,
            "complete": False,
            "reason": "WarmingUnavailable",
            "message": f"cache warming could not start: {exc}",
            "finishedAt": None,
        }
    result = await warm_cache(
        pool,
        runtime.datastores.redis(url),
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
    client = AlertmanagerClient(runtime.http, silence_alerts.alertmanager_url, timeout=5.0)
    try:
        sync = await reconcile_silences(client, owner, [spec] if spec else [])
    except AlertmanagerError as exc:
        return None, f"{exc.reason}: {exc}"
    return list(sync.ids), None
