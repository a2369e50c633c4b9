"""One loop for the whole operator: it sleeps until the earliest key of the agenda is
due (or until it is told of an earlier one), then hands due keys to a bounded pool.

``work(key, urgent)`` does one piece of work (evaluate a policy, bring a day's phase up
to date; ``urgent`` when a wake-up brought it) and returns when the key is next due (a
wall-clock time, or a ``Due`` that is urgent then), or None to leave it off the agenda.
A key is never
worked on twice at once: one that falls due while it runs is taken again as soon as it
ends. A ``work`` that raises is logged and tried again after ``retry_seconds`` (the work
functions report their own errors; this is the last resort that keeps the loop alive).
While ``gate`` is clear (a standby replica), no work starts; due keys wait on the agenda.
See docs/decisions/0001-one-scheduler.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from wedsync_operator.aiokits.agenda import Agenda

__all__ = ["Due", "Scheduler"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Due:
    """When a key is next due, and whether it is urgent then: a day's phase change is
    known in advance, and at that instant it must go ahead of a backlog of routine work
    that fell due earlier (a restarted operator's first turn over every object)."""

    at: float
    urgent: bool = False


class Scheduler(Generic[K]):
    def __init__(
        self,
        work: Callable[[K, bool], Awaitable[float | Due | None]],
        *,
        workers: int,
        clock: Callable[[], float] = time.time,
        max_sleep: float = 60.0,
        retry_seconds: float = 5.0,
        gate: asyncio.Event | None = None,
    ) -> None:
        self._work = work
        self._workers = workers
        self._clock = clock
        # A wall-clock jump is healed by the next wake-up at the latest.
        self._max_sleep = max_sleep
        self._retry_seconds = retry_seconds
        self._gate = gate
        self.agenda: Agenda[K] = Agenda()
        self._running: dict[K, asyncio.Task[None]] = {}
        self._again: dict[K, bool] = {}  # due again while running → urgent?
        self._gone: set[K] = set()  # forgotten while running: not put back after
        self._poke = asyncio.Event()
        self._stopping = False

    @property
    def busy(self) -> int:
        return len(self._running)

    def at(self, key: K, when: float, *, urgent: bool = False) -> None:
        """Make ``key`` due at ``when`` at the latest (an earlier time it has stays)."""
        self._gone.discard(key)
        if key in self._running:
            if when <= self._clock():
                self._again[key] = self._again.get(key, False) or urgent
            else:
                self.agenda.schedule_by(key, when, urgent=urgent)
            return
        self.agenda.schedule_by(key, when, urgent=urgent)
        self._poke.set()

    def now(self, key: K, *, urgent: bool = True) -> None:
        """Make ``key`` due now: a wake-up, ahead of routine work by default."""
        self.at(key, self._clock(), urgent=urgent)

    def forget(self, key: K) -> None:
        """Take ``key`` off the agenda; a running piece of work ends as it is."""
        self.agenda.cancel(key)
        self._again.pop(key, None)
        if key in self._running:
            self._gone.add(key)

    async def finish(self, key: K, grace: float) -> None:
        """Forget ``key`` and wait for its running piece of work to end, cancelling it
        after ``grace`` seconds: what follows (a deleted object's clean-up) must not race
        it."""
        self.forget(key)
        task = self._running.get(key)
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
            await asyncio.wait({task})

    def forget_all(self) -> None:
        """Empty the agenda; running pieces of work end as they are and are not put back."""
        self.agenda.clear()
        self._again.clear()
        self._gone.update(self._running)

    async def run(self) -> None:
        """Until cancelled: start due work while workers are free, sleep otherwise."""
        try:
            while True:
                if self._gate is not None and not self._gate.is_set():
                    await self._gate.wait()
                self._poke.clear()
                now = self._clock()
                free = self._workers - len(self._running)
                for key, urgent in self.agenda.pop_due(now, free) if free > 0 else ():
                    self._start(key, urgent)
                nxt = self.agenda.next_at()
                if len(self._running) >= self._workers or nxt is None:
                    delay = self._max_sleep
                else:
                    delay = min(max(nxt - now, 0.0), self._max_sleep)
                if delay > 0 or len(self._running) >= self._workers:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._poke.wait(), delay)
                else:
                    await asyncio.sleep(0)  # due work waits for a free worker's poke
        finally:
            self._stopping = True
            tasks = list(self._running.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, key: K, urgent: bool) -> None:
        self._running[key] = asyncio.create_task(self._one(key, urgent), name=f"work {key}")

    async def _one(self, key: K, urgent: bool) -> None:
        nxt: float | Due | None
        try:
            nxt = await self._work(key, urgent)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("work on %s failed; trying again in %gs", key, self._retry_seconds)
            nxt = self._clock() + self._retry_seconds
        finally:
            self._running.pop(key, None)
            self._poke.set()  # a worker is free
        if self._stopping or key in self._gone:
            self._gone.discard(key)
            return
        again = self._again.pop(key, None)
        if again is not None:
            self.agenda.schedule(key, self._clock(), urgent=again)
        if isinstance(nxt, Due):
            self.agenda.schedule_by(key, nxt.at, urgent=nxt.urgent)
        elif nxt is not None:
            self.agenda.schedule_by(key, nxt)
