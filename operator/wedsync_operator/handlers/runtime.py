"""What the handlers share: clients made once at startup, the store of WeddingDays, the clock,
the objects the one scheduler works on, and wake-ups.

A WeddingDay changing phase must switch its policies at that instant, not at their next
turn: ``Runtime.wake_policies`` makes the policies a day selects due now, ahead of
routine work (docs/decisions/0001-one-scheduler.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import kopf

from wedsync_operator.adapters.kube_slots import Urgency
from wedsync_operator.aiokits.scheduler import Scheduler
from wedsync_operator.engine.mode import selector_matches
from wedsync_operator.engine.readiness import Verdict
from wedsync_operator.handlers.days import DayStore
from wedsync_operator.handlers.ports import (
    Cluster,
    DataStores,
    MetricsSources,
    ScaleClient,
    Silencers,
)
from wedsync_operator.model.endpoints import EgressPolicy
from wedsync_operator.model.observations import Scale
from wedsync_operator.model.types import LabelSelector

Key = tuple[str, str, str]  # (kind, namespace, name)
Logger = logging.Logger | logging.LoggerAdapter[Any]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _pack(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=dict).encode()


def _unpack(packed: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(packed)
    return value


@dataclass
class LoopMemory:
    """What one object's work remembers between its turns.

    ``status`` is the newest status it computed: the body only catches up when the
    watch event arrives, and a turn woken before that must not read its own stale
    status (it would, say, take the pre-scaled count as the baseline and pre-scale
    again). Only this work writes this status, so its copy is the newest; after a
    restart the object's status is the source. ``written`` is what the object holds
    since the last write, and ``refresh_at`` when a policy writes it again though
    nothing significant changed (docs/decisions/0004-status-write-throttling.md).
    """

    # Packed as compact JSON, like Tracked's body: read into fresh dicts at each turn.
    _status: bytes | None = None
    _written: bytes | None = None
    refresh_at: datetime | None = None
    published: set[str] = field(default_factory=set)
    # (mode, until) for which the silences were last reconciled without error.
    silenced_for: tuple[str, str] | None = None

    @property
    def status(self) -> dict[str, Any] | None:
        return None if self._status is None else _unpack(self._status)

    @property
    def written(self) -> dict[str, Any] | None:
        return None if self._written is None else _unpack(self._written)

    @property
    def computed(self) -> bool:
        """Whether this process computed a status yet (without unpacking it)."""
        return self._status is not None

    @property
    def has_written(self) -> bool:
        return self._written is not None

    def previous(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if self._status is not None:
            return _unpack(self._status)
        return dict(body.get("status") or {})

    def merged(self, status: Mapping[str, Any]) -> dict[str, Any]:
        """The status once this merge patch is applied (None removes a field)."""
        merged = self.status or {}
        merged.update(status)
        return {k: v for k, v in merged.items() if v is not None}

    def wrote(self, status: Mapping[str, Any], refresh_at: datetime | None = None) -> None:
        self._status = self._written = _pack(self.merged(status))
        self.refresh_at = refresh_at

    def kept(self, status: Mapping[str, Any]) -> None:
        """Computed but not written: the next iteration builds on it all the same."""
        self._status = _pack(self.merged(status))

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


def slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a body the work reads: all but ``metadata.managedFields``, which no
    handler reads and which is the largest part of a body our status writes touched."""
    raw = dict(body)
    meta = raw.get("metadata")
    if isinstance(meta, Mapping) and "managedFields" in meta:
        raw["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return raw


def pack(body: Mapping[str, Any]) -> bytes:
    """``slim(body)`` as compact JSON: a policy's body is 1.9 KiB so, 9.6 KiB as dicts
    (docs/decisions/0002-memory.md)."""
    return _pack(slim(body))


@dataclass
class Tracked:
    """An object the scheduler works on: its newest body (from kopf's watch events), kopf's
    logger for it (its lines become the object's Events at ``posting.level``), what its
    work remembers between two turns, and the class of its API requests.

    The body is kept packed (``pack``) and read into fresh dicts at each turn: a turn
    cannot change what the next one reads, and 11,000 idle bodies cost bytes, not dicts."""

    packed: bytes
    logger: Logger
    memory: LoopMemory = field(default_factory=LoopMemory)
    urgency: Urgency = field(default_factory=Urgency)
    # A policy's first turn after it is tracked comes back at a random point of its
    # interval (handlers/platformscaling.py).
    first_turn: bool = True

    @property
    def raw(self) -> dict[str, Any]:
        return _unpack(self.packed)

    @property
    def body(self) -> kopf.Body:
        return kopf.Body(cast(kopf.RawBody, self.raw))


@dataclass
class TrackedObjects:
    """Every tracked object by key, and the policies of each namespace: a day wakes the
    policies of its namespace without walking every object of the cluster."""

    by_key: dict[Key, Tracked] = field(default_factory=dict)
    policies: dict[str, set[str]] = field(default_factory=dict)

    def get(self, key: Key) -> Tracked | None:
        return self.by_key.get(key)

    def __len__(self) -> int:
        return len(self.by_key)

    def track(self, key: Key, body: Mapping[str, Any], logger: Logger) -> bool:
        """Keep the newest body of ``key``; True when the key is new."""
        known = self.by_key.get(key)
        if known is not None:
            known.packed = pack(body)
            return False
        self.by_key[key] = Tracked(pack(body), logger)
        kind, namespace, name = key
        if kind == "ps":
            self.policies.setdefault(namespace, set()).add(name)
        return True

    def untrack(self, key: Key) -> Tracked | None:
        kind, namespace, name = key
        if kind == "ps" and (names := self.policies.get(namespace)) is not None:
            names.discard(name)
            if not names:
                del self.policies[namespace]
        return self.by_key.pop(key, None)

    def clear(self) -> None:
        self.by_key.clear()
        self.policies.clear()

    def selected(self, namespace: str, selector: LabelSelector | None = None) -> list[Key]:
        """The policies of ``namespace`` that ``selector`` picks (all for None), by their
        labels now: a policy relabelled since it was tracked is matched as it is."""
        keys = [("ps", namespace, n) for n in sorted(self.policies.get(namespace, ()))]
        if selector is None:
            return keys
        return [
            k
            for k in keys
            if selector_matches(
                selector, (self.by_key[k].raw.get("metadata") or {}).get("labels") or {}
            )
        ]


class ReadinessReports:
    """Each policy's day-ready verdict, for the days it holds in the mode: what a day's
    turn aggregates into its own ``WeddingDayReady``. In memory: after a restart the
    policies report again within one evaluation, and the days keep their stored one."""

    def __init__(self) -> None:
        self._by_day: dict[tuple[str, str], dict[str, Verdict]] = {}
        self._by_policy: dict[tuple[str, str], set[str]] = {}

    def report(
        self, namespace: str, policy: str, days: Iterable[str], verdict: Verdict | None
    ) -> list[str]:
        """Record ``verdict`` for ``days`` (None, or no days: the policy holds none);
        returns the days whose set of verdicts changed."""
        now = set(days) if verdict is not None else set()
        before = self._by_policy.pop((namespace, policy), set())
        changed = []
        for day in sorted(before - now):
            held = self._by_day.get((namespace, day), {})
            held.pop(policy, None)
            if not held:
                self._by_day.pop((namespace, day), None)
            changed.append(day)
        for day in sorted(now):
            held = self._by_day.setdefault((namespace, day), {})
            if held.get(policy) != verdict:
                assert verdict is not None
                held[policy] = verdict
                changed.append(day)
        if now:
            self._by_policy[(namespace, policy)] = now
        return changed

    def of_day(self, namespace: str, day: str) -> dict[str, Verdict]:
        return dict(self._by_day.get((namespace, day), {}))


@dataclass
class Runtime:
    """The outside world through the seams of handlers/ports.py: the adapters in the
    operator, in-memory fakes in unit tests."""

    kube: Cluster
    datastores: DataStores
    targets: ScaleClient  # replicas and HPA ownership, from watch caches where current
    metrics_sources: MetricsSources  # a policy's Prometheus
    silencers: Silencers  # a policy's Alertmanager
    egress: EgressPolicy = field(default_factory=EgressPolicy)  # where policies may point
    days: DayStore = field(default_factory=DayStore)
    tracked: TrackedObjects = field(default_factory=TrackedObjects)
    acting: Acting = field(default_factory=Acting)
    readiness: ReadinessReports = field(default_factory=ReadinessReports)
    # (namespace, target) → the policies whose next tier waits for it to be ready, and
    # each such policy → what it waits for.
    awaited: dict[tuple[str, str], set[Key]] = field(default_factory=dict)
    awaiting: dict[Key, tuple[tuple[str, str], ...]] = field(default_factory=dict)
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

    def track(self, key: Key, body: kopf.Body, logger: Logger) -> bool:
        """Keep the newest body of ``key``; True when the key is new."""
        return self.tracked.track(key, body, logger)

    def wake(self, key: Key) -> None:
        """Make a tracked key due now, ahead of routine work; its requests already queued
        (an evaluation in progress) go ahead too."""
        tracked = self.tracked.get(key)
        if tracked is None:
            return
        self.kube.hurry(tracked.urgency)
        self.schedule(key, time.time(), urgent=True)

    def wake_policies(self, namespace: str, selector: LabelSelector | None = None) -> None:
        """Wake the policies of a namespace: those ``selector`` picks, or all.

        A day switching phase wakes only the policies it selects: with many policies in
        a namespace, waking all of them at every activation multiplied the work of a
        busy Saturday by the number of policies."""
        for key in self.tracked.selected(namespace, selector):
            self.wake(key)

    def await_targets(self, key: Key, namespace: str, targets: Iterable[str]) -> None:
        """Wake ``key`` when one of ``targets`` becomes ready (instead of at its next tick)."""
        for target in self.awaiting.pop(key, ()):
            waiters = self.awaited.get(target)
            if waiters is not None:
                waiters.discard(key)
                if not waiters:
                    del self.awaited[target]
        wanted = tuple((namespace, t) for t in targets)
        for target in wanted:
            self.awaited.setdefault(target, set()).add(key)
        if wanted:
            self.awaiting[key] = wanted

    def target_changed(self, namespace: str, name: str, scale: Scale) -> None:
        """From the watch cache: a target the pre-scale waits for has all its replicas."""
        if scale.settled:
            for key in self.awaited.pop((namespace, name), ()):
                self.wake(key)

    def report_readiness(
        self, namespace: str, policy: str, days: Iterable[str], verdict: Verdict | None
    ) -> None:
        """Record a policy's verdict; a day whose verdicts changed writes its own soon."""
        for day in self.readiness.report(namespace, policy, days, verdict):
            self.schedule(("wd", namespace, day), time.time())

    def forget_everything(self) -> None:
        """A paused replica's watches stop: what they delivered goes stale, and objects
        deleted meanwhile never send their DELETED. Forget it all; kopf lists every object
        anew when it resumes this replica."""
        self.tracked.clear()
        self.days.reset()
        self.readiness = ReadinessReports()
        if self.scheduler is not None:
            self.scheduler.forget_all()

    def untrack(self, key: Key) -> Tracked | None:
        self.await_targets(key, "", ())
        if self.scheduler is not None:
            self.scheduler.forget(key)
        return self.tracked.untrack(key)
