"""kopf wiring only: decorators, timers and status writes; no decisions live here."""

from __future__ import annotations

from collections.abc import Sequence

import kopf

from wedsync_operator.handlers import settings as settings  # registers the startup handler


def run_operator(
    *, namespaces: Sequence[str], standalone: bool, peering: str, liveness: str | None
) -> None:
    """Start kopf with this package's handlers registered; blocks until stopped."""
    kopf.run(
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        standalone=standalone,
        peering_name=peering,
        liveness_endpoint=liveness,
    )
