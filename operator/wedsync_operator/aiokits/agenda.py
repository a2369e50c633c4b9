"""When each piece of work is next due: one ordered structure for the whole operator.

Every day's next transition and every policy's next evaluation is a key with a due time
(seconds on the wall clock, as ``time.time()``). Urgent keys (a policy woken by a day's
phase change, a spec change) go ahead of routine ones that are due as well, whatever
their due times: at an activation the switch must not queue behind a busy cluster's
periodic evaluations. Pure: no clock is read here; the caller says what time it is.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Agenda"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class _Entry:
    at: float
    urgent: bool


class Agenda(Generic[K]):
    """Keys and their due times; each key is on the agenda once (a new time replaces)."""

    def __init__(self) -> None:
        self._entries: dict[K, _Entry] = {}
        # Two heaps of (at, seq, key); an item whose entry changed since is stale and
        # dropped when it reaches the top (no search through the heap on a reschedule).
        self._urgent: list[tuple[float, int, K]] = []
        self._routine: list[tuple[float, int, K]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def due_at(self, key: K) -> float | None:
        entry = self._entries.get(key)
        return entry.at if entry else None

    def schedule(self, key: K, at: float, *, urgent: bool = False) -> None:
        """Put ``key`` on the agenda at ``at``, replacing any time it had; an urgent
        entry is not replaced by a routine one that is later (a wake-up is not undone
        by the periodic rescheduling that follows it)."""
        current = self._entries.get(key)
        if current is not None and current.urgent and not urgent and current.at <= at:
            return
        self._entries[key] = _Entry(at, urgent)
        heapq.heappush(self._urgent if urgent else self._routine, (at, next(self._seq), key))

    def schedule_by(self, key: K, at: float, *, urgent: bool = False) -> None:
        """Make ``key`` due at ``at`` at the latest: an earlier time it has stays."""
        current = self._entries.get(key)
        if current is None or at < current.at or (urgent and not current.urgent):
            self.schedule(key, min(at, current.at) if current else at, urgent=urgent)

    def cancel(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
        self._urgent.clear()
        self._routine.clear()

    def next_at(self) -> float | None:
        """The earliest due time on the agenda, or None when it is empty."""
        tops = [t for t in (self._top(self._urgent, True), self._top(self._routine, False)) if t]
        return min(at for at, _ in tops) if tops else None

    def pop_due(self, now: float, limit: int) -> list[tuple[K, bool]]:
        """Up to ``limit`` keys due at ``now``, each with whether it is urgent: the
        urgent ones first, then the routine ones, each in due-time order. They leave the
        agenda."""
        taken: list[tuple[K, bool]] = []
        for heap, urgent in ((self._urgent, True), (self._routine, False)):
            while len(taken) < limit:
                top = self._top(heap, urgent)
                if top is None or top[0] > now:
                    break
                key = top[1]
                heapq.heappop(heap)
                del self._entries[key]
                taken.append((key, urgent))
        return taken

    def _top(self, heap: list[tuple[float, int, K]], urgent: bool) -> tuple[float, K] | None:
        """The heap's first live item, dropping stale ones on the way."""
        while heap:
            at, _, key = heap[0]
            entry = self._entries.get(key)
            if entry is not None and entry.at == at and entry.urgent == urgent:
                return at, key
            heapq.heappop(heap)
        return None
