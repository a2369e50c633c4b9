"""Watch caches of the scale targets and HorizontalPodAutoscalers of the namespaces
that have policies: an evaluation reads replicas and HPA ownership from memory instead
of a `GET …/scale` per target and an HPA LIST per evaluation, so at an activation the
patch is the first request. Why: docs/decisions/0006-watch-caches.md

One cache per (collection, namespace), made at the first read of it: a LIST, then a
WATCH from the list's resourceVersion, renewed as the server ends it. It answers only
while its watch is known to be current (``synced``); before its first LIST, after an
error and until the next LIST, or for a name it does not hold (just created, or
absent), the read goes to the API server as before, so it never answers worse than a
direct read. Deployments and StatefulSets are cached (their /scale is their
spec.replicas and status.replicas); other scalable kinds are read through /scale.

Our own patches update the cache from the API server's answer, so the next evaluation
never reads the count from before its own patch while the watch event is on its way.
resourceVersions are opaque (the API allows comparing them for equality only): the
answer is held until the watch delivers that same version, since the events before it
in the stream are older; an answer whose version the watch already delivered is stale.
A watch restart may skip the version, so the hold ends after ``HOLD_SECONDS`` at most.
A cache nobody read for ``IDLE_SECONDS`` stops at its next renewal (namespaces whose
policies are gone).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from wedsync_operator.adapters.kube import HPA_PATH, KubeClient, KubeError, api_base
from wedsync_operator.adapters.kube_objects import autoscaler_of, scale_of
from wedsync_operator.model.observations import Autoscaler, Scale

log = logging.getLogger(__name__)

T = TypeVar("T")

# Kinds whose objects carry their /scale as spec.replicas and status.replicas.
WATCHED_KINDS = frozenset({("apps/v1", "Deployment"), ("apps/v1", "StatefulSet")})
# The server ends each watch after this many seconds (a random point, so that the
# namespaces' watches do not all renew together); the cache then watches again from
# where it was.
WATCH_SECONDS = (240, 300)
RETRY_SECONDS = (5.0, 300.0)  # first and longest wait before listing again after an error
IDLE_SECONDS = 900.0
HOLD_SECONDS = 30.0  # longest wait for the watch to deliver our own patch's version
SEEN_VERSIONS = 16  # per object: the versions the watch delivered lately


class Reflector(Generic[T]):
    """One collection of one namespace, kept as name → ``summarize(object)``."""

    def __init__(
        self,
        kube: KubeClient,
        path: str,
        summarize: Callable[[Any], T],
        changed: Callable[[str, T], None] | None = None,
    ) -> None:
        self._kube = kube
        self.path = path
        self._summarize = summarize
        self._changed = changed  # told of each object the watch delivers
        self.items: dict[str, T] = {}
        # name → the versions the watch (or list) delivered lately, newest last.
        self._seen: dict[str, collections.deque[str]] = {}
        # name → (version of our own patch's answer, monotonic time the hold ends).
        self._held: dict[str, tuple[str, float]] = {}
        self.synced = False
        self.last_used = time.monotonic()
        self._resource_version = ""
        self._error: str | None = None

    def get(self, name: str) -> T | None:
        """The cached summary, or None when the cache cannot answer for this name."""
        self.last_used = time.monotonic()
        return self.items.get(name) if self.synced else None

    def snapshot(self) -> dict[str, T] | None:
        """Every cached summary, or None when the cache cannot answer."""
        self.last_used = time.monotonic()
        return dict(self.items) if self.synced else None

    def record(self, name: str, value: T, resource_version: str) -> None:
        """A copy read elsewhere (our own patch's answer): held until the watch delivers
        the same version, unless the watch has delivered it already (then it is stale)."""
        if not self.synced or name not in self.items:
            return
        if resource_version in self._seen.get(name, ()):
            return
        self.items[name] = value
        self._held[name] = (resource_version, time.monotonic() + HOLD_SECONDS)

    async def run(self, stopping: Callable[[], bool]) -> None:
        """List, then watch, until ``stopping()`` says so at a renewal."""
        wait, expired = RETRY_SECONDS[0], False
        while not stopping():
            started = time.monotonic()
            try:
                if not self.synced:
                    await self._list()
                await self._watch()
            except KubeError as exc:
                # Reads go to the API server meanwhile: nothing is decided on a stale copy.
                self.synced = False
                if exc.status == 410 and not expired:
                    # The version is too old to watch from (compacted): list again now,
                    # once; a second in a row waits like any error.
                    expired = True
                    continue
                if self._error != str(exc):
                    log.warning("watch cache of %s: %s; reading directly", self.path, exc)
                    self._error = str(exc)
            else:
                expired = False
                if time.monotonic() - started > 0.5:
                    wait = RETRY_SECONDS[0]
                    continue
                # A watch the server ends at once, again and again, must not become a
                # loop of requests: it waits as an error would, unwatched meanwhile.
                self.synced = False
            await asyncio.sleep(wait * random.uniform(0.8, 1.2))
            wait = min(wait * 2, RETRY_SECONDS[1])

    async def _list(self) -> None:
        objects, self._resource_version = await self._kube.list_all(self.path)
        # A fresh snapshot: it may predate a held answer, which the next evaluation's
        # absolute patch then repeats; it never raises a count.
        self.items, self._seen, self._held = {}, {}, {}
        for obj in objects:
            self._put(obj)
        self.synced = True
        if self._error is not None:
            log.info("watch cache of %s: listed again after an error", self.path)
            self._error = None

    def _put(self, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name") or "")
        version = str(meta.get("resourceVersion") or "")
        self._seen.setdefault(name, collections.deque(maxlen=SEEN_VERSIONS)).append(version)
        held = self._held.get(name)
        if held is not None:
            if version != held[0] and time.monotonic() < held[1]:
                return  # from before our own patch: the stream has not reached it yet
            del self._held[name]
        self.items[name] = summary = self._summarize(obj)
        if self._changed is not None and self.synced:
            self._changed(name, summary)

    async def _watch(self) -> None:
        seconds = random.randint(*WATCH_SECONDS)
        events = self._kube.watch(self.path, self._resource_version, timeout_seconds=seconds)
        # No await in the loop body but the generator's own: the cache changes only
        # between two events, never halfway through one.
        async for event in events:
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                raise KubeError(
                    "Expired" if obj.get("code") == 410 else "KubernetesError",
                    f"WATCH {self.path}: {obj.get('message') or obj}",
                    obj.get("code"),
                )
            meta = obj.get("metadata") or {}
            self._resource_version = str(meta.get("resourceVersion") or self._resource_version)
            if kind == "DELETED":
                for known in (self.items, self._seen, self._held):
                    known.pop(str(meta.get("name")), None)
            elif kind in ("ADDED", "MODIFIED"):
                self._put(obj)


@dataclass
class _Running:
    reflector: Reflector[Any]
    task: asyncio.Task[None]


class TargetCache:
    """Reads of targets' replicas and of HPA ownership, from watch caches where one is
    current, else from the API server; ``enabled=False`` always reads directly (an
    install whose RBAC grants only ``*/scale``)."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        enabled: bool = True,
        observer: Callable[[str], None] | None = None,
    ) -> None:
        self._kube = kube
        self.enabled = enabled
        self._observer = observer
        self._running: dict[str, _Running] = {}
        self._closed = False
        # Told (namespace, name, counts) of each target the watches deliver.
        self.on_change: Callable[[str, str, Scale], None] | None = None

    def _reflector(
        self,
        path: str,
        summarize: Callable[[Any], T],
        changed: Callable[[str, T], None] | None = None,
    ) -> Reflector[T] | None:
        if not self.enabled or self._closed:
            return None
        running = self._running.get(path)
        if running is None:
            reflector = Reflector(self._kube, path, summarize, changed)

            def stopping() -> bool:
                return self._closed or time.monotonic() - reflector.last_used > IDLE_SECONDS

            # A fresh context: the task outlives the evaluation that started it, and
            # must not carry that evaluation's request urgency (adapters/kube_slots.py).
            task = asyncio.create_task(
                self._serve(path, reflector, stopping),
                name=f"watch {path}",
                context=contextvars.Context(),
            )
            running = self._running[path] = _Running(reflector, task)
        return running.reflector

    async def _serve(
        self, path: str, reflector: Reflector[Any], stopping: Callable[[], bool]
    ) -> None:
        try:
            await reflector.run(stopping)
        finally:
            self._running.pop(path, None)

    def _observe(self, source: str) -> None:
        if self._observer is not None:
            self._observer(source)

    async def _path(self, api_version: str, kind: str, namespace: str) -> str:
        plural = await self._kube.plural(api_version, kind)
        return f"{api_base(api_version)}/namespaces/{namespace}/{plural}"

    async def scale(self, api_version: str, kind: str, namespace: str, name: str) -> Scale:
        if (api_version, kind) in WATCHED_KINDS and self.enabled:
            path = await self._path(api_version, kind, namespace)

            def changed(name: str, scale: Scale) -> None:
                if self.on_change is not None:
                    self.on_change(namespace, name, scale)

            reflector = self._reflector(path, scale_of, changed)
            found = reflector.get(name) if reflector else None
            if found is not None:
                self._observe("cache")
                return found
            # The workload itself, not its /scale: only it says how many are available
            # (a cold cache after a restart must not call a Pending tier ready).
            self._observe("api")
            try:
                listed = await self._kube.list_one(path, name)
            except KubeError as exc:
                if exc.status != 403:
                    raise
                listed = None  # RBAC grants only /scale: read there, as the cache would
            if listed is not None:
                return scale_of(listed)
            # None there: /scale answers in the API server's words (NotFound, ...).
            return await self._kube.get_scale(api_version, kind, namespace, name)
        self._observe("api")
        return await self._kube.get_scale(api_version, kind, namespace, name)

    async def set_replicas(
        self, api_version: str, kind: str, namespace: str, name: str, replicas: int
    ) -> None:
        scale = await self._kube.set_replicas(api_version, kind, namespace, name, replicas)
        if (api_version, kind) in WATCHED_KINDS and self.enabled:
            running = self._running.get(await self._path(api_version, kind, namespace))
            if running is not None:
                running.reflector.record(name, scale, scale.resource_version)

    async def hpa_owners(self, namespace: str) -> dict[tuple[str, str], str]:
        """(kind, name) of each target an HPA owns → the HPA's name."""
        return {a.target: a.name for a in await self.autoscalers(namespace)}

    async def autoscalers(self, namespace: str) -> list[Autoscaler]:
        """The namespace's HPAs, with what RaiseMinReplicas needs of each."""
        reflector = self._reflector(HPA_PATH.format(namespace=namespace), autoscaler_of)
        found = reflector.snapshot() if reflector else None
        if found is not None:
            self._observe("cache")
            return list(found.values())
        self._observe("api")
        return await self._kube.autoscalers(namespace)

    def record_autoscaler(self, namespace: str, body: Any) -> None:
        """Put an HPA the operator just patched into the cache, so the next evaluation
        does not decide from the copy before its own write."""
        running = self._running.get(HPA_PATH.format(namespace=namespace))
        if running is not None:
            scaler = autoscaler_of(body)
            running.reflector.record(scaler.name, scaler, scaler.resource_version)

    async def close(self) -> None:
        self._closed = True
        tasks = [r.task for r in self._running.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
