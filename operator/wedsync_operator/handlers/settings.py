"""Operator-wide kopf settings and shared clients: one startup handler sets them all,
one cleanup handler closes them (CONVENTIONS.md)."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import kopf

from wedsync_operator import metrics
from wedsync_operator.adapters.clients import DataStoreClients
from wedsync_operator.adapters.kube import KubeClient
from wedsync_operator.handlers.runtime import Logger, Runtime

PREFIX = "wedsync.io"
FINALIZER = f"{PREFIX}/finalizer"


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
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 10

    memo.runtime = Runtime(
        kube=await KubeClient.connect(request_timeout=10.0),
        http=aiohttp.ClientSession(),
        # Redis clients and asyncpg pools, one per URL/DSN, made on first use.
        datastores=DataStoreClients(socket_timeout_s=10.0),
    )
    port = memo.get("metrics_port")
    if port:
        metrics.serve(int(port))
        logger.info("metrics on :%s/metrics", port)


@kopf.on.cleanup(id="operator_cleanup")
async def operator_cleanup(*, memo: Any, **_: Any) -> None:
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None:
        await runtime.datastores.aclose(timeout_s=10.0)
        await runtime.http.close()
        await runtime.kube.close()
