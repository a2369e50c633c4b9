"""adapters/kube.py against the real API server: /scale of Deployments and StatefulSets,
our CRs' /status, the mode ConfigMap, and errors with reasons."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cluster_fixture import REPO, Cluster, wait_until
from test_control_plane import _deployment
from wedsync_operator.adapters.kube import KubeClient, KubeError


@pytest.fixture
async def kube(cluster: Cluster) -> AsyncIterator[KubeClient]:
    client = await KubeClient.connect(kubeconfig=str(cluster.kubeconfig), request_timeout=10)
    try:
        yield client
    finally:
        await client.close()


async def test_replicas_are_read_and_set_through_the_scale_subresource(
    cluster: Cluster, namespace: str, kube: KubeClient
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=_deployment("web", 2))

    before = await kube.get_scale("apps/v1", "Deployment", namespace, "web")
    await kube.set_replicas("apps/v1", "Deployment", namespace, "web", 5)
    # Setting the same absolute number again is harmless (an interrupted run repeated).
    await kube.set_replicas("apps/v1", "Deployment", namespace, "web", 5)

    assert before.replicas == 2
    deployment = cluster.get_json("deployment", "web", "-n", namespace)
    assert deployment["spec"]["replicas"] == 5
    wait_until(
        "5 replicas reported by /scale",
        lambda: (
            cluster.get_json("deployment", "web", "-n", namespace)["status"].get("replicas") == 5
        ),
    )
    after = await kube.get_scale("apps/v1", "Deployment", namespace, "web")
    assert (after.replicas, after.status_replicas) == (5, 5)
    assert int(after.resource_version) > int(before.resource_version)


async def test_an_unknown_kind_is_reported_as_such(namespace: str, kube: KubeClient) -> None:
    with pytest.raises(KubeError) as info:
        await kube.get_scale("apps/v1", "Deploymnet", namespace, "web")

    assert info.value.reason == "UnknownKind"
    assert "Deploymnet" in str(info.value)


async def test_a_missing_target_is_not_found(namespace: str, kube: KubeClient) -> None:
    with pytest.raises(KubeError) as info:
        await kube.get_scale("apps/v1", "StatefulSet", namespace, "nothing-here")

    assert info.value.not_found
    assert info.value.reason == "NotFound"


async def test_status_of_our_own_object_is_merge_patched(
    cluster: Cluster, namespace: str, kube: KubeClient
) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/weddingdays.wedsync.io", "--timeout=30s"
    )
    day = (
        "apiVersion: wedsync.io/v1alpha1\nkind: WeddingDay\nmetadata: {name: d}\n"
        "spec: {start: '2027-06-12T13:00:00Z', end: '2027-06-12T20:00:00Z'}\n"
    )
    wait_until(
        "WeddingDay to be creatable",
        lambda: (
            cluster.kubectl("apply", "-n", namespace, "-f", "-", input=day, check=False).returncode
            == 0
        ),
    )

    await kube.patch_status("weddingdays", namespace, "d", {"phase": "Scheduled"})
    await kube.patch_status("weddingdays", namespace, "d", {"message": "second write"})

    status = cluster.get_json("weddingday", "d", "-n", namespace)["status"]
    assert status == {"phase": "Scheduled", "message": "second write"}


async def test_mode_config_map_is_created_then_updated(
    cluster: Cluster, namespace: str, kube: KubeClient
) -> None:
    labels = {"app.kubernetes.io/managed-by": "wedsync-operator"}

    await kube.apply_config_map(namespace, "wedsync-mode", {"mode": "Normal"}, labels)
    await kube.apply_config_map(namespace, "wedsync-mode", {"mode": "WeddingDay"}, labels)

    cm = cluster.get_json("configmap", "wedsync-mode", "-n", namespace)
    assert cm["data"] == {"mode": "WeddingDay"}
    assert cm["metadata"]["labels"] == labels


async def test_an_event_posted_twice_under_one_name_is_one_event(
    cluster: Cluster, namespace: str, kube: KubeClient
) -> None:
    involved = {"apiVersion": "v1", "kind": "ConfigMap", "name": "wedsync-mode", "uid": ""}
    for _ in range(2):  # before a kill and again after the restart
        await kube.create_event(
            namespace,
            "platform.0123456789abcdef",
            involved,
            type_="Normal",
            reason="ScaledUp",
            message="scale web 5 → 6",
            component="wedsync-operator",
        )

    items = cluster.get_json("events", "-n", namespace)["items"]
    ours = [e for e in items if e["metadata"]["name"].startswith("platform.")]
    assert [(e["reason"], e["message"], e.get("count")) for e in ours] == [
        ("ScaledUp", "scale web 5 → 6", 1)
    ]
    assert ours[0]["involvedObject"]["namespace"] == namespace


async def test_a_config_map_write_computed_from_a_stale_version_is_refused(
    cluster: Cluster, namespace: str, kube: KubeClient
) -> None:
    labels = {"app.kubernetes.io/managed-by": "wedsync-operator"}
    seen = await kube.apply_config_map(namespace, "wedsync-mode", {"a.mode": "Normal"}, labels)
    # Another policy writes its key set between this one's write and its merged view.
    await kube.apply_config_map(namespace, "wedsync-mode", {"b.mode": "WeddingDay"}, labels)

    with pytest.raises(KubeError) as info:
        await kube.patch_config_map_at(
            namespace, "wedsync-mode", {"mode": "Normal"}, seen["metadata"]["resourceVersion"]
        )
    again = await kube.apply_config_map(namespace, "wedsync-mode", {"a.mode": "Normal"}, labels)
    await kube.patch_config_map_at(
        namespace,
        "wedsync-mode",
        {"mode": "WeddingDay", "b.mode": None},
        again["metadata"]["resourceVersion"],
    )

    assert info.value.reason == "Conflict"
    assert again["data"] == {"a.mode": "Normal", "b.mode": "WeddingDay"}  # a no-op returns it
    cm = cluster.get_json("configmap", "wedsync-mode", "-n", namespace)
    assert cm["data"] == {"a.mode": "Normal", "mode": "WeddingDay"}  # None removed a key


async def test_an_unreachable_api_server_fails_fast_with_a_reason(cluster: Cluster) -> None:
    broken = cluster.state / "broken.kubeconfig"
    broken.write_text(cluster.kubeconfig.read_text().replace(cluster.server, "https://127.0.0.1:9"))
    client = await KubeClient.connect(kubeconfig=str(broken), request_timeout=3)
    try:
        with pytest.raises(KubeError) as info:
            await client.get_scale("apps/v1", "Deployment", "default", "web")
    finally:
        await client.close()

    assert info.value.reason in {"KubernetesUnreachable", "KubernetesTimeout"}
