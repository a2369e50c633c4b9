"""handlers/days.py against the real API server: the store of WeddingDays the policy
loops read lists a namespace once, lets the watch's copies win, and drops a listed day
that was deleted before the watch ever delivered it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from cluster_fixture import Cluster
from operator_fixture import ensure_crds
from wedsync_operator.adapters.kube import KubeClient
from wedsync_operator.handlers import days as days_module
from wedsync_operator.handlers.days import DayStore


@pytest.fixture
async def kube(cluster: Cluster) -> AsyncIterator[KubeClient]:
    ensure_crds(cluster)
    client = await KubeClient.connect(kubeconfig=str(cluster.kubeconfig), request_timeout=10)
    try:
        yield client
    finally:
        await client.close()


def _day(name: str, start: str = "2027-06-12T13:00:00Z", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "WeddingDay",
        "metadata": {"name": name},
        "spec": {"start": start, "end": "2027-06-12T20:00:00Z", **spec},
    }


def _create(cluster: Cluster, namespace: str, *days: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(days))


async def test_the_policies_of_a_namespace_share_one_list_of_its_days_in_pages(
    cluster: Cluster, namespace: str, kube: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _create(cluster, namespace, *(_day(f"d{i}") for i in range(5)))
    listed: list[int] = []
    list_own = kube.list_own

    async def small_pages(plural: str, ns: str, *, page: int = 500) -> list[Any]:
        found = await list_own(plural, ns, page=2)  # 5 days: three pages
        listed.append(len(found))
        return found

    monkeypatch.setattr(kube, "list_own", small_pages)
    store = DayStore()

    # Ten policies of the namespace starting together, then a later evaluation.
    first = await asyncio.gather(*(store.days(namespace, kube) for _ in range(10)))
    again = await store.days(namespace, kube)

    assert all(sorted(d.meta.name for d in read) == [f"d{i}" for i in range(5)] for read in first)
    assert sorted(d.meta.name for d in again) == [f"d{i}" for i in range(5)]
    assert listed == [5]  # listed once; later reads come from the store


async def test_a_day_delivered_by_the_watch_is_not_replaced_by_the_listed_copy(
    cluster: Cluster, namespace: str, kube: KubeClient
) -> None:
    _create(cluster, namespace, _day("d"))
    live = cluster.get_json("weddingday", "d", "-n", namespace)
    newer = {**live, "spec": {**live["spec"], "start": "2027-06-12T15:00:00Z"}}
    store = DayStore()
    store.observe(namespace, "d", newer)  # the watch was first, with a later version

    (day,) = await store.days(namespace, kube)

    assert day.start.local.hour == 15


async def test_a_listed_day_deleted_before_the_watch_saw_it_is_dropped(
    cluster: Cluster, namespace: str, kube: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _create(cluster, namespace, _day("gone"), _day("stays"))
    store = DayStore()
    assert len(await store.days(namespace, kube)) == 2
    cluster.kubectl("delete", "weddingday", "gone", "-n", namespace)

    monkeypatch.setattr(days_module, "UNSEEN_RECHECK_SECONDS", 0.0)
    left = await store.days(namespace, kube)

    assert [d.meta.name for d in left] == ["stays"]


async def test_undelivered_days_are_not_listed_again_before_the_recheck_delay(
    cluster: Cluster, namespace: str, kube: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _create(cluster, namespace, _day("listed"))
    lists = 0
    list_own = kube.list_own

    async def counted(plural: str, ns: str, *, page: int = 500) -> list[Any]:
        nonlocal lists
        lists += 1
        return await list_own(plural, ns, page=page)

    monkeypatch.setattr(kube, "list_own", counted)
    store = DayStore()

    for _ in range(5):  # evaluations while kopf's own listing lags behind
        assert [d.meta.name for d in await store.days(namespace, kube)] == ["listed"]

    assert lists == 1


async def test_days_being_deleted_or_unparsable_are_not_read(
    cluster: Cluster, namespace: str, kube: KubeClient
) -> None:
    _create(cluster, namespace, _day("ok"))
    store = DayStore()
    live = cluster.get_json("weddingday", "ok", "-n", namespace)
    meta = live["metadata"]
    deleting = {"name": "deleting", "deletionTimestamp": "2027-01-01T00:00:00Z"}
    store.observe(namespace, "deleting", {**live, "metadata": {**meta, **deleting}})
    store.observe(
        namespace,
        "broken",
        {
            **live,
            "metadata": {**meta, "name": "broken"},
            "spec": {**live["spec"], "leadTime": "soon"},
        },
    )

    read = await store.days(namespace, kube)

    assert [d.meta.name for d in read] == ["ok"]
