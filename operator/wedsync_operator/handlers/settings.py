"""Operator-wide kopf settings: one startup handler sets them all (CONVENTIONS.md)."""

from __future__ import annotations

import logging
from typing import Any

import kopf

PREFIX = "wedsync.io"
FINALIZER = f"{PREFIX}/finalizer"


@kopf.on.startup(id="operator_configure")
async def operator_configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    # Handler progress and the last-handled spec live in annotations under our prefix,
    # so a restarted operator resumes from the object itself rather than from memory.
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
