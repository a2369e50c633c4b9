"""Restarts and replicas: state lives in status, so a killed operator resumes without
re-doing or undoing; of several peered replicas, exactly one acts."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import Gauge

from cluster_fixture import Cluster, wait_until
from operator_fixture import (
    OperatorProcess,
    apply,
    conditions,
    deployment,
    ensure_crds,
    events,
    replicas,
    status,
    wait_replicas,
)
from services.prometheus import PrometheusServer
from test_operator import policy, rfc3339, set_cpu, web


def scaled_up_count(cluster: Cluster, namespace: str) -> int:
    return sum(
        int(e.get("count") or 1)
        for e in events(cluster, namespace, "platform")
        if e["reason"] == "ScaledUp"
    )


def test_operator_killed_while_preparing_resumes_without_a_second_prescale(
    cluster: Cluster,
    namespace: str,
    prometheus: PrometheusServer,
    cpu: Gauge,
    tmp_path: Path,
) -> None:
    ensure_crds(cluster)
    first = OperatorProcess(cluster, tmp_path / "first.log").start()
    set_cpu(cpu, prometheus, namespace, 60)  # a scale-down the 300 s window holds back
    apply(cluster, namespace, deployment("web", 5))
    apply(
        cluster,
        namespace,
        policy(namespace, prometheus, target=web(min_replicas=2, weddingDay={"minReplicas": 4})),
    )
    start = datetime.now(UTC) + timedelta(seconds=10 + 120)
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "long-lead"},
            "spec": {
                "start": rfc3339(start),
                "end": rfc3339(start + timedelta(hours=1)),
                "leadTime": "2m",
            },
        },
    )
    try:
        wait_replicas(cluster, namespace, "web", 6, timeout=30)  # max(4, ceil(5 x 1.2))
    finally:
        first.kill()
    assert first.problems() == []

    second = OperatorProcess(cluster, tmp_path / "second.log").start()
    try:
        evaluated_after = datetime.now(UTC)
        wait_until(
            "an evaluation by the restarted operator",
            lambda: (
                status(cluster, namespace, "ps", "platform").get("lastEvaluationTime", "")
                > rfc3339(evaluated_after)
            ),
            timeout=30,
        )
        time.sleep(3 * 2)  # three more intervals: nothing may move

        assert replicas(cluster, namespace, "web") == 6  # not ceil(6 x 1.2) = 8
        target = status(cluster, namespace, "ps", "platform")["targets"][0]
        assert target["baselineReplicas"] == 5
        assert status(cluster, namespace, "wd", "long-lead")["phase"] == "Preparing"
        assert scaled_up_count(cluster, namespace) == 1
        day_reasons = [e["reason"] for e in events(cluster, namespace, "long-lead")]
        assert day_reasons.count("Preparing") == 1
    finally:
        second.stop()
    assert second.problems() == []


def test_of_two_peered_operators_only_the_higher_priority_one_acts(
    cluster: Cluster,
    namespace: str,
    prometheus: PrometheusServer,
    cpu: Gauge,
    tmp_path: Path,
) -> None:
    ensure_crds(cluster)
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input="apiVersion: kopf.dev/v1\nkind: ClusterKopfPeering\nmetadata: {name: wedsync-e2e}\n",
    )
    peered = ("--peering", "wedsync-e2e")
    low = OperatorProcess(cluster, tmp_path / "low.log", (*peered, "--priority", "100")).start()
    high = OperatorProcess(cluster, tmp_path / "high.log", (*peered, "--priority", "200")).start()
    try:
        wait_until(
            "both replicas in the peering object",
            lambda: (
                sorted(
                    p["priority"]
                    for p in (
                        cluster.get_json("clusterkopfpeering", "wedsync-e2e").get("status") or {}
                    ).values()
                )
                == [100, 200]
            ),
            timeout=30,
        )
        set_cpu(cpu, prometheus, namespace, 160)
        apply(cluster, namespace, deployment("web", 2))
        # A synthetic metric does not fall as replicas rise: cap at 4 so it stops there.
        apply(cluster, namespace, policy(namespace, prometheus, target=web(max_replicas=4)))

        wait_replicas(cluster, namespace, "web", 4, timeout=30)
        wait_until(
            "Ready",
            lambda: conditions(cluster, namespace, "ps", "platform").get("Ready"),
            timeout=10,
        )
        time.sleep(2 * 2)

        assert scaled_up_count(cluster, namespace) == 1
        assert "Pausing operations" not in high.log()
        assert namespace not in low.log()  # the paused replica never touched the policy

        # The leader leaves (its peering entry goes with it): the other one takes over.
        high.stop()
        wait_until(
            "the remaining replica to resume",
            lambda: "Resuming operations" in low.log(),
            timeout=30,
        )
    finally:
        high.stop()
        low.stop()
    assert low.problems() == [] and high.problems() == []


def last_turn(log: str) -> str | None:
    """The last peering decision a replica logged: "Pausing", "Resuming" or none yet."""
    turns = re.findall(r"(Pausing|Resuming) operations", log)
    return turns[-1] if turns else None


def test_peered_operators_started_before_their_peering_object_wait_for_it(
    cluster: Cluster, tmp_path: Path
) -> None:
    """A Helm install creates the peering object and the pods at once: a replica that
    starts first must not act alone until kopf's next keep-alive, a minute later."""
    ensure_crds(cluster)
    name = "wedsync-e2e-late"
    peered = ("--peering", name)
    low = OperatorProcess(cluster, tmp_path / "low.log", (*peered, "--priority", "100")).start()
    high = OperatorProcess(cluster, tmp_path / "high.log", (*peered, "--priority", "200")).start()
    try:
        wait_until(
            "both replicas waiting for the peering object",
            lambda: all("waiting for the peering object" in p.log() for p in (low, high)),
            timeout=30,
        )
        assert "Resuming operations" not in low.log() + high.log()
        cluster.kubectl(
            "apply",
            "-f",
            "-",
            input=f"apiVersion: kopf.dev/v1\nkind: ClusterKopfPeering\nmetadata: {{name: {name}}}",
        )
        # Well within kopf's 60 s keep-alive: both announced, only the higher one acts.
        wait_until(
            "both replicas in the peering object",
            lambda: (
                sorted(
                    p["priority"]
                    for p in (
                        cluster.get_json("clusterkopfpeering", name).get("status") or {}
                    ).values()
                )
                == [100, 200]
            ),
            timeout=15,
        )
        # The first to announce itself may act for the instant before the other's entry
        # lands (kopf's own election); then only the higher one does.
        wait_until("the higher one acting", lambda: last_turn(high.log()) == "Resuming", timeout=10)
        time.sleep(2)
        assert last_turn(low.log()) in (None, "Pausing")
    finally:
        high.stop()
        low.stop()
        release_peering(cluster, name)
    assert low.problems() == [] and high.problems() == []


def release_peering(cluster: Cluster, name: str) -> None:
    """Delete a peering object once its operators are gone; it must carry no finalizer
    (the peering sentinel's daemon is registered without one, handlers/peering.py)."""
    cluster.kubectl("delete", "clusterkopfpeering", name, "--timeout=30s")


def test_a_paused_replica_writes_no_phase_and_posts_no_event_and_resumes_from_fresh_state(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """The standby had acted before (it was alone first) and still knows the day; while
    paused it must not act on what it knew, and after taking over it must not act again
    on what the leader already did."""
    ensure_crds(cluster)
    name = "wedsync-e2e-gate"
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=f"apiVersion: kopf.dev/v1\nkind: ClusterKopfPeering\nmetadata: {{name: {name}}}",
    )
    peered = ("--peering", name)
    low = OperatorProcess(cluster, tmp_path / "low.log", (*peered, "--priority", "100")).start()
    high: OperatorProcess | None = None
    try:
        wait_until("the first replica acting", lambda: "acting: the scheduler" in low.log(), 30)
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2, seconds=30)
        apply(
            cluster,
            namespace,
            {
                "apiVersion": "wedsync.io/v1alpha1",
                "kind": "WeddingDay",
                "metadata": {"name": "saturday"},
                "spec": {"start": rfc3339(start), "end": rfc3339(start + timedelta(hours=1))},
            },
        )
        wait_until(
            "Scheduled, written by the first replica",
            lambda: status(cluster, namespace, "wd", "saturday").get("phase") == "Scheduled",
            timeout=15,
        )
        high = OperatorProcess(cluster, tmp_path / "high.log", (*peered, "--priority", "200"))
        high.start()
        wait_until("the first replica paused", lambda: last_turn(low.log()) == "Pausing", 20)
        assert datetime.now(UTC) < start - timedelta(hours=2, seconds=3), "too slow to test"

        wait_until(
            "Preparing at the lead time",
            lambda: status(cluster, namespace, "wd", "saturday").get("phase") == "Preparing",
            timeout=40,
        )
        time.sleep(3)
        reasons = [e["reason"] for e in events(cluster, namespace, "saturday")]
        assert reasons.count("Preparing") == 1, reasons  # not one from each replica

        high.stop()  # the leader leaves: the paused one takes over the day it knew
        wait_until("the first replica resumed", lambda: last_turn(low.log()) == "Resuming", 30)
        wait_until("it acting again", lambda: low.log().count("acting: the scheduler") == 2, 15)
        time.sleep(3)
        reasons = [e["reason"] for e in events(cluster, namespace, "saturday")]
        assert reasons.count("Preparing") == 1, reasons  # not again from its old memory
        assert status(cluster, namespace, "wd", "saturday")["phase"] == "Preparing"
    finally:
        if high is not None:
            high.stop()
        low.stop()
        release_peering(cluster, name)
    assert low.problems() == [] and (high is None or high.problems() == [])
