"""PlatformScaling wiring: the one scheduler evaluates each policy every
``interval.normal`` (every ``interval.weddingDay`` in the mode), and at once when one of
its WeddingDays changes phase or its spec changes (docs/decisions/0001-one-scheduler.md).
An evaluation: one batch of PromQL queries, each target's replicas and the namespace's
HPAs (from watch caches, adapters/kube_watch.py), the engine's decision, a /scale patch
per change (database → cache → app when scaling up), then status, Events and metrics.
Decisions live in engine/; this file only wires."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import kopf

from wedsync_operator import metrics
from wedsync_operator.adapters.kube import KubeError
from wedsync_operator.adapters.prometheus import PrometheusError
from wedsync_operator.engine.dryrun import DRY_RUN, would_publish, would_silence
from wedsync_operator.engine.health import HealthInputs, health_score
from wedsync_operator.engine.intent import (
    OwedEvent,
    intent_targets,
    landed_state,
    mode_event,
    owed_event,
    owed_events,
    pending_scales,
    settle_states,
    unapplied_state,
)
from wedsync_operator.engine.mode import ModeResolution, mode_due, resolve_mode
from wedsync_operator.engine.modemap import forgotten_keys, merged_view, policy_keys
from wedsync_operator.engine.readiness import not_in_mode as not_in_mode_readiness
from wedsync_operator.engine.replicas import (
    Decision,
    Reason,
    decide,
    scale_order,
    scale_steps,
)
from wedsync_operator.engine.report import (
    MetricsReport,
    dry_run_silence_report,
    evaluation_status,
    generation_of,
    invalid_status,
    mode_condition,
    paused_conditions,
    policy_conditions,
    silence_report,
    spec_is_unseen,
    warming_report,
)
from wedsync_operator.engine.schedule import format_instant
from wedsync_operator.engine.sequence import (
    awaiting_sync,
    late_tier_event,
    newly_late,
    sequence,
    sequence_status,
)
from wedsync_operator.engine.status import (
    Condition,
    already_reported,
    condition,
    format_metric_value,
    merge_conditions,
    mode_fields,
    replica_summary,
    resumed,
    states_from_status,
    status_write_due,
    target_status,
)
from wedsync_operator.engine.warming import couples_to_warm
from wedsync_operator.handlers import autoscalers, datatier, readiness
from wedsync_operator.handlers.runtime import (
    Key,
    Logger,
    LoopMemory,
    Runtime,
    utcnow,
)
from wedsync_operator.model import (
    GROUP,
    VERSION,
    InvalidSpec,
    parse_platform_scaling,
)
from wedsync_operator.model.endpoints import resolve_endpoints
from wedsync_operator.model.observations import Autoscaler, Scale
from wedsync_operator.model.status import PolicyStatus, WarmingStatus
from wedsync_operator.model.types import PlatformScaling, Target, WeddingDay, WeddingDayPolicy

PLURAL = "platformscalings"
INVALID_RECHECK_SECONDS = 60.0
ERROR_RETRY_SECONDS = 10.0
# How long a deleted policy's evaluation in flight may take to end before it is cancelled.
EVALUATION_STOP_SECONDS = 5.0
# The component named in the Events this operator posts itself (kopf's say "kopf").
EVENT_COMPONENT = "wedsync-operator"
# Attempts at the merged view of a shared mode ConfigMap before it is retried next time.
CONFIG_MAP_MERGES = 5
DEFAULT_MODE_CONFIG_MAP = WeddingDayPolicy().mode_config_map
# An evaluation that changes nothing significant (engine/status.py) leaves the status as
# it is for up to this long. Why: docs/decisions/0004-status-write-throttling.md
STATUS_REFRESH = timedelta(minutes=5)
HEALTH_KEYS = {
    "api_p95_seconds": "health:apiP95Seconds",
    "error_rate": "health:errorRate",
    "cache_hit_ratio": "health:cacheHitRatio",
    "db_p95_seconds": "health:dbP95Seconds",
    "utilization_percent": "health:utilizationPercent",
}


# on.event, not on.update: it needs no stored diff-base, so no change can slip by.
# async: kopf runs sync handlers in threads, and the scheduler is not thread-safe.
@kopf.on.event(GROUP, VERSION, PLURAL, id="platformscaling_changed")
async def platformscaling_changed(
    *,
    event: kopf.RawEvent,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: Any,
    logger: Logger,
    **_: Any,
) -> None:
    runtime: Runtime = memo.runtime
    key: Key = ("ps", str(namespace), name)
    if event.get("type") == "DELETED" or body.metadata.get("deletionTimestamp"):
        # Its clean-up is platformscaling_deleted's, behind the finalizer.
        forgotten = runtime.untrack(key)
        if forgotten is not None:
            _forget_metrics(forgotten.body)
        readiness.forget(runtime, str(namespace), name)
        return
    new = runtime.track(key, body, logger)
    if spec_is_unseen(body):
        # New or edited: evaluated at once, ahead of routine work.
        runtime.wake(key)
    elif new:
        # Seen for the first time (listed at start-up): evaluated in its turn.
        runtime.schedule(key, time.time())


# The one thing that must happen before a policy disappears: the autoscalers it holds get
# their user's minimum back, and its mode leaves the shared ConfigMap. Behind kopf's
# finalizer, so a policy deleted while the operator is down is cleaned up when it returns.
@kopf.on.delete(GROUP, VERSION, PLURAL, id="platformscaling_deleted")
async def platformscaling_deleted(
    *, body: kopf.Body, namespace: str | None, name: str, memo: Any, logger: Logger, **_: Any
) -> None:
    runtime: Runtime = memo.runtime
    namespace = str(namespace)
    key: Key = ("ps", namespace, name)
    runtime.untrack(key)
    if runtime.scheduler is not None:
        # An evaluation in flight could publish the mode again after the clean-up.
        await runtime.scheduler.finish(key, grace=EVALUATION_STOP_SECONDS)
    _forget_metrics(body)
    cm = (body.spec.get("weddingDay") or {}).get("modeConfigMap")
    await _forget_published_mode(
        runtime, namespace, name, str(cm or DEFAULT_MODE_CONFIG_MAP), logger
    )
    await autoscalers.release_holds(runtime, namespace, name, logger)


def _forget_metrics(body: Mapping[str, Any]) -> None:
    metadata, spec = body.get("metadata") or {}, body.get("spec") or {}
    targets = [t.get("name", "") for t in spec.get("targets") or ()]
    metrics.forget_policy(str(metadata.get("namespace")), str(metadata.get("name")), targets)


async def platformscaling_step(
    runtime: Runtime, namespace: str, name: str, urgent: bool
) -> float | None:
    """The scheduler's work for one policy: one evaluation; returns when the next is due
    (wall clock), or None when the policy is no longer tracked."""
    tracked = runtime.tracked.get(("ps", namespace, name))
    if tracked is None:
        return None
    # A turn that comes at its interval is ordinary; a woken one is urgent: its API
    # requests go ahead of the periodic evaluations' (docs/decisions/0003-request-slots.md).
    tracked.urgency.urgent = urgent
    body, logger = tracked.body, tracked.logger
    started = time.monotonic()
    try:
        with runtime.kube.on_behalf_of(tracked.urgency):
            days = await runtime.days.days(namespace, runtime.kube)
            interval = await evaluate(runtime, body, days, tracked.memory, logger)
    except Exception as exc:  # an API outage or a bug: report it, retry later
        if isinstance(exc, KubeError):
            # An answer the API may give (outage, a namespace being deleted): reported,
            # not a traceback.
            logger.warning("evaluation failed: %s", exc)
        else:
            logger.exception("evaluation failed")
        reason = getattr(exc, "reason", None) or type(exc).__name__
        metrics.EVALUATIONS.labels(result="error").inc()
        metrics.EVALUATION_ERRORS.labels(reason=reason).inc()
        kopf.event(body, type="Warning", reason="EvaluationFailed", message=f"{reason}: {exc}")
        interval = ERROR_RETRY_SECONDS
    elapsed = time.monotonic() - started
    metrics.EVALUATION_DURATION.observe(elapsed)
    delay = interval - elapsed
    if tracked.first_turn:
        # Policies tracked together (the operator's start-up) would evaluate together
        # ever after, a convoy a busy API server serves as one long queue: once, a random
        # point of the interval spreads them (docs/decisions/0001-one-scheduler.md).
        delay, tracked.first_turn = random.uniform(0, interval), False
    return time.time() + max(delay, 0.0)


@dataclass
class _Observed:
    samples: dict[str, float | None]
    errors: dict[str, PrometheusError]
    health: dict[str, float | None]

    def report(self) -> MetricsReport:
        errors = {n: (e.reason, e.message) for n, e in self.errors.items()}
        return MetricsReport(self.samples, errors)


async def evaluate(
    runtime: Runtime,
    body: kopf.Body,
    days: list[WeddingDay],
    memory: LoopMemory,
    logger: Logger,
) -> float:
    """One evaluation; returns the seconds until the next one.

    Crash-consistent by construction (engine/intent.py): before a /scale patch or a mode
    switch, the intent (mode, baselines, floors, the patches and the Events they owe) is
    in status; a restart at any instant finds it and reaches the same end state.
    """
    now = utcnow()
    namespace, name = str(body.metadata.namespace), body.metadata.name
    uid = str(body.metadata.get("uid") or "")
    generation = generation_of(body)
    previous = memory.previous(body)
    if not memory.computed:  # the first evaluation since the operator started
        previous = resumed(previous, now)
    seen = PolicyStatus.parse(previous)

    try:
        policy = resolve_endpoints(parse_platform_scaling(body), runtime.egress)
    except InvalidSpec as exc:
        readiness.forget(runtime, namespace, name)
        await _report_invalid(runtime, body, exc, seen, generation, now, memory)
        return INVALID_RECHECK_SECONDS

    mode = resolve_mode(policy, days, now)
    interval = (policy.interval.wedding_day if mode.on else policy.interval.normal).total_seconds()
    metrics.MODE.labels(namespace, name).set(1 if mode.on else 0)
    if (due := mode_due(policy, days, now)) is not None:
        metrics.MODE_DUE.labels(namespace, name).set(due.timestamp())
    else:
        with suppress(KeyError):  # no day ahead, and none since the start
            metrics.MODE_DUE.remove(namespace, name)
    switch = mode_event(name, uid, mode, seen)

    if policy.paused:
        # Paused changes nothing outside its own status and Events: no patch, no
        # ConfigMap, no silence, no warming.
        readiness.forget(runtime, namespace, name)
        owed = owed_events(seen, {})
        if switch is not None:
            owed.append(switch)
        unposted = await _post_events(runtime, body, owed, logger)
        conditions = paused_conditions(mode, generation)
        extra: dict[str, Any] = {"pendingEvents": _events_status(unposted)}
        await _write_status(runtime, body, memory, now, generation, mode, conditions, extra)
        metrics.EVALUATIONS.labels(result="paused").inc()
        return interval

    # The mode ConfigMap goes out with the reads and does not hold back the patches: a
    # ConfigMap that cannot be written is reported and retried, never a reason to wait.
    # Rewriting it is idempotent, so a restart at any instant publishes the same.
    publish = asyncio.ensure_future(
        _publish_mode(runtime, body, policy, mode, seen, memory.published, now)
    )
    try:
        observed, scales, found_scalers = await asyncio.gather(
            _observe(runtime, policy),
            _read_scales(runtime, policy),
            _hpa_owners(runtime, policy),
        )
        failures = seen.consecutive_failures
        metrics_ok = not observed.errors and all(v is not None for v in observed.samples.values())
        failures = 0 if metrics_ok else failures + 1

        owners: Mapping[tuple[str, str], str] = {}
        floors = autoscalers.FloorPlans([], [])
        if isinstance(found_scalers, KubeError):
            # Unknown ownership: hold every target rather than risk fighting an HPA.
            scales = {n: found_scalers for n in scales}
        else:
            owners = {s.target: s.name for s in found_scalers}
            counts = {n: s.replicas for n, s in scales.items() if isinstance(s, Scale)}
            floors = await autoscalers.plan_floors(
                runtime, policy, uid, mode, found_scalers, observed.samples, counts
            )
        floor_plans = [] if policy.dry_run else floors.plans
        managed = {
            t.name: s.replicas
            for t in policy.targets
            if isinstance(s := scales.get(t.name), Scale) and (t.kind, t.name) not in owners
        }
        # What the previous evaluation (perhaps of a killed process) intended and did:
        # a recorded patch the target shows is a scale event, and its Event is owed.
        states = settle_states(states_from_status(seen, managed), seen, managed)
        owed = owed_events(seen, managed)
        decision = decide(policy, states, observed.samples, mode, failures, {}, now)
        # A stateful tier shrinks only past its safety gate; gates are asked only when the
        # engine wants such a scale-down, then the engine decides again with their verdicts.
        gates = await datatier.gate_verdicts(runtime, policy, decision.decisions)
        if gates:
            decision = decide(policy, states, observed.samples, mode, failures, gates, now)
        # In the mode, a tier's scale-up waits for the tier before it to be ready.
        read = {n: s for n, s in scales.items() if isinstance(s, Scale)}
        waits = awaiting_sync(policy, read, seen, mode)
        found = await asyncio.gather(
            *(datatier.sync_verdict(runtime, policy, role, count) for _, role, count in waits)
        )
        syncs = dict(zip((n for n, _, _ in waits), found, strict=True))
        sequenced = sequence(policy, decision, states, read, seen, mode, now, syncs)
        decision = sequenced.decision
        runtime.await_targets(("ps", namespace, name), namespace, sequenced.watched)

        # A target that could not be read keeps its entry, baseline included: a floor must
        # never be re-derived from a count this policy raised.
        entries: dict[str, dict[str, Any]] = {
            t.name: dict(seen.targets[t.name].raw) for t in policy.targets if t.name in seen.targets
        }
        for d in decision.decisions:
            entries[d.target] = target_status(
                d,
                unapplied_state(d, decision, states),
                seen.target(d.target),
                applied=False,
                now=now,
            )
        pending = {} if policy.dry_run else pending_scales(name, uid, decision.decisions, now)
        if switch is not None:
            owed.append(switch)
        if pending or switch is not None or floor_plans:
            # Intent before action: the baselines, floors and these patches (and the
            # autoscaler writes' Events) are in status before the first patch lands.
            await _write_intent(
                runtime,
                body,
                memory,
                seen,
                policy,
                mode,
                generation,
                now,
                intent_targets(entries, pending),
                [*owed, *(p.event for p in floor_plans)],
            )

        applied_by_target: dict[str, bool] = {}
        landed_at: dict[str, datetime] = {}
        # The Events in the order of the actions: what was owed and the switch, then each
        # tier's patches (`kubectl describe` reads as the activation happened).
        groups = [owed]
        for step in scale_steps(decision.decisions):
            # The tiers in turn (database, cache, app going up), one tier's targets at once.
            done = await asyncio.gather(*(_apply(runtime, body, policy, d, logger) for d in step))
            applied_by_target.update(zip((d.target for d in step), done, strict=True))
            landed_at.update(dict.fromkeys((d.target for d in step), utcnow()))
            groups.append(
                [
                    pending[d.target].event
                    for d, ok in zip(step, done, strict=True)
                    if ok and d.changed
                ]
            )
        # The HPA-owned targets: their autoscaler's minimum, which the HPA then follows.
        floor_errors = await asyncio.gather(
            *(
                autoscalers.apply_floor(runtime, namespace, p.scaler, p.change, logger)
                for p in floor_plans
            )
        )
        groups.append(
            [p.event for p, err in zip(floor_plans, floor_errors, strict=True) if err is None]
        )
        floor_notes = [*floors.notes, *(e for e in floor_errors if e is not None)]
        for d in scale_order(decision.decisions):
            applied = applied_by_target[d.target]
            before = seen.target(d.target)
            if d.reason is Reason.SAFETY_GATE_BLOCKED and before.reason != d.reason.value:
                kopf.event(body, type="Warning", reason="ScaleDownDeferred", message=d.message)
            if d.role.stateful:
                blocked = d.reason is Reason.SAFETY_GATE_BLOCKED
                metrics.SAFETY_GATE_BLOCKED.labels(namespace, name, d.target).set(int(blocked))
            if d.changed and applied:
                landed = landed_at[d.target]
                state = landed_state(decision.states.get(d.target, states[d.target]), now, landed)
                entries[d.target] = target_status(d, state, before, applied=True, now=landed)
            elif d.target in pending:
                # A failed patch may have landed all the same (a timeout): the next
                # evaluation looks, and owes the Event if it did.
                entries[d.target] = intent_targets(entries, {d.target: pending[d.target]})[d.target]
            metrics.DESIRED_REPLICAS.labels(namespace, name, d.target).set(d.desired)
            metrics.CURRENT_REPLICAS.labels(namespace, name, d.target).set(
                d.desired if applied else d.current
            )

        (published, publish_events), unposted = await asyncio.gather(
            publish, _post_event_groups(runtime, body, groups, logger)
        )
    except BaseException:
        publish.cancel()  # a failed evaluation retries it
        raise

    unreadable = {n: str(e) for n, e in scales.items() if isinstance(e, KubeError)}
    conditions = policy_conditions(
        policy, decision.decisions, unreadable, floor_notes, observed.report(), generation
    )
    conditions.append(mode_condition(mode, generation))
    conditions.extend(published)
    extra = {
        "consecutiveFailures": failures,
        "metrics": [
            {
                "name": m.name,
                "value": format_metric_value(observed.samples.get(m.name)),
                "at": format_instant(now),
            }
            for m in policy.metrics
        ],
        "targets": [entries[t.name] for t in policy.targets if t.name in entries],
    }
    extra["replicaSummary"] = replica_summary(extra["targets"])
    # After the tiers are scaled (database, cache, app), as DESIGN orders it.
    data_status, data_conditions, data_events = await _data_tier(
        runtime, body, policy, days, mode, seen, memory, now, sequenced.warming_may_start
    )
    extra["tierSequence"] = sequence_status(sequenced)
    data_events.extend(late_tier_event(name, uid, t) for t in newly_late(sequenced, seen))
    if sequenced.expires is not None:
        # A tier that never becomes ready lets the next go ahead at its timeout, not later.
        interval = min(interval, max((sequenced.expires - utcnow()).total_seconds(), 0.0))
    extra.update(data_status)
    conditions.extend(data_conditions)
    if mode.on:
        # After the tiers and the warming: the gate reports what they reached.
        raised = {
            p.scaler.name: p.change.min_replicas
            for p, err in zip(floor_plans, floor_errors, strict=True)
            if err is None
        }
        warmed = WarmingStatus.parse(data_status.get("cacheWarming")) or seen.cache_warming
        ready = await readiness.gate(
            runtime,
            body,
            policy,
            days,
            mode,
            seen,
            decision.decisions,
            applied_by_target,
            scales,
            [] if isinstance(found_scalers, KubeError) else found_scalers,
            raised,
            warmed,
            now,
            logger,
            syncs,
        )
        conditions.append(ready.condition)
        extra["readinessDeadlines"] = [d.as_status() for d in ready.deadlines] or None
        if ready.wake_at is not None:
            # The deadline's Warning is due at its instant, not at the next tick.
            interval = min(interval, max((ready.wake_at - utcnow()).total_seconds(), 0.0))
    else:
        conditions.append(not_in_mode_readiness(generation))
        extra["readinessDeadlines"] = None
        readiness.forget(runtime, namespace, name)
    # Posted before the status that records what they report: a kill in between posts
    # them again under the same names, which leaves one of each.
    unposted += await _post_events(runtime, body, [*publish_events, *data_events], logger)
    extra["pendingEvents"] = _events_status(unposted)
    if any(v is not None for v in observed.health.values()):
        health = health_score(HealthInputs(**observed.health))
        extra["healthScore"] = health.score
        extra["recommendations"] = list(health.recommendations)
        metrics.HEALTH_SCORE.labels(namespace, name).set(health.score)
    await _write_status(runtime, body, memory, now, generation, mode, conditions, extra)
    metrics.EVALUATIONS.labels(result="ok").inc()
    return interval


def _events_status(events: Iterable[OwedEvent]) -> list[dict[str, str]] | None:
    """status.pendingEvents: None removes the field (merge patch) once all are posted."""
    return [e.as_status() for e in events] or None


async def _post_event_groups(
    runtime: Runtime, body: kopf.Body, groups: Iterable[list[OwedEvent]], logger: Logger
) -> list[OwedEvent]:
    """Post the groups in turn, each group's Events at once; returns those not posted."""
    unposted: list[OwedEvent] = []
    for group in groups:
        unposted += await _post_events(runtime, body, group, logger)
    return unposted


async def _post_events(
    runtime: Runtime, body: kopf.Body, owed: Iterable[OwedEvent], logger: Logger
) -> list[OwedEvent]:
    """Post the Events under their fixed names, concurrently; returns those that could
    not be posted, which stay owed in status and are posted by a later evaluation."""
    owed = list({e.name: e for e in owed}.values())
    if not owed:
        return []
    namespace = str(body.metadata.namespace)
    involved = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PlatformScaling",
        "name": body.metadata.name,
        "uid": str(body.metadata.get("uid") or ""),
    }

    async def post(e: OwedEvent) -> KubeError | None:
        try:
            await runtime.kube.create_event(
                namespace,
                e.name,
                involved,
                type_=e.type,
                reason=e.reason,
                message=e.message,
                component=EVENT_COMPONENT,
            )
        except KubeError as exc:
            return exc
        return None

    results = await asyncio.gather(*(post(e) for e in owed))
    failed = [(e, r) for e, r in zip(owed, results, strict=True) if r is not None]
    for e, exc in failed:
        logger.warning("could not post the %s Event (kept owed): %s", e.reason, exc)
    return [e for e, _ in failed]


async def _data_tier(
    runtime: Runtime,
    body: kopf.Body,
    policy: PlatformScaling,
    days: list[WeddingDay],
    mode: ModeResolution,
    seen: PolicyStatus,
    memory: LoopMemory,
    now: datetime,
    may_warm: bool = True,
) -> tuple[dict[str, Any], list[Condition], list[OwedEvent]]:
    """Cache warming while a day prepares (once the tiers are ready: ``may_warm``);
    silences while the mode is on. A dry run only says what it would do. Returns the
    status fields, conditions and Events to post."""
    out: dict[str, Any] = {}
    conditions: list[Condition] = []
    events: list[OwedEvent] = []
    name, uid = policy.meta.name, str(body.metadata.get("uid") or "")
    generation = generation_of(body)
    couples = couples_to_warm(days, mode.active_days, now) if mode.on else None
    if couples is not None and may_warm:
        block = await datatier.warm(
            runtime, policy, couples, seen.cache_warming, now, dry_run=policy.dry_run
        )
        if block is not None:
            out["cacheWarming"] = block
            if (event := warming_report(seen.cache_warming, block, name, uid)) is not None:
                events.append(event)
    silence_alerts = policy.wedding_day.silence_alerts
    if silence_alerts is not None and policy.dry_run:
        message = would_silence(silence_alerts, mode)
        cond, event = dry_run_silence_report(message, seen, name, uid, generation)
        conditions.append(cond)
        events.extend(e for e in [event] if e is not None)
    elif silence_alerts is not None and (mode.on or seen.silences):
        # Alertmanager is the record (engine/silences.py): a restart lists the policy's
        # silences and creates none twice, so the reconciliation is safe at any instant.
        key = (mode.mode.value, format_instant(mode.until) if mode.until else "")
        if memory.silenced_for != key:
            ids, error = await datatier.sync_silences(runtime, policy, mode, now)
            cond, event = silence_report(ids, error, seen, name, uid, generation)
            conditions.append(cond)
            events.extend(e for e in [event] if e is not None)
            if error is None:
                memory.silenced_for = key
                out["silences"] = ids or []
    return out, conditions, events


async def _observe(runtime: Runtime, policy: PlatformScaling) -> _Observed:
    queries = {m.name: m.query for m in policy.metrics}
    for field, key in HEALTH_KEYS.items():
        query = getattr(policy.health, field)
        if query:
            queries[key] = query
    # A resolved policy's URL is set (model/endpoints.resolve_endpoints).
    if not queries or policy.prometheus is None or policy.prometheus.url is None:
        return _Observed({}, {}, {})
    token = None
    if policy.prometheus.bearer_token is not None:
        ref = policy.prometheus.bearer_token
        try:
            token = await runtime.kube.secret_value(policy.meta.namespace, ref.name, ref.key)
        except KubeError as exc:
            error = PrometheusError("PrometheusUnreachable", f"bearer token: {exc}")
            return _Observed(
                {m.name: None for m in policy.metrics}, {m.name: error for m in policy.metrics}, {}
            )
    source = runtime.metrics_sources(
        policy.prometheus.url, timeout=policy.prometheus.timeout.total_seconds(), bearer_token=token
    )
    results = await source.query_many(queries)
    samples: dict[str, float | None] = {}
    errors: dict[str, PrometheusError] = {}
    for key, value in results.items():
        if isinstance(value, PrometheusError):
            errors[key] = value
            samples[key] = None
        else:
            samples[key] = value
    health = {f: samples.pop(k, None) for f, k in HEALTH_KEYS.items()}
    for k in HEALTH_KEYS.values():
        errors.pop(k, None)  # health is advisory: its outages never gate scaling
    return _Observed(samples, errors, health)


async def _read_scales(runtime: Runtime, policy: PlatformScaling) -> dict[str, Scale | KubeError]:
    async def one(t: Target) -> Scale | KubeError:
        try:
            return await runtime.targets.scale(t.api_version, t.kind, policy.meta.namespace, t.name)
        except KubeError as exc:
            return exc

    # Concurrently, each bounded by the client's timeout: one slow target cannot stall
    # the others.
    found = await asyncio.gather(*(one(t) for t in policy.targets))
    return dict(zip((t.name for t in policy.targets), found, strict=True))


async def _hpa_owners(runtime: Runtime, policy: PlatformScaling) -> list[Autoscaler] | KubeError:
    """The namespace's HPAs (which targets they own, their bounds and our record); a
    refusal is returned (and reported) rather than read as "none", which would make the
    operator fight an HPA it could not see."""
    try:
        return await runtime.targets.autoscalers(policy.meta.namespace)
    except KubeError as exc:
        if exc.reason == "NotFound":
            return []  # no autoscaling/v2 served: there is no HPA to coexist with
        return exc


async def _apply(
    runtime: Runtime,
    body: kopf.Body,
    policy: PlatformScaling,
    d: Decision,
    logger: Logger,
) -> bool:
    """Patch /scale for a changed decision; True when the cluster now has ``desired``."""
    if not d.changed:
        return True
    if policy.dry_run:
        kopf.event(body, type="Normal", reason="DryRun", message=f"would {d.message}")
        return False
    target = policy.target(d.target)
    try:
        await runtime.targets.set_replicas(
            target.api_version, target.kind, policy.meta.namespace, target.name, d.desired
        )
    except KubeError as exc:
        logger.warning("could not scale %s: %s", d.target, exc)
        metrics.EVALUATION_ERRORS.labels(reason=exc.reason).inc()
        kopf.event(
            body,
            type="Warning",
            reason="ScaleFailed",
            message=f"could not scale {d.target} {d.current} → {d.desired}: {exc}",
        )
        return False
    # Its ScaledUp/ScaledDown Event is posted under the name the intent recorded.
    metrics.SCALE_OPERATIONS.labels(direction=d.direction, role=d.role.value).inc()
    return True


async def _write_status(
    runtime: Runtime,
    body: kopf.Body,
    memory: LoopMemory,
    now: datetime,
    generation: int,
    mode: ModeResolution,
    conditions: list[Condition],
    extra: dict[str, Any],
) -> None:
    # Read again: the intent, written since the evaluation began, is part of it.
    previous = PolicyStatus.parse(memory.previous(body))
    status = evaluation_status(previous, mode, generation, now, conditions, extra)
    candidate = memory.merged(status)
    if not status_write_due(candidate, memory.written, memory.refresh_at, now):
        memory.kept(status)
        metrics.STATUS_WRITES.labels(result="skipped").inc()
        return
    # Everything since the last write, the changes of skipped evaluations included.
    patch = memory.unwritten(candidate)
    # A field cleared here goes out as null even if this process never wrote it: after a
    # restart the object may still hold it (an intent's pendingEvents, say).
    patch.update({k: None for k, v in status.items() if v is None})
    await _patch(runtime, body, memory, patch, now)


async def _write_intent(
    runtime: Runtime,
    body: kopf.Body,
    memory: LoopMemory,
    seen: PolicyStatus,
    policy: PlatformScaling,
    mode: ModeResolution,
    generation: int,
    now: datetime,
    entries: Mapping[str, dict[str, Any]],
    owed: list[OwedEvent],
) -> None:
    """Write what a restart must know before the patches and Events that depend on it:
    the mode, each target's baseline, floor and pending patch, the Events still owed.

    A failed write raises: no patch may go out whose baseline a restart could not find.
    It is also how the mode shows in `kubectl get ps` from the switch on, before the
    tiers' patches land.
    """
    status = {
        **mode_fields(mode),
        "conditions": merge_conditions(seen.conditions, [mode_condition(mode, generation)], now),
        "targets": [entries[t.name] for t in policy.targets if t.name in entries],
        "pendingEvents": _events_status(owed),
    }
    await _patch(runtime, body, memory, status, now)


async def _patch(
    runtime: Runtime, body: kopf.Body, memory: LoopMemory, status: dict[str, Any], now: datetime
) -> None:
    first = not memory.has_written
    await runtime.kube.patch_status(
        PLURAL, str(body.metadata.namespace), body.metadata.name, status
    )
    # The first refresh after start-up comes at a random point of the period's second
    # half, so policies that started together do not refresh together ever after.
    period = STATUS_REFRESH * (random.uniform(0.5, 1.0) if first else 1.0)
    memory.wrote(status, refresh_at=now + period)
    metrics.STATUS_WRITES.labels(result="written").inc()


async def _report_invalid(
    runtime: Runtime,
    body: kopf.Body,
    exc: InvalidSpec,
    seen: PolicyStatus,
    generation: int,
    now: datetime,
    memory: LoopMemory,
) -> None:
    """Ready=False with every field error; targets are left exactly as they are."""
    status, message, warn = invalid_status(exc.errors, seen, generation, now)
    if warn:
        kopf.event(body, type="Warning", reason="InvalidSpec", message=message)
    await _patch(runtime, body, memory, status, now)
    metrics.EVALUATIONS.labels(result="invalid").inc()


async def _publish_mode(
    runtime: Runtime,
    body: kopf.Body,
    policy: PlatformScaling,
    mode: ModeResolution,
    seen: PolicyStatus,
    published: set[str],
    now: datetime,
) -> tuple[list[Condition], list[OwedEvent]]:
    """The mode ConfigMap for applications, after a switch or a restart.

    Returns the ``ModePublished`` condition when it wrote (or failed to write, or in a
    dry run would have written) the ConfigMap, and the Events to post. A failure is
    reported, not raised: the ConfigMap informs applications, and a wedding day's
    pre-scale must not wait on it. It is retried at each evaluation until written.
    """
    cm = policy.wedding_day.mode_config_map
    generation = generation_of(body)
    name, uid = policy.meta.name, str(body.metadata.get("uid") or "")
    if policy.dry_run:
        message = would_publish(cm, mode)
        events = []
        if not already_reported(seen.conditions, "ModePublished", message):
            events.append(owed_event(name, uid, "Normal", DRY_RUN, message))
        return [condition("ModePublished", "False", DRY_RUN, message, generation)], events
    if f"{cm}={mode.mode.value}" in published:
        return [], []
    try:
        await _write_mode_config_map(runtime, policy, mode, now)
    except KubeError as exc:
        message = f"could not write mode {mode.mode.value} to ConfigMap {cm}: {exc}"
        events = []
        if not already_reported(seen.conditions, "ModePublished", message):
            events.append(owed_event(name, uid, "Warning", "ModePublishFailed", message))
        metrics.EVALUATION_ERRORS.labels(reason=exc.reason).inc()
        return [condition("ModePublished", "False", exc.reason, message, generation)], events
    published.clear()
    published.add(f"{cm}={mode.mode.value}")
    return [
        condition(
            "ModePublished",
            "True",
            "ConfigMapWritten",
            f"ConfigMap {cm} says mode {mode.mode.value} for this policy "
            f"(keys {name}.*; the unprefixed keys merge every policy's)",
            generation,
        )
    ], []


async def _forget_published_mode(
    runtime: Runtime, namespace: str, name: str, cm: str, logger: Logger
) -> None:
    """A deleted policy takes its key set out of the mode ConfigMap and merges the view
    again, so its mode no longer counts. A failure leaves the key set, which stops
    counting at its ``until`` (engine/modemap.py)."""
    try:
        await _merge_mode_config_map(
            runtime, namespace, cm, dict(forgotten_keys(name)), utcnow(), create=False
        )
    except KubeError as exc:
        if not exc.not_found:
            logger.warning("could not remove %s from ConfigMap %s: %s", name, cm, exc)
        return
    logger.info("removed the mode of %s from ConfigMap %s", name, cm)


async def _write_mode_config_map(
    runtime: Runtime, policy: PlatformScaling, mode: ModeResolution, now: datetime
) -> None:
    """Write this policy's key set and the merged view of every policy's."""
    own: dict[str, str | None] = {
        **policy_keys(policy.meta.name, mode, policy.wedding_day.cache_ttl_multiplier),
        "policy": None,  # the single-policy key of earlier versions: the view replaces it
    }
    cm = policy.wedding_day.mode_config_map
    await _merge_mode_config_map(runtime, policy.meta.namespace, cm, own, now)


async def _merge_mode_config_map(
    runtime: Runtime,
    namespace: str,
    cm: str,
    own: dict[str, str | None],
    now: datetime,
    *,
    create: bool = True,
) -> None:
    """Write one policy's keys, then the merged view computed from the ConfigMap as that
    write returned it, on condition that nobody wrote in between (engine/modemap.py):
    several policies of a namespace share one ConfigMap without overwriting each other."""
    labels = {"app.kubernetes.io/managed-by": "wedsync-operator"}
    held = await runtime.kube.apply_config_map(namespace, cm, own, labels, create=create)
    for _ in range(CONFIG_MAP_MERGES):
        data = held.get("data") or {}
        view = merged_view(data, now)
        if all(data.get(k) == v for k, v in view.items()):
            return
        version = str((held.get("metadata") or {}).get("resourceVersion") or "")
        try:
            await runtime.kube.patch_config_map_at(namespace, cm, dict(view), version)
            return
        except KubeError as exc:
            if exc.reason != "Conflict":
                raise
        # Another policy wrote in between: read it back (the same write, a no-op) and merge again.
        held = await runtime.kube.apply_config_map(namespace, cm, own, labels, create=create)
    raise KubeError("Conflict", f"ConfigMap {cm} changed under each of {CONFIG_MAP_MERGES} merges")
