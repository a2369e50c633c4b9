"""The WeddingDays the policy loops read: kept from kopf's watch events, parsed once.

Why not ``@kopf.index``: its readiness gate makes start-up grow faster than the square of
the object count. Why: docs/decisions/0007-day-store.md

The promise the index gave is kept per namespace: a policy never decides on a partial set
of days (it could drop out of the mode while a day is active). The first policy of a
namespace lists its days once; kopf may still be delivering its own listing then, and
the listed copies stand in for the days it has not delivered yet. From then on the watch
events are the source. A listed day that kopf never delivers was deleted before kopf saw
it: while a listed day stays undelivered for ``UNSEEN_RECHECK_SECONDS``, the namespace is
listed again and the days gone from it are dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wedsync_operator.handlers.ports import Cluster
from wedsync_operator.model import InvalidSpec, parse_wedding_day
from wedsync_operator.model.types import WeddingDay

PLURAL = "weddingdays"
# kopf may take minutes to deliver its own listing: only a listed day still undelivered
# after this long is suspected of being gone.
UNSEEN_RECHECK_SECONDS = 60.0


@dataclass(frozen=True)
class _Entry:
    uid: str
    day: WeddingDay | None  # None: the spec does not parse (the day reports Failed itself)
    deleting: bool
    watched: bool  # delivered by kopf's watch (False: known only from our LIST)
    since: float = field(default_factory=time.monotonic)


def _entry(body: Mapping[str, Any], *, watched: bool) -> _Entry:
    meta = body.get("metadata") or {}
    try:
        day: WeddingDay | None = parse_wedding_day(body)
    except InvalidSpec:
        day = None
    return _Entry(
        uid=str(meta.get("uid") or ""),
        day=day,
        deleting=bool(meta.get("deletionTimestamp")),
        watched=watched,
    )


class DayStore:
    def __init__(self) -> None:
        self._days: dict[str, dict[str, _Entry]] = {}
        self._listed: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        # uids deleted while a namespace's LIST is in flight: its answer may predate them.
        self._tombstones: dict[str, set[str]] = {}

    def reset(self) -> None:
        """Forget every day: the watch (or a LIST) delivers them anew. For a replica kopf
        paused, whose watches missed what changed meanwhile."""
        self._days.clear()
        self._listed.clear()

    def observe(
        self, namespace: str, name: str, body: Mapping[str, Any]
    ) -> tuple[WeddingDay | None, WeddingDay | None]:
        """A watch event for a day that exists; returns its parsed (before, after)."""
        known = self._days.setdefault(namespace, {})
        before = known.get(name)
        after = known[name] = _entry(body, watched=True)
        return (before.day if before else None), after.day

    def forget(self, namespace: str, name: str, uid: str) -> None:
        """A deletion seen by the watch."""
        if namespace in self._tombstones:
            self._tombstones[namespace].add(uid)
        self._days.get(namespace, {}).pop(name, None)

    async def days(self, namespace: str, kube: Cluster) -> list[WeddingDay]:
        """Every valid day of the namespace that is not being deleted.

        Raises ``KubeError`` when a LIST fails; the caller reports it and retries
        (deciding on a partial set of days is what this prevents).
        """
        if namespace not in self._listed or self._unseen(namespace):
            await self._list(namespace, kube)
        known = self._days.get(namespace, {})
        return [e.day for e in known.values() if e.day is not None and not e.deleting]

    def _unseen(self, namespace: str) -> bool:
        """Whether a listed day has waited too long for the watch to deliver it."""
        now = time.monotonic()
        return any(
            not e.watched and now - e.since > UNSEEN_RECHECK_SECONDS
            for e in self._days.get(namespace, {}).values()
        )

    async def _list(self, namespace: str, kube: Cluster) -> None:
        """One LIST for every policy of the namespace (they wait on its lock): the days
        the watch has not delivered are taken from it, and those it no longer has are
        dropped. One request per namespace, not a lookup per undelivered day on the
        evaluation path (docs/decisions/0007-day-store.md)."""
        async with self._locks.setdefault(namespace, asyncio.Lock()):
            if namespace in self._listed and not self._unseen(namespace):
                return  # another policy of the namespace listed it meanwhile
            self._tombstones[namespace] = set()
            try:
                items = await kube.list_own(PLURAL, namespace)
                deleted = self._tombstones[namespace]
            finally:
                del self._tombstones[namespace]
            known = self._days.setdefault(namespace, {})
            listed = {str((raw.get("metadata") or {}).get("name") or ""): raw for raw in items}
            for name, entry in list(known.items()):
                if not entry.watched and name not in listed:
                    del known[name]  # deleted before the watch ever delivered it
            for name, raw in listed.items():
                current = known.get(name)
                entry = _entry(raw, watched=False)
                # A day the watch delivered stays as delivered: the watch brings any
                # later change of it too.
                if (current is None or not current.watched) and entry.uid not in deleted:
                    known[name] = entry
            self._listed.add(namespace)
