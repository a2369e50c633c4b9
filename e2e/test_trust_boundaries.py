"""A policy's URLs cannot be turned against the cluster (docs/security.md).

One operator for the module, told which endpoints policies may reach: the real Prometheus
and one "allowed" listener. A second, "forbidden" listener counts every connection made
to it: the operator must make none. The allowed listener answers with a secret-looking
body that must appear nowhere in status, conditions or Events."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from prometheus_client import Gauge

from cluster_fixture import Cluster, wait_until
from operator_fixture import (
    OperatorProcess,
    apply,
    conditions,
    deployment,
    ensure_crds,
    events,
    wait_replicas,
)
from services.prometheus import PrometheusServer

SECRET = "sk-live-5f3a9c-internal-admin-token"


class Listener:
    """An HTTP server on loopback: ``/leak…`` answers 200 with SECRET as text,
    ``/redirect…`` answers 302 to ``redirect_to``; it records every request."""

    def __init__(self, redirect_to: str = "") -> None:
        requests: list[str] = []
        self.requests = requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                requests.append(f"{self.command} {self.path}")
                if self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("Location", redirect_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = f"token={SECRET}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Counter:
    """A TCP port that counts the connections made to it (any protocol)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def forbidden() -> Iterator[Counter]:
    counter = Counter()
    yield counter
    counter.close()


@pytest.fixture(scope="module")
def listener(forbidden: Counter) -> Iterator[Listener]:
    server = Listener(redirect_to=f"http://127.0.0.1:{forbidden.port}")
    yield server
    server.close()


@pytest.fixture(scope="module")
def guarded(
    cluster: Cluster,
    listener: Listener,
    prometheus: PrometheusServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    ensure_crds(cluster)
    prometheus_host = prometheus.url.removeprefix("http://")
    proc = OperatorProcess(
        cluster,
        tmp_path_factory.mktemp("guarded") / "operator.log",
        (
            "--standalone",
            f"--allow-endpoint=http://127.0.0.1:{listener.port}",
            f"--allow-endpoint=http://{prometheus_host}",
            f"--default-prometheus-url={prometheus.url}",
        ),
    ).start()
    try:
        yield proc
    finally:
        proc.stop()
    assert not proc.problems(), "\n".join(proc.problems())


def policy(prometheus: dict[str, Any] | None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "targets": [{"kind": "Deployment", "name": "web", "minReplicas": 1, "maxReplicas": 4}],
        "metrics": [
            {
                "name": "cpu",
                "query": "max(wedsync_e2e_cpu_percent)",
                "target": {"type": "Utilization", "value": 80},
            }
        ],
        "interval": {"normal": "2s", "weddingDay": "2s"},
        **spec,
    }
    if prometheus is not None:
        body["prometheus"] = {"timeout": "2s", **prometheus}
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "PlatformScaling",
        "metadata": {"name": "platform"},
        "spec": body,
    }


def preparing_day() -> dict[str, Any]:
    """A day in its lead time (mode on, cache warming due) for the couple c-1."""
    start = datetime.now(UTC) + timedelta(hours=1)
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "WeddingDay",
        "metadata": {"name": "now"},
        "spec": {
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "leadTime": "2h",
            "coupleIds": ["c-1"],
        },
    }


def everything_said(cluster: Cluster, namespace: str) -> str:
    """Status, conditions and Events of the namespace's objects, as kubectl shows them."""
    objects = cluster.kubectl("get", "ps,wd", "-n", namespace, "-o", "yaml").stdout
    said = cluster.kubectl("get", "events", "-n", namespace, "-o", "yaml").stdout
    return objects + said


def condition(cluster: Cluster, namespace: str, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = conditions(cluster, namespace, "ps", "platform").get(kind) or {}
    return found


def test_an_answer_from_a_policys_url_never_reaches_status_or_events(
    cluster: Cluster, namespace: str, guarded: OperatorProcess, listener: Listener
) -> None:
    apply(cluster, namespace, deployment("web", 2))
    silences = {
        "alertmanagerUrl": f"{listener.url}/leak",
        "matchers": [{"name": "a", "value": "b"}],
    }
    apply(
        cluster,
        namespace,
        policy({"url": f"{listener.url}/leak"}, weddingDay={"silenceAlerts": silences}),
        preparing_day(),
    )

    metrics = wait_until(
        "the Prometheus answer reported",
        lambda: (
            condition(cluster, namespace, "MetricsAvailable").get("status") == "False"
            and condition(cluster, namespace, "MetricsAvailable")
        ),
        timeout=30,
    )
    silenced = wait_until(
        "the Alertmanager answer reported",
        lambda: (
            condition(cluster, namespace, "AlertsSilenced").get("status") == "False"
            and condition(cluster, namespace, "AlertsSilenced")
        ),
        timeout=30,
    )

    assert any(r.startswith("POST /leak/api/v1/query") for r in listener.requests)
    assert any(r.startswith("GET /leak/api/v2/silences") for r in listener.requests)
    assert metrics["reason"] == "PrometheusBadResponse"
    assert "HTTP 200, text/plain" in metrics["message"]
    assert "bytes" in silenced["message"]
    assert SECRET not in everything_said(cluster, namespace)
    assert "sk-live" not in everything_said(cluster, namespace)


def test_a_url_outside_the_allowed_endpoints_is_refused_before_any_request(
    cluster: Cluster, namespace: str, guarded: OperatorProcess, forbidden: Counter
) -> None:
    before = forbidden.accepted
    apply(cluster, namespace, deployment("web", 2))
    apply(cluster, namespace, policy({"url": f"http://127.0.0.1:{forbidden.port}"}))

    ready = wait_until(
        "the policy refused",
        lambda: (
            condition(cluster, namespace, "Ready").get("reason") == "InvalidSpec"
            and condition(cluster, namespace, "Ready")
        ),
        timeout=30,
    )

    assert ready["status"] == "False"
    assert "spec.prometheus.url" in ready["message"]
    assert "not among the operator's allowed endpoints" in ready["message"]
    assert any(e["reason"] == "InvalidSpec" for e in events(cluster, namespace, "platform"))
    assert forbidden.accepted == before


def test_a_redirect_to_a_place_not_allowed_is_not_followed(
    cluster: Cluster,
    namespace: str,
    guarded: OperatorProcess,
    listener: Listener,
    forbidden: Counter,
) -> None:
    before = forbidden.accepted
    apply(cluster, namespace, deployment("web", 2))
    apply(cluster, namespace, policy({"url": f"{listener.url}/redirect"}))

    metrics = wait_until(
        "the redirect reported",
        lambda: (
            condition(cluster, namespace, "MetricsAvailable").get("status") == "False"
            and condition(cluster, namespace, "MetricsAvailable")
        ),
        timeout=30,
    )

    assert any(r.startswith("POST /redirect/api/v1/query") for r in listener.requests)
    assert "redirect, which the operator does not follow" in metrics["message"]
    assert forbidden.accepted == before


def test_a_data_store_secret_pointing_outside_the_allowed_endpoints_is_never_connected(
    cluster: Cluster, namespace: str, guarded: OperatorProcess, forbidden: Counter
) -> None:
    before = forbidden.accepted
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "stores"},
        "stringData": {
            "url": f"redis://:pw@127.0.0.1:{forbidden.port}/0",
            "dsn": f"postgresql://u:pw@127.0.0.1:{forbidden.port}/db",
        },
    }
    warming = {
        "enabled": True,
        "redisSecretRef": {"name": "stores", "key": "url"},
        "postgresSecretRef": {"name": "stores", "key": "dsn"},
    }
    apply(cluster, namespace, deployment("web", 2), secret)
    apply(
        cluster,
        namespace,
        policy(None, weddingDay={"cacheWarming": warming}),
        preparing_day(),
    )

    def warming_status() -> dict[str, Any]:
        found: dict[str, Any] = (
            cluster.get_json("ps", "platform", "-n", namespace)
            .get("status", {})
            .get("cacheWarming")
            or {}
        )
        return found

    block = wait_until("warming refused", warming_status, timeout=30)

    assert block["complete"] is False
    assert "Secret stores (key url)" in block["message"]
    assert "not among the operator's allowed endpoints" in block["message"]
    assert ":pw@" not in everything_said(cluster, namespace)
    assert forbidden.accepted == before


def test_a_policy_without_a_prometheus_url_uses_the_operators_default(
    cluster: Cluster,
    namespace: str,
    guarded: OperatorProcess,
    prometheus: PrometheusServer,
    cpu: Gauge,
) -> None:
    cpu.labels(ns=namespace).set(160)
    prometheus.wait_for_value(
        f'max(wedsync_e2e_cpu_percent{{ns="{namespace}"}})', lambda v: v == 160, timeout=15
    )
    apply(cluster, namespace, deployment("web", 2))
    body = policy(None)
    body["spec"]["metrics"][0]["query"] = f'max(wedsync_e2e_cpu_percent{{ns="{namespace}"}})'
    apply(cluster, namespace, body)

    wait_replicas(cluster, namespace, "web", 4, timeout=30)
    assert condition(cluster, namespace, "MetricsAvailable")["status"] == "True"


def test_a_secret_of_another_namespace_cannot_be_named(cluster: Cluster, namespace: str) -> None:
    body = policy({"url": "http://prometheus.monitoring.svc:9090"})
    body["spec"]["prometheus"]["secretRef"] = {"name": "token", "namespace": "kube-system"}

    refused = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(body), check=False
    )

    assert refused.returncode != 0
    assert 'unknown field "spec.prometheus.secretRef.namespace"' in refused.stderr
