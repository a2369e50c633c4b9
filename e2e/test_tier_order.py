"""The pre-scale tier by tier on a real control plane: the database tier, then the cache,
then the app, each when the one before has its new replicas available, seen from the API
server, and back down in reverse once the day is over; a tier that cannot become ready
lets the next go ahead after tierReadyTimeout, also across a restart of the operator in
the middle of the wait.

KWOK nodes run the pods that fit (32 CPUs each); a pod asking for more stays Pending.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import Gauge

from cluster_fixture import Cluster, wait_until
from operator_fixture import (
    TOO_MUCH_CPU,
    OperatorProcess,
    apply,
    events,
    replicas,
    secret,
    statefulset,
    status,
    watched,
    workload,
)
from policies import day_in_its_mode, per_replica, set_signal
from services.postgres import PostgresPair
from services.prometheus import PrometheusServer

TIMEOUT = 15  # the policy's tierReadyTimeout, in seconds


def tiered_policy(
    namespace: str,
    prometheus: PrometheusServer,
    *,
    database: tuple[str, str] = ("Deployment", "db"),
    timeout: int = TIMEOUT,
) -> dict[str, Any]:
    def target(name: str, role: str, floor: int, kind: str = "Deployment") -> dict[str, Any]:
        return {
            "kind": kind,
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
                target(database[1], "database", 2, kind=database[0]),
            ],
            "metrics": [per_replica(namespace, "requests", 100)],
            "prometheus": {"url": prometheus.url, "timeout": "2s"},
            # A long tick: a step that follows the one before within it was woken by the
            # watch seeing that tier ready, not by the next tick.
            "interval": {"normal": "30s", "weddingDay": "30s"},
            "weddingDay": {"tierReadyTimeout": f"{timeout}s"},
        },
    }


class Timeline:
    """When each Deployment or StatefulSet was first seen asking for, and having
    available, a count."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace
        self.asked: dict[tuple[str, int], float] = {}
        self.available: dict[tuple[str, int], float] = {}

    def look(self) -> None:
        found = self.cluster.get_json("deployments,statefulsets", "-n", self.namespace)["items"]
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


@pytest.fixture(scope="module")
def two_replicas() -> Iterator[PostgresPair]:
    """A primary with the two streaming replicas the database tier's check asks for."""
    with PostgresPair(replicas=2) as pair:
        yield pair


def test_a_lagging_postgres_replica_holds_the_next_tiers_and_the_late_warning_names_it(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    signal: Gauge,
    two_replicas: PostgresPair,
) -> None:
    timeout = 8
    set_signal(signal, prometheus, namespace, "requests", 100)
    doc = tiered_policy(
        namespace, prometheus, database=("StatefulSet", "postgres-replica"), timeout=timeout
    )
    doc["spec"]["safety"] = {
        "postgres": {"secretRef": {"name": "postgres"}, "maxReplicaLagBytes": 1048576}
    }
    apply(
        cluster,
        namespace,
        secret("postgres", "dsn", two_replicas.primary_dsn),
        statefulset("postgres-replica", 1),
        workload("cache", 1),
        workload("web", 1),
        doc,
    )
    seen = Timeline(cluster, namespace)
    seen.until(
        "the first evaluation", lambda: bool(status(cluster, namespace, "ps", "platform")), 20
    )
    lagging = two_replicas.replica_name(1)
    two_replicas.pause_replay(replica=1)
    try:
        two_replicas.write_wal(4)
        apply(cluster, namespace, day_in_its_mode())
        seen.until(
            "postgres-replica at 2 available",
            lambda: ("postgres-replica", 2) in seen.available,
            timeout=30,
        )
        # Both pods are there, but one replica is 4 MiB behind: the cache waits for it.
        waiting = wait_until(
            "the policy to wait for the database tier",
            lambda: (
                status(cluster, namespace, "ps", "platform")
                .get("tierSequence", {})
                .get("waitingFor")
            ),
            timeout=10,
        )
        assert waiting["role"] == "database"
        assert f"replica {lagging}" in waiting["message"], waiting
        assert "behind in replay" in waiting["message"], waiting
        seen.until("the cache at 2", lambda: ("cache", 2) in seen.asked, timeout=timeout + 10)
        waited = seen.asked[("cache", 2)] - seen.asked[("postgres-replica", 2)]
        assert timeout - 1 <= waited <= timeout + 5, waited
        [late] = wait_until(
            "the TierNotReady Warning", lambda: late_warnings(cluster, namespace), 10
        )
        assert late["message"].startswith("the database tier is not ready: postgres-replica: ")
        assert f"replica {lagging}" in late["message"], late["message"]
        seen.until("web at 3", lambda: ("web", 3) in seen.asked, timeout=30)
    finally:
        two_replicas.resume_replay(replica=1)


def first_after(
    versions: list[dict[str, Any]], start: int, name: str, ok: Callable[[dict[str, Any]], bool]
) -> int:
    """The index of the first version of ``name`` at or after ``start`` that is ``ok``."""
    for i in range(start, len(versions)):
        if versions[i]["metadata"]["name"] == name and ok(versions[i]):
            return i
    raise AssertionError(f"no such version of {name} after {start}")


def asks(count: int) -> Callable[[dict[str, Any]], bool]:
    return lambda d: int(d["spec"]["replicas"]) == count


def holds(count: int) -> Callable[[dict[str, Any]], bool]:
    """Settled: no more pods than asked for (what the operator reads as settled)."""
    return lambda d: int((d.get("status") or {}).get("replicas") or 0) <= count


def test_leaving_the_mode_scales_down_the_app_then_the_cache_then_the_database(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    signal: Gauge,
) -> None:
    # 100 requests against 100 per replica: 1 replica each once the mode is over.
    set_signal(signal, prometheus, namespace, "requests", 100)
    doc = tiered_policy(namespace, prometheus)
    doc["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 0}}
    apply(cluster, namespace, workload("db", 1), workload("cache", 1), workload("web", 1), doc)
    seen = Timeline(cluster, namespace)
    seen.until(
        "the first evaluation", lambda: bool(status(cluster, namespace, "ps", "platform")), 20
    )
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
    with watched(cluster, namespace, "deployments") as versions:
        apply(
            cluster,
            namespace,
            day_in_its_mode(end=ends.strftime("%Y-%m-%dT%H:%M:%SZ"), windDown="0s"),
        )
        seen.until("web at 3 available", lambda: ("web", 3) in seen.available, timeout=25)
        assert datetime.now(UTC) < ends, "the pre-scale took the whole day"
        # Three tiers, each woken by the watch: far less than three 30 s ticks.
        wait_until(
            "the database back at 1",
            lambda: replicas(cluster, namespace, "db") == 1,
            timeout=(ends - datetime.now(UTC)).total_seconds() + 30,
        )
        time.sleep(2)  # its pod's way out
    up = first_after(versions, 0, "web", asks(3))
    web = first_after(versions, up, "web", asks(1))
    cache = first_after(versions, up, "cache", asks(1))
    db = first_after(versions, up, "db", asks(1))
    # In the API server's order: each tier shrank only once the one before had settled.
    assert first_after(versions, web, "web", holds(1)) < cache < db
    assert first_after(versions, cache, "cache", holds(1)) < db
    downs = {
        e["message"].split(":")[0]: e["lastTimestamp"] or e["eventTime"]
        for e in events(cluster, namespace, "platform")
        if e["reason"] == "ScaledDown"
    }
    assert sorted(downs) == ["scale cache 2 → 1", "scale db 2 → 1", "scale web 3 → 1"]
    web_at = datetime.fromisoformat(downs["scale web 3 → 1"])
    assert web_at >= ends, "scaled down inside the day"
    assert datetime.fromisoformat(downs["scale db 2 → 1"]) - web_at < timedelta(seconds=20)
