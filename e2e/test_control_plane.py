"""The local control plane is a real Kubernetes: pods run, /scale works, CEL validates,
service-account tokens authenticate, RBAC denies, helm runs against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cluster_fixture import Cluster, wait_until

VERSIONS = dict(
    line.split("=", 1)
    for line in (Path(__file__).parent / "cluster" / "versions.env").read_text().splitlines()
    if line and not line.startswith("#")
)


def _deployment(name: str, replicas: int) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: app, image: example.invalid/app:1}}]
"""


def _running_pods(cluster: Cluster, namespace: str, app: str) -> list[dict[str, Any]]:
    pods = cluster.get_json("pods", "-n", namespace, "-l", f"app={app}")["items"]
    return [
        p
        for p in pods
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]


def _wait_running(cluster: Cluster, namespace: str, app: str, count: int) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = wait_until(
        f"{count} running pods of {app}",
        lambda: (pods := _running_pods(cluster, namespace, app)) and len(pods) == count and pods,
        timeout=90,
    )
    return result


def test_server_reports_the_pinned_kubernetes_version(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == VERSIONS["KUBERNETES_VERSION"]


def test_deployment_pods_run_on_fake_kwok_nodes(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=_deployment("web", 2))

    pods = _wait_running(cluster, namespace, "web", 2)

    assert all(p["spec"]["nodeName"].startswith("kwok-node-") for p in pods)
    ready = [c for p in pods for c in p["status"]["conditions"] if c["type"] == "Ready"]
    assert [c["status"] for c in ready] == ["True", "True"]


def test_kubectl_scale_goes_through_the_scale_subresource(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=_deployment("api", 2))
    _wait_running(cluster, namespace, "api", 2)

    cluster.kubectl("scale", "-n", namespace, "deployment/api", "--replicas=4")

    _wait_running(cluster, namespace, "api", 4)
    scale = json.loads(
        cluster.kubectl(
            "get", "--raw", f"/apis/apps/v1/namespaces/{namespace}/deployments/api/scale"
        ).stdout
    )
    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 4
    assert scale["status"]["replicas"] == 4


def test_statefulset_scales_through_its_scale_subresource(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input="""
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: redis-replica}
spec:
  serviceName: redis-replica
  replicas: 1
  selector: {matchLabels: {app: redis-replica}}
  template:
    metadata: {labels: {app: redis-replica}}
    spec:
      containers: [{name: redis, image: example.invalid/redis:7}]
""",
    )
    _wait_running(cluster, namespace, "redis-replica", 1)

    # A merge patch of the /scale subresource: what the operator itself does.
    cluster.kubectl(
        "patch",
        "-n",
        namespace,
        "statefulset/redis-replica",
        "--subresource=scale",
        "--type=merge",
        "-p",
        '{"spec":{"replicas":3}}',
    )

    pods = _wait_running(cluster, namespace, "redis-replica", 3)
    assert sorted(p["metadata"]["name"] for p in pods) == [
        "redis-replica-0",
        "redis-replica-1",
        "redis-replica-2",
    ]


CEL_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: windows.celcheck.wedsync.io}
spec:
  group: celcheck.wedsync.io
  scope: Namespaced
  names: {plural: windows, singular: window, kind: Window}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - rule: "self.end > self.start"
              message: "end must be after start"
            properties:
              start: {type: integer}
              end: {type: integer}
"""


def test_crd_cel_rule_rejects_a_bad_object_with_the_rules_message(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl("apply", "-f", "-", input=CEL_CRD)
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/windows.celcheck.wedsync.io", "--timeout=30s"
    )
    good = (
        "apiVersion: celcheck.wedsync.io/v1\nkind: Window\nmetadata: {name: ok}\n"
        "spec: {start: 1, end: 2}\n"
    )
    bad = good.replace("name: ok", "name: bad").replace("end: 2", "end: 0")

    # Discovery of a fresh CRD can lag a moment behind Established.
    wait_until(
        "the new CRD to be served",
        lambda: (
            cluster.kubectl("apply", "-n", namespace, "-f", "-", input=good, check=False).returncode
            == 0
        ),
        timeout=30,
    )
    rejected = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=bad, check=False)

    assert rejected.returncode != 0
    assert "end must be after start" in rejected.stderr


def test_service_account_token_authenticates_and_rbac_denies_what_is_not_granted(
    cluster: Cluster, namespace: str
) -> None:
    token = cluster.kubectl("create", "token", "default", "-n", namespace).stdout.strip()
    # Only the token: no client certificate that would authenticate as admin first.
    as_sa = (
        "--kubeconfig=/dev/null",
        f"--server={cluster.server}",
        f"--certificate-authority={cluster.state / 'pki' / 'ca.crt'}",
        f"--token={token}",
    )

    whoami = json.loads(cluster.run("kubectl", "auth", "whoami", "-o", "json", *as_sa).stdout)
    denied = cluster.run("kubectl", "get", "secrets", "-n", namespace, *as_sa, check=False)

    assert whoami["status"]["userInfo"]["username"] == (
        f"system:serviceaccount:{namespace}:default"
    )
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()


def test_helm_runs_and_renders_a_chart(cluster: Cluster, tmp_path: Path) -> None:
    version = cluster.helm("version", "--short").stdout
    cluster.helm("create", str(tmp_path / "demo"))

    rendered = cluster.helm("template", "demo", str(tmp_path / "demo")).stdout

    assert version.startswith(VERSIONS["HELM_VERSION"])
    assert "kind: Deployment" in rendered
    assert "kind: Service" in rendered
