"""The peering sentinel is a daemon without kopf's finalizer: a Helm uninstall deletes the
peering object after the operator's pods, and a finalizer there would never be removed."""

from __future__ import annotations

import kopf

from wedsync_operator.handlers.peering import SENTINEL_ID, follow_peering


def test_the_sentinel_daemon_is_registered_without_a_finalizer() -> None:
    registry = kopf.OperatorRegistry()
    follow_peering("wedsync-operator", clusterwide=True, registry=registry)

    sentinels = [h for h in registry._spawning._handlers if h.id == SENTINEL_ID]
    assert len(sentinels) == 1
    assert sentinels[0].requires_finalizer is False


def test_other_daemons_keep_their_finalizer() -> None:
    registry = kopf.OperatorRegistry()

    @kopf.daemon("example.com", "v1", "things", id="other", registry=registry)
    async def other(**_: object) -> None:
        pass

    follow_peering("p", clusterwide=False, registry=registry)

    flags = {h.id: h.requires_finalizer for h in registry._spawning._handlers}
    assert flags == {"other": True, SENTINEL_ID: False}
