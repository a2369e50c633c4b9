"""Typed reads of the status the operator wrote: what an evaluation builds on. Lenient on
purpose: a status written by an older version, or edited by hand, reads as empty fields,
never as an exception that would stop the object's work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "DayStatus",
    "PendingScaleStatus",
    "PolicyStatus",
    "StoredCondition",
    "StoredEvent",
    "TargetStatus",
    "TimedCount",
    "WarmingStatus",
    "observed_generation",
    "parse_conditions",
]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _entries(value: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return ()
    return tuple(v for v in value if isinstance(v, Mapping))


def instant(value: Any) -> datetime | None:
    """An RFC 3339 instant with its offset; anything else (naive too) is None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def observed_generation(status: Any) -> int | None:
    """The generation a stored status was written for (None: none, or not a number)."""
    return _int(_mapping(status).get("observedGeneration"))


@dataclass(frozen=True)
class StoredCondition:
    """One stored condition, in the Kubernetes shape; a field absent or of the wrong
    type reads as None."""

    type: str
    status: str | None = None
    reason: str | None = None
    message: str | None = None
    observed_generation: int | None = None
    last_transition_time: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> StoredCondition | None:
        """None for an entry without a string ``type``: nothing can key it."""
        type_ = _text(raw.get("type"))
        if type_ is None:
            return None
        return cls(
            type=type_,
            status=_text(raw.get("status")),
            reason=_text(raw.get("reason")),
            message=_text(raw.get("message")),
            observed_generation=_int(raw.get("observedGeneration")),
            last_transition_time=_text(raw.get("lastTransitionTime")),
        )

    def as_status(self) -> dict[str, Any]:
        """The condition as written to status: the fields it has, in the written order."""
        fields = {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "observedGeneration": self.observed_generation,
            "lastTransitionTime": self.last_transition_time,
        }
        return {k: v for k, v in fields.items() if v is not None}


def parse_conditions(value: Any) -> tuple[StoredCondition, ...]:
    """``status.conditions`` as stored; entries that are not conditions are left out."""
    parsed = (StoredCondition.parse(c) for c in _entries(value))
    return tuple(c for c in parsed if c is not None)


@dataclass(frozen=True)
class TimedCount:
    """A count at an instant: a recommendation (replicas) or a scale event (delta)."""

    at: datetime
    count: int


def _timed(value: Any, key: str) -> tuple[TimedCount, ...]:
    out = []
    for entry in _entries(value):
        at, count = instant(entry.get("at")), _int(entry.get(key))
        if at is not None and count is not None:
            out.append(TimedCount(at, count))
    return tuple(out)


@dataclass(frozen=True)
class PendingScaleStatus:
    """A target's ``pendingScale``: the patch an intent recorded, and the name of the
    Event it owes."""

    from_: int
    to: int
    at: datetime
    event: str
    reason: str | None = None
    message: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> PendingScaleStatus | None:
        """None unless it has its counts, an instant with an offset and an Event name:
        an intent that cannot be checked against the target owes nothing."""
        raw = _mapping(raw)
        from_, to = _int(raw.get("from")), _int(raw.get("to"))
        at, event = instant(raw.get("at")), _text(raw.get("event"))
        if from_ is None or to is None or at is None or event is None:
            return None
        return cls(from_, to, at, event, _text(raw.get("reason")), _text(raw.get("message")))


@dataclass(frozen=True)
class StoredEvent:
    """One of ``status.pendingEvents``: an Event recorded as still to post."""

    name: str
    type: str | None = None
    reason: str | None = None
    message: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> StoredEvent | None:
        """None without a name: an Event is posted under the name it was recorded with."""
        name = _text(raw.get("name"))
        if name is None:
            return None
        return cls(
            name, _text(raw.get("type")), _text(raw.get("reason")), _text(raw.get("message"))
        )


@dataclass(frozen=True)
class TargetStatus:
    """One entry of a policy's ``status.targets``: ``raw`` as stored, to be written back
    unchanged when the target cannot be read, and the fields an evaluation builds on."""

    name: str
    raw: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None
    last_scale_time: str | None = None
    last_scaled_at: datetime | None = None  # lastScaleTime as an instant
    baseline_replicas: int | None = None
    recommendation_history: tuple[TimedCount, ...] = ()
    scale_events: tuple[TimedCount, ...] = ()
    pending_scale: PendingScaleStatus | None = None

    @classmethod
    def parse(cls, name: str, raw: Mapping[str, Any]) -> TargetStatus:
        return cls(
            name=name,
            raw=raw,
            reason=_text(raw.get("reason")),
            last_scale_time=_text(raw.get("lastScaleTime")),
            last_scaled_at=instant(raw.get("lastScaleTime")),
            baseline_replicas=_int(raw.get("baselineReplicas")),
            recommendation_history=_timed(raw.get("recommendationHistory"), "replicas"),
            scale_events=_timed(raw.get("scaleEvents"), "delta"),
            pending_scale=PendingScaleStatus.parse(raw.get("pendingScale")),
        )


@dataclass(frozen=True)
class WarmingStatus:
    """``status.cacheWarming``: the last cache warming's outcome."""

    fingerprint: str | None = None
    complete: bool = False
    reason: str | None = None
    message: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> WarmingStatus | None:
        """None when there is no block (or what is there is not one)."""
        if not isinstance(raw, Mapping):
            return None
        return cls(
            fingerprint=_text(raw.get("fingerprint")),
            complete=raw.get("complete") is True,
            reason=_text(raw.get("reason")),
            message=_text(raw.get("message")),
        )


@dataclass(frozen=True)
class StoredDeadline:
    """One entry of ``status.readinessDeadlines``: when an active day must be ready,
    and whether its Warning was posted (engine/readiness.py)."""

    day: str
    at: datetime
    warned: bool = False

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> StoredDeadline | None:
        day, at = _text(raw.get("day")), instant(raw.get("at"))
        if day is None or at is None:
            return None
        return cls(day=day, at=at, warned=raw.get("warned") is True)


@dataclass(frozen=True)
class PolicyStatus:
    """The fields of a PlatformScaling's stored status that an evaluation reads."""

    observed_generation: int | None = None
    mode: str | None = None
    since: str | None = None
    consecutive_failures: int = 0
    targets: Mapping[str, TargetStatus] = field(default_factory=dict)
    cache_warming: WarmingStatus | None = None
    silences: tuple[str, ...] = ()
    pending_events: tuple[StoredEvent, ...] = ()
    conditions: tuple[StoredCondition, ...] = ()
    readiness_deadlines: tuple[StoredDeadline, ...] = ()
    late_tiers: tuple[str, ...] = ()  # status.tierSequence.late[].role

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> PolicyStatus:
        raw = _mapping(raw)
        targets = {
            str(t["name"]): TargetStatus.parse(str(t["name"]), t)
            for t in _entries(raw.get("targets"))
            if "name" in t
        }
        silences = raw.get("silences")
        return cls(
            observed_generation=observed_generation(raw),
            mode=_text(raw.get("mode")),
            since=_text(raw.get("since")),
            consecutive_failures=max(_int(raw.get("consecutiveFailures")) or 0, 0),
            targets=targets,
            cache_warming=WarmingStatus.parse(raw.get("cacheWarming")),
            silences=tuple(str(s) for s in silences) if isinstance(silences, list) else (),
            pending_events=tuple(
                e
                for e in (StoredEvent.parse(r) for r in _entries(raw.get("pendingEvents")))
                if e is not None
            ),
            conditions=parse_conditions(raw.get("conditions")),
            late_tiers=tuple(
                str(t["role"])
                for t in _entries(_mapping(raw.get("tierSequence")).get("late"))
                if "role" in t
            ),
            readiness_deadlines=tuple(
                d
                for d in (StoredDeadline.parse(r) for r in _entries(raw.get("readinessDeadlines")))
                if d is not None
            ),
        )

    def target(self, name: str) -> TargetStatus:
        """The stored entry of target ``name``; an empty one when there is none."""
        return self.targets.get(name) or TargetStatus(name=name)


@dataclass(frozen=True)
class DayStatus:
    """The fields of a WeddingDay's stored status that its turn compares against."""

    phase: str | None = None
    next_transition: str | None = None
    observed_generation: int | None = None
    activated_at: str | None = None
    completed_at: str | None = None
    conditions: tuple[StoredCondition, ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> DayStatus:
        raw = _mapping(raw)
        return cls(
            phase=_text(raw.get("phase")),
            next_transition=_text(raw.get("nextTransition")),
            observed_generation=observed_generation(raw),
            activated_at=_text(raw.get("activatedAt")),
            completed_at=_text(raw.get("completedAt")),
            conditions=parse_conditions(raw.get("conditions")),
        )
