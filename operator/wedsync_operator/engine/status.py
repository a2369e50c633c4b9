"""Render decisions into the resources' status, and read back what must survive restarts.

Pure: the handlers pass the previous status and ``now``; what is returned is what they
write. Conditions follow the Kubernetes shape (type, status, reason, message,
lastTransitionTime, observedGeneration); a condition keeps its lastTransitionTime while
its status does not change, so `kubectl describe` tells how long something has been so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from wedsync_operator.engine.mode import ModeResolution
from wedsync_operator.engine.replicas import Decision, Recommendation, ScaleEvent, TargetState
from wedsync_operator.engine.schedule import Phase, Window, format_instant
from wedsync_operator.model.status import DayStatus, PolicyStatus, StoredCondition, TargetStatus

ConditionStatus = Literal["True", "False", "Unknown"]
Condition = dict[str, Any]


def condition(
    type_: str, status: ConditionStatus, reason: str, message: str, generation: int
) -> Condition:
    """A condition without its transition time (``merge_conditions`` sets it)."""
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
    }


def already_reported(conditions: Iterable[StoredCondition], type_: str, message: str) -> bool:
    """Whether ``conditions`` (as stored) already hold this failure (condition ``type_``
    False with this message): a failure retried at every evaluation posts one Event, not
    one per retry."""
    return any(c.type == type_ and c.status == "False" and c.message == message for c in conditions)


def merge_conditions(
    previous: Iterable[StoredCondition], new: Iterable[Condition], now: datetime
) -> list[Condition]:
    """New conditions replace old ones of the same type; untouched types are kept."""
    stored = {c.type: c for c in previous}
    by_type = {t: c.as_status() for t, c in stored.items()}
    for cond in new:
        old = stored.get(cond["type"])
        same = old is not None and old.status == cond["status"]
        stamp = old.last_transition_time if same and old else None
        by_type[cond["type"]] = {**cond, "lastTransitionTime": stamp or format_instant(now)}
    return sorted(by_type.values(), key=lambda c: str(c["type"]))


# ------------------------------------------------------------------------ WeddingDay


def wedding_day_status(
    *,
    phase: Phase,
    window: Window | None,
    next_transition: datetime | None,
    message: str,
    generation: int,
    previous: DayStatus,
    now: datetime,
    failure: str = "ScheduleInvalid",
    readiness: Condition | None = None,
) -> dict[str, Any]:
    """The day's status; ``failure`` is the Ready reason when the phase is Failed
    (``InvalidSpec``: a field out of the schema's bounds; ``ScheduleInvalid``: fields
    that each parse but make no window, such as a time in a DST gap). ``readiness`` is
    the day's WeddingDayReady (engine/readiness.py), when there is one to write."""
    in_mode = phase in (Phase.PREPARING, Phase.ACTIVE, Phase.WINDING_DOWN)
    failed = phase is Phase.FAILED
    status: dict[str, Any] = {
        "phase": phase.value,
        "observedGeneration": generation,
        "message": message,
        "nextTransition": format_instant(next_transition) if next_transition else None,
    }
    if window is not None:
        status.update(
            startTime=format_instant(window.start),
            endTime=format_instant(window.end),
            modeStart=format_instant(window.mode_start),
            modeEnd=format_instant(window.mode_end),
        )
    if in_mode and not previous.activated_at:
        status["activatedAt"] = format_instant(now)
    if phase in (Phase.COMPLETED, Phase.CANCELLED) and not previous.completed_at:
        status["completedAt"] = format_instant(now)
    ready = condition(
        "Ready",
        "False" if failed else "True",
        failure if failed else phase.value,
        message,
        generation,
    )
    new = [ready] if readiness is None else [ready, readiness]
    status["conditions"] = merge_conditions(previous.conditions, new, now)
    return status


# -------------------------------------------------------------------- PlatformScaling


def states_from_status(status: PolicyStatus, currents: Mapping[str, int]) -> dict[str, TargetState]:
    """Engine state per target: live replica counts, remembered baseline and history."""
    states: dict[str, TargetState] = {}
    for name, current in currents.items():
        entry = status.target(name)
        states[name] = TargetState(
            current=current,
            baseline=entry.baseline_replicas,
            recommendations=tuple(
                Recommendation(at=r.at, replicas=r.count) for r in entry.recommendation_history
            ),
            events=tuple(ScaleEvent(at=e.at, delta=e.count) for e in entry.scale_events),
        )
    return states


def target_status(
    decision: Decision,
    state: TargetState,
    previous: TargetStatus,
    *,
    applied: bool,
    now: datetime,
) -> dict[str, Any]:
    """One entry of status.targets; ``applied`` is False in dry-run or when the patch
    failed, so the recorded current count stays the one observed."""
    last_scale = format_instant(now) if applied and decision.changed else None
    return {
        "name": decision.target,
        "role": decision.role.value,
        "currentReplicas": decision.desired if applied else decision.current,
        "desiredReplicas": decision.desired,
        "baselineReplicas": state.baseline,
        "floor": decision.floor,
        "lastScaleTime": last_scale or previous.last_scale_time,
        "reason": decision.reason.value,
        "message": decision.message,
        "recommendationHistory": [
            {"at": format_instant(r.at), "replicas": r.replicas} for r in state.recommendations
        ],
        "scaleEvents": [{"at": format_instant(e.at), "delta": e.delta} for e in state.events],
    }


def mode_fields(mode: ModeResolution) -> dict[str, Any]:
    return {
        "mode": mode.mode.value,
        "since": format_instant(mode.since) if mode.since else None,
        "until": format_instant(mode.until) if mode.until else None,
        "activeWeddingDays": list(mode.active_days),
    }


def format_metric_value(value: float | None) -> str | None:
    if value is None:
        return None
    return f"{value:.6g}"


def replica_summary(entries: Iterable[Mapping[str, Any]]) -> str:
    """``web=6 redis-replica=3->4``: what `kubectl get ps` shows in its Replicas column."""
    parts = []
    for e in entries:
        current, desired = e.get("currentReplicas"), e.get("desiredReplicas")
        change = f"->{desired}" if desired is not None and desired != current else ""
        parts.append(f"{e.get('name')}={current}{change}")
    return " ".join(parts)


# What an evaluation refreshes even when nothing was decided differently: the heartbeat,
# observed values and the targets' messages (they quote the values). They ride along with
# the next change that matters, or with the periodic refresh.
# Why: docs/decisions/0004-status-write-throttling.md
OBSERVED_FIELDS = frozenset({"lastEvaluationTime", "metrics", "healthScore", "recommendations"})
OBSERVED_TARGET_FIELDS = frozenset({"message"})


def _runs(history: Any) -> list[Any]:
    """The recommendation history as its runs of equal counts, oldest first. A repeat of
    the newest count adds an entry every evaluation but no run; ``resumed`` restores
    what such unwritten repeats meant."""
    runs: list[Any] = []
    for entry in history if isinstance(history, list) else ():
        replicas = entry.get("replicas") if isinstance(entry, Mapping) else entry
        if not runs or runs[-1] != replicas:
            runs.append(replicas)
    return runs


def significant(status: Mapping[str, Any]) -> dict[str, Any]:
    """The status without what every evaluation refreshes: what stays is the mode,
    decisions, replica counts, reasons, conditions, scale events, the data tier's state,
    and the runs of the stabilization history."""
    out = {k: v for k, v in status.items() if k not in OBSERVED_FIELDS}
    targets = out.get("targets")
    if isinstance(targets, list):
        out["targets"] = [
            {
                **{k: v for k, v in t.items() if k not in OBSERVED_TARGET_FIELDS},
                "recommendationHistory": _runs(t.get("recommendationHistory")),
            }
            if isinstance(t, Mapping)
            else t
            for t in targets
        ]
    return out


def status_write_due(
    status: Mapping[str, Any],
    written: Mapping[str, Any] | None,
    refresh_at: datetime | None,
    now: datetime,
) -> bool:
    """Whether a policy's new status must be written now: always the first time (after a
    restart too), at once when anything significant changed, else from ``refresh_at``
    (the handler sets it a refresh period after each write; docs/decisions/0004)."""
    if written is None or refresh_at is None or now >= refresh_at:
        return True
    return significant(status) != significant(written)


def resumed(status: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A policy's status as read back by a restarted operator, each target's newest
    recommendation carried to ``now``.

    Since the last write the loop can only have repeated that count (any other would have
    been written at once), and the unwritten repeats are what keeps it inside a
    stabilization window: without them a scale-down could come up to a refresh period
    early. Carrying it over the restart's gap as well holds capacity as it was."""
    targets = status.get("targets")
    if not isinstance(targets, list):
        return dict(status)
    carried = []
    for t in targets:
        history = t.get("recommendationHistory") if isinstance(t, Mapping) else None
        if isinstance(history, list) and history and isinstance(history[-1], Mapping):
            t = {
                **t,
                "recommendationHistory": [*history, {**history[-1], "at": format_instant(now)}],
            }
        carried.append(t)
    return {**status, "targets": carried}
