"""hpaConflict: RaiseMinReplicas on a KEDA-made HPA: the ScaledObject's minReplicaCount is
raised (KEDA rewrites its HPA from it), never the HPA, and given back after the mode.

KEDA's own ScaledObject CRD, from its Go module (`go mod download`), is served by the API
server. The KEDA operator itself does not run here: the HPA it would make is created by
the test with the owner reference KEDA sets, so what is shown is the operator's side (it
finds the ScaledObject through the HPA's owner and writes only there) under the chart's
identity with ``rbac.keda.enabled=true``.
"""

from __future__ import annotations

import json
import os
import subprocess
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
    status,
)
from services.prometheus import PrometheusServer
from test_hpa import HOLD, hpa
from test_operator import day_in_mode, policy, set_cpu, web

KEDA = "github.com/kedacore/keda/v2@v2.21.0"
GOMODCACHE = Path.home() / ".cache" / "wedsync-operator" / "gomod"


def keda_crd() -> Path:
    """KEDA's published ScaledObject CRD, from its Go module (cached after the first)."""
    env = {**os.environ, "GOMODCACHE": str(GOMODCACHE), "GOFLAGS": "-mod=mod"}
    done = subprocess.run(
        ["go", "mod", "download", "-json", KEDA],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
        cwd="/tmp",
    )
    return Path(json.loads(done.stdout)["Dir"]) / "config/crd/bases/keda.sh_scaledobjects.yaml"


@pytest.fixture(scope="module")
def keda_operator(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    ensure_crds(cluster)
    cluster.kubectl("apply", "--server-side", "-f", str(keda_crd()))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/scaledobjects.keda.sh", "--timeout=30s"
    )
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
    so = cluster.get_json("scaledobject", "web", "-n", namespace)
    made = hpa("keda-hpa-web", "web", 2)
    made["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "name": "web",
            "uid": so["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    apply(cluster, namespace, made)
    target = web(max_replicas=20, weddingDay={"minReplicas": 5})
    apply(cluster, namespace, policy(namespace, prometheus, target=target))

    def so_min() -> tuple[int, str | None]:
        got = cluster.get_json("scaledobject", "web", "-n", namespace)
        return got["spec"]["minReplicaCount"], (got["metadata"].get("annotations") or {}).get(HOLD)

    apply(cluster, namespace, day_in_mode())
    wait_until("the ScaledObject's min raised", lambda: so_min()[0] == 5, timeout=20)
    hold = so_min()[1]
    assert hold is not None and json.loads(hold)["original"] == 2
    # KEDA's HPA is KEDA's to rewrite: the operator leaves it alone.
    got = cluster.get_json("hpa", "keda-hpa-web", "-n", namespace)
    assert got["spec"]["minReplicas"] == 2 and HOLD not in (
        got["metadata"].get("annotations") or {}
    )
    messages = [c["message"] for c in status(cluster, namespace, "ps", "platform")["conditions"]]
    assert any("ScaledObject web minimum held at 5" in m for m in messages), messages

    cluster.kubectl("delete", "wd", "now", "-n", namespace, "--wait=false")
    wait_until("the ScaledObject's min back", lambda: so_min() == (2, None), timeout=20)
