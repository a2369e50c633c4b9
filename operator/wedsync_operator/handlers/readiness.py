"""The day-ready gate of a policy in wedding-day mode: read what the engine needs
(available replicas from the watch, Pending pods and the tiers' checks only for targets
that need them), let engine/readiness.py decide, post the deadline Warnings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import kopf

from wedsync_operator import metrics
from wedsync_operator.adapters.kube import KubeError
from wedsync_operator.engine.intent import event_name
from wedsync_operator.engine.mode import ModeResolution
from wedsync_operator.engine.readiness import (
    Deadline,
    Readiness,
    TargetReadiness,
    deadlines,
    needs_scheduling,
    needs_sync_check,
    next_deadline,
    readiness,
    warming_shortfall,
    warnings_due,
)
from wedsync_operator.engine.replicas import Decision, GateVerdict
from wedsync_operator.engine.schedule import format_instant
from wedsync_operator.engine.status import Condition
from wedsync_operator.engine.warming import couples_to_warm
from wedsync_operator.handlers import datatier
from wedsync_operator.handlers.runtime import Logger, Runtime
from wedsync_operator.model import GROUP, VERSION
from wedsync_operator.model.durations import format_duration
from wedsync_operator.model.observations import Autoscaler, Scale
from wedsync_operator.model.status import PolicyStatus, WarmingStatus
from wedsync_operator.model.types import PlatformScaling, WeddingDay

EVENT_REASON = "NotReadyAtDeadline"


@dataclass(frozen=True)
class ReadinessReport:
    condition: Condition
    ready: bool
    deadlines: list[Deadline]
    wake_at: datetime | None  # the next deadline still ahead


def _floors(
    policy: PlatformScaling,
    decisions: Iterable[Decision],
    scalers: Sequence[Autoscaler],
    raised: Mapping[str, int | None],
) -> dict[str, int]:
    """The count each target must have available: its wedding-day floor, or for a target
    an autoscaler owns, that autoscaler's minimum (as this evaluation raised it)."""
    floors = {
        d.target: d.floor if d.floor is not None else policy.target(d.target).min_replicas
        for d in decisions
    }
    for s in scalers:
        owned = next((t for t in policy.targets if (t.kind, t.name) == s.target), None)
        if owned is None or owned.name in floors:
            continue
        low = raised.get(s.name, s.min_replicas)
        floors[owned.name] = low if low is not None else s.default_min
    return floors


async def gate(
    runtime: Runtime,
    body: kopf.Body,
    policy: PlatformScaling,
    days: Sequence[WeddingDay],
    mode: ModeResolution,
    seen: PolicyStatus,
    decisions: Sequence[Decision],
    applied: Mapping[str, bool],
    scales: Mapping[str, Scale | KubeError],
    scalers: Sequence[Autoscaler],
    raised: Mapping[str, int | None],
    warming: WarmingStatus | None,
    now: datetime,
    logger: Logger,
    known: Mapping[str, GateVerdict] | None = None,
) -> ReadinessReport:
    """``WeddingDayReady`` for a policy in the mode, and its deadline Warnings posted.
    ``known``: safety checks this evaluation already made (not asked twice)."""
    namespace = policy.meta.namespace
    floors = _floors(policy, decisions, scalers, raised)
    asked = {d.target: d.desired for d in decisions if d.changed and applied.get(d.target)}
    targets: list[TargetReadiness] = []
    for t in policy.targets:
        if t.name not in floors:
            continue
        read = scales.get(t.name)
        scale: Scale | str = str(read) if not isinstance(read, Scale) else read
        if isinstance(scale, Scale) and t.name in asked:
            scale = replace(scale, replicas=asked[t.name])  # patched by this evaluation
        scaled_at = seen.target(t.name).last_scaled_at
        targets.append(TargetReadiness(t.name, t.role, floors[t.name], scale, scaled_at=scaled_at))
    statefulsets = {t.name for t in policy.targets if t.kind == "StatefulSet"}

    async def scheduling(t: TargetReadiness) -> TargetReadiness:
        assert isinstance(t.scale, Scale)
        try:
            t = replace(
                t, scheduling=await runtime.kube.pod_scheduling(namespace, t.scale.selector)
            )
        except KubeError as exc:  # without the pods, the gate still names the shortfall
            logger.warning("could not list the pods of %s: %s", t.name, exc)
        if t.name not in statefulsets:
            return t
        try:
            return replace(t, refusal=await runtime.kube.statefulset_refusal(namespace, t.name))
        except KubeError as exc:
            logger.warning("could not list the FailedCreate Events of %s: %s", t.name, exc)
            return t

    async def sync(t: TargetReadiness) -> TargetReadiness:
        if known and t.name in known:
            return replace(t, sync=known[t.name])
        return replace(t, sync=await datatier.sync_verdict(runtime, policy, t.role, t.floor))

    async def look(t: TargetReadiness) -> TargetReadiness:
        if needs_scheduling(t):
            return await scheduling(t)
        if needs_sync_check(t, policy):
            return await sync(t)
        return t

    looked = await asyncio.gather(*(look(t) for t in targets))
    couples = couples_to_warm(days, mode.active_days, now)
    found = readiness(looked, warming_shortfall(policy, couples, warming))
    due_days = deadlines(policy, days, mode.active_days, seen.readiness_deadlines)
    due = warnings_due(found, due_days, now, settling=bool(asked or raised))
    warned = await _warn(runtime, body, policy, days, found, due, logger)
    due_days = [replace(d, warned=True) if d.day in warned else d for d in due_days]
    metrics.WEDDING_DAY_READY.labels(namespace, policy.meta.name).set(1 if found.ready else 0)
    runtime.report_readiness(namespace, policy.meta.name, mode.active_days, found.verdict)
    if due_days:
        first = min(d.at for d in due_days).timestamp()
        metrics.READINESS_DEADLINE.labels(namespace, policy.meta.name).set(first)
    return ReadinessReport(
        condition=found.condition(policy.meta.generation),
        ready=found.ready,
        deadlines=due_days,
        wake_at=next_deadline(due_days, now),
    )


async def _warn(
    runtime: Runtime,
    body: kopf.Body,
    policy: PlatformScaling,
    days: Sequence[WeddingDay],
    found: Readiness,
    due: Sequence[Deadline],
    logger: Logger,
) -> set[str]:
    """Post each due day's Warning on the policy and on the day, under names fixed by the
    day and its deadline (a repeat after a kill leaves one); returns the days posted."""
    namespace, name = policy.meta.namespace, policy.meta.name
    uid = str(body.metadata.get("uid") or "")
    by_name = {d.meta.name: d for d in days}
    posted: set[str] = set()
    for d in due:
        message = (
            f"WeddingDay {d.day} is not ready at its readiness deadline "
            f"({format_instant(d.at)}, {format_duration(policy.wedding_day.readiness_deadline)} "
            "before the "
            f"start) for PlatformScaling {name}: {found.message}"
        )
        day = by_name[d.day]
        regarding = [
            ("PlatformScaling", name, uid),
            ("WeddingDay", d.day, day.meta.uid),
        ]
        try:
            for kind, involved, involved_uid in regarding:
                await runtime.kube.create_event(
                    namespace,
                    event_name(name, uid, EVENT_REASON, d.day, format_instant(d.at), kind),
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": kind,
                        "name": involved,
                        "uid": involved_uid,
                    },
                    type_="Warning",
                    reason=EVENT_REASON,
                    message=message,
                    component="wedsync-operator",
                )
        except KubeError as exc:  # not marked warned: the next evaluation posts again
            logger.warning("could not post the %s Event: %s", EVENT_REASON, exc)
            continue
        posted.add(d.day)
    return posted


def forget(runtime: Runtime, namespace: str, name: str) -> None:
    """A policy outside the mode (or paused, invalid, deleted) vouches for no day: its
    verdict and its gauge go."""
    runtime.report_readiness(namespace, name, (), None)
    for gauge in (metrics.WEDDING_DAY_READY, metrics.READINESS_DEADLINE):
        with contextlib.suppress(KeyError):  # not in the mode since the process started
            gauge.remove(namespace, name)
