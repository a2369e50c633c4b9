"""The day store with days whose specs cannot be honoured, without a server: the listing
that follows a restart, and the watch events, leave such a day out and keep the others
(e2e/test_day_store.py covers the store against the real API server)."""

from __future__ import annotations

from typing import Any, cast

from wedsync_operator.adapters.kube import KubeClient
from wedsync_operator.handlers.days import DayStore


def _day(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "WeddingDay",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
        "spec": {"start": "2027-06-12T14:00:00Z", "end": "2027-06-12T23:00:00Z", **spec},
    }


# Stored before the CRDs bounded these fields (the poison days).
POISON = [
    _day("lead-overflow", leadTime="99999999999h"),
    _day("calendar-end", end="9999-12-31T23:00:00Z", windDown="48h"),
    _day("not-an-object", policySelector={"matchLabels": ["a"]}),
]


class ListingOnly:
    """Stands in for KubeClient.list_own, the one call the store makes."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    async def list_own(self, plural: str, namespace: str, *, page: int = 500) -> list[Any]:
        return list(self.items)


async def test_a_listing_after_a_restart_leaves_out_days_that_cannot_be_honoured() -> None:
    kube = cast(KubeClient, ListingOnly([*POISON, _day("saturday")]))

    days = await DayStore().days("ns", kube)

    assert [d.meta.name for d in days] == ["saturday"]


def test_a_watch_event_for_such_a_day_is_recorded_as_not_parsed() -> None:
    store = DayStore()
    for body in POISON:
        assert store.observe("ns", body["metadata"]["name"], body) == (None, None)
