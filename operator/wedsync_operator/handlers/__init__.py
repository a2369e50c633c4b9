"""kopf wiring only: watch-event, deletion and start-up handlers; no decisions live here."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import kopf

from wedsync_operator.handlers import peering as peering_module

# Importing the modules registers their handlers with kopf.
from wedsync_operator.handlers import platformscaling as platformscaling
from wedsync_operator.handlers import settings as settings
from wedsync_operator.handlers import weddingday as weddingday
from wedsync_operator.model.endpoints import EgressPolicy


def run_operator(
    *,
    namespaces: Sequence[str],
    standalone: bool,
    peering: str,
    liveness: str | None,
    metrics_port: int | None,
    priority: int | None = None,
    debug: bool = False,
    watch_targets: bool = True,
    egress: EgressPolicy | None = None,
) -> None:
    """Start kopf with this package's handlers registered; blocks until stopped."""
    # As the `kopf` command does: INFO by default, so handler progress, posted Events
    # and peering decisions ("Pausing operations in favour of ...") reach the log.
    kopf.configure(debug=debug, verbose=debug)
    if priority is None:
        # kopf pauses every peer of the same priority; a random one per process makes
        # exactly one replica active (the highest), and the next takes over when its
        # peering entry expires.
        priority = secrets.randbelow(2**31 - 1) + 1
    settings.shrink_tls_read_buffers()
    if not standalone:
        peering_module.follow_peering(peering, clusterwide=not namespaces)
    kopf.run(
        priority=priority,
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        standalone=standalone,
        peering_name=None if standalone else peering,
        liveness_endpoint=liveness,
        memo=kopf.Memo(
            metrics_port=metrics_port,
            watch_targets=watch_targets,
            egress=egress or EgressPolicy(),
            namespaces=list(namespaces),
        ),
    )
