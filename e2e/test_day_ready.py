"""The day-ready gate on a real control plane: KWOK nodes run the pods that fit and the
real scheduler holds back those that do not (each node has 32 CPUs), so a tier can sit
Pending exactly as it would on a full cluster. One operator process serves the module.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Gauge

from cluster_fixture import Cluster, wait_until
from operator_fixture import (
    TOO_MUCH_CPU,
    OperatorProcess,
    apply,
    conditions,
    events,
    status,
    wait_replicas,
    workload,
)
from policies import day_in_its_mode, per_replica, set_signal
from services.prometheus import PrometheusServer


def target(name: str, role: str, floor: int, kind: str = "Deployment") -> dict[str, Any]:
    return {
        "kind": kind,
        "name": name,
        "role": role,
        "minReplicas": 1,
        "maxReplicas": 10,
        "weddingDay": {"minReplicas": floor},
    }


def gated_policy(
    namespace: str,
    prometheus: PrometheusServer,
    name: str,
    targets: list[dict[str, Any]],
    **wedding_day: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "PlatformScaling",
        "metadata": {"name": name, "labels": {"gate": "e2e"}},
        "spec": {
            "targets": targets,
            # 100 per replica against 100: the metric asks for one; the floors decide.
            "metrics": [per_replica(namespace, "requests", 100)],
            "prometheus": {"url": prometheus.url, "timeout": "2s"},
            "interval": {"normal": "2s", "weddingDay": "2s"},
            "weddingDay": wedding_day,
        },
    }


def day_ready(cluster: Cluster, namespace: str, policy: str) -> dict[str, Any]:
    return dict(conditions(cluster, namespace, "ps", policy).get("WeddingDayReady") or {})


def warnings(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    return [e for e in events(cluster, namespace, name) if e["reason"] == "NotReadyAtDeadline"]


def test_a_tier_whose_pods_stay_pending_is_named_with_the_schedulers_reason_and_later_tiers_scale(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    signal: Gauge,
) -> None:
    set_signal(signal, prometheus, namespace, "requests", 100)
    apply(cluster, namespace, workload("cache", 1, cpu=TOO_MUCH_CPU), workload("web", 1))
    apply(
        cluster,
        namespace,
        gated_policy(
            namespace,
            prometheus,
            "platform",
            [target("cache", "cache", 2), target("web", "app", 3)],
            # The app waits this long for the Pending cache, then goes ahead.
            tierReadyTimeout="5s",
        ),
        # Began ten minutes ago: its 30m readiness deadline has passed.
        day_in_its_mode(),
    )

    # The app tier after the cache is scaled all the same (once the cache's 5 s are up),
    # and its pods become available.
    wait_replicas(cluster, namespace, "cache", 2, timeout=20)
    wait_replicas(cluster, namespace, "web", 3, timeout=20 + 5)
    ready = wait_until(
        "WeddingDayReady to name the Pending cache tier alone",
        lambda: (
            (c := day_ready(cluster, namespace, "platform")).get("reason") == "PodsPending"
            and "web" not in c["message"]
            and c
        ),
        timeout=30,
    )
    assert ready["status"] == "False"
    message = ready["message"]
    assert message.startswith("cache: 0 of 2 replicas available, 2 pods Pending ("), message
    assert "Insufficient cpu" in message, message
    assert status(cluster, namespace, "deployment", "web").get("availableReplicas") == 3

    # Not ready past the deadline: one Warning on the policy and one on the day.
    for name in ("platform", "today"):
        found = wait_until(
            f"the deadline Warning on {name}",
            lambda name=name: warnings(cluster, namespace, name) or None,
            timeout=20,
        )
        assert [e["type"] for e in found] == ["Warning"]
        assert "cache: 0 of 2 replicas available" in found[0]["message"]
    time.sleep(3 * 2)  # three more evaluations post no other
    assert len(warnings(cluster, namespace, "platform")) == 1

    # Room for the cache (smaller requests): its pods run, and the gate turns True, on the
    # policy and on the day it holds.
    apply(cluster, namespace, workload("cache", 2))
    wait_until(
        "WeddingDayReady True",
        lambda: day_ready(cluster, namespace, "platform").get("status") == "True",
        timeout=30,
    )
    wait_until(
        "the day's WeddingDayReady True",
        lambda: (
            conditions(cluster, namespace, "wd", "today")["WeddingDayReady"]["status"] == "True"
        ),
        timeout=10,
    )


def test_the_deadline_warning_comes_at_the_deadline_for_a_day_not_ready_and_not_for_one_that_is(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    signal: Gauge,
) -> None:
    set_signal(signal, prometheus, namespace, "requests", 100)
    apply(cluster, namespace, workload("web", 1), workload("heavy", 1, cpu=TOO_MUCH_CPU))
    apply(
        cluster,
        namespace,
        gated_policy(
            namespace, prometheus, "fits", [target("web", "app", 2)], readinessDeadline="15s"
        ),
        gated_policy(
            namespace, prometheus, "short", [target("heavy", "app", 2)], readinessDeadline="15s"
        ),
    )
    now = datetime.now(UTC).replace(microsecond=0)
    start = now + timedelta(seconds=40)  # the mode from now + 10 s, the deadline at + 25 s
    deadline = start - timedelta(seconds=15)
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "smith-jones"},
            "spec": {
                "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": (start + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "leadTime": "30s",
                "policySelector": {"matchLabels": {"gate": "e2e"}},
            },
        },
    )

    seen = wait_until(
        "the deadline Warning",
        lambda: warnings(cluster, namespace, "short") and datetime.now(UTC),
        timeout=40,
        interval=0.1,
    )
    lateness = (seen - deadline).total_seconds()
    # Seen by a poll of a tenth of a second plus kubectl's own round trip.
    assert 0 <= lateness <= 1.5, f"the Warning came {lateness:+.2f}s from the deadline"
    recorded = status(cluster, namespace, "ps", "short")["readinessDeadlines"]
    assert recorded == [
        {"day": "smith-jones", "at": deadline.strftime("%Y-%m-%dT%H:%M:%SZ"), "warned": True}
    ]
    [on_day] = warnings(cluster, namespace, "smith-jones")
    assert "PlatformScaling short" in on_day["message"]
    assert "heavy: 0 of 2 replicas available" in on_day["message"]

    time.sleep(3 * 2)
    assert day_ready(cluster, namespace, "fits")["status"] == "True"
    assert warnings(cluster, namespace, "fits") == []
    assert len(warnings(cluster, namespace, "smith-jones")) == 1

    # The day names the policy that is short, and `kubectl get wd` shows it at a glance.
    on_the_day = conditions(cluster, namespace, "wd", "smith-jones")["WeddingDayReady"]
    assert (on_the_day["status"], on_the_day["reason"]) == ("False", "PodsPending")
    assert on_the_day["message"].startswith(
        "PlatformScaling short: heavy: 0 of 2 replicas available, 2 pods Pending ("
    )
    header, row = cluster.kubectl("get", "wd", "smith-jones", "-n", namespace).stdout.splitlines()
    # Columns are aligned, and an empty one (no time zone) prints nothing: read by offset.
    assert row[header.index("DAYREADY") :].split()[0] == "False"


def test_a_quota_that_refuses_the_pre_scale_is_named_for_a_statefulset_and_a_deployment(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    signal: Gauge,
) -> None:
    set_signal(signal, prometheus, namespace, "requests", 100)
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "pods"},
        "spec": {"hard": {"pods": "2"}},
    }
    # The quota first, and counted once: pods created before that are charged only at the
    # controller's next full resync, and admission would let a third one in.
    apply(cluster, namespace, quota)
    wait_until(
        "the quota's first count",
        lambda: status(cluster, namespace, "resourcequota", "pods").get("used"),
        timeout=30,
    )
    apply(cluster, namespace, workload("db", 1, kind="StatefulSet"), workload("web", 1))
    wait_until(  # admission charged the two pods
        "the quota's usage",
        lambda: (
            status(cluster, namespace, "resourcequota", "pods").get("used", {}).get("pods") == "2"
        ),
        timeout=30,
    )
    apply(
        cluster,
        namespace,
        gated_policy(
            namespace,
            prometheus,
            "platform",
            [target("db", "database", 2, kind="StatefulSet"), target("web", "app", 3)],
            tierReadyTimeout="3s",
        ),
        day_in_its_mode(),
    )

    ready = wait_until(
        "WeddingDayReady to name both refused tiers",
        lambda: (
            (c := day_ready(cluster, namespace, "platform")).get("reason") == "QuotaExceeded"
            and "; web: " in c["message"]
            and "exceeded quota" in c["message"].split("; web: ")[1]
            and c
        ),
        timeout=60,
    )
    db, web = ready["message"].split("; web: ")
    # The StatefulSet says so only in its FailedCreate Event; the Deployment in its
    # ReplicaFailure condition.
    assert db.startswith("db: 1 of 2 replicas available, Create Pod db-1 in StatefulSet db"), db
    assert 'pods "db-1" is forbidden: exceeded quota: pods' in db, db
    assert web.startswith("1 of 3 replicas available, "), web
    assert "is forbidden: exceeded quota: pods" in web, web
