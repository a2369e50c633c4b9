"""The operator as an SRE installs it, raising a wedding day's floor (no Prometheus needed).

Deployed mode (WEDSYNC_E2E_DEPLOYED=1, run by `make e2e-kind`): the operator is the
chart's Deployment in a kind cluster, running the image built from the Dockerfile as uid
10001 on a read-only root filesystem; these tests only talk to the API server and read
the pods' logs. Otherwise the same scenario runs on the local control plane, with the
operator process under the chart's ServiceAccount (the image itself runs on a real node
in e2e/test_operator_pods.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from cluster_fixture import DEPLOYED, Cluster, wait_until
from operator_fixture import (
    OperatorProcess,
    apply,
    chart_identity,
    deployment,
    ensure_crds,
    events,
    status,
    wait_replicas,
)
from test_operator import rfc3339
from test_rbac import refused_lines

# Where e2e/kind/run.sh installs the chart.
RELEASE = os.environ.get("WEDSYNC_E2E_RELEASE", "wedsync-operator")
RELEASE_NAMESPACE = os.environ.get("WEDSYNC_E2E_RELEASE_NAMESPACE", "wedsync-system")


@pytest.fixture(scope="module")
def operator_log(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], str]]:
    """The operator's log, read when called: the installed pods', or a local process's."""
    if os.environ.get(DEPLOYED) == "1":
        where = ("-n", RELEASE_NAMESPACE)
        cluster.kubectl("rollout", "status", f"deployment/{RELEASE}", "--timeout=180s", *where)
        selector = f"app.kubernetes.io/instance={RELEASE}"
        yield (
            lambda: cluster.kubectl("logs", "-l", selector, "--prefix", "--tail=-1", *where).stdout
        )
        pods = cluster.get_json("pods", "-l", selector, *where)["items"]
        restarts = [
            (p["metadata"]["name"], c["restartCount"])
            for p in pods
            for c in p["status"].get("containerStatuses", [])
        ]
        assert all(count == 0 for _, count in restarts), f"operator restarted: {restarts}"
        return
    ensure_crds(cluster)
    log = tmp_path_factory.mktemp("deployed") / "operator.log"
    proc = OperatorProcess(cluster, log, kubeconfig=chart_identity(cluster)).start()
    try:
        yield proc.log
    finally:
        proc.stop()
    assert proc.slow_callbacks() == []


def test_a_preparing_wedding_day_raises_the_floor_and_publishes_the_mode(
    cluster: Cluster, namespace: str, operator_log: Callable[[], str]
) -> None:
    apply(cluster, namespace, deployment("web", 2))
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "PlatformScaling",
            "metadata": {"name": "platform"},
            "spec": {
                "targets": [
                    {
                        "kind": "Deployment",
                        "name": "web",
                        "minReplicas": 2,
                        "maxReplicas": 10,
                        "weddingDay": {"minReplicas": 5},
                    }
                ],
                "interval": {"normal": "5s", "weddingDay": "5s"},
            },
        },
    )
    start = datetime.now(UTC) + timedelta(hours=1)
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "saturday"},
            "spec": {
                "start": rfc3339(start),
                "end": rfc3339(start + timedelta(hours=8)),
                "leadTime": "2h",  # the mode is on from now
                "expectedWeddings": 40,
            },
        },
    )

    wait_replicas(cluster, namespace, "web", 5, timeout=60)
    wait_until(
        "the policy's mode in status",
        lambda: status(cluster, namespace, "ps", "platform").get("mode") == "WeddingDay",
        timeout=20,
    )

    assert status(cluster, namespace, "wd", "saturday")["phase"] == "Preparing"
    mode = cluster.get_json("configmap", "wedsync-mode", "-n", namespace)["data"]
    assert mode["mode"] == "WeddingDay" and mode["activeWeddingDays"] == "saturday"
    reasons = [e["reason"] for e in events(cluster, namespace, "platform")]
    assert "ScaledUp" in reasons
    assert not refused_lines(operator_log()), "\n".join(refused_lines(operator_log()))
