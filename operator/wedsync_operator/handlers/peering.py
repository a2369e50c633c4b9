"""The peering sentinel: the one scheduler acts only while kopf lets this replica act.

kopf pauses a standby replica by stopping its watches and its daemons, and tells nothing
else. A daemon on the peering object itself is therefore running exactly while this
replica acts: it opens the scheduler's gate while it runs and closes it when kopf stops
it. It is registered without kopf's daemon finalizer: nothing must happen before the
peering object goes, and a finalizer there outlives an uninstalled operator. See
docs/decisions/0001-one-scheduler.md.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import kopf

from wedsync_operator.handlers.runtime import Runtime

PEERING_GROUP, PEERING_VERSION = "kopf.dev", "v1"
# Not kopf's object logger: that one would post each line as an Event on the peering object.
log = logging.getLogger(__name__)
SENTINEL_ID = "peering_sentinel"


def follow_peering(
    name: str, *, clusterwide: bool, registry: kopf.OperatorRegistry | None = None
) -> None:
    """Register the sentinel on the peering object ``name`` (before kopf starts)."""

    def named(*, name: str, **_: Any) -> bool:
        return name == peering_name

    peering_name = name
    plural = "clusterkopfpeerings" if clusterwide else "kopfpeerings"
    registry = registry or kopf.get_default_registry()
    kopf.daemon(
        PEERING_GROUP,
        PEERING_VERSION,
        plural,
        id=SENTINEL_ID,
        when=named,
        cancellation_timeout=5.0,
        registry=registry,
    )(peering_sentinel)
    without_finalizer(registry, SENTINEL_ID)


def without_finalizer(registry: kopf.OperatorRegistry, handler_id: str) -> None:
    """kopf gives every daemon a finalizer and has no option against it; the registered
    handler is a frozen dataclass whose flag says so (docs/decisions/0001). Raises if
    kopf's registry no longer looks as expected, rather than run with the finalizer."""
    handlers = registry._spawning._handlers
    for i, handler in enumerate(handlers):
        if handler.id == handler_id:
            handlers[i] = dataclasses.replace(handler, requires_finalizer=False)
            return
    raise RuntimeError(f"kopf registered no daemon {handler_id!r}")


async def peering_sentinel(*, stopped: kopf.DaemonStopped, memo: Any, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    runtime.acting.hold()
    log.info("acting: the scheduler runs (%d peering object(s))", runtime.acting.holders)
    try:
        await stopped.wait()
    finally:
        runtime.acting.release()
        if not runtime.acting.holders:
            runtime.forget_everything()
            log.info("not acting (%s): the scheduler holds its work", stopped.reason)
