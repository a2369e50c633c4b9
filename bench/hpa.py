"""The anchor to compare with: the Kubernetes HPA, fed the same Prometheus metric.

kube-controller-manager's HPA controller reads metrics only through the metrics APIs, so
the metric goes through prometheus-adapter, served as ``external.metrics.k8s.io``:

- Built from its Go module, never a release binary. ``go install
  sigs.k8s.io/prometheus-adapter/cmd/adapter@v0.12.0`` fails here: it asks the module
  proxy for the module's version list (to check deprecation) and that list answers 403.
  The release's go.mod has no replace directive, so the wrapper module in
  ``bench/prometheus-adapter/`` (a pinned ``require`` and a tools import) builds it with
  ``go build`` into the binary cache, as e2e/cluster/build.sh does for Kubernetes.
- Registered as an APIService whose Service is an ExternalName ``localhost``: the
  aggregator then dials loopback on the APIService port. A ClusterIP would send it to
  10.96.x.x, which nothing routes on this machine (no kube-proxy).
- The local control plane starts kube-apiserver without ``--proxy-client-cert-file``, so
  aggregated requests reach the adapter anonymous; the bench grants system:anonymous read
  on the external metrics (and their discovery paths) of this throwaway cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import REPO, Api, Cluster, wait_until

from services.prometheus import free_port

ADAPTER_VERSION = "v0.12.0"
MODULE = REPO / "bench" / "prometheus-adapter"
CACHE = Path.home() / ".cache/wedsync-operator/bin" / f"prometheus-adapter-{ADAPTER_VERSION}"
BINARY = CACHE / "adapter"


def build() -> tuple[Path | None, str]:
    """The adapter binary (built once into the cache), or None and why not."""
    if BINARY.is_file():
        return BINARY, "cached"
    go = shutil.which("go")
    if go is None:
        return None, "no Go toolchain on PATH to build prometheus-adapter from its module"
    CACHE.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOFLAGS="-mod=mod")
    proc = subprocess.run(
        [go, "build", "-o", str(BINARY), "sigs.k8s.io/prometheus-adapter/cmd/adapter"],
        cwd=MODULE,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        return None, f"go build of prometheus-adapter {ADAPTER_VERSION}: {proc.stderr[-800:]}"
    return BINARY, "built"


@dataclass
class Adapter:
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def config(gauge: str) -> str:
    # The series' `ns` label names the namespace the HPA asks in; the query is the one
    # the operator's policies use, so both read exactly the same number.
    return json.dumps(
        {
            "externalRules": [
                {
                    "seriesQuery": gauge,
                    "resources": {"overrides": {"ns": {"resource": "namespace"}}},
                    "name": {"as": gauge},
                    "metricsQuery": "max(<<.Series>>{<<.LabelMatchers>>})",
                }
            ]
        }
    )


def start(
    cluster: Cluster, api: Api, prometheus_url: str, work: Path, gauge: str
) -> tuple[Adapter | None, str]:
    binary, why = build()
    if binary is None:
        return None, why
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(config(gauge))
    port = free_port()
    kubeconfig = str(cluster.kubeconfig)
    log = work / "adapter.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                str(binary),
                f"--secure-port={port}",
                "--bind-address=127.0.0.1",
                f"--cert-dir={work / 'certs'}",
                f"--lister-kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--authentication-tolerate-lookup-failure",
                f"--prometheus-url={prometheus_url}",
                f"--config={work / 'config.yaml'}",
                # Series discovery only; each HPA request still runs a fresh query.
                "--metrics-relist-interval=10s",
                "--v=1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    adapter = Adapter(process, log)
    try:
        for obj in registration(port):
            cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))
        wait_until(
            "external.metrics.k8s.io to be Available",
            lambda: process.poll() is None and available(api, port),
            timeout=120,
            interval=1.0,
        )
    except (AssertionError, RuntimeError) as exc:
        adapter.stop()
        tail = log.read_text(errors="replace")[-1500:]
        return None, f"prometheus-adapter did not become available: {exc}\n{tail}"
    return adapter, why


def available(api: Api, port: int) -> bool:
    """Whether external.metrics.k8s.io is registered at ``port`` and Available there."""
    svc = api.get("/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.external.metrics.k8s.io")
    if (svc.get("spec") or {}).get("service", {}).get("port") != port:
        return False
    return any(
        c["type"] == "Available" and c["status"] == "True"
        for c in (svc.get("status") or {}).get("conditions", [])
    )


def registration(port: int) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "custom-metrics"}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "prometheus-adapter", "namespace": "custom-metrics"},
            "spec": {"type": "ExternalName", "externalName": "localhost"},
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": "v1beta1.external.metrics.k8s.io"},
            "spec": {
                "group": "external.metrics.k8s.io",
                "version": "v1beta1",
                "service": {
                    "name": "prometheus-adapter",
                    "namespace": "custom-metrics",
                    "port": port,
                },
                "insecureSkipTLSVerify": True,
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "bench-external-metrics-reader"},
            "rules": [
                {
                    "apiGroups": ["external.metrics.k8s.io"],
                    "resources": ["*"],
                    "verbs": ["get", "list"],
                },
                # The aggregator's discovery check of the group (anonymous, see above).
                {
                    "nonResourceURLs": [
                        "/apis",
                        "/apis/external.metrics.k8s.io",
                        "/apis/external.metrics.k8s.io/*",
                    ],
                    "verbs": ["get"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "bench-external-metrics-anonymous"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "bench-external-metrics-reader",
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User",
                    "name": "system:anonymous",
                }
            ],
        },
    ]


def autoscaler(ns: str, gauge: str, target: int) -> dict[str, Any]:
    """An HPA with the operator policy's rule: desired = ceil(current x value / target)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 20,
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {"name": gauge},
                        "target": {"type": "Value", "value": str(target)},
                    },
                }
            ],
        },
    }


if __name__ == "__main__":
    started = time.monotonic()
    found, how = build()
    print(f"{found} ({how}, {time.monotonic() - started:.0f}s)")
