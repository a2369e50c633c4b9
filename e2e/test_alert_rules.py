"""The chart's PrometheusRule, evaluated by a real Prometheus that scrapes the real
operator: each alert fires on the state it is about, and every rule is healthy and reads
only series the operator exposes (a typo in an expression or a metric name fails here).
The rules come from `helm template` of the chart itself, with every `for:` at 0s.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Gauge

from cluster_fixture import Cluster, wait_until
from operator_fixture import CHART, TOO_MUCH_CPU, OperatorProcess, apply, deployment, workload
from policies import day_in_its_mode, per_replica, set_signal
from services.prometheus import Exporter, PrometheusServer

ALERTS = {
    "WeddingDayNotReady",
    "WeddingDayModeLate",
    "WeddingSafetyGateBlocked",
    "WeddingOperatorEvaluationsFailing",
}


@pytest.fixture(scope="module")
def rules(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rendered = cluster.helm(
        "template",
        "wedsync-operator",
        str(CHART),
        "--show-only",
        "templates/prometheusrule.yaml",
        "--set",
        "metrics.prometheusRule.enabled=true",
        *[
            arg
            for key in ("dayNotReady", "modeLate", "safetyGateBlocked", "evaluationsFailing")
            for arg in ("--set", f"metrics.prometheusRule.for.{key}=0s")
        ],
    ).stdout
    spec = yaml.safe_load(rendered)["spec"]
    path = tmp_path_factory.mktemp("rules") / "wedsync-operator.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": spec["groups"]}))
    return path


@pytest.fixture(scope="module")
def alerting(
    rules: Path,
    exporter: Exporter,
    operator: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PrometheusServer]:
    """A Prometheus with the chart's rules, scraping the operator (and the inputs)."""
    targets = [exporter.target, f"127.0.0.1:{operator.metrics_port}"]
    directory = tmp_path_factory.mktemp("alerting")
    with PrometheusServer(targets, directory, rule_files=[rules]) as server:
        server.wait_until_scraped()
        yield server


def firing(server: PrometheusServer, alert: str, **labels: str) -> list[dict[str, Any]]:
    return [
        a
        for a in server.api("alerts")["alerts"]
        if a["labels"]["alertname"] == alert
        and a["state"] == "firing"
        and all(a["labels"].get(k) == v for k, v in labels.items())
    ]


def test_promtool_accepts_the_rules_and_they_cover_the_four_alerts(rules: Path) -> None:
    checked = subprocess.run(
        ["promtool", "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    [group] = yaml.safe_load(rules.read_text())["groups"]
    assert {r["alert"] for r in group["rules"]} == ALERTS


def test_a_policy_not_ready_past_its_deadline_fires_its_alert_and_a_ready_one_does_not(
    cluster: Cluster,
    namespace: str,
    alerting: PrometheusServer,
    prometheus: PrometheusServer,
    signal: Gauge,
) -> None:
    set_signal(signal, prometheus, namespace, "requests", 100)
    apply(cluster, namespace, workload("heavy", 1, cpu=TOO_MUCH_CPU), deployment("web", 1))

    def gated(name: str, target: str) -> dict[str, Any]:
        return {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "PlatformScaling",
            "metadata": {"name": name},
            "spec": {
                "targets": [
                    {
                        "kind": "Deployment",
                        "name": target,
                        "minReplicas": 1,
                        "maxReplicas": 5,
                        "weddingDay": {"minReplicas": 2},
                    }
                ],
                "metrics": [per_replica(namespace, "requests", 100)],
                "prometheus": {"url": prometheus.url, "timeout": "2s"},
                "interval": {"normal": "2s", "weddingDay": "2s"},
            },
        }

    # Began ten minutes ago: the 30m deadline has passed.
    apply(cluster, namespace, gated("short", "heavy"), gated("fits", "web"), day_in_its_mode())

    # Right after the pre-scale neither is ready (the chart's default `for:` of 1m covers
    # that); then only the policy whose pods cannot be placed stays firing.
    wait_until(
        "WeddingDayNotReady firing for the short policy alone",
        lambda: (
            [
                a["labels"]["policy"]
                for a in firing(alerting, "WeddingDayNotReady", namespace=namespace)
            ]
            == ["short"]
        ),
        timeout=40,
    )
    # The day's mode began on time: no lateness alert for either policy.
    assert firing(alerting, "WeddingDayModeLate", namespace=namespace) == []


def test_a_scale_down_held_by_its_safety_gate_fires_its_alert(
    cluster: Cluster,
    namespace: str,
    alerting: PrometheusServer,
    prometheus: PrometheusServer,
    signal: Gauge,
) -> None:
    set_signal(signal, prometheus, namespace, "requests", 100)  # asks for one replica
    apply(cluster, namespace, deployment("cache", 3))
    policy = {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "PlatformScaling",
        "metadata": {"name": "platform"},
        "spec": {
            "targets": [
                {
                    "kind": "Deployment",
                    "name": "cache",
                    "role": "cache",
                    "minReplicas": 1,
                    "maxReplicas": 5,
                }
            ],
            "metrics": [per_replica(namespace, "requests", 100)],
            "prometheus": {"url": prometheus.url, "timeout": "2s"},
            "interval": {"normal": "2s", "weddingDay": "2s"},
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
            # No such Secret: the gate cannot run and fails closed.
            "safety": {"redis": {"secretRef": {"name": "redis-primary"}}},
        },
    }
    apply(cluster, namespace, policy)

    found = wait_until(
        "WeddingSafetyGateBlocked firing",
        lambda: firing(alerting, "WeddingSafetyGateBlocked", namespace=namespace),
        timeout=40,
    )
    assert found[0]["labels"]["target"] == "cache"


def test_evaluations_whose_writes_fail_fire_the_failing_alert(
    cluster: Cluster,
    namespace: str,
    alerting: PrometheusServer,
    prometheus: PrometheusServer,
    signal: Gauge,
) -> None:
    set_signal(signal, prometheus, namespace, "requests", 100)
    # An immutable mode ConfigMap: every evaluation's write of the mode is refused.
    immutable = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "wedsync-mode"},
        "immutable": True,
        "data": {"mode": "Normal"},
    }
    policy = {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "PlatformScaling",
        "metadata": {"name": "platform"},
        "spec": {
            "targets": [{"kind": "Deployment", "name": "web", "minReplicas": 1, "maxReplicas": 3}],
            "metrics": [per_replica(namespace, "requests", 100)],
            "prometheus": {"url": prometheus.url, "timeout": "2s"},
            "interval": {"normal": "2s", "weddingDay": "2s"},
        },
    }
    apply(cluster, namespace, immutable, deployment("web", 1), policy)

    wait_until(
        "WeddingOperatorEvaluationsFailing firing",
        lambda: firing(alerting, "WeddingOperatorEvaluationsFailing"),
        timeout=60,
    )


def test_every_rule_is_healthy_and_reads_only_series_the_operator_exposes(
    rules: Path, alerting: PrometheusServer
) -> None:
    # After the tests above: the operator has had policies in the mode, blocked and failing
    # (their namespaces are gone since, so their series are looked up over the last minutes).
    [group] = alerting.api("rules")["groups"]
    assert {r["name"] for r in group["rules"]} == ALERTS
    for rule in group["rules"]:
        assert rule["health"] == "ok", rule
        assert not rule.get("lastError"), rule
        for name in set(re.findall(r"wedsync_operator_\w+", rule["query"])):
            exposed = alerting.query(f'count(last_over_time({{__name__="{name}"}}[15m]))')
            assert exposed, f"{rule['name']} reads {name}, which the operator does not expose"
