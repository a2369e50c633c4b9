"""The Helm chart and the plain manifests against a real API server: `helm lint`,
`helm template` over every ci/*-values.yaml, server-side dry-run applies, a real
`helm install` into a namespace that enforces the restricted Pod Security Standard, and
deploy/'s RBAC kept equal to the chart's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_fixture import REPO, Cluster, unique_namespace
from operator_fixture import CHART, ensure_crds
from wedsync_operator.cli import build_parser

CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
DEPLOY = REPO / "deploy"
# Kinds whose API the local cluster does not serve (the Prometheus Operator's CRDs are
# not installed there); every other rendered kind must pass the server-side dry-run.
NOT_SERVED = {"ServiceMonitor", "PrometheusRule"}


@pytest.fixture(scope="module")
def crds(cluster: Cluster) -> Cluster:
    ensure_crds(cluster)
    return cluster


@pytest.fixture
def restricted_namespace(cluster: Cluster) -> Iterator[str]:
    """A namespace whose pods must meet the restricted Pod Security Standard."""
    for name in unique_namespace(cluster, "chart"):
        cluster.kubectl(
            "label",
            "namespace",
            name,
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/warn=restricted",
        )
        yield name


def render(cluster: Cluster, release: str, namespace: str, *args: str) -> list[dict[str, Any]]:
    out = cluster.helm("template", release, str(CHART), "--namespace", namespace, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def namespaces_of(docs: list[dict[str, Any]], release_namespace: str) -> set[str]:
    return {d["metadata"].get("namespace") for d in docs} - {None, release_namespace}


def rules_by_role(docs: list[dict[str, Any]], prefix: str) -> dict[str, list[Any]]:
    """ClusterRole name (with the release's prefix cut off) → its rules."""
    return {
        d["metadata"]["name"].removeprefix(prefix): d["rules"]
        for d in docs
        if d["kind"] == "ClusterRole"
    }


def test_helm_lint_passes_with_the_defaults_and_every_ci_values_file(cluster: Cluster) -> None:
    assert {p.name for p in CI_VALUES} >= {"default-values.yaml", "ha-values.yaml"}
    cluster.helm("lint", "--strict", str(CHART))
    for values in CI_VALUES:
        cluster.helm("lint", "--strict", str(CHART), "--values", str(values))


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("replicaCount=two", "replicaCount"),
        ("replicas=2", "replicas"),  # a typo: unknown keys are refused
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("watchNamespaces[0]=Not_A_Namespace", "watchNamespaces"),
    ],
)
def test_values_that_break_the_schema_are_refused(
    cluster: Cluster, setting: str, complaint: str
) -> None:
    linted = cluster.helm("lint", str(CHART), "--set", setting, check=False)
    rendered = cluster.helm("template", "x", str(CHART), "--set", setting, check=False)

    assert linted.returncode != 0 and rendered.returncode != 0
    assert "values don't meet the specifications of the schema" in rendered.stderr
    assert complaint in rendered.stderr


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_rendered_chart_passes_a_server_side_dry_run(
    crds: Cluster, restricted_namespace: str, values: Path
) -> None:
    release = f"ci-{uuid.uuid4().hex[:6]}"
    docs = render(crds, release, restricted_namespace, "--values", str(values))
    served = [d for d in docs if d["kind"] not in NOT_SERVED]
    extra = sorted(namespaces_of(served, restricted_namespace))
    for name in extra:  # watchNamespaces must exist before their RoleBindings can
        crds.kubectl("create", "namespace", name, check=False)
    try:
        # No --namespace: every namespaced object must name its own (the chart sets it).
        applied = crds.kubectl(
            "apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(served)
        )
    finally:
        for name in extra:
            crds.kubectl("delete", "namespace", name, "--wait=false", check=False)

    assert len(applied.stdout.splitlines()) == len(served)
    assert "server dry run" in applied.stdout
    # The restricted Pod Security Standard warns about a workload that would violate it.
    assert "PodSecurity" not in applied.stderr, applied.stderr
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ServiceAccount", "ClusterRole", "Service", "ConfigMap"} <= kinds


def test_default_values_run_one_standalone_replica_that_is_never_doubled(cluster: Cluster) -> None:
    docs = render(cluster, "wedsync-operator", "wedsync-system")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]

    assert deployment["spec"]["replicas"] == 1
    assert "--standalone" in args
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert not [d for d in docs if d["kind"] in ("ClusterKopfPeering", "KopfPeering")]
    assert all(len(d["metadata"]["name"]) <= 63 for d in docs)


def test_ha_values_render_two_peered_replicas_and_their_peering_object(cluster: Cluster) -> None:
    docs = render(
        cluster, "wedsync-operator", "wedsync-system", "-f", str(CHART / "ci" / "ha-values.yaml")
    )
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    peering = [d for d in docs if d["kind"] == "ClusterKopfPeering"]
    cluster_rules = rules_by_role(docs, "wedsync-operator")["-cluster"]

    assert deployment["spec"]["replicas"] == 2
    assert "--peering=wedsync-operator" in args and "--standalone" not in args
    assert [p["metadata"]["name"] for p in peering] == ["wedsync-operator"]
    assert {"apiGroups": ["kopf.dev"], "resources": ["clusterkopfpeerings"],
            "verbs": ["get", "list", "watch", "patch"]} in cluster_rules  # fmt: skip
    assert any(d["kind"] == "PodDisruptionBudget" for d in docs)


def test_watch_namespaces_bind_the_rules_there_only(cluster: Cluster) -> None:
    docs = render(
        cluster,
        "wedsync-operator",
        "wedsync-system",
        "-f",
        str(CHART / "ci" / "namespaced-values.yaml"),
    )
    bindings = [d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    args = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    secrets = next(
        r for r in rules_by_role(docs, "wedsync-operator")[""] if r["resources"] == ["secrets"]
    )

    assert sorted((b["kind"], b["metadata"].get("namespace", "")) for b in bindings) == [
        ("ClusterRoleBinding", ""),  # the cluster-scoped reads (CRDs, namespaces) only
        ("RoleBinding", "wedsync-ci-a"),
        ("RoleBinding", "wedsync-ci-b"),
    ]
    assert "--namespace=wedsync-ci-a" in args and "--namespace=wedsync-ci-b" in args
    # targetWatch off: no read of the targets themselves, and the operator told so.
    assert "--no-watch-targets" in args
    rules = rules_by_role(docs, "wedsync-operator")[""]
    assert [r["resources"] for r in rules if r["apiGroups"] == ["apps"]] == [
        ["deployments/scale", "statefulsets/scale"]
    ]
    assert {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"],
            "verbs": ["list", "patch"]} in rules  # fmt: skip
    assert secrets == {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": ["prometheus-token", "redis-primary", "postgres-primary"],
        "verbs": ["get"],
    }
    assert sorted(
        (d["kind"], d["metadata"]["namespace"]) for d in docs if d["kind"] == "KopfPeering"
    ) == [("KopfPeering", "wedsync-ci-a"), ("KopfPeering", "wedsync-ci-b")]


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_the_rendered_arguments_are_ones_the_operator_accepts(
    cluster: Cluster, values: Path
) -> None:
    docs = render(cluster, "wedsync-operator", "wedsync-system", "-f", str(values))
    plain = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())
    for manifest in (next(d for d in docs if d["kind"] == "Deployment"), plain):
        args = manifest["spec"]["template"]["spec"]["containers"][0]["args"]
        # The image's entrypoint is `wedsync-operator run`; argparse exits on a bad flag.
        parsed = build_parser().parse_args(["run", *args])

        assert parsed.liveness.endswith(":8081/healthz")
        assert parsed.metrics_port == 8080
        assert parsed.standalone != any(a.startswith("--peering=") for a in args)


def test_no_rule_grants_more_than_the_operator_uses(cluster: Cluster) -> None:
    for values in CI_VALUES:
        docs = render(cluster, "wedsync-operator", "wedsync-system", "-f", str(values))
        for rules in rules_by_role(docs, "wedsync-operator").values():
            for rule in rules:
                verbs = set(rule["verbs"])
                assert not verbs & {"update", "delete", "deletecollection", "*", "escalate"}
                assert "*" not in rule["resources"] and "*" not in rule["apiGroups"]
                if rule["apiGroups"] == ["apps"]:
                    # Changed through /scale only; the targets themselves are only read
                    # by the watch caches (list/watch, with targetWatch.enabled).
                    scale = all(r.endswith("/scale") for r in rule["resources"])
                    assert scale or verbs <= {"list", "watch"}, rule
                if "secrets" in rule["resources"]:
                    assert verbs == {"get"}, rule


def test_plain_manifests_pass_a_server_side_dry_run(crds: Cluster) -> None:
    # deploy/ creates its namespace itself; a dry run cannot put objects into a namespace
    # it only pretends to create, so the namespace is made for real first.
    crds.kubectl("apply", "-f", str(DEPLOY / "namespace.yaml"))

    applied = crds.kubectl("apply", "--dry-run=server", "-k", str(DEPLOY))

    rendered = [d for d in yaml.safe_load_all(crds.kubectl("kustomize", str(DEPLOY)).stdout) if d]
    assert len(applied.stdout.splitlines()) == len(rendered)
    assert "PodSecurity" not in applied.stderr, applied.stderr
    assert {d["kind"] for d in rendered} >= {
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "ClusterKopfPeering",
    }


def test_plain_manifests_grant_exactly_what_the_chart_grants_with_peering(
    cluster: Cluster,
) -> None:
    chart = render(cluster, "wedsync-operator", "wedsync-system", "--set", "peering.enabled=true")
    plain = [d for d in yaml.safe_load_all(cluster.kubectl("kustomize", str(DEPLOY)).stdout) if d]

    assert rules_by_role(plain, "") == rules_by_role(chart, "")
    chart_args = next(d for d in chart if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    plain_args = next(d for d in plain if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    for key in ("securityContext",):
        assert plain_args[key] == chart_args[key]
    assert plain_args["containers"][0]["args"] == chart_args["containers"][0]["args"]
    assert (
        plain_args["containers"][0]["securityContext"]
        == chart_args["containers"][0]["securityContext"]
    )


def test_helm_install_runs_the_operator_pod_under_restricted_pod_security(
    crds: Cluster, restricted_namespace: str
) -> None:
    """A real install: Pod Security admission (enforce=restricted) checks the pod the
    ReplicaSet creates, KWOK's fake node runs it, `--wait` waits for it to be Ready."""
    release = f"inst-{uuid.uuid4().hex[:6]}"
    try:
        installed = crds.helm(
            "install",
            release,
            str(CHART),
            "--namespace",
            restricted_namespace,
            "--set",
            "replicaCount=2",
            "--wait",
            "--timeout=45s",
        )
        pods = crds.get_json(
            "pods", "-n", restricted_namespace, "-l", f"app.kubernetes.io/instance={release}"
        )["items"]
        peering = crds.get_json("clusterkopfpeering", f"{release}-wedsync-operator")
    finally:
        crds.helm("uninstall", release, "--namespace", restricted_namespace, "--wait", check=False)

    assert "STATUS: deployed" in installed.stdout
    assert f"{release}-wedsync-operator" in installed.stdout  # NOTES.txt
    assert len(pods) == 2
    assert all(p["spec"]["securityContext"]["runAsUser"] == 10001 for p in pods)
    assert peering["metadata"]["labels"]["app.kubernetes.io/instance"] == release
