"""The peering sentinel: the one scheduler acts only while kopf lets this replica act.

kopf pauses a standby replica by stopping its watches and its daemons, and tells nothing
else. A daemon on the peering object itself is therefore running exactly while this
replica acts: it opens the scheduler's gate while it runs and closes it when kopf stops
it. The cost is kopf's finalizer on the peering object (uninstall the operator before
it). See docs/decisions/0001-one-scheduler.md.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from wedsync_operator.handlers.runtime import Runtime

PEERING_GROUP, PEERING_VERSION = "kopf.dev", "v1"
# Not kopf's object logger: that one would post each line as an Event on the peering object.
log = logging.getLogger(__name__)


def follow_peering(name: str, *, clusterwide: bool) -> None:
    """Register the sentinel on the peering object ``name`` (before kopf starts)."""

    def named(*, name: str, **_: Any) -> bool:
        return name == peering_name

    peering_name = name
    plural = "clusterkopfpeerings" if clusterwide else "kopfpeerings"
    kopf.daemon(
        PEERING_GROUP,
        PEERING_VERSION,
        plural,
        id="peering_sentinel",
        when=named,
        cancellation_timeout=5.0,
    )(peering_sentinel)


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
