"""hpaConflict wiring: for each target an HPA owns, read the HPA (or the KEDA
ScaledObject that writes it), let engine/hpafloor.py decide the minimum, and write it
with its record in one conditional PATCH. Decisions live in engine/; this file only wires.

The Event each change owes goes into the policy's intent (status.pendingEvents) before
the PATCH, and the record the restore depends on travels inside the PATCH itself, so a
kill at any instant leaves either nothing done or everything needed to finish.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from wedsync_operator import metrics
from wedsync_operator.adapters.kube import KubeError
from wedsync_operator.adapters.kube_objects import autoscaler_of
from wedsync_operator.engine.hpafloor import (
    FloorChange,
    FloorHold,
    decide_floor,
    floor_event,
    parse_hold,
    render_hold,
    requested_floor,
    user_minimum,
)
from wedsync_operator.engine.intent import OwedEvent, owed_event
from wedsync_operator.engine.mode import ModeResolution
from wedsync_operator.handlers.runtime import Logger, Runtime
from wedsync_operator.model.observations import HOLD_ANNOTATION, Autoscaler
from wedsync_operator.model.types import HPAConflict, PlatformScaling


@dataclass(frozen=True)
class FloorPlan:
    """One autoscaler write: what to send and the Event it owes once it lands."""

    scaler: Autoscaler
    change: FloorChange
    event: OwedEvent


@dataclass(frozen=True)
class FloorPlans:
    plans: list[FloorPlan]
    notes: list[str]  # for the ScalingLimited condition, one per owned target


def _describe(scaler: Autoscaler) -> str:
    return f"{scaler.kind} {scaler.name}"


async def plan_floors(
    runtime: Runtime,
    policy: PlatformScaling,
    uid: str,
    mode: ModeResolution,
    scalers: Iterable[Autoscaler],
    samples: Mapping[str, float | None],
    counts: Mapping[str, int],
) -> FloorPlans:
    """Read what each owning autoscaler holds and decide its minimum for this policy;
    ``samples`` are the policy's metrics and ``counts`` the targets' replicas now, which
    may only raise the floor it asks for."""
    namespace, name = policy.meta.namespace, policy.meta.name
    holder = f"{namespace}/{name}"
    by_target = {s.target: s for s in scalers}
    plans: list[FloorPlan] = []
    notes: list[str] = []
    for target in policy.targets:
        hpa = by_target.get((target.kind, target.name))
        if hpa is None:
            continue
        owns = f"HorizontalPodAutoscaler {hpa.name} owns {target.kind}/{target.name}"
        try:
            scaler = await _writable(runtime, namespace, hpa)
        except KubeError as exc:
            metrics.EVALUATION_ERRORS.labels(reason=exc.reason).inc()
            notes.append(f"{owns} for ScaledObject {hpa.scaled_object}, unreadable: {exc}")
            continue
        hold = parse_hold(scaler.hold)
        if isinstance(hold, ValueError):
            notes.append(f"{owns}; {_describe(scaler)}: {hold}; left alone")
            continue
        refuse = policy.hpa_conflict is HPAConflict.REFUSE
        user = user_minimum(scaler.min_replicas, scaler.default_min, hold)
        floor = (
            None
            if refuse
            else requested_floor(
                target,
                policy,
                mode,
                user,
                samples=samples,
                current=counts.get(target.name),
                held=hold.holders.get(holder) if hold is not None else None,
            )
        )
        change = decide_floor(
            current_min=scaler.min_replicas,
            maximum=scaler.max_replicas,
            default_min=scaler.default_min,
            hold=hold,
            holder=holder,
            floor=floor,
        )
        notes.append(_note(owns, scaler, refuse, floor, change, hold))
        if change is None:
            continue
        type_, reason, message = floor_event(
            change, _describe(scaler), f"{target.kind}/{target.name}", before=scaler.min_replicas
        )
        event = owed_event(name, uid, type_, reason, message, scaler.kind, scaler.name)
        plans.append(FloorPlan(scaler, change, event))
    return FloorPlans(plans, notes)


async def _writable(runtime: Runtime, namespace: str, hpa: Autoscaler) -> Autoscaler:
    """The object whose minimum counts: the HPA, or the ScaledObject that owns it (KEDA
    rewrites its HPA from the ScaledObject, so the minimum is raised there)."""
    if hpa.scaled_object is None:
        return hpa
    body = await runtime.kube.get_scaled_object(namespace, hpa.scaled_object)
    return autoscaler_of({"kind": "ScaledObject", **body})


async def release_holds(runtime: Runtime, namespace: str, policy: str, logger: Logger) -> None:
    """A deleted policy lets go of every autoscaler it holds: the user's value goes back
    once no other policy holds it. Best effort, like the mode ConfigMap's clean-up: a
    failure is logged, and the record stays on the object for a later policy or a human."""
    holder = f"{namespace}/{policy}"
    try:
        found = await runtime.kube.autoscalers(namespace)
    except KubeError as exc:
        logger.warning("could not release the autoscalers %s held: %s", holder, exc)
        return
    for hpa in found:
        try:
            scaler = await _writable(runtime, namespace, hpa)
        except KubeError as exc:
            logger.warning("could not release ScaledObject %s: %s", hpa.scaled_object, exc)
            continue
        hold = parse_hold(scaler.hold)
        if not isinstance(hold, FloorHold) or holder not in hold.holders:
            continue
        change = decide_floor(
            current_min=scaler.min_replicas,
            maximum=scaler.max_replicas,
            default_min=scaler.default_min,
            hold=hold,
            holder=holder,
            floor=None,
        )
        if change is not None:
            error = await apply_floor(runtime, namespace, scaler, change, logger)
            if error is not None:
                logger.warning("%s", error)


def _note(
    owns: str,
    scaler: Autoscaler,
    refuse: bool,
    floor: int | None,
    change: FloorChange | None,
    hold: FloorHold | None,
) -> str:
    if refuse:
        return f"{owns}; hpaConflict is Refuse: the operator leaves it alone"
    if floor is None:
        return f"{owns}; outside the mode the operator leaves it alone"
    held = change.hold if change is not None else hold
    if held is not None and held.yielded:
        return f"{owns}; its minimum was edited in the mode: the user's value is kept"
    shown = change.min_replicas if change is not None else scaler.min_replicas
    return f"{owns}; {_describe(scaler)} minimum held at {shown} for the wedding-day floor {floor}"


async def apply_floor(
    runtime: Runtime, namespace: str, scaler: Autoscaler, change: FloorChange, logger: Logger
) -> str | None:
    """Send one planned write; None when it landed, else why not (for the condition). A
    Conflict (the object changed since it was read) is decided again from the new copy
    by the next evaluation."""
    hold = change.hold
    annotation = {HOLD_ANNOTATION: render_hold(hold) if hold is not None else None}
    try:
        body = await runtime.kube.patch_autoscaler_min(
            scaler, namespace, change.min_replicas, annotation
        )
    except KubeError as exc:
        logger.warning("could not write the minimum of %s: %s", _describe(scaler), exc)
        metrics.EVALUATION_ERRORS.labels(reason=exc.reason).inc()
        return f"could not write the minimum of {_describe(scaler)}: {exc}"
    if scaler.kind == "HorizontalPodAutoscaler":
        runtime.targets.record_autoscaler(namespace, body)
    return None
