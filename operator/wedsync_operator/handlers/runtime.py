"""What the handlers share: clients made once at startup, the store of WeddingDays, the clock,
and wake-ups.

A WeddingDay changing phase must switch its policies at that instant, not at their next
tick: each policy loop sleeps on its own asyncio.Event, and ``Wakeups`` lets the
WeddingDay side set the events of the policies a day selects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kopf

from wedsync_operator.adapters.clients import DataStoreClients
from wedsync_operator.adapters.kube import KubeClient
from wedsync_operator.adapters.kube_watch import TargetCache
from wedsync_operator.aiokits.scheduler import Scheduler
from wedsync_operator.engine.mode import selector_matches
from wedsync_operator.handlers.days import DayStore
from wedsync_operator.model.endpoints import EgressPolicy
from wedsync_operator.model.types import LabelSelector

Key = tuple[str, str, str]  # (kind, namespace, name)
Logger = logging.Logger | logging.LoggerAdapter[Any]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Waiter:
    event: asyncio.Event
    labels: Callable[[], Mapping[str, str]]
    on_wake: Callable[[], None]


def _no_labels() -> Mapping[str, str]:
    return {}


def _nothing() -> None:
    pass


@dataclass
class Wakeups:
    # (kind, namespace) → name → waiter: a day wakes the policies of its namespace
    # without walking every daemon of the cluster (at start-up, 10,000 days each walked
    # 11,000 daemons).
    waiters: dict[tuple[str, str], dict[str, _Waiter]] = field(default_factory=dict)

    @contextlib.contextmanager
    def registered(
        self,
        key: Key,
        labels: Callable[[], Mapping[str, str]] = _no_labels,
        on_wake: Callable[[], None] = _nothing,
    ) -> Iterator[asyncio.Event]:
        """The wake-up event of one daemon, for as long as the daemon runs. ``labels``
        reads the object's current labels, for waking only the policies a day selects;
        ``on_wake`` runs at each wake-up, before the daemon's next turn."""
        kind, namespace, name = key
        group = self.waiters.setdefault((kind, namespace), {})
        waiter = group.setdefault(name, _Waiter(asyncio.Event(), labels, on_wake))
        try:
            yield waiter.event
        finally:
            group.pop(name, None)
            if not group:
                self.waiters.pop((kind, namespace), None)

    def wake(self, key: Key) -> None:
        kind, namespace, name = key
        waiter = self.waiters.get((kind, namespace), {}).get(name)
        if waiter is not None:
            waiter.on_wake()
            waiter.event.set()

    def wake_policies(self, namespace: str, selector: LabelSelector | None = None) -> None:
        """Wake the policy loops of a namespace: those ``selector`` picks, or all.

        A day switching phase wakes only the policies it selects: with many policies in
        a namespace, waking all of them at every activation multiplied the work of a
        busy Saturday by the number of policies."""
        for waiter in self.waiters.get(("ps", namespace), {}).values():
            if selector is None or selector_matches(selector, waiter.labels()):
                waiter.on_wake()
                waiter.event.set()


@dataclass
class LoopMemory:
    """What one daemon remembers between its iterations.

    ``status`` is the newest status it computed: the live body only catches up when the
    watch event arrives, and an iteration woken before that must not read its own stale
    status (it would, say, take the pre-scaled count as the baseline and pre-scale
    again). Only the daemon writes this status, so its copy is the newest; after a
    restart the object's status is the source. ``written`` is what the object holds
    since the daemon's last write, and ``refresh_at`` when a policy loop writes it again
    though nothing significant changed (engine/status.py).
    """

    status: dict[str, Any] | None = None
    written: dict[str, Any] | None = None
    refresh_at: datetime | None = None
    published: set[str] = field(default_factory=set)
    # (mode, until) for which the silences were last reconciled without error.
    silenced_for: tuple[str, str] | None = None

    def previous(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if self.status is not None:
            return dict(self.status)
        return dict(body.get("status") or {})

    def merged(self, status: Mapping[str, Any]) -> dict[str, Any]:
        """The status once this merge patch is applied (None removes a field)."""
        merged = dict(self.status or {})
        merged.update(status)
        return {k: v for k, v in merged.items() if v is not None}

    def wrote(self, status: Mapping[str, Any], refresh_at: datetime | None = None) -> None:
        self.status = self.written = self.merged(status)
        self.refresh_at = refresh_at

    def kept(self, status: Mapping[str, Any]) -> None:
        """Computed but not written: the next iteration builds on it all the same."""
        self.status = self.merged(status)

    def unwritten(self, status: Mapping[str, Any]) -> dict[str, Any]:
        """The merge patch that brings the object from ``written`` to ``status`` (merged),
        including what iterations since the last write changed and did not write."""
        patch: dict[str, Any] = {k: None for k in self.written or {} if k not in status}
        patch.update(status)
        return patch


@dataclass
class Acting:
    """Whether this replica acts: open in standalone mode; with peering, while at least
    one peering sentinel runs (kopf stops them when it pauses this replica; see
    handlers/peering.py)."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    holders: int = 0

    def always(self) -> None:
        self.holders = 1
        self.gate.set()

    def hold(self) -> None:
        self.holders += 1
        self.gate.set()

    def release(self) -> None:
        self.holders = max(self.holders - 1, 0)
        if not self.holders:
            self.gate.clear()


@dataclass
class Tracked:
    """An object the scheduler works on: its newest body (from kopf's watch events) and
    what its work remembers between two turns."""

    body: kopf.Body
    memory: LoopMemory = field(default_factory=LoopMemory)


@dataclass
class Runtime:
    kube: KubeClient
    http: aiohttp.ClientSession
    datastores: DataStoreClients
    targets: TargetCache  # replicas and HPA ownership, from watch caches where current
    egress: EgressPolicy = field(default_factory=EgressPolicy)  # where policies may point
    wakeups: Wakeups = field(default_factory=Wakeups)
    days: DayStore = field(default_factory=DayStore)
    tracked: dict[Key, Tracked] = field(default_factory=dict)
    acting: Acting = field(default_factory=Acting)
    # One loop for every object's timed work (docs/decisions/0001-one-scheduler.md);
    # made at start-up, when the work it runs can be given this runtime.
    scheduler: Scheduler[Key] | None = None

    scheduler_loop: asyncio.Task[None] | None = None

    def schedule(self, key: Key, when: float, *, urgent: bool = False) -> None:
        """Make ``key`` due by ``when``. Called from kopf's watch-event handlers: the
        first call starts the loop there, so that its work inherits kopf's context
        (kopf.event posts through context variables set in those tasks)."""
        if self.scheduler is None:
            return
        if self.scheduler_loop is None:
            self.scheduler_loop = asyncio.create_task(self.scheduler.run(), name="scheduler")
        self.scheduler.at(key, when, urgent=urgent)

    def track(self, key: Key, body: kopf.Body) -> bool:
        """Keep the newest body of ``key``; True when the key is new."""
        known = self.tracked.get(key)
        if known is None:
            self.tracked[key] = Tracked(body)
            return True
        known.body = body
        return False

    def forget_everything(self) -> None:
        """A paused replica's watches stop: what they delivered goes stale, and objects
        deleted meanwhile never send their DELETED. Forget it all; kopf lists every object
        anew when it resumes this replica, as it restarts its daemons."""
        self.tracked.clear()
        self.days.reset()
        if self.scheduler is not None:
            self.scheduler.forget_all()

    def untrack(self, key: Key) -> None:
        self.tracked.pop(key, None)
        if self.scheduler is not None:
            self.scheduler.forget(key)

    # Work that must outlive the daemon that started it (kopf cancels a daemon at once
    # when its object is deleted); held here so that it is not collected half-way.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


async def sleep_or_wake(wake: asyncio.Event, stopped: Any, seconds: float) -> bool:
    """Sleep ``seconds``, or less if woken or asked to stop (kopf's daemon flag); True
    when woken."""
    waiters = {
        asyncio.ensure_future(wake.wait()),
        asyncio.ensure_future(stopped.wait()),
    }
    try:
        await asyncio.wait(waiters, timeout=max(seconds, 0.0), return_when="FIRST_COMPLETED")
        woken = wake.is_set()
        # Clear at once, with no await in between: a wake-up that arrives from here on
        # stays set and cuts the next sleep short instead of being lost.
        wake.clear()
        return woken
    finally:
        for w in waiters:
            w.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await w


def spec_is_unseen(body: Mapping[str, Any]) -> bool:
    """True when the object's spec changed since the operator last wrote its status.

    Wakes a daemon on spec changes only: its own status writes (which do not bump
    metadata.generation) must not wake it again.
    """
    generation = (body.get("metadata") or {}).get("generation")
    return bool(generation != (body.get("status") or {}).get("observedGeneration"))
