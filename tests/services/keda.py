"""KEDA's operator, and for the benches its metrics adapter, as child processes against a
cluster, built from KEDA's Go module by ``e2e/keda/build.sh`` (cached after the first
build).

Both talk to the cluster through ``KUBECONFIG`` (admin identity, as KEDA's own chart would
grant them). They share one certificate folder: the operator's gRPC metrics service serves
TLS from it and the adapter dials it with the same files as its client certificate (KEDA's
own cert rotation writes a Secret and then exits for its pod to restart; a process is
given its certificate instead). The adapter serves ``external.metrics.k8s.io`` on loopback;
registering it as an APIService is the caller's business.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Self

from services.process import LOOPBACK, NotReady, ServiceProcess, free_port

__all__ = ["BUILD", "KEDA_NAMESPACE", "KedaAdapter", "KedaOperator", "KedaUnavailable", "build"]

BUILD = Path(__file__).resolve().parents[2] / "e2e" / "keda" / "build.sh"
KEDA_NAMESPACE = "keda"
# KEDA's first build on 2 cores takes about 7 minutes (its module downloads included), the
# adapter's a few more.
BUILD_TIMEOUT_SECONDS = 1800


class KedaUnavailable(RuntimeError):
    """KEDA did not build, or a KEDA process did not become ready."""


def build(*, adapter: bool = False) -> Path:
    """The folder with KEDA's binaries and its CRDs (``crds/``)."""
    env = dict(os.environ, WEDSYNC_KEDA_ADAPTER="1" if adapter else "")
    done = subprocess.run(
        ["nice", "-n", "10", "bash", str(BUILD)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise KedaUnavailable(f"{BUILD} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def certificates(folder: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 as tls.crt/tls.key, and as its own ca.crt."""
    certs = folder / "certs"
    if (certs / "ca.crt").is_file():
        return certs
    certs.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=keda-operator", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(certs / "tls.key"), "-out", str(certs / "tls.crt")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    (certs / "ca.crt").write_bytes((certs / "tls.crt").read_bytes())
    return certs


def _env(kubeconfig: Path) -> dict[str, str]:
    return dict(
        os.environ,
        KUBECONFIG=str(kubeconfig),
        WATCH_NAMESPACE="",
        POD_NAMESPACE=KEDA_NAMESPACE,
        KEDA_CLUSTER_OBJECT_NAMESPACE=KEDA_NAMESPACE,
    )


def scaled_object_workers(log: Path) -> bool:
    """Whether KEDA's log (JSON lines) says its ScaledObject controller runs."""
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("msg") == "Starting workers" and entry.get("controller") == "scaledobject":
                return True
    return False


class KedaOperator(ServiceProcess):
    """``keda`` (cmd/operator); ready once its ScaledObject controller runs. Its gRPC
    metrics service listens on :attr:`metrics_port`. The ``keda`` namespace and KEDA's
    CRDs must exist."""

    program = "keda"
    unavailable = KedaUnavailable

    def __init__(self, built: Path, folder: Path, kubeconfig: Path, ready_timeout: float = 120):
        self.built, self.folder, self.kubeconfig = built, folder, kubeconfig
        self.metrics_port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(folder / "keda.log", ready_timeout)

    def start(self) -> Self:
        if self.running:
            return self
        certs = certificates(self.folder)
        self._spawn(
            [
                str(self.built / "keda"),
                "--metrics-bind-address=0",
                "--health-probe-bind-address=0",
                f"--metrics-service-bind-address={LOOPBACK}:{self.metrics_port}",
                "--enable-cert-rotation=false",
                "--enable-webhook-patching=false",
                "--enable-apiservice-patching=false",
                f"--cert-dir={certs}",
                f"--ca-dir={self.folder / 'ca'}",
                "--zap-log-level=info",
            ],
            self.folder,
            env=_env(self.kubeconfig),
        )
        self._wait_until_ready(
            lambda: scaled_object_workers(self.log_file), "KEDA's ScaledObject controller"
        )
        return self


def _healthz(url: str) -> bool:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # its own cert
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            ok: bool = response.status == 200
    except OSError as exc:
        raise NotReady(str(exc)) from None
    return ok


class KedaAdapter(ServiceProcess):
    """``keda-adapter`` (cmd/adapter) on https://127.0.0.1:<port>, reading the metrics of
    ``operator``'s ScaledObjects from its gRPC metrics service."""

    program = "keda-adapter"
    unavailable = KedaUnavailable

    def __init__(self, operator: KedaOperator, ready_timeout: float = 60) -> None:
        self.operator = operator
        self.port = free_port()
        super().__init__(operator.folder / "keda-adapter.log", ready_timeout)

    def start(self) -> Self:
        if self.running:
            return self
        op = self.operator
        certs, kubeconfig = certificates(op.folder), str(op.kubeconfig)
        self._spawn(
            [
                str(op.built / "keda-adapter"),
                f"--secure-port={self.port}",
                f"--bind-address={LOOPBACK}",
                f"--cert-dir={certs}",
                f"--tls-cert-file={certs / 'tls.crt'}",
                f"--tls-private-key-file={certs / 'tls.key'}",
                f"--kubeconfig={kubeconfig}",
                f"--lister-kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--authentication-tolerate-lookup-failure",
                f"--metrics-service-address={LOOPBACK}:{op.metrics_port}",
                f"--port={free_port()}",  # its own Prometheus metrics
            ],
            op.folder,
            env=_env(op.kubeconfig),
        )
        self._wait_until_ready(
            lambda: _healthz(f"https://{LOOPBACK}:{self.port}/healthz"),
            f"keda-adapter on {LOOPBACK}:{self.port}",
        )
        return self
