"""The operator as real pods: its image, built by `make image`, on a real kubelet node
(e2e/node/), installed by Helm as an SRE would, under restricted Pod Security.

Nothing here starts the operator as a local process: the chart's Deployment runs two
peered replicas of the image on the node "wedsync-node" (containerd, runc), which log in
with their ServiceAccount through the `kubernetes` Service. The tests act only through the
API server, the pods' logs and the kubelet's stats. Needs root and the packages of
`hack/install-deps.sh --node`; a machine that cannot run it fails here, never skips.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Gauge

from cluster_fixture import REPO, Cluster, unique_namespace, wait_until
from operator_fixture import CHART, apply, deployment, events, memory_limit, status, wait_replicas
from services.prometheus import PrometheusServer
from test_operator import policy, rfc3339, set_cpu, web
from test_rbac import refused_lines

NODE = REPO / "e2e" / "node"
NODE_NAME = "wedsync-node"
HOST = "10.244.0.1"  # this machine, as the node's pods see it (the pod bridge)
RELEASE = "wedsync-operator"
TAG = "e2e"
# The kopf peering lifetime (kopf's default): a peer that vanished counts until then.
PEERING_LIFETIME = 60
VALUES: dict[str, Any] = {
    "image": {"repository": "wedsync-operator", "tag": TAG, "pullPolicy": "Never"},
    "replicaCount": 2,
    # Only the operator lands on the real node; test workloads stay on KWOK nodes.
    "nodeSelector": {"wedsync.io/real-node": "true"},
    "tolerations": [
        {
            "key": "wedsync.io/real-node",
            "operator": "Equal",
            "value": "true",
            "effect": "NoSchedule",
        }
    ],
    # The test Prometheus, as the pods reach it (docs/security.md: set per install).
    "security": {"allowedEndpoints": [HOST]},
}
SELECTOR = f"app.kubernetes.io/instance={RELEASE}"


def _script(*args: str, timeout: float = 900) -> str:
    proc = subprocess.run(
        [str(NODE / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(f"e2e/node/{args[0]} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc.stdout


def machine_state() -> dict[str, Any]:
    """What the real node may change on this machine and must restore: iptables rules and
    chains, mounts, network interfaces and namespaces, kernel settings, folders."""

    def run(*cmd: str) -> str:
        return subprocess.run(list(cmd), capture_output=True, text=True).stdout

    volatile = re.compile(
        r"^(fs\.(dentry|inode|file-nr|quota)|kernel\.(random|ns_last_pid|sched_)|"
        r"net\.netfilter\.nf_conntrack_count|vm\.stat_refresh)"
    )
    return {
        # Rules, and chains other than the built-in ones (those have a policy, not "-").
        "iptables": [
            line
            for line in (run("iptables-save") + run("ip6tables-save")).splitlines()
            if line.startswith("-A") or (line.startswith(":") and line.split()[1] == "-")
        ],
        "mounts": sorted(Path("/proc/self/mounts").read_text().splitlines()),
        "links": sorted(
            line.split(":")[1].strip().split("@")[0]
            for line in run("ip", "-o", "link").splitlines()
        ),
        "sysctl": sorted(
            line for line in run("sysctl", "-a").splitlines() if not volatile.match(line)
        ),
        "paths": [
            p
            for p in (
                "/run/netns",
                "/run/containerd",
                "/run/docker",
                "/run/wedsync-operator",
                "/var/log/containers",
                "/var/log/pods",
                "/var/lib/kubelet",
                "/etc/docker",
                "/opt/containerd",
            )
            if Path(p).exists()
        ],
    }


@dataclass(frozen=True)
class Release:
    cluster: Cluster
    namespace: str

    def pods(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.cluster.get_json(
            "pods", "-n", self.namespace, "-l", SELECTOR
        )["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def logs(self) -> str:
        return self.cluster.kubectl(
            "logs", "-n", self.namespace, "-l", SELECTOR, "--prefix", "--tail=-1"
        ).stdout

    def peers(self) -> dict[str, Any]:
        peering = self.cluster.get_json("clusterkopfpeering", RELEASE)
        return dict(peering.get("status") or {})

    def active_pod(self) -> str:
        """The pod that acts: the peer with the highest priority."""
        peers = self.peers()
        best = max(peers.values(), key=lambda p: int(p["priority"]))
        return next(k for k, v in peers.items() if v is best).split("@", 1)[1].split("/", 1)[0]

    def helm(self, *args: str) -> None:
        self.cluster.helm(*args, "--namespace", self.namespace)


@pytest.fixture(scope="module")
def real_node(cluster: Cluster) -> Iterator[Path]:
    """The image built from the working tree, and the real node joined to the cluster;
    afterwards the machine must be exactly as before."""
    before = machine_state()
    tarball = Path(_script("image.sh", TAG).strip().splitlines()[-1])
    try:
        _script("up.sh", str(cluster.state), timeout=300)
        yield tarball
    finally:
        _script("down.sh", str(cluster.state), timeout=180)
    after = machine_state()
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not changed, "the real node left changes behind: " + "; ".join(
        f"{k}: +{sorted(set(a) - set(b))} -{sorted(set(b) - set(a))}"
        for k, (b, a) in changed.items()
    )


@pytest.fixture(scope="module")
def release(
    cluster: Cluster, real_node: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Release]:
    """The chart installed with the local image: two replicas, peering, in a namespace
    that enforces restricted Pod Security."""
    namespace = "wedsync-pods-system"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )
    values = tmp_path_factory.mktemp("release") / "values.yaml"
    values.write_text(yaml.safe_dump(VALUES))
    rel = Release(cluster, namespace)
    rel.helm("install", RELEASE, str(CHART), "--values", str(values), "--wait", "--timeout", "3m")
    try:
        yield rel
    finally:
        # Whatever a failed test left: uninstall, so the operator's finalizers are not the
        # next module's problem.
        cluster.helm("uninstall", RELEASE, "--namespace", namespace, "--wait", check=False)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture
def namespace(cluster: Cluster, release: Release) -> Iterator[str]:
    yield from unique_namespace(cluster, "pods")


def test_the_chart_runs_the_image_as_two_ready_peered_pods_under_restricted_pod_security(
    cluster: Cluster, release: Release
) -> None:
    pods = release.pods()
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeName"] == NODE_NAME
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"
        (container,) = pod["status"]["containerStatuses"]
        assert container["image"].endswith(f"wedsync-operator:{TAG}")
        assert container["restartCount"] == 0
        context = pod["spec"]["containers"][0]["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    # The process itself, read through the kubelet: uid 10001, nothing writable but /tmp.
    name = pods[0]["metadata"]["name"]
    whoami = cluster.kubectl(
        "exec",
        "-n",
        release.namespace,
        name,
        "--",
        "python3",
        "-c",
        "import os\nprint(os.getuid())\ntry: open('/opt/x', 'w')\n"
        "except OSError as e: print(e.errno)",
    ).stdout.split()
    assert whoami == ["10001", "30"]  # EROFS
    wait_until("both pods in the peering", lambda: len(release.peers()) == 2, timeout=30)
    # The namespace enforces the restricted profile: a privileged pod is refused there.
    refused = cluster.kubectl(
        "run",
        "intruder",
        "-n",
        release.namespace,
        "--image=busybox",
        "--dry-run=server",
        "--privileged",
        check=False,
    )
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr


def test_the_installed_operator_prescales_a_wedding_day_on_time_and_publishes_the_mode(
    cluster: Cluster, namespace: str, release: Release
) -> None:
    apply(cluster, namespace, deployment("web", 2))
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "PlatformScaling",
            "metadata": {"name": "platform"},
            "spec": {
                "targets": [web(min_replicas=2, max_replicas=10, weddingDay={"minReplicas": 5})],
                "interval": {"normal": "5s", "weddingDay": "5s"},
            },
        },
    )
    wait_until(
        "the policy evaluated",
        lambda: status(cluster, namespace, "ps", "platform").get("lastEvaluationTime"),
        timeout=30,
    )
    instant = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=15)
    start = instant + timedelta(hours=2)
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "saturday"},
            "spec": {
                "start": rfc3339(start),
                "end": rfc3339(start + timedelta(hours=8)),
                "leadTime": "2h",
            },
        },
    )
    wait_replicas(cluster, namespace, "web", 5, timeout=40)
    late = (datetime.now(UTC) - instant).total_seconds()
    assert -0.5 < late < 3, f"pre-scaled {late:.1f}s after the mode's start"
    assert status(cluster, namespace, "wd", "saturday")["phase"] == "Preparing"
    wait_until(
        "the mode published",
        lambda: (
            cluster.kubectl(
                "get",
                "configmap",
                "wedsync-mode",
                "-n",
                namespace,
                "-o",
                "jsonpath={.data.mode}",
                check=False,
            ).stdout
            == "WeddingDay"
        ),
        timeout=15,
    )
    assert "ScaledUp" in [e["reason"] for e in events(cluster, namespace, "platform")]


def test_the_installed_operator_scales_on_a_prometheus_metric(
    cluster: Cluster, namespace: str, release: Release, prometheus: PrometheusServer, cpu: Gauge
) -> None:
    _script("expose.sh", str(cluster.state), str(prometheus.port))
    set_cpu(cpu, prometheus, namespace, 160)
    apply(cluster, namespace, deployment("web", 2))
    spec = policy(namespace, prometheus, target=web(max_replicas=4))
    spec["spec"]["prometheus"]["url"] = f"http://{HOST}:{prometheus.port}"
    apply(cluster, namespace, spec)
    wait_replicas(cluster, namespace, "web", 4, timeout=60)
    assert status(cluster, namespace, "ps", "platform")["targets"][0]["currentReplicas"] == 4


def test_killing_the_active_pod_hands_over_and_the_activation_is_still_made(
    cluster: Cluster, namespace: str, release: Release
) -> None:
    apply(cluster, namespace, deployment("web", 2))
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "PlatformScaling",
            "metadata": {"name": "platform"},
            "spec": {
                "targets": [web(min_replicas=2, max_replicas=10, weddingDay={"minReplicas": 6})],
                "interval": {"normal": "5s", "weddingDay": "5s"},
            },
        },
    )
    wait_until(
        "the policy evaluated",
        lambda: status(cluster, namespace, "ps", "platform").get("lastEvaluationTime"),
        timeout=30,
    )
    active = release.active_pod()
    # The activation falls while the killed pod still holds the peering (its entry stays
    # until the lifetime runs out): the survivor must make it once it takes over.
    killed_at = datetime.now(UTC)
    instant = killed_at.replace(microsecond=0) + timedelta(seconds=20)
    start = instant + timedelta(hours=1)
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "sunday"},
            "spec": {
                "start": rfc3339(start),
                "end": rfc3339(start + timedelta(hours=4)),
                "leadTime": "1h",
            },
        },
    )
    cluster.kubectl("delete", "pod", active, "-n", release.namespace, "--grace-period=0", "--force")
    wait_replicas(cluster, namespace, "web", 6, timeout=PEERING_LIFETIME + 30)
    took = (datetime.now(UTC) - killed_at).total_seconds()
    # The dead entry expires within the lifetime; then one evaluation interval (5 s).
    assert took < PEERING_LIFETIME + 10, f"handed over after {took:.0f}s"
    assert [e["reason"] for e in events(cluster, namespace, "sunday")].count("Preparing") == 1
    assert active not in [p["metadata"]["name"] for p in release.pods()]
    wait_until(
        "two pods Ready again",
        lambda: (
            sum(
                1
                for p in release.pods()
                for c in p["status"].get("conditions", [])
                if c["type"] == "Ready" and c["status"] == "True"
            )
            == 2
        ),
        timeout=60,
    )


def wedding_day(name: str, instant: datetime, lead: timedelta) -> dict[str, Any]:
    """A WeddingDay whose mode begins at ``instant`` (start - lead)."""
    start = instant + lead
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "WeddingDay",
        "metadata": {"name": name},
        "spec": {
            "start": rfc3339(start),
            "end": rfc3339(start + timedelta(hours=4)),
            "leadTime": f"{int(lead.total_seconds() // 60)}m",
        },
    }


def test_the_pods_never_log_a_refused_request_and_stay_under_the_memory_limit(
    cluster: Cluster, release: Release
) -> None:
    logs = release.logs()
    assert "Resuming operations" in logs  # the logs are the operator's, and one acts
    assert not refused_lines(logs), "\n".join(refused_lines(logs))
    # The kubelet's own account of the containers (cgroup working set), via the API server.
    raw = cluster.kubectl("get", "--raw", f"/api/v1/nodes/{NODE_NAME}/proxy/stats/summary").stdout
    used = {
        p["podRef"]["name"]: c["memory"]["workingSetBytes"]
        for p in yaml.safe_load(raw)["pods"]
        if p["podRef"]["namespace"] == release.namespace
        for c in p["containers"]
    }
    print(f"operator pods' memory (working set, bytes): {used}")
    assert len(used) == 2 and all(0 < b < memory_limit() for b in used.values()), used


def test_helm_upgrade_to_a_new_tag_rolls_without_a_missed_evaluation(
    cluster: Cluster, namespace: str, release: Release
) -> None:
    # A new tag of the image in the node's containerd: a new pod template, as a release.
    env = dict(line.split("=", 1) for line in (cluster.state / "env").read_text().split())
    ctr = ["ctr", "--address", env["CONTAINERD_ADDRESS"], "--namespace", "k8s.io", "images"]
    image = "docker.io/library/wedsync-operator"
    subprocess.run([*ctr, "rm", f"{image}:{TAG}-next"], capture_output=True)
    subprocess.run(
        [*ctr, "tag", f"{image}:{TAG}", f"{image}:{TAG}-next"], check=True, capture_output=True
    )
    apply(cluster, namespace, deployment("web", 2))
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "PlatformScaling",
            "metadata": {"name": "platform"},
            "spec": {
                "targets": [web(min_replicas=2, max_replicas=10, weddingDay={"minReplicas": 5})],
                "interval": {"normal": "2s", "weddingDay": "2s"},
            },
        },
    )
    wait_until(
        "the policy evaluated",
        lambda: status(cluster, namespace, "ps", "platform").get("lastEvaluationTime"),
        timeout=30,
    )
    old = {p["metadata"]["name"] for p in release.pods()}
    # The activation falls inside the rollout: the old active pod stops, a new one starts.
    instant = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
    apply(cluster, namespace, wedding_day("rollout", instant, timedelta(hours=1)))
    release.helm(
        "upgrade",
        RELEASE,
        str(CHART),
        "--reuse-values",
        "--set",
        f"image.tag={TAG}-next",
        "--wait",
        "--timeout",
        "2m",
    )
    wait_replicas(cluster, namespace, "web", 5, timeout=30)
    late = (datetime.now(UTC) - instant).total_seconds()
    assert late < 2 + 3, f"the activation came {late:.1f}s late during the rollout"
    # The old pods (terminating ones included) were still there at the activation.
    wait_until(
        "the old pods gone",
        lambda: not old & {p["metadata"]["name"] for p in all_pods(release)},
        timeout=60,
    )
    gone = datetime.now(UTC)
    assert gone > instant, f"the rollout ended {(instant - gone).total_seconds():.1f}s before"
    pods = release.pods()
    assert {p["metadata"]["name"] for p in pods}.isdisjoint(old)
    assert all(p["spec"]["containers"][0]["image"].endswith(f":{TAG}-next") for p in pods)
    day_reasons = [e["reason"] for e in events(cluster, namespace, "rollout")]
    assert day_reasons.count("Preparing") == 1, day_reasons


def all_pods(release: Release) -> list[dict[str, Any]]:
    """The release's pods, terminating ones included."""
    items: list[dict[str, Any]] = release.cluster.get_json(
        "pods", "-n", release.namespace, "-l", SELECTOR
    )["items"]
    return items


def test_helm_uninstall_leaves_no_finalizer_stuck(cluster: Cluster, release: Release) -> None:
    # The documented order: the operator's objects go while it runs (it releases their
    # finalizers), then the release.
    namespace = f"pods-bye-{int(time.time())}"
    cluster.kubectl("create", "namespace", namespace)
    wait_until(
        "default SA",
        lambda: (
            cluster.kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0
        ),
    )
    apply(cluster, namespace, deployment("web", 2))
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "PlatformScaling",
            "metadata": {"name": "platform"},
            "spec": {"targets": [web(min_replicas=2)], "interval": {"normal": "2s"}},
        },
        wedding_day("later", datetime.now(UTC) + timedelta(days=30), timedelta(hours=1)),
    )
    wait_until(
        "the operator's finalizer on the policy",
        lambda: cluster.get_json("ps", "platform", "-n", namespace)["metadata"].get("finalizers"),
        timeout=30,
    )
    # A day needs none (docs/decisions/0001-one-scheduler.md).
    day = cluster.get_json("wd", "later", "-n", namespace)
    assert not day["metadata"].get("finalizers")
    cluster.kubectl("delete", "namespace", namespace, "--timeout=60s")
    # The earlier tests' namespaces too: the operator must finish with them first.
    wait_until(
        "the tests' namespaces gone",
        lambda: (
            not [
                n
                for n in cluster.get_json("namespaces")["items"]
                if n["metadata"]["name"].startswith("pods-")
            ]
        ),
        timeout=60,
    )
    release.helm("uninstall", RELEASE, "--wait", "--timeout", "2m")
    cluster.kubectl("delete", "namespace", release.namespace, "--timeout=60s")

    leftovers = cluster.get_json("wd,ps", "-A")["items"]
    stuck = [
        f"{o['kind']} {o['metadata']['namespace']}/{o['metadata']['name']}"
        for o in leftovers
        if o["metadata"]["namespace"] in (namespace, release.namespace)
    ]
    assert not stuck, stuck
    assert cluster.kubectl("get", "clusterkopfpeering", RELEASE, check=False).returncode != 0
    assert cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0
