"""The operator under the Helm chart's own identity, and nothing more: its
ServiceAccount and RBAC rendered by `helm template` and applied to the cluster, a token
from the TokenRequest API, no client certificate. It scales on a metric, reads the one
Secret it is allowed to, and never meets a 403; what it is not granted is refused.

The dashboard's queries are run here too, against a real Prometheus scraping this
operator's /metrics: every panel's PromQL parses and the key panels show data.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import Gauge

from cluster_fixture import Cluster, unique_namespace, wait_until
from operator_fixture import (
    CHART,
    OperatorProcess,
    apply,
    chart_identity,
    conditions,
    deployment,
    ensure_crds,
    events,
    wait_replicas,
)
from services.prometheus import PrometheusServer
from test_operator import SCRAPE, policy, set_cpu, web

SECRET = "prometheus-token"
VALUES = ("--set", f"rbac.secrets.names={{{SECRET}}}")
# An RBAC refusal as the API server words it (logged by kopf or by our adapter), or kopf's
# own warning when it may not list or watch something. Not every 403: a namespace being
# deleted also refuses new objects ("unable to create new content"), whoever asks.
REFUSED = re.compile(r'forbidden: User "[^"]+" cannot|Not enough permissions')
DASHBOARD = CHART / "dashboards" / "wedsync-operator.json"


def refused_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if REFUSED.search(line)]


@pytest.fixture(scope="module")
def identity(cluster: Cluster) -> Path:
    ensure_crds(cluster)
    return chart_identity(cluster, "wedsync-rbac", VALUES, "wedsync-rbac-system")


@pytest.fixture(scope="module")
def operator(
    cluster: Cluster, identity: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("rbac") / "operator.log"
    proc = OperatorProcess(cluster, log, kubeconfig=identity).start()
    try:
        yield proc
    finally:
        proc.stop()
    assert not refused_lines(proc.log()), "refused requests:\n" + "\n".join(
        refused_lines(proc.log())
    )
    assert not proc.slow_callbacks()


def as_operator(
    cluster: Cluster, identity: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """kubectl with the operator's token only (--kubeconfig beats KUBECONFIG)."""
    return cluster.kubectl(f"--kubeconfig={identity}", *args, input=input, check=False)


def can_i(cluster: Cluster, identity: Path, *args: str) -> bool:
    answer = as_operator(cluster, identity, "auth", "can-i", *args).stdout.strip()
    assert answer in ("yes", "no"), answer
    return answer == "yes"


def with_token_secret(spec: dict[str, Any]) -> dict[str, Any]:
    spec["spec"]["prometheus"]["secretRef"] = {"name": SECRET}
    return spec


def namespaced_operator(
    cluster: Cluster,
    namespace: str,
    prometheus: PrometheusServer,
    cpu: Gauge,
    tmp_path: Path,
    release: str,
    values: tuple[str, ...],
    *args: str,
) -> tuple[Path, OperatorProcess]:
    """An operator for ``namespace`` alone, as a chart install watching only it would
    run (its identity rendered with ``values``), over a CPU-driven policy on web (2
    replicas, a metric that asks for 4)."""
    ensure_crds(cluster)
    kubeconfig = chart_identity(
        cluster,
        release,
        (*values, "--set", f"watchNamespaces={{{namespace}}}"),
        "wedsync-rbac-system",
    )
    set_cpu(cpu, prometheus, namespace, 160)
    apply(cluster, namespace, deployment("web", 2))
    apply(cluster, namespace, policy(namespace, prometheus, target=web(max_replicas=4)))
    proc = OperatorProcess(
        cluster,
        tmp_path / "operator.log",
        ("--standalone", "--namespace", namespace, *args),
        kubeconfig=kubeconfig,
    ).start()
    return kubeconfig, proc


def test_a_namespaced_install_acts_in_its_namespaces_only(
    cluster: Cluster,
    namespace: str,
    prometheus: PrometheusServer,
    cpu: Gauge,
    tmp_path: Path,
) -> None:
    # First in the module: no cluster-wide operator of this module runs yet, so the
    # scaling below is the namespaced one's.
    kubeconfig, proc = namespaced_operator(
        cluster, namespace, prometheus, cpu, tmp_path, f"wedsync-{namespace}", ()
    )
    other_gen = unique_namespace(cluster, "other")
    other = next(other_gen)
    try:
        wait_replicas(cluster, namespace, "web", 4, timeout=30)

        assert not can_i(
            cluster, kubeconfig, "patch", "deployments", "--subresource=scale", "-n", other
        )
        assert not can_i(cluster, kubeconfig, "list", "platformscalings.wedsync.io", "-n", other)
        assert not can_i(cluster, kubeconfig, "get", "secrets/x", "-n", other)
        assert can_i(cluster, kubeconfig, "get", "secrets/x", "-n", namespace)
    finally:
        proc.stop()
        next(other_gen, None)
    assert not refused_lines(proc.log()), "\n".join(refused_lines(proc.log()))
    assert proc.slow_callbacks() == []


def test_without_target_watch_the_operator_scales_through_scale_alone(
    cluster: Cluster,
    namespace: str,
    prometheus: PrometheusServer,
    cpu: Gauge,
    tmp_path: Path,
) -> None:
    # targetWatch.enabled=false grants no list/watch on Deployments, and
    # --no-watch-targets (what the chart then passes) never asks for one.
    kubeconfig, proc = namespaced_operator(
        cluster,
        namespace,
        prometheus,
        cpu,
        tmp_path,
        "wedsync-nowatch-op",
        ("--set", "targetWatch.enabled=false"),
        "--no-watch-targets",
    )
    try:
        wait_replicas(cluster, namespace, "web", 4, timeout=30)
    finally:
        proc.stop()

    assert not can_i(cluster, kubeconfig, "list", "deployments", "-n", namespace)
    assert not can_i(cluster, kubeconfig, "watch", "horizontalpodautoscalers", "-n", namespace)
    assert not refused_lines(proc.log()), "\n".join(refused_lines(proc.log()))
    assert proc.slow_callbacks() == []


def test_metric_driven_scale_up_works_as_the_charts_service_account(
    cluster: Cluster,
    namespace: str,
    identity: Path,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    whoami = json.loads(as_operator(cluster, identity, "auth", "whoami", "-o", "json").stdout)
    set_cpu(cpu, prometheus, namespace, 160)  # ratio 2.0 → 2 x 2 = 4
    cluster.kubectl(
        "create", "secret", "generic", SECRET, "-n", namespace, "--from-literal=token=t0ken"
    )
    apply(cluster, namespace, deployment("web", 2))
    apply(
        cluster,
        namespace,
        with_token_secret(policy(namespace, prometheus, target=web(max_replicas=4))),
    )

    wait_replicas(cluster, namespace, "web", 4, timeout=20)
    available = wait_until(
        "MetricsAvailable",
        lambda: conditions(cluster, namespace, "ps", "platform").get("MetricsAvailable"),
        timeout=10,
    )

    assert whoami["status"]["userInfo"]["username"] == (
        "system:serviceaccount:wedsync-rbac-system:wedsync-rbac-wedsync-operator"
    )
    # The bearer token came from the Secret (a refused `get` would say so here).
    assert available["status"] == "True", available
    assert "ScaledUp" in [e["reason"] for e in events(cluster, namespace, "platform")]
    mode = cluster.get_json("configmap", "wedsync-mode", "-n", namespace)["data"]["mode"]
    assert mode == "Normal"
    assert not refused_lines(operator.log()), "\n".join(refused_lines(operator.log()))


def test_a_target_an_hpa_owns_is_seen_and_left_alone_as_the_service_account(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    """Seeing the HPA proves the chart grants `list` on them (a refused list would hold
    every target with Ready=False instead)."""
    set_cpu(cpu, prometheus, namespace, 160)
    apply(cluster, namespace, deployment("web", 2))
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 3,
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
        },
    )
    apply(
        cluster,
        namespace,
        policy(namespace, prometheus, target=web(max_replicas=4), hpaConflict="Refuse"),
    )

    limited = wait_until(
        "ScalingLimited",
        lambda: conditions(cluster, namespace, "ps", "platform").get("ScalingLimited"),
        timeout=20,
    )

    assert (limited["status"], limited["reason"]) == ("True", "HPAOwnsTarget"), limited


def test_what_the_chart_does_not_grant_is_refused(
    cluster: Cluster, namespace: str, identity: Path
) -> None:
    apply(cluster, namespace, deployment("web", 2))
    ns = ("-n", namespace)

    image_patch = as_operator(
        cluster,
        identity,
        "set",
        "image",
        "deployment/web",
        "app=example.invalid/evil:1",
        *ns,
    )
    scaled = as_operator(
        cluster,
        identity,
        "patch",
        "deployment/web",
        "--subresource=scale",
        "--type=merge",
        "--patch",
        '{"spec": {"replicas": 3}}',
        *ns,
    )

    assert image_patch.returncode != 0 and "forbidden" in image_patch.stderr, image_patch
    assert scaled.returncode == 0, scaled.stderr
    assert cluster.get_json("deployment", "web", *ns)["spec"]["template"]["spec"]["containers"][0][
        "image"
    ] == ("example.invalid/app:1")
    assert not can_i(cluster, identity, "update", "deployments/web", *ns)
    assert not can_i(cluster, identity, "patch", "deployments/web", *ns)
    assert not can_i(cluster, identity, "delete", "deployments/web", *ns)
    assert can_i(cluster, identity, "patch", "deployments", "--subresource=scale", *ns)
    assert can_i(cluster, identity, "get", "statefulsets", "--subresource=scale", *ns)
    # Read, for the watch caches: listed and watched, never fetched one by one.
    assert not can_i(cluster, identity, "get", "deployments", *ns)
    assert can_i(cluster, identity, "watch", "deployments", *ns)
    assert can_i(cluster, identity, "list", "statefulsets", *ns)
    assert can_i(cluster, identity, "watch", "horizontalpodautoscalers.autoscaling", *ns)
    assert can_i(cluster, identity, "get", f"secrets/{SECRET}", *ns)
    assert not can_i(cluster, identity, "get", "secrets/some-other-secret", *ns)
    assert not can_i(cluster, identity, "list", "secrets", *ns)
    assert not can_i(cluster, identity, "watch", "secrets", *ns)
    assert can_i(cluster, identity, "patch", "configmaps/wedsync-mode", *ns)
    assert not can_i(cluster, identity, "patch", "configmaps/kube-root-ca.crt", *ns)
    assert not can_i(cluster, identity, "delete", "platformscalings.wedsync.io", *ns)
    assert not can_i(cluster, identity, "create", "pods", *ns)
    # hpaConflict: RaiseMinReplicas patches HPAs; ScaledObjects only with rbac.keda.enabled.
    assert can_i(cluster, identity, "patch", "horizontalpodautoscalers.autoscaling", *ns)
    assert not can_i(cluster, identity, "delete", "horizontalpodautoscalers.autoscaling", *ns)
    assert not can_i(cluster, identity, "patch", "scaledobjects.keda.sh", *ns)
    # Peering is off in these values: no access to peering objects either.
    assert not can_i(cluster, identity, "patch", "clusterkopfpeerings.kopf.dev")


def _query(server: PrometheusServer, promql: str) -> list[Any]:
    url = f"{server.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:  # an HTTP 400 (bad PromQL) raises
        document = json.load(response)
    assert document["status"] == "success", document
    result: list[Any] = document["data"]["result"]
    return result


def test_dashboard_queries_run_on_prometheus_and_show_the_operators_series(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
    tmp_path: Path,
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    set_cpu(cpu, prometheus, namespace, 160)  # ratio 2: as high as maxReplicas allows
    apply(cluster, namespace, deployment("web", 2))

    def capped_at(replicas: int) -> dict[str, Any]:
        spec = policy(namespace, prometheus, target=web(max_replicas=replicas))
        spec["spec"]["health"] = {
            "utilizationPercentQuery": f'max(wedsync_e2e_cpu_percent{{ns="{namespace}"}})'
        }
        return spec

    # Scraped from before the scale-ups. The operator creates a labelled counter's series
    # at its first increment, with value 1, which increase() cannot see: the second
    # scale-up is the one the panels show.
    with PrometheusServer([f"127.0.0.1:{operator.metrics_port}"], tmp_path) as scraper:
        scraper.wait_until_scraped()
        apply(cluster, namespace, capped_at(3))
        wait_replicas(cluster, namespace, "web", 3, timeout=20)
        time.sleep(2 * SCRAPE)  # the series exists in Prometheus before it moves again
        apply(cluster, namespace, capped_at(4))
        wait_replicas(cluster, namespace, "web", 4, timeout=20)
        wait_until(
            "the second scale-up in the scraped gauges",
            lambda: _query(
                scraper, f'wedsync_operator_current_replicas{{namespace="{namespace}"}} == 4'
            ),
            timeout=20,
        )
        wait_until(
            "the scale-up in the scraped counters",
            lambda: _query(
                scraper, "sum(increase(wedsync_operator_scale_operations_total[1m])) > 0"
            ),
            timeout=20,
        )
        wait_until(
            "the health score series",
            lambda: _query(scraper, f'wedsync_operator_health_score{{namespace="{namespace}"}}'),
            timeout=20,
        )
        results = {}
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                promql = (
                    target["expr"]
                    .replace("$__rate_interval", "1m")
                    .replace("$namespace", namespace)
                    .replace("$policy", "platform")
                )
                results[(panel["title"], target["refId"])] = _query(scraper, promql)

    def series(title: str, ref: str = "A") -> list[Any]:
        return results[(title, ref)]

    timeline = series("Wedding-day mode timeline")
    assert [(s["metric"]["policy"], s["value"][1]) for s in timeline] == [("platform", "0")]
    desired = series("Desired vs current replicas per target")
    assert [(s["metric"]["target"], s["value"][1]) for s in desired] == [("web", "4")]
    assert series("Desired vs current replicas per target", "B")[0]["value"][1] == "4"
    assert series("Evaluation latency") and series("Evaluation latency", "B")
    assert series("Platform health score")
    assert series("Scale operations (24 h)")[0]["value"][1] != "0"
    assert series("Operator version")[0]["metric"]["version"]
    assert series("Evaluation errors (1 h)")  # `or vector(0)`: always one sample
