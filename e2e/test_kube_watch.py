"""adapters/kube_watch.py against the real API server: replicas and HPA ownership read
from watch caches once they are current, changes by others seen through the watch, our
own patches read back at once, and direct reads whenever a cache cannot answer (not yet
listed, or refused by RBAC)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cluster_fixture import Cluster
from operator_fixture import apply, chart_identity, deployment, ensure_crds
from wedsync_operator.adapters import kube_watch
from wedsync_operator.adapters.kube import KubeClient, KubeError
from wedsync_operator.adapters.kube_watch import TargetCache
from wedsync_operator.model.observations import Scale


class Reads:
    """Where each read was answered, in order."""

    def __init__(self) -> None:
        self.sources: list[str] = []

    def __call__(self, source: str) -> None:
        self.sources.append(source)


async def eventually(what: str, probe: Callable[[], Awaitable[Any]]) -> Any:
    """Await ``probe`` until it returns something truthy, for up to 30 s (the event
    loop keeps running: the caches fill meanwhile)."""
    deadline = time.monotonic() + 30
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after 30 s waiting for {what}; last: {last!r}")


async def client(kubeconfig: Path) -> KubeClient:
    return await KubeClient.connect(kubeconfig=str(kubeconfig), request_timeout=10)


@pytest.fixture
async def kube(cluster: Cluster) -> AsyncIterator[KubeClient]:
    found = await client(cluster.kubeconfig)
    try:
        yield found
    finally:
        await found.close()


@pytest.fixture
async def cache(kube: KubeClient) -> AsyncIterator[tuple[TargetCache, Reads]]:
    reads = Reads()
    found = TargetCache(kube, observer=reads)
    try:
        yield found, reads
    finally:
        await found.close()


async def _read_from_cache(targets: TargetCache, reads: Reads, namespace: str, name: str) -> bool:
    await targets.scale("apps/v1", "Deployment", namespace, name)
    return reads.sources[-1] == "cache"


async def web_in_cache(
    cluster: Cluster, namespace: str, cache: tuple[TargetCache, Reads]
) -> tuple[TargetCache, Reads]:
    """Deployment web (2 replicas), once the cache answers for it."""
    targets, reads = cache
    apply(cluster, namespace, deployment("web", 2))
    await eventually(
        "a read answered by the cache",
        lambda: _read_from_cache(targets, reads, namespace, "web"),
    )
    return targets, reads


def hpa(name: str, target: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 1,
            "maxReplicas": 5,
        },
    }


async def test_replicas_come_from_the_watch_once_listed_and_follow_a_kubectl_scale(
    cluster: Cluster, namespace: str, cache: tuple[TargetCache, Reads]
) -> None:
    targets, reads = cache
    apply(cluster, namespace, deployment("web", 2))

    first = await targets.scale("apps/v1", "Deployment", namespace, "web")
    await eventually(
        "a read answered by the cache",
        lambda: _read_from_cache(targets, reads, namespace, "web"),
    )
    cached = await targets.scale("apps/v1", "Deployment", namespace, "web")
    cluster.kubectl("scale", "deployment/web", "--replicas=4", "-n", namespace)

    async def four() -> bool:
        scale = await targets.scale("apps/v1", "Deployment", namespace, "web")
        return scale.replicas == 4

    await eventually("the cache to see 4 replicas", four)
    assert reads.sources[0] == "api"  # the first read comes before the cache is listed
    assert (first.replicas, cached.replicas) == (2, 2)
    assert reads.sources[-1] == "cache"


async def test_our_own_patch_is_read_back_from_the_cache_at_once(
    cluster: Cluster, namespace: str, cache: tuple[TargetCache, Reads]
) -> None:
    targets, reads = await web_in_cache(cluster, namespace, cache)

    await targets.set_replicas("apps/v1", "Deployment", namespace, "web", 6)
    # Read at once: the patch's watch event may or may not have been handled by now;
    # the patch's answer updates the copy either way (tests/unit/test_watch_cache.py
    # pins that bookkeeping without the race).
    after = await targets.scale("apps/v1", "Deployment", namespace, "web")

    assert after.replicas == 6
    assert reads.sources[-1] == "cache"
    assert cluster.get_json("deployment", "web", "-n", namespace)["spec"]["replicas"] == 6


async def test_a_deleted_target_is_read_from_the_api_server_and_reported_missing(
    cluster: Cluster, namespace: str, cache: tuple[TargetCache, Reads]
) -> None:
    targets, reads = await web_in_cache(cluster, namespace, cache)

    cluster.kubectl("delete", "deployment/web", "-n", namespace, "--wait=true")

    async def missing() -> KubeError | None:
        try:
            await targets.scale("apps/v1", "Deployment", namespace, "web")
        except KubeError as exc:
            return exc
        return None

    error = await eventually("the read to fail", missing)
    assert error.not_found
    assert reads.sources[-1] == "api"


async def test_hpa_ownership_follows_the_watch(
    cluster: Cluster, namespace: str, cache: tuple[TargetCache, Reads]
) -> None:
    targets, reads = cache
    apply(cluster, namespace, deployment("web", 2))

    async def from_cache() -> dict[tuple[str, str], str] | None:
        owners = await targets.hpa_owners(namespace)
        return owners if reads.sources[-1] == "cache" else None

    assert await targets.hpa_owners(namespace) == {}
    await eventually("HPAs read from the cache", lambda: _true_if_cache(from_cache))
    apply(cluster, namespace, hpa("web-hpa", "web"))
    owned = await eventually("the HPA in the cache", from_cache)
    cluster.kubectl("delete", "hpa/web-hpa", "-n", namespace)

    async def gone() -> bool:
        return await from_cache() == {}

    await eventually("the HPA gone from the cache", gone)
    assert owned == {("Deployment", "web"): "web-hpa"}


async def _true_if_cache(probe: Callable[[], Awaitable[Any]]) -> bool:
    return await probe() is not None


async def test_the_cache_stays_current_across_renewed_watches(
    cluster: Cluster,
    namespace: str,
    cache: tuple[TargetCache, Reads],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server ends each watch after a second: the cache must watch again from where
    # it was, without missing the change made between two watches.
    monkeypatch.setattr(kube_watch, "WATCH_SECONDS", (1, 1))
    targets, reads = await web_in_cache(cluster, namespace, cache)

    for replicas in (3, 4, 5):
        await asyncio.sleep(1.5)  # past a renewal
        cluster.kubectl("scale", "deployment/web", f"--replicas={replicas}", "-n", namespace)

        async def seen(want: int = replicas) -> Scale | None:
            scale = await targets.scale("apps/v1", "Deployment", namespace, "web")
            return scale if scale.replicas == want and reads.sources[-1] == "cache" else None

        await eventually(f"the cache to see {replicas} replicas", seen)


async def test_a_cache_refused_by_rbac_leaves_every_read_to_the_api_server(
    cluster: Cluster, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The chart without targetWatch grants /scale and an HPA list, not list/watch.
    ensure_crds(cluster)
    identity = chart_identity(
        cluster,
        "wedsync-nowatch",
        ("--set", "targetWatch.enabled=false", "--set", f"watchNamespaces={{{namespace}}}"),
        "wedsync-nowatch-system",
    )
    apply(cluster, namespace, deployment("web", 2), hpa("web-hpa", "web"))
    reads = Reads()
    kube = await client(identity)
    targets = TargetCache(kube, observer=reads)
    try:
        first = await targets.scale("apps/v1", "Deployment", namespace, "web")
        await targets.hpa_owners(namespace)
        await asyncio.sleep(2)  # the caches' LIST or WATCH is refused meanwhile
        cluster.kubectl("scale", "deployment/web", "--replicas=3", "-n", namespace)
        second = await targets.scale("apps/v1", "Deployment", namespace, "web")
        owners = await targets.hpa_owners(namespace)
    finally:
        await targets.close()
        await kube.close()

    assert (first.replicas, second.replicas) == (2, 3)
    assert owners == {("Deployment", "web"): "web-hpa"}
    # Deployments may not even be listed: every read of them went to the API server.
    assert reads.sources[:2] == ["api", "api"]
    refused = [r.getMessage() for r in caplog.records if "cannot" in r.getMessage()]
    assert any('cannot list resource "deployments"' in m for m in refused), refused
    # HPAs may be listed, not watched: a listed copy is never kept as current.
    assert any('cannot watch resource "horizontalpodautoscalers"' in m for m in refused), refused


async def test_a_disabled_cache_never_watches(
    cluster: Cluster, namespace: str, kube: KubeClient
) -> None:
    apply(cluster, namespace, deployment("web", 2))
    reads = Reads()
    targets = TargetCache(kube, enabled=False, observer=reads)
    try:
        for _ in range(3):
            await targets.scale("apps/v1", "Deployment", namespace, "web")
            await targets.hpa_owners(namespace)
            await asyncio.sleep(0.5)
    finally:
        await targets.close()

    assert reads.sources == ["api"] * 6
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("watch ")]
