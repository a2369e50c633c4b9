"""Operator-wide kopf settings and shared clients: one startup handler sets them all,
one cleanup handler closes them (CONVENTIONS.md)."""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import ctypes
import gc
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
import kopf

from wedsync_operator import metrics
from wedsync_operator.adapters.alertmanager import AlertmanagerClient
from wedsync_operator.adapters.clients import DataStoreClients
from wedsync_operator.adapters.egress import GuardedResolver
from wedsync_operator.adapters.kube import KubeClient, KubeError
from wedsync_operator.adapters.kube_credentials import CredentialsError, load
from wedsync_operator.adapters.kube_watch import TargetCache
from wedsync_operator.adapters.prometheus import PrometheusClient
from wedsync_operator.aiokits.scheduler import Scheduler
from wedsync_operator.handlers import work
from wedsync_operator.handlers.runtime import Logger, Runtime
from wedsync_operator.model.endpoints import EgressPolicy

PREFIX = "wedsync.io"
FINALIZER = f"{PREFIX}/finalizer"
# Survivors of the young collections are frozen out of full collections every 10 s;
# everything is unfrozen and collected ten minutes after start, then hourly.
# Why: docs/decisions/0005-frozen-gc.md
FREEZE_EVERY_SECONDS = 10.0
FULL_COLLECTION_EVERY_SECONDS = 3600.0
FIRST_FULL_COLLECTION_AFTER_SECONDS = 600.0
# How often a replica looks for its peering object at start, and how often it says so.
PEERING_POLL_SECONDS = 1.0
PEERING_REPORT_EVERY = 30
# kopf's per-object workers at once, per watched resource (and namespace).
WORKER_LIMIT = 200
LIST_CHUNK = 500
TLS_READ_BUFFER = 32 * 1024


def full_collection_due(started: float, last_full: float | None, now: float) -> bool:
    """Whether the freeze step at ``now`` (monotonic seconds) is the full one."""
    if last_full is None:
        return now - started >= FIRST_FULL_COLLECTION_AFTER_SECONDS
    return now - last_full >= FULL_COLLECTION_EVERY_SECONDS


def gc_step(full: bool) -> None:
    """Freeze what survives the young generations' collection; ``full``: first unfreeze
    and collect everything (one long pause, the hourly one)."""
    if full:
        gc.unfreeze()
        gc.collect()
    else:
        gc.collect(1)
    gc.freeze()


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_MALLOC_TRIM = _malloc_trim()


def shrink_tls_read_buffers(size: int = TLS_READ_BUFFER) -> None:
    """Each asyncio TLS connection reads into a buffer of its own, 256 KiB by default and
    all of it resident: one watch per namespace and kind made that 50 MiB at 100
    namespaces. Two full TLS records (16 KiB each) per read is enough
    (docs/decisions/0002-memory.md)."""
    asyncio.sslproto.SSLProtocol.max_size = size


def release_free_memory() -> bool:
    """Give the C heap's free pages back to the system; False where that is not possible.

    glibc returns free memory on its own only from the top of its heap, so freed
    start-up buffers stay resident. Why: docs/decisions/0002-memory.md"""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


async def gc_upkeep() -> None:
    started, last_full = time.monotonic(), None
    while True:
        await asyncio.sleep(FREEZE_EVERY_SECONDS)
        full = full_collection_due(started, last_full, time.monotonic())
        gc_step(full)
        release_free_memory()
        if full:
            last_full = time.monotonic()


@kopf.on.startup(id="operator_configure")
async def operator_configure(
    *, settings: kopf.OperatorSettings, memo: Any, logger: Logger, **_: Any
) -> None:
    settings.persistence.finalizer = FINALIZER
    # Handler progress and the last-handled spec live in annotations under our prefix,
    # so a restarted operator resumes from the object itself rather than from memory
    # (the CRDs' status schemas have no room for kopf's own fields).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    # Watches end server-side after a while and are re-established; a client-side
    # timeout a little longer catches a silently dead connection.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    # kopf's initial listing in pages: 10,000 days are not one response in memory at once.
    settings.watching.chunk_size = LIST_CHUNK
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 10
    # kopf's per-object workers, bounded so a burst of events is served at the API
    # server's pace; an idle one leaves after 1 s so it holds no place in the bound.
    # Why: docs/decisions/0008-kopf-worker-limit.md
    settings.queueing.worker_limit = WORKER_LIMIT
    settings.queueing.idle_timeout = 1.0

    kube = await KubeClient.connect(request_timeout=10.0)
    egress: EgressPolicy = memo.get("egress") or EgressPolicy()
    if not egress.rules:
        logger.warning(
            "no --allow-endpoint given: policies may point the operator at any host "
            "(link-local and metadata addresses excepted)"
        )
    # Every address a policy's URL resolves to is checked before a connection opens.
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=GuardedResolver()))
    # Redis clients and asyncpg pools, one per URL/DSN, made on first use.
    datastores = DataStoreClients(socket_timeout_s=10.0)
    targets = TargetCache(
        kube, enabled=bool(memo.get("watch_targets", True)), observer=metrics.observe_target_read
    )
    memo.adapters = Adapters(kube, http, datastores, targets)
    memo.runtime = Runtime(
        kube=kube,
        egress=egress,
        datastores=datastores,
        targets=targets,
        metrics_sources=partial(PrometheusClient, http, observer=metrics.observe_query),
        silencers=partial(AlertmanagerClient, http),
    )
    runtime = memo.runtime
    targets.on_change = runtime.target_changed  # a tier ready wakes the policy waiting
    runtime.scheduler = Scheduler(
        partial(work.run_one, runtime), workers=work.WORKERS, gate=runtime.acting.gate
    )
    if settings.peering.standalone or not settings.peering.name:
        runtime.acting.always()
    memo.gc_upkeep = asyncio.create_task(gc_upkeep(), name="gc_upkeep")
    port = memo.get("metrics_port")
    if port:
        metrics.serve(int(port))
        logger.info("metrics on :%s/metrics", port)
    if not settings.peering.standalone and settings.peering.name:
        await wait_for_peering(kube, settings.peering.name, memo.get("namespaces") or (), logger)


@dataclass(frozen=True)
class Adapters:
    """The clients made at start-up, closed at clean-up (the runtime sees them through
    handlers/ports.py)."""

    kube: KubeClient
    http: aiohttp.ClientSession
    datastores: DataStoreClients
    targets: TargetCache


def peering_paths(name: str, namespaces: Any) -> list[str]:
    """The peering objects kopf announces itself in: one per watched namespace, or one
    cluster-wide."""
    if namespaces:
        return [f"/apis/kopf.dev/v1/namespaces/{ns}/kopfpeerings/{name}" for ns in namespaces]
    return [f"/apis/kopf.dev/v1/clusterkopfpeerings/{name}"]


async def wait_for_peering(kube: KubeClient, name: str, namespaces: Any, logger: Logger) -> None:
    """Start only once the peering objects exist. kopf announces a replica once at start
    and again only a lifetime (60 s) later: replicas that start before the object (a Helm
    install creates both at once) each see no peer, and all act until then."""
    for path in peering_paths(name, namespaces):
        for attempt in itertools.count():
            try:
                await kube.request("GET", path)
                break
            except KubeError as exc:  # absent yet, or the API server unreachable: retried
                if attempt % PEERING_REPORT_EVERY == 0:
                    logger.warning("waiting for the peering object before acting: %s", exc)
            await asyncio.sleep(PEERING_POLL_SECONDS)


@kopf.on.login(id="operator_login")
async def operator_login(**_: Any) -> kopf.ConnectionInfo:
    """kopf logs in with the credentials our own client uses (adapters/kube_credentials.py);
    it calls this again when the server answers 401 (a rotated token)."""
    try:
        credentials = await asyncio.to_thread(load)
        token = await credentials.bearer()
    except (CredentialsError, OSError) as exc:
        raise kopf.LoginError(str(exc)) from None
    return kopf.ConnectionInfo(
        server=credentials.server,
        ca_path=None if credentials.ca_data else credentials.ca_file,
        ca_data=credentials.ca_data,
        insecure=credentials.insecure,
        certificate_path=None if credentials.cert_data else credentials.cert_file,
        certificate_data=credentials.cert_data,
        private_key_path=None if credentials.key_data else credentials.key_file,
        private_key_data=credentials.key_data,
        scheme="Bearer" if token else None,
        token=token,
        default_namespace=credentials.namespace,
        proxy_url=credentials.proxy_url,
        expiration=credentials.expiration,
    )


@kopf.on.cleanup(id="operator_cleanup")
async def operator_cleanup(*, memo: Any, **_: Any) -> None:
    runtime: Runtime | None = memo.get("runtime")
    adapters: Adapters | None = memo.get("adapters")
    tasks = [memo.get("gc_upkeep"), runtime.scheduler_loop if runtime else None]
    for task in tasks:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if adapters is not None:
        await adapters.targets.close()
        await adapters.datastores.aclose(timeout_s=10.0)
        await adapters.http.close()
        await adapters.kube.close()
