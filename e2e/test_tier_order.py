"""The pre-scale tier by tier on a real control plane: the database tier, then the cache,
then the app, each when the one before has its new replicas available, seen from the API
server; a tier that cannot become ready lets the next go ahead after tierReadyTimeout,
also across a restart of the operator in the middle of the wait.

KWOK nodes run the pods that fit (32 CPUs each); a pod asking for more stays Pending.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import Gauge

from cluster_fixture import Cluster, wait_until
from operator_fixture import OperatorProcess, apply, deployment, events, status
from policies import day_in_its_mode, per_replica, set_signal
from services.prometheus import PrometheusServer

TOO_MUCH_CPU = "64"
TIMEOUT = 15  # the policy's tierReadyTimeout, in seconds


def workload(name: str, replicas: int, cpu: str = "100m") -> dict[str, Any]:
    manifest = deployment(name, replicas)
    [container] = manifest["spec"]["template"]["spec"]["containers"]
    container["resources"] = {"requests": {"cpu": cpu}}
    return manifest


def tiered_policy(namespace: str, prometheus: PrometheusServer) -> dict[str, Any]:
    def target(name: str, role: str, floor: int) -> dict[str, Any]:
        return {
            "kind": "Deployment",
            "name": name,
            "role": role,
            "minReplicas": 1,
            "maxReplicas": 10,
            "weddingDay": {"minReplicas": floor},
        }

    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "PlatformScaling",
        "metadata": {"name": "platform"},
        "spec": {
            # In spec order app first: the order comes from the roles.
            "targets": [
                target("web", "app", 3),
                target("cache", "cache", 2),
                target("db", "database", 2),
            ],
            "metrics": [per_replica(namespace, "requests", 100)],
            "prometheus": {"url": prometheus.url, "timeout": "2s"},
            # A long tick: a step that follows the one before within it was woken by the
            # watch seeing that tier ready, not by the next tick.
            "interval": {"normal": "30s", "weddingDay": "30s"},
            "weddingDay": {"tierReadyTimeout": f"{TIMEOUT}s"},
        },
    }


class Timeline:
    """When each Deployment was first seen asking for, and having available, a count."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace
        self.asked: dict[tuple[str, int], float] = {}
        self.available: dict[tuple[str, int], float] = {}

    def look(self) -> None:
        found = self.cluster.get_json("deployments", "-n", self.namespace)["items"]
        now = time.monotonic()
        for d in found:
            name = d["metadata"]["name"]
            self.asked.setdefault((name, int(d["spec"]["replicas"])), now)
            ready = int((d.get("status") or {}).get("availableReplicas") or 0)
            self.available.setdefault((name, ready), now)

    def until(self, what: str, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.asked}"
            time.sleep(0.1)
            self.look()


def late_warnings(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    return [e for e in events(cluster, namespace, "platform") if e["reason"] == "TierNotReady"]


def test_each_tier_steps_up_when_the_one_before_is_available_and_a_late_one_lets_the_next_go(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    signal: Gauge,
) -> None:
    set_signal(signal, prometheus, namespace, "requests", 100)
    apply(
        cluster,
        namespace,
        workload("db", 1),
        workload("cache", 1, cpu=TOO_MUCH_CPU),
        workload("web", 1),
        tiered_policy(namespace, prometheus),
    )
    seen = Timeline(cluster, namespace)
    seen.until(
        "the first evaluation", lambda: bool(status(cluster, namespace, "ps", "platform")), 20
    )
    apply(cluster, namespace, day_in_its_mode())

    seen.until("web at 3", lambda: ("web", 3) in seen.asked, timeout=30 + TIMEOUT)
    # The database first; the cache once the database's two replicas were available.
    assert seen.asked[("db", 2)] <= seen.asked[("cache", 2)]
    assert seen.available[("db", 2)] <= seen.asked[("cache", 2)] + 0.5
    # Sooner than the 30 s tick: the watch saw the database ready and woke the policy.
    assert seen.asked[("cache", 2)] - seen.asked[("db", 2)] < 10
    # The cache's pods cannot be placed: the app waited for it until its timeout.
    waited = seen.asked[("web", 3)] - seen.asked[("cache", 2)]
    assert TIMEOUT - 1 <= waited <= TIMEOUT + 5, waited
    # Posted by the evaluation that let the app go, after its patch.
    [late] = wait_until("the TierNotReady Warning", lambda: late_warnings(cluster, namespace), 10)
    assert late["type"] == "Warning"
    assert late["message"].startswith(
        "the cache tier is not ready: cache: 0 of 2 replicas available, 15s after its scale-up"
    ), late["message"]
    assert status(cluster, namespace, "ps", "platform")["tierSequence"]["late"] == [
        {
            "role": "cache",
            "message": "cache: 0 of 2 replicas available, 15s after its scale-up: "
            "the next tiers go ahead",
        }
    ]


def test_a_restart_in_the_middle_of_a_wait_resumes_it_from_the_recorded_scale_up(
    cluster: Cluster,
    namespace: str,
    prometheus: PrometheusServer,
    signal: Gauge,
    tmp_path: Path,
) -> None:
    set_signal(signal, prometheus, namespace, "requests", 100)
    apply(
        cluster,
        namespace,
        workload("db", 1),
        workload("cache", 1, cpu=TOO_MUCH_CPU),
        workload("web", 1),
        tiered_policy(namespace, prometheus),
        day_in_its_mode(),
    )
    seen = Timeline(cluster, namespace)
    first = OperatorProcess(cluster, tmp_path / "first.log").start()
    try:
        seen.until("the cache at 2", lambda: ("cache", 2) in seen.asked, timeout=30)
        time.sleep(2)
    finally:
        first.kill()
    assert ("web", 3) not in seen.asked  # still waiting for the cache
    second = OperatorProcess(cluster, tmp_path / "second.log").start()
    try:
        seen.until("web at 3", lambda: ("web", 3) in seen.asked, timeout=30 + TIMEOUT)
    finally:
        second.stop()
    # The timeout ran from the cache's recorded scale-up, not from the restart, and the
    # steps already taken were not taken again.
    waited = seen.asked[("web", 3)] - seen.asked[("cache", 2)]
    assert TIMEOUT - 1 <= waited <= TIMEOUT + 8, waited
    assert len(late_warnings(cluster, namespace)) == 1
    scaled = [e for e in events(cluster, namespace, "platform") if e["reason"] == "ScaledUp"]
    assert sorted(e["message"].split(":")[0] for e in scaled) == [
        "scale cache 1 → 2",
        "scale db 1 → 2",
        "scale web 1 → 3",
    ]
    for log in (first, second):
        assert not log.problems(), log.log_path
