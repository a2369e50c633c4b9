"""Is the day's capacity really there? The ``WeddingDayReady`` gate of a policy in
wedding-day mode, and the Warning owed when a day reaches its readiness deadline
(``start - spec.weddingDay.readinessDeadline``) without it.

A target is ready when its spec is at its floor and that many replicas are available,
and, for a stateful tier with a safety check configured, the check passes for that count
(Redis replicas in sync, Postgres replicas streaming within the lag bounds). Cache warming,
where it applies, must have completed. The first shortfall in tier order (database,
cache, app) gives the condition's reason; its message names every target that is short
and why, with the scheduler's own words for pods it could not place.

Pure: the handlers pass what they read (the targets' counts from the watch, the pods'
scheduling, the safety checks' verdicts) and ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from wedsync_operator.engine.replicas import GateVerdict
from wedsync_operator.engine.schedule import format_instant, try_window
from wedsync_operator.engine.status import Condition, condition
from wedsync_operator.model.observations import Refusal, Scale, Scheduling
from wedsync_operator.model.status import StoredCondition, StoredDeadline, WarmingStatus
from wedsync_operator.model.types import PlatformScaling, Role, WeddingDay

__all__ = [
    "CONDITION",
    "Cause",
    "Deadline",
    "Readiness",
    "Shortfall",
    "TargetReadiness",
    "Verdict",
    "condition_unseen",
    "day_condition",
    "deadlines",
    "needs_scheduling",
    "needs_sync_check",
    "next_deadline",
    "not_in_mode",
    "readiness",
    "target_shortfall",
    "warming_shortfall",
    "warnings_due",
]

CONDITION = "WeddingDayReady"
_TIER_ORDER = {Role.DATABASE: 0, Role.CACHE: 1, Role.APP: 2}


class Cause(StrEnum):
    PODS_PENDING = "PodsPending"
    QUOTA_EXCEEDED = "QuotaExceeded"
    REPLICAS_NOT_READY = "ReplicasNotReady"
    REPLICA_LAGGING = "ReplicaLagging"
    WARMING_INCOMPLETE = "WarmingIncomplete"


@dataclass(frozen=True)
class TargetReadiness:
    """What was read of one target: its counts (or why they could not be read), the
    count it must reach, and, where asked, its pods' scheduling and its tier's check."""

    name: str
    role: Role
    floor: int
    scale: Scale | str  # a str: why the target could not be read
    scheduling: Scheduling | None = None
    sync: GateVerdict | None = None
    # A StatefulSet's latest FailedCreate, and when the target was last scaled: a refusal
    # from before that scale-up is history, not why it is short now.
    refusal: Refusal | None = None
    scaled_at: datetime | None = None

    @property
    def failure(self) -> str:
        """Why the workload's controller cannot create the missing pods, if it says."""
        if isinstance(self.scale, Scale) and self.scale.failure:
            return self.scale.failure
        if self.refusal is None:
            return ""
        if self.scaled_at is not None and self.refusal.at < self.scaled_at.replace(microsecond=0):
            return ""
        return self.refusal.message


@dataclass(frozen=True)
class Shortfall:
    target: str  # a target's name, or "cache warming"
    role: Role | None
    cause: Cause
    message: str


@dataclass(frozen=True)
class Readiness:
    shortfalls: tuple[Shortfall, ...]

    @property
    def ready(self) -> bool:
        return not self.shortfalls

    @property
    def reason(self) -> str:
        return self.shortfalls[0].cause.value if self.shortfalls else "CapacityReady"

    @property
    def message(self) -> str:
        if not self.shortfalls:
            return "every target is at its floor with that many replicas available"
        return "; ".join(s.message for s in self.shortfalls)

    def condition(self, generation: int) -> Condition:
        return condition(
            CONDITION, "True" if self.ready else "False", self.reason, self.message, generation
        )

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.ready, self.reason, self.message)


@dataclass(frozen=True)
class Verdict:
    """A policy's gate as a day it holds in the mode sees it."""

    ready: bool
    reason: str
    message: str


def day_condition(
    in_mode: bool,
    verdicts: Mapping[str, Verdict],
    stored: Iterable[StoredCondition],
    generation: int,
) -> Condition | None:
    """A WeddingDay's ``WeddingDayReady``: True when every policy holding it in the mode
    is ready, else False naming each that is not; None when there is nothing new to say
    (in the mode with no verdict yet, just after a restart: the stored one stands; out of
    the mode and never in it: no condition)."""
    if not in_mode:
        held = any(c.type == CONDITION for c in stored)
        return not_in_mode(generation) if held else None
    if not verdicts:
        return None
    names = sorted(verdicts)
    short = [n for n in names if not verdicts[n].ready]
    if not short:
        message = "ready for PlatformScaling " + ", ".join(names)
        return condition(CONDITION, "True", "CapacityReady", message, generation)
    message = "; ".join(f"PlatformScaling {n}: {verdicts[n].message}" for n in short)
    return condition(CONDITION, "False", verdicts[short[0]].reason, message, generation)


def condition_unseen(stored: Iterable[StoredCondition], new: Condition | None) -> bool:
    """Whether ``new`` says something the stored conditions do not."""
    if new is None:
        return False
    old = next((c for c in stored if c.type == new["type"]), None)
    return old is None or (old.status, old.reason, old.message) != (
        new["status"],
        new["reason"],
        new["message"],
    )


def not_in_mode(generation: int) -> Condition:
    """Outside the mode there is no day to be ready for."""
    return condition(
        CONDITION, "Unknown", "NotInWeddingDayMode", "no wedding day is active", generation
    )


def needs_scheduling(t: TargetReadiness) -> bool:
    """Whether to ask for the target's Pending pods: a watched workload (RBAC grants the
    pods' list with the watch) that is short, whose pods its selector finds."""
    s = t.scale
    return (
        isinstance(s, Scale)
        and s.ready_replicas is not None
        and bool(s.selector)
        and (s.available < t.floor)
    )


def needs_sync_check(t: TargetReadiness, policy: PlatformScaling) -> bool:
    """Whether the tier's safety check must confirm the replicas: a stateful target whose
    pods are all there, with its store's check configured."""
    if not isinstance(t.scale, Scale) or t.scale.available < t.floor:
        return False
    return policy.safety.covers(t.role)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def target_shortfall(t: TargetReadiness) -> Shortfall | None:
    def short(cause: Cause, why: str) -> Shortfall:
        return Shortfall(t.name, t.role, cause, f"{t.name}: {why}")

    if isinstance(t.scale, str):
        return short(Cause.REPLICAS_NOT_READY, f"could not be read ({t.scale})")
    if t.scale.replicas < t.floor:
        asked = f"asks for {t.scale.replicas} replicas, its floor is {t.floor}"
        return short(Cause.REPLICAS_NOT_READY, asked)
    available = t.scale.available
    if available < t.floor:
        counted = f"{available} of {t.floor} replicas available"
        if (failure := t.failure) and "quota" in failure.lower():
            return short(Cause.QUOTA_EXCEEDED, f"{counted}, {failure}")
        if t.scheduling is not None and t.scheduling.pending:
            pending = _plural(t.scheduling.pending, "pod")
            why = f" ({t.scheduling.unschedulable})" if t.scheduling.unschedulable else ""
            return short(Cause.PODS_PENDING, f"{counted}, {pending} Pending{why}")
        return short(Cause.REPLICAS_NOT_READY, f"{counted}, {failure}" if failure else counted)
    if t.sync is not None and not t.sync.passed:
        return short(Cause.REPLICA_LAGGING, t.sync.message)
    return None


def warming_shortfall(
    policy: PlatformScaling, couple_ids: Sequence[str] | None, warming: WarmingStatus | None
) -> Shortfall | None:
    """Cache warming, where it applies (configured, and couples to warm), must be complete."""
    configured = policy.wedding_day.cache_warming
    if not (configured.enabled and configured.redis and configured.postgres and couple_ids):
        return None
    if warming is not None and warming.complete:
        return None
    why = warming.message if warming is not None and warming.message else "not run yet"
    return Shortfall("cache warming", None, Cause.WARMING_INCOMPLETE, f"cache warming: {why}")


def readiness(targets: Iterable[TargetReadiness], warming: Shortfall | None) -> Readiness:
    """The gate over every target, in tier order, then warming."""
    found = [s for t in targets if (s := target_shortfall(t)) is not None]
    found.sort(key=lambda s: _TIER_ORDER.get(s.role, 3) if s.role is not None else 3)
    if warming is not None:
        found.append(warming)
    return Readiness(tuple(found))


@dataclass(frozen=True)
class Deadline:
    """When a day in the mode must be ready, and whether its Warning was posted."""

    day: str
    at: datetime
    warned: bool = False

    def as_status(self) -> dict[str, Any]:
        return {"day": self.day, "at": format_instant(self.at), "warned": self.warned}


def deadlines(
    policy: PlatformScaling,
    days: Iterable[WeddingDay],
    active: Sequence[str],
    previous: Iterable[StoredDeadline],
) -> list[Deadline]:
    """The readiness deadline of each active day (start - readinessDeadline), keeping
    what ``status.readinessDeadlines`` recorded as warned."""
    warned = {d.day for d in previous if d.warned}
    out: list[Deadline] = []
    for day in days:
        win = try_window(day)
        if day.meta.name not in active or win is None:
            continue
        at = win.start - policy.wedding_day.readiness_deadline
        out.append(Deadline(day.meta.name, at, day.meta.name in warned))
    return sorted(out, key=lambda d: (d.at, d.day))


def warnings_due(
    found: Readiness, days: Sequence[Deadline], now: datetime, *, settling: bool = False
) -> list[Deadline]:
    """The days whose deadline has come while the policy is not ready, not warned yet.
    An evaluation that has just raised a target (``settling``) does not judge it: its new
    replicas cannot be ready yet, and the next evaluation looks."""
    if found.ready or settling:
        return []
    return [d for d in days if d.at <= now and not d.warned]


def next_deadline(days: Sequence[Deadline], now: datetime) -> datetime | None:
    """The next deadline still ahead, when the evaluation must look again."""
    return min((d.at for d in days if d.at > now and not d.warned), default=None)
