"""The day store of a replica kopf paused: its watches missed the deletions meanwhile, so
after a reset the next read lists the days anew and a day deleted during the pause is gone."""

from __future__ import annotations

from typing import cast

from test_day_store_poison import ListingOnly, _day

from wedsync_operator.adapters.kube import KubeClient
from wedsync_operator.handlers.days import DayStore


async def test_a_day_deleted_while_paused_is_gone_after_a_reset() -> None:
    listing = ListingOnly([_day("kept"), _day("deleted-while-paused")])
    kube = cast(KubeClient, listing)
    store = DayStore()
    for body in listing.items:
        store.observe("ns", body["metadata"]["name"], body)
    assert len(await store.days("ns", kube)) == 2

    listing.items = [_day("kept")]  # deleted while no watch ran: no DELETED event came
    assert len(await store.days("ns", kube)) == 2  # what the store would keep believing
    store.reset()

    assert [d.meta.name for d in await store.days("ns", kube)] == ["kept"]
