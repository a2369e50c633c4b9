"""Typed reads of the status the operator wrote: what an evaluation builds on. Lenient on
purpose: a status written by an older version, or edited by hand, reads as empty fields,
never as an exception that would stop the object's work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DayStatus", "PolicyStatus"]


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


@dataclass(frozen=True)
class PolicyStatus:
    """A PlatformScaling's status as stored (``raw``, for the engine's renderers) and the
    fields an evaluation reads."""

    raw: Mapping[str, Any] = field(default_factory=dict)
    observed_generation: int | None = None
    consecutive_failures: int = 0
    targets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    cache_warming: Mapping[str, Any] | None = None
    silences: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> PolicyStatus:
        raw = _mapping(raw)
        targets = {str(t["name"]): t for t in _entries(raw.get("targets")) if "name" in t}
        warming = raw.get("cacheWarming")
        silences = raw.get("silences")
        return cls(
            raw=raw,
            observed_generation=_int(raw.get("observedGeneration")),
            consecutive_failures=max(_int(raw.get("consecutiveFailures")) or 0, 0),
            targets=targets,
            cache_warming=warming if isinstance(warming, Mapping) else None,
            silences=tuple(str(s) for s in silences) if isinstance(silences, list) else (),
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

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> DayStatus:
        raw = _mapping(raw)
        return cls(
            raw=raw,
            phase=_text(raw.get("phase")),
            next_transition=_text(raw.get("nextTransition")),
            observed_generation=_int(raw.get("observedGeneration")),
        )
