"""Typed reads of the status the operator wrote: what an evaluation builds on. Lenient on
purpose: a status written by an older version, or edited by hand, reads as empty fields,
never as an exception that would stop the object's work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DayStatus",
    "PolicyStatus",
    "StoredCondition",
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
class PolicyStatus:
    """A PlatformScaling's status as stored (``raw``, for the engine's renderers) and the
    fields an evaluation reads."""

    raw: Mapping[str, Any] = field(default_factory=dict)
    observed_generation: int | None = None
    mode: str | None = None
    since: str | None = None
    consecutive_failures: int = 0
    targets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    cache_warming: Mapping[str, Any] | None = None
    silences: tuple[str, ...] = ()
    conditions: tuple[StoredCondition, ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> PolicyStatus:
        raw = _mapping(raw)
        targets = {str(t["name"]): t for t in _entries(raw.get("targets")) if "name" in t}
        warming = raw.get("cacheWarming")
        silences = raw.get("silences")
        return cls(
            raw=raw,
            observed_generation=observed_generation(raw),
            mode=_text(raw.get("mode")),
            since=_text(raw.get("since")),
            consecutive_failures=max(_int(raw.get("consecutiveFailures")) or 0, 0),
            targets=targets,
            cache_warming=warming if isinstance(warming, Mapping) else None,
            silences=tuple(str(s) for s in silences) if isinstance(silences, list) else (),
            conditions=parse_conditions(raw.get("conditions")),
        )

    def target(self, name: str) -> Mapping[str, Any]:
        return self.targets.get(name) or {}


@dataclass(frozen=True)
class DayStatus:
    """A WeddingDay's status as stored, and the fields its turn compares against."""

    raw: Mapping[str, Any] = field(default_factory=dict)
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
            raw=raw,
            phase=_text(raw.get("phase")),
            next_transition=_text(raw.get("nextTransition")),
            observed_generation=observed_generation(raw),
            activated_at=_text(raw.get("activatedAt")),
            completed_at=_text(raw.get("completedAt")),
            conditions=parse_conditions(raw.get("conditions")),
        )
