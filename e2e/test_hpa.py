"""hpaConflict: RaiseMinReplicas on a real control plane: the local
kube-controller-manager's HPA controller does the scaling, the operator only raises the
HPA's minReplicas in the mode and gives the user's value back after.

The HPAs here scale on CPU, which no metrics server serves on this cluster: the HPA
controller still enforces minReplicas ("Current number of replicas below
Spec.MinReplicas") before it reads any metric, which is exactly the part under test.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Any

from prometheus_client import Gauge

from cluster_fixture import Cluster, wait_until
from operator_fixture import OperatorProcess, apply, deployment, events, replicas, status
from services.prometheus import PrometheusServer
from test_operator import day_in_mode, policy, set_cpu, web

HOLD = "wedsync.io/min-replicas-hold"
# The HPA controller resyncs every 15 s by default; one resync and a rollout.
HPA_SYNC = 40.0


def hpa(name: str, target: str, min_replicas: int, max_replicas: int = 10) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80},
                    },
                }
            ],
        },
    }


def hpa_min(cluster: Cluster, namespace: str, name: str = "web") -> tuple[int, str | None]:
    got = cluster.get_json("hpa", name, "-n", namespace)
    return got["spec"]["minReplicas"], (got["metadata"].get("annotations") or {}).get(HOLD)


def start(
    cluster: Cluster, namespace: str, prometheus: PrometheusServer, cpu: Gauge, **spec: Any
) -> None:
    """web at 2 replicas under an HPA (min 2, max 10); a policy whose wedding-day floor
    for web is 5; no day yet."""
    set_cpu(cpu, prometheus, namespace, 60)
    apply(cluster, namespace, deployment("web", 2), hpa("web", "web", 2))
    target = web(max_replicas=20, weddingDay={"minReplicas": 5})
    apply(cluster, namespace, policy(namespace, prometheus, target=target, **spec))
    wait_until(
        "a first evaluation",
        lambda: status(cluster, namespace, "ps", "platform").get("conditions") or None,
        timeout=20,
    )


def reasons(cluster: Cluster, namespace: str) -> list[str]:
    return [e["reason"] for e in events(cluster, namespace, "platform")]


def activate_and_see_the_raise(cluster: Cluster, namespace: str) -> None:
    apply(cluster, namespace, day_in_mode())
    wait_until("the HPA's min raised", lambda: hpa_min(cluster, namespace)[0] == 5, timeout=20)
    wait_until(
        "the HPA controller to scale web to its new min",
        lambda: replicas(cluster, namespace, "web") == 5,
        timeout=HPA_SYNC,
    )


def end_mode(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("delete", "wd", "now", "-n", namespace, "--wait=false")


def test_an_hpa_owned_deployment_is_prescaled_through_its_hpa_and_gets_its_min_back(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    start(cluster, namespace, prometheus, cpu)
    assert hpa_min(cluster, namespace) == (2, None)

    activate_and_see_the_raise(cluster, namespace)
    _, hold = hpa_min(cluster, namespace)
    assert hold is not None and json.loads(hold)["original"] == 2
    limited = status(cluster, namespace, "ps", "platform")["conditions"]
    assert any("minimum held at 5" in c["message"] for c in limited), limited
    wait_until(
        "the raise's Event", lambda: "AutoscalerMinRaised" in reasons(cluster, namespace), 10
    )

    end_mode(cluster, namespace)
    wait_until("the user's min back", lambda: hpa_min(cluster, namespace) == (2, None), 20)
    wait_until(
        "the restore's Event", lambda: "AutoscalerMinRestored" in reasons(cluster, namespace), 10
    )


def test_the_hpa_keeps_scaling_above_the_raised_floor(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    """The operator never writes the Deployment's replicas of an HPA-owned target: a count
    above the floor (set here as the HPA's scaling would) stays."""
    start(cluster, namespace, prometheus, cpu)
    activate_and_see_the_raise(cluster, namespace)
    set_cpu(cpu, prometheus, namespace, 30)  # the policy's own metric asks for fewer
    cluster.kubectl("scale", "deployment/web", "--replicas=8", "-n", namespace)
    time.sleep(6)  # a few of the policy's 2 s evaluations
    assert replicas(cluster, namespace, "web") == 8
    assert hpa_min(cluster, namespace)[0] == 5


def test_the_policys_own_metric_only_raises_the_floor_and_holds_it_until_the_mode_ends(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    """Above its wedding-day target the policy's metric asks for more than the floor: the
    HPA's minimum goes up (the HPA still does the scaling); with freezeScaleDown the raise
    is not taken back when the metric falls, only when the mode ends."""
    start(cluster, namespace, prometheus, cpu)
    activate_and_see_the_raise(cluster, namespace)
    set_cpu(cpu, prometheus, namespace, 90)  # 1.5x the wedding-day target of 60
    wait_until("the min raised above the floor", lambda: hpa_min(cluster, namespace)[0] > 5, 20)
    raised = hpa_min(cluster, namespace)[0]
    assert json.loads(hpa_min(cluster, namespace)[1] or "{}")["original"] == 2

    set_cpu(cpu, prometheus, namespace, 20)
    time.sleep(6)  # a few of the policy's 2 s evaluations
    assert hpa_min(cluster, namespace)[0] >= raised

    end_mode(cluster, namespace)
    wait_until("the user's min back", lambda: hpa_min(cluster, namespace) == (2, None), 20)


def test_a_user_edit_of_min_replicas_in_the_mode_is_kept_and_stays_after(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    start(cluster, namespace, prometheus, cpu)
    activate_and_see_the_raise(cluster, namespace)

    cluster.kubectl(
        "patch", "hpa", "web", "-n", namespace, "--type=merge", "-p", '{"spec":{"minReplicas":3}}'
    )
    wait_until(
        "the edit noticed",
        lambda: "AutoscalerMinEditedByUser" in reasons(cluster, namespace),
        timeout=20,
    )
    min_now, hold = hpa_min(cluster, namespace)
    assert min_now == 3 and hold is not None and json.loads(hold)["yielded"] is True

    end_mode(cluster, namespace)
    wait_until("the record dropped", lambda: hpa_min(cluster, namespace)[1] is None, 20)
    assert hpa_min(cluster, namespace)[0] == 3


def test_a_restart_and_a_sigkill_in_the_mode_restore_exactly_the_original(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    """The record lives on the HPA: an operator that restarts, or is killed and finds
    the mode over when it comes back, still gives back the user's value."""
    start(cluster, namespace, prometheus, cpu)
    activate_and_see_the_raise(cluster, namespace)
    operator.stop(signal.SIGTERM)
    operator.start()
    # A few of the restarted operator's 2 s evaluations: it keeps the raise, no drift.
    time.sleep(6)
    assert hpa_min(cluster, namespace)[0] == 5
    operator.kill()
    end_mode(cluster, namespace)  # the mode ends while no operator runs
    assert hpa_min(cluster, namespace)[0] == 5
    operator.start()
    wait_until("the user's min back", lambda: hpa_min(cluster, namespace) == (2, None), 30)


def test_deleting_the_policy_in_the_mode_gives_the_hpa_its_min_back(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    start(cluster, namespace, prometheus, cpu)
    activate_and_see_the_raise(cluster, namespace)
    cluster.kubectl("delete", "ps", "platform", "-n", namespace, "--wait=false")
    wait_until("the user's min back", lambda: hpa_min(cluster, namespace) == (2, None), 20)


def test_a_policy_deleted_while_the_operator_is_down_gives_the_hpa_its_min_back(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    """The clean-up sits behind the policy's finalizer: a deletion the operator never saw
    happen is finished when it comes back, and the policy goes only then."""
    start(cluster, namespace, prometheus, cpu)
    activate_and_see_the_raise(cluster, namespace)
    operator.kill()
    cluster.kubectl("delete", "ps", "platform", "-n", namespace, "--wait=false")
    time.sleep(2)
    assert hpa_min(cluster, namespace)[0] == 5
    assert cluster.get_json("ps", "platform", "-n", namespace)["metadata"]["deletionTimestamp"]
    operator.start()
    wait_until("the user's min back", lambda: hpa_min(cluster, namespace) == (2, None), 30)
    wait_until(
        "the policy gone",
        lambda: (
            cluster.kubectl("get", "ps", "platform", "-n", namespace, check=False).returncode != 0
        ),
        timeout=30,
    )
