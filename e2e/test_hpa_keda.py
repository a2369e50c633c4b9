"""hpaConflict: RaiseMinReplicas on a KEDA-made HPA: the ScaledObject's minReplicaCount is
raised (KEDA rewrites its HPA from it), never the HPA, and given back after the mode.

The real KEDA operator, built from its Go module by e2e/keda/build.sh (cached after the
first build), runs against the local control plane with KEDA's own CRDs: it makes the HPA
from the ScaledObject and rewrites it when the ScaledObject changes; the control plane's
HPA controller then scales the Deployment. This operator runs under the chart's identity
with ``rbac.keda.enabled=true``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import Gauge

from cluster_fixture import Cluster, wait_until
from operator_fixture import (
    OperatorProcess,
    apply,
    chart_identity,
    deployment,
    ensure_crds,
    ensure_keda_crds,
    replicas,
    status,
)
from services.keda import KEDA_NAMESPACE, KedaOperator, build
from services.prometheus import PrometheusServer
from test_hpa import HOLD
from test_operator import day_in_mode, policy, set_cpu, web


def managers(obj: dict[str, Any]) -> set[str]:
    return {str(m.get("manager")) for m in obj["metadata"].get("managedFields") or ()}


@pytest.fixture(scope="module")
def keda(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """KEDA's operator, running as a process against the cluster (admin identity, as its
    own chart would grant it); yields its log file."""
    built = build()
    ensure_keda_crds(cluster, built)
    keda = KedaOperator(built, tmp_path_factory.mktemp("keda"), cluster.kubeconfig)
    try:
        yield keda.start().log_file
    finally:
        keda.stop()
        cluster.kubectl("delete", "namespace", KEDA_NAMESPACE, "--wait=false", check=False)


@pytest.fixture(scope="module")
def keda_operator(
    cluster: Cluster, keda: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    ensure_crds(cluster)
    identity = chart_identity(
        cluster, "wedsync-keda", ("--set", "rbac.keda.enabled=true"), "wedsync-keda-system"
    )
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    proc = OperatorProcess(cluster, log, kubeconfig=identity).start()
    try:
        yield proc
    finally:
        proc.stop()
    assert not proc.problems(), f"see {proc.log_path}"


def scaled_object(name: str, target: str, min_count: int) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"name": target},
            "minReplicaCount": min_count,
            "maxReplicaCount": 10,
            "triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "80"}}],
        },
    }


def test_a_keda_made_hpa_is_raised_through_its_scaled_object_and_given_back(
    cluster: Cluster,
    namespace: str,
    keda_operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    set_cpu(cpu, prometheus, namespace, 60)
    apply(cluster, namespace, deployment("web", 2), scaled_object("web", "web", 2))
    fields = "--show-managed-fields"
    so = cluster.get_json("scaledobject", "web", "-n", namespace, fields)

    def keda_hpa() -> dict[str, Any] | None:
        got = cluster.kubectl(
            "get", "hpa", "keda-hpa-web", "-n", namespace, "-o", "json", fields, check=False
        )
        return json.loads(got.stdout) if got.returncode == 0 else None

    # KEDA itself makes the HPA, owned by the ScaledObject.
    made = wait_until("KEDA's HPA for the ScaledObject", keda_hpa, timeout=60)
    owners = made["metadata"].get("ownerReferences") or []
    assert [(o["kind"], o["uid"]) for o in owners] == [("ScaledObject", so["metadata"]["uid"])]
    assert made["spec"]["minReplicas"] == 2
    target = web(max_replicas=20, weddingDay={"minReplicas": 5})
    apply(cluster, namespace, policy(namespace, prometheus, target=target))

    def so_min() -> tuple[int, str | None]:
        got = cluster.get_json("scaledobject", "web", "-n", namespace)
        return got["spec"]["minReplicaCount"], (got["metadata"].get("annotations") or {}).get(HOLD)

    apply(cluster, namespace, day_in_mode())
    wait_until("the ScaledObject's min raised", lambda: so_min()[0] == 5, timeout=20)
    hold = so_min()[1]
    assert hold is not None and json.loads(hold)["original"] == 2
    # KEDA rewrites its HPA from the ScaledObject, and the HPA controller scales web to
    # the floor; the operator never writes KEDA's HPA.
    wait_until(
        "KEDA's HPA rewritten to the raised minimum",
        lambda: (keda_hpa() or {}).get("spec", {}).get("minReplicas") == 5,
        timeout=60,
    )
    wait_until("web at the floor", lambda: replicas(cluster, namespace, "web") >= 5, timeout=60)
    got = keda_hpa() or {}
    # The operator's field manager is the one that wrote the ScaledObject's minimum.
    ours = managers(cluster.get_json("scaledobject", "web", "-n", namespace, fields))
    ours -= managers(so)
    assert ours and not ours & managers(got), (ours, managers(got))
    # KEDA copies the ScaledObject's annotations onto its HPA, the hold record included:
    # the operator reads the record on the ScaledObject only (handlers/autoscalers.py).
    assert (got["metadata"].get("annotations") or {}).get(HOLD) in (None, hold)
    messages = [c["message"] for c in status(cluster, namespace, "ps", "platform")["conditions"]]
    assert any("ScaledObject web minimum held at 5" in m for m in messages), messages

    cluster.kubectl("delete", "wd", "now", "-n", namespace, "--wait=false")
    wait_until("the ScaledObject's min back", lambda: so_min() == (2, None), timeout=20)
    wait_until(
        "KEDA's HPA back at the user's minimum",
        lambda: (keda_hpa() or {}).get("spec", {}).get("minReplicas") == 2,
        timeout=60,
    )
