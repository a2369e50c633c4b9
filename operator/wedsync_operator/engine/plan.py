"""Offline what-if: the timeline of phases, mode switches and replica floors.

Composes the pure engine over objects read from files; used by ``wedsync-operator plan``.
No cluster is involved, so current replica counts are unknown: each target's baseline is
its ``minReplicas`` unless the caller gives one (``--baseline web=6``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from wedsync_operator.engine.mode import Mode, resolve_mode
from wedsync_operator.engine.replicas import wedding_floor
from wedsync_operator.engine.schedule import Phase, ScheduleError, window
from wedsync_operator.model.types import PlatformScaling, WeddingDay


@dataclass(frozen=True)
class DayTransition:
    at: datetime
    day: str
    namespace: str
    phase: Phase
    time_zone: str | None


@dataclass(frozen=True)
class PolicyStep:
    at: datetime
    policy: str
    namespace: str
    mode: Mode
    active_days: tuple[str, ...]
    floors: Mapping[str, int] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class Plan:
    transitions: tuple[DayTransition, ...]
    steps: tuple[PolicyStep, ...]
    problems: tuple[str, ...]


def day_transitions(day: WeddingDay) -> list[DayTransition]:
    w = window(day)
    return [
        DayTransition(at, day.meta.name, day.meta.namespace, phase, day.time_zone)
        for at, phase in (
            (w.mode_start, Phase.PREPARING),
            (w.start, Phase.ACTIVE),
            (w.end, Phase.WINDING_DOWN),
            (w.mode_end, Phase.COMPLETED),
        )
    ]


def build_plan(
    days: Iterable[WeddingDay],
    policies: Iterable[PlatformScaling],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    baselines: Mapping[str, int] | None = None,
) -> Plan:
    days = list(days)
    policies = list(policies)
    baselines = baselines or {}
    problems: list[str] = []
    transitions: list[DayTransition] = []
    for day in days:
        if day.cancelled:
            problems.append(f"WeddingDay {day.meta.name} is cancelled: it never switches the mode")
            continue
        try:
            transitions.extend(day_transitions(day))
        except ScheduleError as exc:
            problems.append(f"WeddingDay {day.meta.name}: {exc}")
    transitions.sort(key=lambda tr: (tr.at, tr.day))
    if start is not None:
        transitions = [tr for tr in transitions if tr.at >= start]
    if end is not None:
        transitions = [tr for tr in transitions if tr.at <= end]

    # The mode or its floors can change only at a day's transition, so evaluating the
    # engine at each transition instant gives the full policy timeline.
    instants = sorted({tr.at for tr in transitions})
    steps: list[PolicyStep] = []
    for policy in policies:
        previous: tuple[Mode, tuple[str, ...], Mapping[str, int]] | None = None
        for at in instants:
            mode = resolve_mode(policy, days, at)
            floors: dict[str, int] = {}
            if mode.mode is Mode.WEDDING_DAY:
                for target in policy.targets:
                    baseline = baselines.get(target.name, target.min_replicas)
                    floors[target.name] = max(
                        target.min_replicas,
                        wedding_floor(target, policy, baseline, mode.load_factor),
                    )
            current = (mode.mode, mode.active_days, floors)
            if current != previous:
                steps.append(
                    PolicyStep(
                        at=at,
                        policy=policy.meta.name,
                        namespace=policy.meta.namespace,
                        mode=mode.mode,
                        active_days=mode.active_days,
                        floors=floors,
                        message=mode.message,
                    )
                )
            previous = current
    return Plan(tuple(transitions), tuple(steps), tuple(problems))
