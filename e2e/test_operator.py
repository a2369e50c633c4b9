"""The operator loop on a real cluster with a real Prometheus: metric-driven scaling,
the wedding-day lifecycle, outages, and what an SRE sees with kubectl.

One operator process (standalone) serves every test of this module; each test has its
own namespace and its own series (label ``ns``) in the exporter. Time bounds are generous
and derived from the intervals each policy configures; speed figures belong in bench/.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import Gauge

from cluster_fixture import Cluster, wait_until
from operator_fixture import (
    OperatorProcess,
    apply,
    conditions,
    deployment,
    events,
    replicas,
    status,
    wait_replicas,
    watched,
)
from services.alertmanager import AlertmanagerServer
from services.prometheus import PrometheusServer

SCRAPE = 1.0  # the test Prometheus scrapes every second


def policy(
    namespace: str,
    prometheus: PrometheusServer,
    *,
    target: dict[str, Any],
    normal: int = 80,
    wedding: int = 60,
    interval: str = "2s",
    wedding_interval: str = "2s",
    scale_down_window: int = 300,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "PlatformScaling",
        "metadata": {"name": "platform"},
        "spec": {
            "targets": [target],
            "metrics": [
                {
                    "name": "cpu",
                    "query": f'max(wedsync_e2e_cpu_percent{{ns="{namespace}"}})',
                    "target": {"type": "Utilization", "value": normal},
                    "weddingDayTarget": {"value": wedding},
                }
            ],
            "prometheus": {"url": prometheus.url, "timeout": "2s"},
            "interval": {"normal": interval, "weddingDay": wedding_interval},
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": scale_down_window}},
            **spec,
        },
    }


def web(min_replicas: int = 1, max_replicas: int = 20, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "name": "web",
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        **extra,
    }


def set_cpu(cpu: Gauge, prometheus: PrometheusServer, namespace: str, value: float) -> None:
    cpu.labels(ns=namespace).set(value)
    prometheus.wait_for_value(
        f'max(wedsync_e2e_cpu_percent{{ns="{namespace}"}})', lambda v: v == value, timeout=15
    )


def start_steady(
    cluster: Cluster, namespace: str, prometheus: PrometheusServer, cpu: Gauge, **spec: Any
) -> None:
    """web at 2 replicas (at most 4), cpu exactly at its target; returns after the first
    evaluation."""
    set_cpu(cpu, prometheus, namespace, 80)
    apply(cluster, namespace, deployment("web", 2))
    apply(cluster, namespace, policy(namespace, prometheus, target=web(max_replicas=4), **spec))
    wait_until(
        "a first evaluation",
        lambda: conditions(cluster, namespace, "ps", "platform").get("Ready"),
        timeout=20,
    )


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_metric_above_target_scales_up_and_falling_metric_waits_for_stabilization(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    # A synthetic metric does not fall as replicas rise: maxReplicas 4 stops the climb.
    start_steady(cluster, namespace, prometheus, cpu, scale_down_window=8)
    assert replicas(cluster, namespace, "web") == 2  # ratio 1.0: within tolerance

    set_cpu(cpu, prometheus, namespace, 160)  # ratio 2.0 → 4 replicas
    wait_replicas(cluster, namespace, "web", 4, timeout=2 * 2 + SCRAPE + 5)

    set_cpu(cpu, prometheus, namespace, 40)  # ratio 0.5 → 2, after the 8 s window
    dropped = time.monotonic()
    wait_replicas(cluster, namespace, "web", 2, timeout=8 + 2 * 2 + SCRAPE + 10)
    waited = time.monotonic() - dropped

    assert waited >= 8 - 2 * SCRAPE, f"scaled down after {waited:.1f}s, inside the window"
    reasons = [e["reason"] for e in events(cluster, namespace, "platform")]
    assert "ScaledUp" in reasons and "ScaledDown" in reasons
    targets = status(cluster, namespace, "ps", "platform")["targets"]
    assert targets[0]["currentReplicas"] == 2


def test_wedding_day_switches_mode_at_lead_time_prescales_and_freezes_scale_down(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    # No stabilization window: only the freeze can hold a scale-down during the day.
    # Before it, 60 against the normal target 80 asks for 4, which minReplicas 5 clamps.
    set_cpu(cpu, prometheus, namespace, 60)
    apply(cluster, namespace, deployment("web", 5))
    apply(
        cluster,
        namespace,
        policy(
            namespace,
            prometheus,
            target=web(min_replicas=5, weddingDay={"minReplicas": 4}),
            interval="3s",
            wedding_interval="2s",
            scale_down_window=0,
            # Ready 10 s into the 20 s lead time (the default 30m would fall before it).
            weddingDay={"readinessDeadline": "10s"},
        ),
    )
    now = datetime.now(UTC).replace(microsecond=0)
    mode_start = now + timedelta(seconds=20)
    start = mode_start + timedelta(seconds=20)
    end = start + timedelta(seconds=15)
    mode_end = end + timedelta(seconds=10)
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "smith-jones"},
            "spec": {
                "start": rfc3339(start),
                "end": rfc3339(end),
                "leadTime": "20s",
                "windDown": "10s",
                "expectedWeddings": 1,
            },
        },
    )

    # The switch happens at start - leadTime, not at the policy's next tick.
    with watched(cluster, namespace, "ps", "platform") as versions:
        switched = wait_until(
            "wedding-day mode",
            lambda: (
                status(cluster, namespace, "ps", "platform").get("mode") == "WeddingDay"
                and datetime.now(UTC)
            ),
            timeout=40,
            interval=0.1,
        )
        lateness = (switched - mode_start).total_seconds()
        assert -0.2 <= lateness <= 1.5, f"mode switched {lateness:+.2f}s from start - leadTime"
        assert status(cluster, namespace, "wd", "smith-jones")["phase"] == "Preparing"
        # Pre-scaled to max(weddingDay.minReplicas 4, ceil(5 x 1.2) = 6) = 6.
        wait_replicas(cluster, namespace, "web", 6, timeout=5)
        wait_until(
            "the pre-scale in status",
            lambda: (
                status(cluster, namespace, "ps", "platform")["targets"][0]["currentReplicas"] == 6
            ),
            timeout=5,
        )
    # The mode is written as it switches, ahead of the patches: the first version in the
    # mode still shows the count from before it, a later one the pre-scaled count.
    in_mode = [v["status"] for v in versions if v.get("status", {}).get("mode") == "WeddingDay"]
    assert in_mode[0]["targets"][0]["currentReplicas"] == 5, in_mode[0]
    assert in_mode[-1]["targets"][0]["currentReplicas"] == 6
    mode_cm = cluster.get_json("configmap", "wedsync-mode", "-n", namespace)["data"]
    assert mode_cm["mode"] == "WeddingDay" and mode_cm["cacheTtlMultiplier"] == "4"

    # The wedding-day CPU target (60) applies: 90 / 60 = 1.5 → ceil(6 x 1.5) = 9.
    set_cpu(cpu, prometheus, namespace, 90)
    wait_replicas(cluster, namespace, "web", 9, timeout=2 * 2 + SCRAPE + 5)

    # A falling metric does not scale down while the mode is on.
    set_cpu(cpu, prometheus, namespace, 10)
    target: dict[str, Any] = {}
    while datetime.now(UTC) < mode_end - timedelta(seconds=2):
        assert replicas(cluster, namespace, "web") == 9
        # Read while the mode is surely on: just after its end the freeze is gone.
        target = status(cluster, namespace, "ps", "platform")["targets"][0]
        time.sleep(1)
    assert target["reason"] == "ScaleDownFrozen"
    assert target["baselineReplicas"] == 5

    wait_until(
        "the mode to end after end + windDown",
        lambda: status(cluster, namespace, "ps", "platform").get("mode") == "Normal",
        timeout=10,
    )
    assert status(cluster, namespace, "wd", "smith-jones")["phase"] == "Completed"
    # Frozen no more: 10 against the normal target asks for 2, minReplicas clamps to 5.
    wait_replicas(cluster, namespace, "web", 5, timeout=3 * 2 + 5)
    reasons = [e["reason"] for e in events(cluster, namespace, "platform")]
    assert reasons.count("WeddingDayModeOn") == 1 and reasons.count("WeddingDayModeOff") == 1
    day_reasons = [e["reason"] for e in events(cluster, namespace, "smith-jones")]
    assert day_reasons == ["Scheduled", "Preparing", "Active", "WindingDown", "Completed"]


def test_a_mode_config_map_that_cannot_be_written_is_reported_and_holds_back_no_prescale(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    # An immutable ConfigMap of that name: the API server refuses every change to it.
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "wedsync-mode"},
            "immutable": True,
            "data": {"mode": "Normal"},
        },
    )
    start_steady(cluster, namespace, prometheus, cpu, interval="2s", wedding_interval="2s")
    refused = conditions(cluster, namespace, "ps", "platform")["ModePublished"]
    assert (refused["status"], refused["reason"]) == ("False", "Invalid"), refused
    assert "wedsync-mode" in refused["message"]

    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "now"},
            "spec": {"start": rfc3339(start), "end": rfc3339(start + timedelta(hours=1))},
        },
    )
    # Pre-scaled all the same: ceil(2 x 1.2) = 3, and the refusal still reported.
    wait_replicas(cluster, namespace, "web", 3, timeout=15)
    assert status(cluster, namespace, "ps", "platform")["mode"] == "WeddingDay"
    refused = conditions(cluster, namespace, "ps", "platform")["ModePublished"]
    assert refused["status"] == "False" and "WeddingDay" in refused["message"]
    assert cluster.get_json("configmap", "wedsync-mode", "-n", namespace)["data"] == {
        "mode": "Normal"
    }
    # One Warning per distinct refusal, not one per retry (an evaluation every 2 s).
    time.sleep(5)
    failed = [
        e for e in events(cluster, namespace, "platform") if e["reason"] == "ModePublishFailed"
    ]
    assert [e["type"] for e in failed] == ["Warning", "Warning"]
    assert sum(e.get("count", 1) for e in failed) == 2

    # Once the ConfigMap can be written, the mode is published and the condition clears.
    cluster.kubectl("delete", "configmap", "wedsync-mode", "-n", namespace)
    wait_until(
        "the mode published",
        lambda: (
            conditions(cluster, namespace, "ps", "platform")["ModePublished"]["status"] == "True"
        ),
        timeout=15,
    )
    assert cluster.get_json("configmap", "wedsync-mode", "-n", namespace)["data"]["mode"] == (
        "WeddingDay"
    )


def test_prometheus_outage_reports_the_condition_falls_back_then_recovers(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    set_cpu(cpu, prometheus, namespace, 80)
    apply(cluster, namespace, deployment("web", 3))
    apply(
        cluster,
        namespace,
        policy(
            namespace, prometheus, target=web(), fallback={"failureThreshold": 2, "replicas": 7}
        ),
    )
    wait_until(
        "metrics read",
        lambda: (
            conditions(cluster, namespace, "ps", "platform")
            .get("MetricsAvailable", {})
            .get("status")
            == "True"
        ),
        timeout=20,
    )

    prometheus.stop()
    try:
        cond = wait_until(
            "MetricsAvailable=False",
            lambda: (
                (c := conditions(cluster, namespace, "ps", "platform")["MetricsAvailable"])[
                    "status"
                ]
                == "False"
                and c
            ),
            timeout=10,
        )
        assert cond["reason"] == "PrometheusUnreachable"
        # After failureThreshold (2) failed evaluations: the fallback replica count.
        wait_replicas(cluster, namespace, "web", 7, timeout=3 * 2 + 5)
        assert status(cluster, namespace, "ps", "platform")["targets"][0]["reason"] == "Fallback"
    finally:
        prometheus.start()

    prometheus.wait_until_scraped()
    wait_until(
        "MetricsAvailable=True again",
        lambda: (
            conditions(cluster, namespace, "ps", "platform")["MetricsAvailable"]["status"] == "True"
        ),
        timeout=20,
    )
    assert status(cluster, namespace, "ps", "platform")["consecutiveFailures"] == 0


def day_in_mode(name: str = "now", **spec: Any) -> dict[str, Any]:
    """A WeddingDay whose mode is on from now (the default 2 h lead time) for hours."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "WeddingDay",
        "metadata": {"name": name},
        "spec": {"start": rfc3339(start), "end": rfc3339(start + timedelta(hours=1)), **spec},
    }


def no_config_map(cluster: Cluster, namespace: str, name: str = "wedsync-mode") -> bool:
    found = cluster.kubectl("get", "configmap", name, "-n", namespace, check=False)
    return found.returncode != 0 and "NotFound" in found.stderr


def silences_of(alertmanager: AlertmanagerServer, namespace: str, policy: str) -> list[Any]:
    marker = f"[wedsync.io/policy={namespace}/{policy}]"
    return [s for s in alertmanager.silences() if marker in s["comment"]]


def test_dry_run_reports_each_side_effect_it_would_have_and_changes_nothing_outside_its_status(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
    alertmanager: AlertmanagerServer,
) -> None:
    set_cpu(cpu, prometheus, namespace, 160)
    apply(cluster, namespace, deployment("web", 2))
    secret_ref = {"name": "never-read", "key": "url"}
    wedding_day = {
        "silenceAlerts": {"alertmanagerUrl": alertmanager.url},
        "cacheWarming": {
            "enabled": True,
            "redisSecretRef": secret_ref,
            "postgresSecretRef": secret_ref,
        },
    }
    apply(
        cluster,
        namespace,
        policy(namespace, prometheus, target=web(), dryRun=True, weddingDay=wedding_day),
        day_in_mode(coupleIds=["c-1", "c-2"]),
    )

    wanted = (
        "would scale web 2 → ",
        "dry run: would write mode WeddingDay to ConfigMap wedsync-mode",
        "dry run: would silence alerts matching severity!='critical'",
        "dry run: would warm the cache for 2 couple(s)",
    )

    def dry_runs() -> list[str] | None:
        said = [e["message"] for e in events(cluster, namespace, "platform")]
        return said if all(any(m.startswith(w) for m in said) for w in wanted) else None

    wait_until("a DryRun Event for each side effect", dry_runs, timeout=20)
    time.sleep(2 * 2)  # two more evaluations: still nothing outside the policy

    assert replicas(cluster, namespace, "web") == 2
    assert no_config_map(cluster, namespace)
    assert silences_of(alertmanager, namespace, "platform") == []
    st = status(cluster, namespace, "ps", "platform")
    assert st["mode"] == "WeddingDay" and st["targets"][0]["desiredReplicas"] > 2
    assert st["cacheWarming"]["reason"] == "DryRun" and not st["cacheWarming"]["complete"]
    found = conditions(cluster, namespace, "ps", "platform")
    assert (found["ModePublished"]["status"], found["ModePublished"]["reason"]) == (
        "False",
        "DryRun",
    )
    assert found["AlertsSilenced"]["reason"] == "DryRun"
    # One Event per side effect it would have, not one per evaluation (an evaluation before
    # the day reached the operator may add the Normal-mode ones, once each too).
    side = [
        e
        for e in events(cluster, namespace, "platform")
        if e["reason"] == "DryRun" and e["message"].startswith("dry run:")
    ]
    said = [e["message"] for e in side]
    assert all(int(e.get("count") or 1) == 1 for e in side) and len(set(said)) == len(said), side
    assert [sum(m.startswith(w) for m in said) for w in wanted[1:]] == [1, 1, 1], said


def test_paused_policy_changes_nothing_at_all_even_in_wedding_day_mode(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
    alertmanager: AlertmanagerServer,
) -> None:
    set_cpu(cpu, prometheus, namespace, 160)
    apply(cluster, namespace, deployment("web", 2))
    silence = {"silenceAlerts": {"alertmanagerUrl": alertmanager.url}}
    apply(
        cluster,
        namespace,
        policy(namespace, prometheus, target=web(), paused=True, weddingDay=silence),
        day_in_mode(),
    )

    ready = wait_until(
        "Ready=False/Paused in the mode",
        lambda: (
            status(cluster, namespace, "ps", "platform").get("mode") == "WeddingDay"
            and conditions(cluster, namespace, "ps", "platform").get("Ready")
        ),
        timeout=20,
    )
    time.sleep(2 * 2)  # two intervals: nothing may happen

    assert (ready["status"], ready["reason"]) == ("False", "Paused")
    assert replicas(cluster, namespace, "web") == 2
    assert no_config_map(cluster, namespace)
    assert silences_of(alertmanager, namespace, "platform") == []


def test_policies_sharing_the_mode_config_map_publish_each_mode_and_a_merged_one(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
) -> None:
    def scaling(name: str, target: str) -> dict[str, Any]:
        return {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "PlatformScaling",
            "metadata": {"name": name, "labels": {"platform": "wedsync", "app": name}},
            "spec": {
                "targets": [{"kind": "Deployment", "name": target, "maxReplicas": 10}],
                "interval": {"normal": "2s", "weddingDay": "2s"},
            },
        }

    apply(
        cluster,
        namespace,
        deployment("web-couples", 2),
        deployment("web-suppliers", 2),
        scaling("couples", "web-couples"),
        scaling("suppliers", "web-suppliers"),
    )

    def published(expected: dict[str, str]) -> dict[str, str] | None:
        found = cluster.kubectl(
            "get", "configmap", "wedsync-mode", "-n", namespace, "-o", "json", check=False
        )
        if found.returncode != 0:
            return None
        data: dict[str, str] = json.loads(found.stdout).get("data") or {}
        return data if all(data.get(k) == v for k, v in expected.items()) else None

    def modes(couples: str, suppliers: str, merged: str) -> dict[str, str]:
        expected = {"couples.mode": couples, "suppliers.mode": suppliers, "mode": merged}
        return wait_until(
            f"the ConfigMap to say {expected}", lambda: published(expected), timeout=20
        )

    modes("Normal", "Normal", "Normal")
    # One in the mode, one out: the other's evaluations never switch the namespace back.
    apply(
        cluster,
        namespace,
        day_in_mode("couples-only", policySelector={"matchLabels": {"app": "couples"}}),
    )
    data = modes("WeddingDay", "Normal", "WeddingDay")
    time.sleep(2 * 2)  # both evaluate again; the merged mode holds
    data = modes("WeddingDay", "Normal", "WeddingDay")
    assert data["activeWeddingDays"] == "couples-only"
    assert data["policies"] == "couples,suppliers"
    assert "policy" not in data

    # Both in the mode at once, through different days.
    apply(
        cluster,
        namespace,
        day_in_mode("everyone", policySelector={"matchLabels": {"platform": "wedsync"}}),
    )
    data = modes("WeddingDay", "WeddingDay", "WeddingDay")
    assert data["activeWeddingDays"] == "couples-only,everyone"
    assert data["cacheTtlMultiplier"] == "4"

    # Both out at once.
    cluster.kubectl("delete", "wd", "couples-only", "everyone", "-n", namespace)
    data = modes("Normal", "Normal", "Normal")
    assert data["cacheTtlMultiplier"] == "1" and data["activeWeddingDays"] == ""
    found = conditions(cluster, namespace, "ps", "couples")["ModePublished"]
    assert found["status"] == "True", found

    # A policy deleted in the mode takes its key set out: its mode no longer counts.
    apply(
        cluster, namespace, day_in_mode("again", policySelector={"matchLabels": {"app": "couples"}})
    )
    modes("WeddingDay", "Normal", "WeddingDay")
    cluster.kubectl("delete", "ps", "couples", "-n", namespace)
    data = wait_until(
        "the ConfigMap without the deleted policy",
        lambda: published({"mode": "Normal", "policies": "suppliers"}),
        timeout=20,
    )
    assert not [k for k in data if k.startswith("couples.")], data


def test_kubectl_get_shows_phase_and_mode_and_describe_shows_events(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    set_cpu(cpu, prometheus, namespace, 160)
    apply(cluster, namespace, deployment("web", 2))
    apply(cluster, namespace, policy(namespace, prometheus, target=web(max_replicas=4)))
    start = datetime.now(UTC) + timedelta(days=30)
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "later"},
            "spec": {
                "start": rfc3339(start),
                "end": rfc3339(start + timedelta(hours=8)),
                "expectedWeddings": 12,
            },
        },
    )
    wait_replicas(cluster, namespace, "web", 4, timeout=20)
    wait_until(
        "the day's phase",
        lambda: status(cluster, namespace, "wd", "later").get("phase"),
        timeout=10,
    )

    table = cluster.kubectl("get", "wd,ps", "-n", namespace).stdout
    described = cluster.kubectl("describe", "ps", "platform", "-n", namespace).stdout

    wd_row = next(line for line in table.splitlines() if line.startswith("weddingday"))
    ps_row = next(line for line in table.splitlines() if line.startswith("platformscaling"))
    assert "Scheduled" in wd_row.split() and "12" in wd_row.split()
    assert ps_row.split()[1:5] == ["Normal", "True", "Unknown", "web=4"]  # DayReady: no day
    assert "ScaledUp" in described
    assert "scale web 2 → 4" in described


@pytest.mark.parametrize("how", ["cancel", "delete"])
def test_ending_a_day_in_progress_ends_the_mode_at_once(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
    how: str,
) -> None:
    set_cpu(cpu, prometheus, namespace, 60)  # the wedding-day target: only the floor moves
    apply(cluster, namespace, deployment("web", 2))
    apply(cluster, namespace, policy(namespace, prometheus, target=web(), interval="30s"))
    now = datetime.now(UTC)
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "in-progress"},
            "spec": {
                "start": rfc3339(now - timedelta(minutes=10)),
                "end": rfc3339(now + timedelta(hours=2)),
            },
        },
    )
    wait_until(
        "wedding-day mode",
        lambda: status(cluster, namespace, "ps", "platform").get("mode") == "WeddingDay",
        timeout=20,
    )
    try:
        wait_replicas(cluster, namespace, "web", 3, timeout=10)  # ceil(2 x 1.2)
    except AssertionError:
        raise AssertionError(
            [(e["reason"], e["message"]) for e in events(cluster, namespace, "platform")]
        ) from None

    if how == "cancel":
        cluster.kubectl(
            "patch",
            "wd",
            "in-progress",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"spec":{"cancelled":true}}',
        )
    else:
        cluster.kubectl("delete", "wd", "in-progress", "-n", namespace, "--wait=false")
    ended = time.monotonic()

    # Well before the policy's 30 s interval: the day's change wakes the policy.
    wait_until(
        "the mode to end",
        lambda: status(cluster, namespace, "ps", "platform").get("mode") == "Normal",
        timeout=10,
    )
    assert time.monotonic() - ended < 10
    if how == "cancel":
        assert status(cluster, namespace, "wd", "in-progress")["phase"] == "Cancelled"
    else:
        wait_until(
            "the day to be gone (finalizer released)",
            lambda: (
                cluster.kubectl("get", "wd", "in-progress", "-n", namespace, check=False).returncode
                != 0
            ),
            timeout=15,
        )
    cm = cluster.get_json("configmap", "wedsync-mode", "-n", namespace)["data"]
    assert cm["mode"] == "Normal"


def test_operator_serves_its_own_metrics_and_liveness(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    set_cpu(cpu, prometheus, namespace, 160)
    apply(cluster, namespace, deployment("web", 2))
    apply(cluster, namespace, policy(namespace, prometheus, target=web(max_replicas=4)))
    wait_replicas(cluster, namespace, "web", 4, timeout=20)

    def get(port: int, path: str) -> tuple[int, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as rsp:
            return rsp.status, rsp.read().decode()

    live, _ = get(operator.liveness_port, "/healthz")
    _, text = get(operator.metrics_port, "/metrics")

    assert live == 200
    labels = f'namespace="{namespace}",policy="platform",target="web"'
    assert f"wedsync_operator_desired_replicas{{{labels}}} 4.0" in text
    assert 'wedsync_operator_scale_operations_total{direction="up",role="app"}' in text
    assert 'wedsync_operator_evaluations_total{result="ok"}' in text
    assert "wedsync_operator_evaluation_duration_seconds_bucket" in text
    assert 'wedsync_operator_build_info{version="' in text
    # Never a PromQL string as a label value.
    assert "wedsync_e2e_cpu_percent" not in text


def test_a_steady_policy_rewrites_its_status_only_when_a_decision_changes(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    def skipped_writes() -> float:
        url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as rsp:
            text = rsp.read().decode()
        line = 'wedsync_operator_status_writes_total{result="skipped"} '
        return sum(float(x[len(line) :]) for x in text.splitlines() if x.startswith(line))

    def version() -> str:
        return str(
            cluster.get_json("ps", "platform", "-n", namespace)["metadata"]["resourceVersion"]
        )

    start_steady(cluster, namespace, prometheus, cpu)
    time.sleep(2 + 1)  # one more evaluation: the second may add what the first lacked
    steady, skipped = version(), skipped_writes()

    time.sleep(3 * 2 + 1)  # three evaluations at the 2 s interval, each deciding the same

    assert skipped_writes() >= skipped + 3
    assert version() == steady  # no status write, not even the evaluation time

    set_cpu(cpu, prometheus, namespace, 160)  # ratio 2.0 → 4 replicas: written at once
    wait_replicas(cluster, namespace, "web", 4, timeout=2 * 2 + SCRAPE + 5)
    wait_until(
        "the decision in status",
        lambda: status(cluster, namespace, "ps", "platform")["targets"][0]["desiredReplicas"] == 4,
        timeout=5,
    )
    assert status(cluster, namespace, "ps", "platform")["metrics"][0]["value"] == "160"


def test_a_spec_the_api_server_accepts_but_cannot_work_is_reported_and_disturbs_nothing(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    set_cpu(cpu, prometheus, namespace, 160)
    apply(cluster, namespace, deployment("web", 2))
    # Warming without the Secrets it reads from: only the operator can tell.
    broken = policy(
        namespace, prometheus, target=web(), weddingDay={"cacheWarming": {"enabled": True}}
    )
    apply(cluster, namespace, broken)
    # Mixed forms (an offset and a local time) are compared by the operator, not CEL.
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "backwards"},
            "spec": {
                "start": "2027-06-12T15:00:00+01:00",
                "end": "2027-06-12T13:00:00",
                "timeZone": "Europe/London",
            },
        },
    )

    ready = wait_until(
        "Ready=False/InvalidSpec",
        lambda: (
            (c := conditions(cluster, namespace, "ps", "platform").get("Ready"))
            and c["reason"] == "InvalidSpec"
            and c
        ),
        timeout=20,
    )
    day = wait_until(
        "the day to fail",
        lambda: (
            (st := status(cluster, namespace, "wd", "backwards")).get("phase") == "Failed" and st
        ),
        timeout=20,
    )
    time.sleep(2 * 2)

    assert ready["status"] == "False"
    assert "spec.weddingDay.cacheWarming" in ready["message"]
    assert "is not after spec.start" in day["message"]
    assert replicas(cluster, namespace, "web") == 2  # untouched
    assert "InvalidSpec" in [e["reason"] for e in events(cluster, namespace, "platform")]
