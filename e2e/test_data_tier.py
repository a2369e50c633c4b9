"""The data tier on the local cluster, against real Redis and Postgres replication and a
real Alertmanager: entering a wedding day pre-scales app, cache and database targets,
warms the cache once the app tier is available and silences non-critical alerts; after
the day, the database tier's scale-down waits while its replica's replay is paused and
proceeds once resumed."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Gauge

from cluster_fixture import Cluster, wait_until
from operator_fixture import (
    OperatorProcess,
    apply,
    deployment,
    events,
    replicas,
    secret,
    statefulset,
    status,
    wait_replicas,
)
from services.alertmanager import AlertmanagerServer
from services.postgres import PostgresPair
from services.prometheus import PrometheusServer
from services.redis import RedisPair
from test_operator import policy, rfc3339, set_cpu

COUPLES = 120


def ours_active(alertmanager: AlertmanagerServer, namespace: str) -> list[dict[str, Any]]:
    """This policy's live silences (other tests share the Alertmanager)."""
    marker = f"[wedsync.io/policy={namespace}/platform]"
    return [
        s
        for s in alertmanager.silences()
        if s["status"]["state"] == "active" and marker in s["comment"]
    ]


def test_wedding_day_prescales_every_tier_warms_the_cache_silences_alerts_and_gates_the_database(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
    redis_pair: RedisPair,
    postgres_pair: PostgresPair,
    alertmanager: AlertmanagerServer,
) -> None:
    couples = postgres_pair.seed_core_fields(COUPLES, prefix=namespace)
    set_cpu(cpu, prometheus, namespace, 60)  # the wedding-day target: only floors move
    apply(
        cluster,
        namespace,
        secret("redis", "url", redis_pair.url),
        secret("postgres", "dsn", postgres_pair.primary_dsn),
        deployment("web", 2),
        statefulset("redis-replica", 1),
        statefulset("postgres-replica", 1),
    )
    targets = [
        {"kind": "Deployment", "name": "web", "role": "app", "minReplicas": 1, "maxReplicas": 10},
        {
            "kind": "StatefulSet",
            "name": "redis-replica",
            "role": "cache",
            "minReplicas": 1,
            "maxReplicas": 5,
        },
        {
            "kind": "StatefulSet",
            "name": "postgres-replica",
            "role": "database",
            "minReplicas": 1,
            "maxReplicas": 4,
        },
    ]
    doc = policy(
        namespace,
        prometheus,
        target=targets[0],
        interval="2s",
        wedding_interval="2s",
        scale_down_window=0,
        safety={
            # One real replica stands behind each StatefulSet here.
            "redis": {"secretRef": {"name": "redis"}, "minReplicasInSync": 1},
            "postgres": {"secretRef": {"name": "postgres"}, "maxReplicaLagBytes": 1048576},
        },
        weddingDay={
            "cacheWarming": {
                "enabled": True,
                "redisSecretRef": {"name": "redis"},
                "postgresSecretRef": {"name": "postgres"},
                "ttl": "6h",
                "batchSize": 50,
            },
            "silenceAlerts": {"alertmanagerUrl": alertmanager.url},
            # One real replica cannot be the two the database tier's check then wants
            # streaming: the cache and the app go ahead once it is 2 s late.
            "tierReadyTimeout": "2s",
        },
    )
    doc["spec"]["targets"] = targets
    apply(cluster, namespace, doc)

    now = datetime.now(UTC).replace(microsecond=0)
    start = now + timedelta(seconds=15 + 20)
    end = start + timedelta(seconds=10)
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "gala"},
            "spec": {
                "start": rfc3339(start),
                "end": rfc3339(end),
                "leadTime": "20s",
                "windDown": "5s",
                "coupleIds": [c.couple_id for c in couples],
            },
        },
    )

    # Entering the mode: every tier to its floor, ceil(n x 1.2).
    wait_replicas(cluster, namespace, "web", 3, timeout=30)
    assert replicas(cluster, namespace, "redis-replica", "statefulset") == 2
    assert replicas(cluster, namespace, "postgres-replica", "statefulset") == 2
    scaled = [
        e["message"].split(" ")[1]
        for e in events(cluster, namespace, "platform")
        if e["reason"] == "ScaledUp"
    ]
    assert scaled == ["postgres-replica", "redis-replica", "web"]  # database first
    late = wait_until(  # posted by the evaluation that let the cache go, after its patch
        "the TierNotReady Warning",
        lambda: [
            e for e in events(cluster, namespace, "platform") if e["reason"] == "TierNotReady"
        ],
        timeout=10,
    )
    assert len(late) == 1 and "postgres-replica: 1 Postgres replica" in late[0]["message"]

    # The cache is warmed with the couples' core fields and the wedding-day TTL, once the
    # app tier has its replicas: read the status first, then the app, so a warming seen
    # while the app is still short came before it.
    def warmed_after_the_app() -> Any:
        warmed = status(cluster, namespace, "ps", "platform").get("cacheWarming")
        web = cluster.get_json("deployment", "web", "-n", namespace).get("status") or {}
        assert not warmed or int(web.get("availableReplicas") or 0) >= 3, (warmed, web)
        return warmed

    warming = wait_until("cache warming", warmed_after_the_app, timeout=20, interval=0.1)
    assert warming["complete"] and warming["keysWritten"] == COUPLES
    client = redis_pair.primary.client()
    sample = couples[7]
    stored = client.get(f"couple:{sample.couple_id}:core")
    assert stored is not None and json.loads(stored) == sample.as_json()
    assert 6 * 3600 - 60 < int(client.ttl(f"couple:{sample.couple_id}:core")) <= 6 * 3600

    # Non-critical alerts are silenced until the end of the mode.
    silences = wait_until(
        "an active silence",
        lambda: ours_active(alertmanager, namespace),
        timeout=20,
    )
    assert status(cluster, namespace, "ps", "platform")["silences"] == [silences[0]["id"]]
    matchers = silences[0]["matchers"]
    assert {(m["name"], m["value"], m["isEqual"]) for m in matchers} == {
        ("severity", "critical", False)
    }

    # After the day: load falls, the database replica lags behind (replay paused).
    wait_until(
        "the mode to end",
        lambda: status(cluster, namespace, "ps", "platform").get("mode") == "Normal",
        timeout=60,
    )
    wait_until(
        "the silence to be expired",
        lambda: not ours_active(alertmanager, namespace),
        timeout=20,
    )
    postgres_pair.pause_replay()
    try:
        postgres_pair.write_wal(8)
        set_cpu(cpu, prometheus, namespace, 10)  # every tier wants its minimum now
        wait_replicas(cluster, namespace, "web", 1, timeout=20)
        wait_until(
            "the cache tier to scale down past its passing gate",
            lambda: replicas(cluster, namespace, "redis-replica", "statefulset") == 1,
            timeout=20,
        )
        deferred = wait_until(
            "a deferred database scale-down",
            lambda: next(
                (
                    e
                    for e in events(cluster, namespace, "platform")
                    if e["reason"] == "ScaleDownDeferred"
                ),
                None,
            ),
            timeout=20,
        )
        assert "behind" in deferred["message"]
        time.sleep(3 * 2)  # three evaluations: the gate still holds
        assert replicas(cluster, namespace, "postgres-replica", "statefulset") == 2
        db = next(
            t
            for t in status(cluster, namespace, "ps", "platform")["targets"]
            if t["name"] == "postgres-replica"
        )
        assert db["reason"] == "SafetyGateBlocked"
    finally:
        postgres_pair.resume_replay()

    wait_until(
        "the database tier to scale down once the replica caught up",
        lambda: replicas(cluster, namespace, "postgres-replica", "statefulset") == 1,
        timeout=45,
    )
