"""Run the operator as a real process against the local cluster, as a user would, with
asyncio debug on: a callback that blocks the event loop over 100 ms fails the test.

By default the process uses the cluster's admin kubeconfig. Given ``kubeconfig`` (see
``chart_identity``), or with ``WEDSYNC_E2E_AS_SA=1`` in the environment (what ``make e2e``
sets), it runs as the Helm chart's ServiceAccount instead: the chart's RBAC applied to
the cluster, a token from the TokenRequest API, and nothing else.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cluster_fixture import DEPLOYED, REPO, Cluster, wait_until
from services.keda import KEDA_NAMESPACE
from services.prometheus import free_port

OPERATOR = Path(sys.executable).parent / "wedsync-operator"
SLOW = re.compile(r"Executing .* took (\d+\.\d+) seconds")
# asyncio's debug mode reports callbacks slower than this (loop.slow_callback_duration).
SLOW_LIMIT_SECONDS = 0.1
CHART = REPO / "helm" / "wedsync-operator"
AS_SA = "WEDSYNC_E2E_AS_SA"
# The chart's values for the suite-wide identity: peering on, as the HA tests need.
SUITE_VALUES = ("--set", "peering.enabled=true")
_identities: dict[tuple[Path, str, tuple[str, ...]], Path] = {}


def chart_identity(
    cluster: Cluster,
    release: str = "wedsync-e2e",
    values: tuple[str, ...] = SUITE_VALUES,
    namespace: str = "wedsync-e2e-system",
) -> Path:
    """A kubeconfig that authenticates as the chart's ServiceAccount, and only as it.

    ``helm template`` renders the chart's ServiceAccount and RBAC (with ``values``, e.g.
    ``("--set", "rbac.secrets.names={x}")``); they are applied to the cluster as any
    install would, a token comes from the TokenRequest API (``kubectl create token``),
    and the kubeconfig holds that token and the cluster CA: no client certificate.
    """
    key = (cluster.state, release, values)
    if key in _identities:
        return _identities[key]
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n",
    )
    rendered = cluster.helm(
        "template",
        release,
        str(CHART),
        "--namespace",
        namespace,
        "--show-only",
        "templates/serviceaccount.yaml",
        "--show-only",
        "templates/rbac.yaml",
        *values,
    ).stdout
    cluster.kubectl("apply", "-f", "-", input=rendered)
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    account = next(d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount")
    token = cluster.kubectl(
        "create", "token", account, "-n", namespace, "--duration=12h"
    ).stdout.strip()
    path = cluster.state / f"{release}-sa.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "local",
                        "cluster": {
                            "server": cluster.server,
                            "certificate-authority": str(cluster.state / "pki" / "ca.crt"),
                        },
                    }
                ],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [
                    {
                        "name": account,
                        "context": {"cluster": "local", "user": account, "namespace": namespace},
                    }
                ],
                "current-context": account,
            }
        )
    )
    # RBAC reaches the authorizer's cache a moment after the apply: start no operator
    # before both bindings work (in a watched namespace, or anywhere if cluster-wide).
    watched = next(
        (d["metadata"]["namespace"] for d in docs if d["kind"] == "RoleBinding"), namespace
    )

    def granted(*args: str) -> bool:
        answer = cluster.kubectl("auth", "can-i", *args, f"--kubeconfig={path}", check=False)
        return answer.stdout.strip() == "yes"

    wait_until(
        f"the RBAC of {account} to take effect",
        lambda: (
            granted("list", "customresourcedefinitions.apiextensions.k8s.io")
            and granted("list", "platformscalings.wedsync.io", "-n", watched)
        ),
        timeout=30,
    )
    _identities[key] = path
    return path


@dataclass
class OperatorProcess:
    cluster: Cluster
    log_path: Path
    args: tuple[str, ...] = ("--standalone",)
    process: subprocess.Popen[bytes] | None = None
    metrics_port: int = field(default_factory=free_port)
    liveness_port: int = field(default_factory=free_port)
    # None: the cluster's admin kubeconfig, or the chart's identity with WEDSYNC_E2E_AS_SA=1.
    kubeconfig: Path | None = None

    def start(self) -> OperatorProcess:
        env = self.cluster.env()
        if self.kubeconfig is None and os.environ.get(AS_SA) == "1":
            self.kubeconfig = chart_identity(self.cluster)
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        env["PYTHONASYNCIODEBUG"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(OPERATOR),
                    "run",
                    *self.args,
                    "--metrics-port",
                    str(self.metrics_port),
                    "--liveness",
                    f"http://127.0.0.1:{self.liveness_port}/healthz",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a node loss or an OOM kill would do."""
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def slow_callbacks(self) -> list[str]:
        return [
            line
            for line in self.log().splitlines()
            if (m := SLOW.search(line)) and float(m.group(1)) > SLOW_LIMIT_SECONDS
        ]

    def problems(self) -> list[str]:
        """Blocked event loop or any traceback: an operator that works does neither."""
        tracebacks = [line for line in self.log().splitlines() if line.startswith("Traceback")]
        return self.slow_callbacks() + tracebacks

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def apply(cluster: Cluster, namespace: str, *objects: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(list(objects)))


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
            },
        },
    }


# No KWOK node has this much CPU (each has 32): the scheduler leaves every such pod Pending.
TOO_MUCH_CPU = "64"


def workload(name: str, replicas: int, cpu: str = "100m", kind: str = "Deployment") -> Any:
    """A Deployment (or StatefulSet) whose pods request ``cpu``."""
    manifest = deployment(name, replicas) if kind == "Deployment" else statefulset(name, replicas)
    [container] = manifest["spec"]["template"]["spec"]["containers"]
    container["resources"] = {"requests": {"cpu": cpu}}
    return manifest


def statefulset(name: str, count: int) -> dict[str, Any]:
    manifest = deployment(name, count)
    manifest["kind"] = "StatefulSet"
    manifest["spec"]["serviceName"] = name
    return manifest


def secret(name: str, key: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {key: base64.b64encode(value.encode()).decode()},
    }


@contextlib.contextmanager
def watched(
    cluster: Cluster, namespace: str, kind: str, name: str | None = None
) -> Iterator[list[Any]]:
    """Every version of one object, or of every object of a kind, that a watch
    (kubectl get -w) delivers while the block runs, in the API server's order; the list
    is filled when the block ends."""
    versions: list[Any] = []
    # A file, not a pipe: nobody reads while the block runs, and a full pipe stalls kubectl.
    which = [kind, name] if name else [kind]
    with tempfile.TemporaryFile("w+") as sink:
        watch = subprocess.Popen(
            ["kubectl", "get", *which, "-n", namespace, "-w", "-o", "json"],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            text=True,
            env=cluster.env(),
        )
        try:
            yield versions
            time.sleep(0.5)  # the last version's way through kubectl
        finally:
            watch.terminate()
            watch.wait(timeout=10)
        sink.seek(0)
        out = sink.read()
    decoder, rest = json.JSONDecoder(), out.lstrip()
    while rest:  # kubectl prints one JSON document per version, back to back
        try:
            version, end = decoder.raw_decode(rest)
        except json.JSONDecodeError as e:
            if "\n{" in rest[e.pos :]:
                raise
            break  # the last one, cut short by the terminate
        versions.extend(version["items"] if version.get("kind", "").endswith("List") else [version])
        rest = rest[end:].lstrip()


def replicas(cluster: Cluster, namespace: str, name: str, kind: str = "deployment") -> int:
    return int(cluster.get_json(kind, name, "-n", namespace)["spec"]["replicas"])


def status(cluster: Cluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    return dict(cluster.get_json(kind, name, "-n", namespace).get("status") or {})


def conditions(cluster: Cluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    return {c["type"]: c for c in status(cluster, namespace, kind, name).get("conditions", [])}


def events(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    items = cluster.get_json(
        "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )["items"]
    # Timestamps have second precision; resourceVersion orders creations within one.
    return sorted(items, key=lambda e: int(e["metadata"]["resourceVersion"]))


def wait_replicas(cluster: Cluster, namespace: str, name: str, count: int, timeout: float) -> None:
    try:
        wait_until(
            f"{name} at {count} replicas",
            lambda: replicas(cluster, namespace, name) == count or None,
            timeout=timeout,
            interval=0.25,
        )
    except AssertionError as exc:
        # Say why: the policies' view of the target is what an SRE would look at.
        policies = cluster.get_json("platformscalings", "-n", namespace)["items"]
        seen = [
            (t["name"], t.get("currentReplicas"), t.get("desiredReplicas"), t.get("message"))
            for p in policies
            for t in (p.get("status") or {}).get("targets", [])
        ]
        raise AssertionError(f"{exc}; now {replicas(cluster, namespace, name)}; {seen}") from None


def ensure_crds(cluster: Cluster) -> None:
    if os.environ.get(DEPLOYED) != "1":  # deployed mode: the chart installed them
        cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    wait_established(
        cluster,
        "crd/weddingdays.wedsync.io",
        "crd/platformscalings.wedsync.io",
        "crd/clusterkopfpeerings.kopf.dev",
    )
    wait_until(
        "the wedsync.io kinds to be served",
        lambda: cluster.kubectl("get", "wd,ps", "-A", check=False).returncode == 0,
    )


def wait_established(cluster: Cluster, *crds: str) -> None:
    # Retried: right after a first apply a CRD may have no status.conditions yet, which
    # `kubectl wait` reports as an error rather than waiting.
    wait_until(
        f"{' '.join(crds)} to be Established",
        lambda: (
            cluster.kubectl(
                "wait", "--for=condition=Established", *crds, "--timeout=10s", check=False
            ).returncode
            == 0
        ),
        timeout=30,
    )


def ensure_keda_crds(cluster: Cluster, built: Path) -> None:
    """KEDA's CRDs from its build folder (``services.keda.build``), and its namespace."""
    for crd in sorted((built / "crds").glob("*.yaml")):
        cluster.kubectl("apply", "--server-side", "-f", str(crd))
    wait_established(cluster, "crd/scaledobjects.keda.sh")
    cluster.kubectl("create", "namespace", KEDA_NAMESPACE, check=False)


def memory_limit() -> int:
    """The chart's default memory limit of the operator's container, in bytes."""
    limit = str(
        yaml.safe_load((CHART / "values.yaml").read_text())["resources"]["limits"]["memory"]
    )
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
    return int(limit[:-2]) * units[limit[-2:]]
