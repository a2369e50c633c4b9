"""Request limiting for the Kubernetes client: a bounded number of requests in flight,
urgent callers (a policy woken by a day's phase change) served first.

Why: docs/decisions/0003-request-slots.md
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(eq=False)
class Urgency:
    """Whether one caller's requests (a policy loop's) go ahead of the others. It can be
    raised while they wait: a loop woken in the middle of an evaluation has that
    evaluation's queued requests moved ahead too."""

    urgent: bool = False


_Entry = tuple[asyncio.Future[bool], Urgency | None]


class RequestSlots:
    """A semaphore that serves the waiters of an urgent caller before all others (FIFO
    within each class), and that, while urgent requests are waiting or in flight, lets at
    most ``ordinary_while_urgent`` ordinary ones be in flight."""

    def __init__(self, size: int, ordinary_while_urgent: int | None = None) -> None:
        self._free = size
        self._cap = size if ordinary_while_urgent is None else ordinary_while_urgent
        self._urgent: collections.deque[_Entry] = collections.deque()
        self._normal: collections.deque[_Entry] = collections.deque()
        self._busy = {True: 0, False: 0}  # slots held, by urgent (True) or ordinary

    @contextlib.asynccontextmanager
    async def slot(self, urgency: Urgency | None) -> AsyncIterator[None]:
        urgent = await self._acquire(urgency)
        try:
            yield
        finally:
            self._release(urgent)

    def hurry(self, urgency: Urgency) -> None:
        """Make the caller urgent, including its requests already waiting."""
        urgency.urgent = True
        if any(u is urgency for _, u in self._normal):
            self._urgent.extend(e for e in self._normal if e[1] is urgency)
            self._normal = collections.deque(e for e in self._normal if e[1] is not urgency)
            self._dispatch()  # slots held back from ordinary requests may serve them now

    def _ordinary_may_start(self) -> bool:
        return not (self._busy[True] or self._urgent) or self._busy[False] < self._cap

    async def _acquire(self, urgency: Urgency | None) -> bool:
        """Wait for a slot; returns the class it was granted in (True: urgent)."""
        urgent = bool(urgency and urgency.urgent)
        free = self._free > 0 and not self._urgent
        if free and (urgent or (not self._normal and self._ordinary_may_start())):
            self._free -= 1
            self._busy[urgent] += 1
            return urgent
        granted: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        entry = (granted, urgency)
        (self._urgent if urgent else self._normal).append(entry)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release(granted.result())  # handed a slot as it was cancelled
            else:
                for queue in (self._urgent, self._normal):
                    with contextlib.suppress(ValueError):  # passed over by _dispatch
                        queue.remove(entry)
            raise
        return granted.result()

    def _release(self, urgent: bool) -> None:
        self._busy[urgent] -= 1
        self._free += 1
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand free slots to waiters: urgent ones first, then ordinary ones as the cap
        allows (all of them once no urgent request is left)."""
        while self._free > 0:
            queue, urgent = (self._urgent, True) if self._urgent else (self._normal, False)
            if not queue or (not urgent and not self._ordinary_may_start()):
                return
            waiter, _ = queue.popleft()
            if waiter.done():  # cancelled while waiting
                continue
            self._free -= 1
            self._busy[urgent] += 1
            waiter.set_result(urgent)
