"""Promises that need an operator of their own: how often a policy is evaluated (counted
from the operator's own metrics, so no other test's policy may share the process), and a
custom resource scaled through its /scale subresource under the RBAC that the chart
value ``rbac.extraScaleTargets`` grants.

Each test starts an operator that watches only its namespace; the custom resource is
CloudNativePG's ``Cluster`` with its real CRD, read from its Go module (downloaded once
through the Go module proxy into the user cache, never committed here).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Gauge

from cluster_fixture import Cluster, wait_until
from operator_fixture import (
    SUITE_VALUES,
    OperatorProcess,
    apply,
    chart_identity,
    deployment,
    ensure_crds,
    events,
    status,
)
from policies import day_in_its_mode, per_replica, scaling, set_signal
from services.prometheus import PrometheusServer

CNPG_MODULE = "github.com/cloudnative-pg/cloudnative-pg"
CNPG_VERSION = "v1.25.1"
CNPG_CRD = "config/crd/bases/postgresql.cnpg.io_clusters.yaml"
# What an administrator adds to the chart's values to let the operator scale CNPG Clusters.
CNPG_VALUES = (
    "--set",
    "rbac.extraScaleTargets[0].apiGroup=postgresql.cnpg.io",
    "--set",
    "rbac.extraScaleTargets[0].resources={clusters}",
)


def namespaced_identity(
    cluster: Cluster, namespace: str, release: str, values: tuple[str, ...] = ()
) -> Path:
    """The chart's identity for an install that watches ``namespace`` only
    (``watchNamespaces``), under a release of its own so the suite's RBAC stays as is."""
    ensure_crds(cluster)  # the identity is checked against the wedsync.io kinds
    return chart_identity(
        cluster,
        release=release,
        values=(*SUITE_VALUES, "--set", f"watchNamespaces={{{namespace}}}", *values),
        namespace=f"{release}-system",
    )


@contextlib.contextmanager
def own_operator(
    cluster: Cluster, namespace: str, log_dir: Path, kubeconfig: Path
) -> Iterator[OperatorProcess]:
    """An operator for ``namespace`` alone, as the chart runs it with watchNamespaces; it
    must neither block its event loop nor log a traceback."""
    proc = OperatorProcess(
        cluster,
        log_dir / "operator.log",
        args=("--standalone", "--namespace", namespace),
        kubeconfig=kubeconfig,
    ).start()
    try:
        yield proc
    finally:
        proc.stop()
    problems = proc.problems()
    assert not problems, f"see {proc.log_path}:\n" + "\n".join(problems)


def evaluations(proc: OperatorProcess) -> float:
    url = f"http://127.0.0.1:{proc.metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as rsp:
            text = rsp.read().decode()
    except OSError:
        return -1  # not serving yet
    prefix = "wedsync_operator_evaluations_total{"
    return sum(float(x.rsplit(" ", 1)[1]) for x in text.splitlines() if x.startswith(prefix))


def evaluation_gaps(proc: OperatorProcess, seconds: float) -> list[float]:
    """Seconds between successive evaluations seen over ``seconds`` (polled at 50 ms)."""
    stamps: list[float] = []
    last = evaluations(proc)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = evaluations(proc)
        if now > last:
            stamps.append(time.monotonic())
            last = now
        time.sleep(0.05)
    return [b - a for a, b in itertools.pairwise(stamps)]


def test_a_policy_is_evaluated_every_normal_interval_and_every_wedding_day_interval_in_the_mode(
    cluster: Cluster,
    namespace: str,
    prometheus: PrometheusServer,
    signal: Gauge,
    tmp_path: Path,
) -> None:
    set_signal(signal, prometheus, namespace, "requests", 200)
    apply(cluster, namespace, deployment("web", 2))
    policy = scaling(namespace, prometheus, [per_replica(namespace, "requests", 100)])
    policy["spec"]["interval"] = {"normal": "3s", "weddingDay": "1s"}
    identity = namespaced_identity(cluster, namespace, "wedsync-e2e-cadence")
    with own_operator(cluster, namespace, tmp_path, identity) as proc:
        apply(cluster, namespace, policy)
        wait_until("a first evaluation", lambda: evaluations(proc) >= 1, timeout=20)

        normal = evaluation_gaps(proc, 10)

        apply(cluster, namespace, day_in_its_mode())
        wait_until(
            "wedding-day mode",
            lambda: status(cluster, namespace, "ps", "platform").get("mode") == "WeddingDay",
            timeout=10,
        )
        in_mode = evaluation_gaps(proc, 6)

    # An evaluation that takes t starts the next one interval later, measured from its
    # start; the poll sees each within 50 ms. Tolerance: a quarter of a second.
    assert len(normal) >= 2 and abs(statistics.median(normal) - 3) <= 0.25, normal
    assert len(in_mode) >= 4 and abs(statistics.median(in_mode) - 1) <= 0.25, in_mode
    assert max(normal) < 3.5 and max(in_mode) < 1.5, (normal, in_mode)


def cnpg_cluster_crd() -> Path:
    """CloudNativePG's Cluster CRD from its Go module, downloaded once into the cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    modcache = cache / "wedsync-operator" / "gomod"
    crd = modcache / f"{CNPG_MODULE}@{CNPG_VERSION}" / CNPG_CRD
    if not crd.exists():
        # Outside any module, so the download neither needs nor touches a go.mod.
        with tempfile.TemporaryDirectory() as empty:
            subprocess.run(
                ["go", "mod", "download", f"{CNPG_MODULE}@{CNPG_VERSION}"],
                env={**os.environ, "GOMODCACHE": str(modcache), "GOFLAGS": "-modcacherw"},
                cwd=empty,
                check=True,
                capture_output=True,
                timeout=600,
            )
    return crd


def instances(cluster: Cluster, namespace: str) -> int:
    return int(
        cluster.get_json("clusters.postgresql.cnpg.io", "pg", "-n", namespace)["spec"]["instances"]
    )


def can_i(cluster: Cluster, kubeconfig: Path, verb: str, namespace: str) -> bool:
    answer = cluster.kubectl(
        "auth",
        "can-i",
        verb,
        "clusters.postgresql.cnpg.io",
        "--subresource=scale",
        "-n",
        namespace,
        f"--kubeconfig={kubeconfig}",
        check=False,
    )
    return answer.stdout.strip() == "yes"


def test_a_custom_resource_is_read_and_scaled_through_its_scale_subresource(
    cluster: Cluster,
    namespace: str,
    prometheus: PrometheusServer,
    signal: Gauge,
    tmp_path: Path,
) -> None:
    try:
        crd = cnpg_cluster_crd()
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"could not fetch the CloudNativePG module through the Go proxy: {exc}")
    # Server-side: the CRD is larger than the last-applied annotation may be.
    cluster.kubectl("apply", "--server-side", "-f", str(crd))
    pg: dict[str, Any] = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "pg"},
        "spec": {"instances": 1, "storage": {"size": "1Gi"}},
    }
    wait_until(
        "the Cluster kind to be served",
        lambda: (
            cluster.kubectl(
                "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(pg), check=False
            ).returncode
            == 0
        ),
        timeout=30,
    )
    # The chart's default RBAC does not reach this kind; the documented value does.
    ensure_crds(cluster)
    default = chart_identity(cluster)
    extended = namespaced_identity(cluster, namespace, "wedsync-e2e-cnpg", CNPG_VALUES)
    assert not can_i(cluster, default, "patch", namespace)
    wait_until(
        "the extraScaleTargets rule to take effect",
        lambda: (
            can_i(cluster, extended, "get", namespace)
            and can_i(cluster, extended, "patch", namespace)
        ),
        timeout=30,
    )
    set_signal(signal, prometheus, namespace, "requests", 300)
    policy = scaling(namespace, prometheus, [per_replica(namespace, "requests", 100)])
    policy["spec"]["targets"] = [
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "name": "pg",
            "role": "database",
            "minReplicas": 1,
            "maxReplicas": 5,
        }
    ]

    with own_operator(cluster, namespace, tmp_path, kubeconfig=extended):
        apply(cluster, namespace, policy)
        wait_until("pg at 3 instances", lambda: instances(cluster, namespace) == 3, timeout=20)

    target = status(cluster, namespace, "ps", "platform")["targets"][0]
    assert target["currentReplicas"] == 3, target
    scaled = [
        e["message"] for e in events(cluster, namespace, "platform") if e["reason"] == "ScaledUp"
    ]
    assert scaled and scaled[0].startswith("scale pg 1 → 3: requests 300"), scaled
