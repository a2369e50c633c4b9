"""Shared plumbing for the benches: a cluster of their own, a small API client that
watches with receive timestamps, a recording proxy in front of Prometheus, statistics,
and the table + JSON-line output every bench prints.

The benches reuse the e2e fixtures (local control plane, operator process) and the test
services (exporter, Prometheus), so what they measure is the same system the e2e suite
checks. Figures are wall-clock on a shared 2-core machine: every result carries the load
average read next to it.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import math
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# The benches import the e2e fixtures and the test services as the suites do.
for _p in (REPO / "e2e", REPO / "tests"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from cluster_fixture import Cluster, start_cluster, wait_until  # noqa: E402
from operator_fixture import OPERATOR, OperatorProcess, ensure_crds  # noqa: E402
from services.prometheus import free_port  # noqa: E402

RESULTS = BENCH / "results"
LOOPBACK = "127.0.0.1"

__all__ = [
    "RESULTS",
    "Api",
    "BenchOperator",
    "Cluster",
    "Proxy",
    "Watch",
    "bench_cluster",
    "distribution",
    "emit",
    "load",
    "operator_samples",
    "print_table",
    "proc_cpu_seconds",
    "proc_rss_bytes",
    "status_writes",
    "wait_until",
    "write_results",
]


def load() -> str:
    """The 1/5/15-minute load averages as `uptime` prints them, for every figure."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: with few samples it names a value that was measured."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def distribution(values: Sequence[float], digits: int = 3) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "min": None, "median": None, "p95": None, "p99": None, "max": None}
    return {
        "n": len(values),
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "p95": round(percentile(values, 95), digits),
        "p99": round(percentile(values, 99), digits),
        "max": round(max(values), digits),
    }


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in header], *[["-" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print(
            "  "
            + "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def emit(name: str, result: dict[str, Any]) -> None:
    """One JSON line per bench, for machines (grep '^BENCH ')."""
    print("BENCH " + json.dumps({"bench": name, **result}, sort_keys=True), flush=True)


def write_results(profile: str, results: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    path = RESULTS / f"{stamp}-{profile}.json"
    document = {
        "profile": profile,
        "finished": stamp,
        "machine": {"cpus": os.cpu_count(), "load_at_end": load()},
        "results": results,
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {path.relative_to(REPO)}")
    return path


@contextlib.contextmanager
def bench_cluster(prefix: str) -> Iterator[tuple[Cluster, Path]]:
    """A fresh local control plane with the CRDs, in a temp dir removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"wedsync-bench-{prefix}-") as tmp:
        work = Path(tmp)
        try:
            for cluster in start_cluster(work / "cluster"):
                ensure_crds(cluster)
                yield cluster, work
        finally:
            # WEDSYNC_BENCH_KEEP=DIR keeps the logs (operator, Prometheus, adapter).
            keep = os.environ.get("WEDSYNC_BENCH_KEEP")
            if keep:
                import shutil

                for log in work.rglob("*.log"):
                    if "cluster" not in log.parts:
                        dest = Path(keep) / prefix / log.relative_to(work)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy(log, dest)


class BenchOperator(OperatorProcess):
    """The operator as e2e runs it, minus PYTHONASYNCIODEBUG.

    The e2e fixture turns asyncio's debug mode on to catch blocking callbacks; that mode
    tracks every coroutine's origin and times every callback, which costs far more CPU
    than the operator's own work (at 11,000 objects it did not finish its initial
    listing in 3 minutes). A bench measures the operator as it runs in production.
    """

    def start(self) -> BenchOperator:
        env = self.cluster.env()
        env.pop("PYTHONASYNCIODEBUG", None)
        env["PYTHONUNBUFFERED"] = "1"
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(OPERATOR),
                    "run",
                    *self.args,
                    "--metrics-port",
                    str(self.metrics_port),
                    "--liveness",
                    f"http://{LOOPBACK}:{free_port()}/healthz",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        return self


# --------------------------------------------------------------------------- API client
class Api:
    """Synchronous HTTPS client with the cluster's admin client certificate.

    kubectl costs a process (~100 ms of CPU) per call, which on 2 cores would disturb
    what is measured; this keeps one TLS connection per thread instead.
    """

    def __init__(self, cluster: Cluster) -> None:
        config = yaml.safe_load(cluster.kubeconfig.read_text())
        user = config["users"][0]["user"]
        server = config["clusters"][0]["cluster"]["server"]
        self.host, port = urllib.parse.urlsplit(server).netloc.rsplit(":", 1)
        self.port = int(port)
        self.context = ssl.create_default_context(
            cafile=config["clusters"][0]["cluster"]["certificate-authority"]
        )
        self.context.load_cert_chain(user["client-certificate"], user["client-key"])
        self._local = threading.local()

    def connection(self, timeout: float | None = 30) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self.host, self.port, context=self.context, timeout=timeout
        )

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
        for attempt in (1, 2):
            if conn is None:
                conn = self._local.conn = self.connection()
            try:
                data = None if body is None else json.dumps(body).encode()
                headers = {"Content-Type": content_type} if data is not None else {}
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = self._local.conn = None
                if attempt == 2:
                    raise
                continue
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: HTTP {response.status} {payload[:300]!r}")
            ctype = response.getheader("Content-Type", "")
            return json.loads(payload) if "json" in ctype else payload.decode()
        raise AssertionError("unreachable")

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def create(self, path: str, obj: dict[str, Any]) -> Any:
        return self.request("POST", path, obj)

    def merge_patch(self, path: str, patch: dict[str, Any]) -> Any:
        return self.request("PATCH", path, patch, "application/merge-patch+json")

    def request_counts(self) -> dict[tuple[str, str, str], float]:
        """apiserver_request_total summed by (verb, resource, subresource)."""
        text = self.get("/metrics")
        from prometheus_client.parser import text_string_to_metric_families

        counts: dict[tuple[str, str, str], float] = {}
        for family in text_string_to_metric_families(text):
            if family.name != "apiserver_request":
                continue
            for s in family.samples:
                if not s.name.endswith("_total"):
                    continue
                key = (
                    s.labels.get("verb", ""),
                    s.labels.get("resource", ""),
                    s.labels.get("subresource", ""),
                )
                counts[key] = counts.get(key, 0.0) + s.value
        return counts


@dataclass
class Watch:
    """A watch stream in a thread; ``on_event(type, object, received_wall_time)``.

    The receive time is what the benches compare with their own instants: the API
    server sends an event within milliseconds of the write on loopback.
    """

    api: Api
    path: str
    on_event: Callable[[str, dict[str, Any], float], None]
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _conn: http.client.HTTPSConnection | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Watch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self.ready.wait(30):
            raise RuntimeError(f"watch {self.path} did not start")
        return self

    def _run(self) -> None:
        rv = ""
        while not self._stop.is_set():
            sep = "&" if "?" in self.path else "?"
            # allowWatchBookmarks off; the stream restarts from the last seen version.
            url = f"{self.path}{sep}watch=1&timeoutSeconds=3600"
            if rv:
                url += f"&resourceVersion={rv}"
            conn = self._conn = self.api.connection(timeout=None)
            try:
                conn.request("GET", url)
                response = conn.getresponse()
                self.ready.set()
                while not self._stop.is_set():
                    line = response.readline()
                    if not line:
                        break
                    received = time.time()
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        rv = ""
                        break
                    obj = event["object"]
                    rv = obj["metadata"].get("resourceVersion", rv)
                    self.on_event(event["type"], obj, received)
            except (OSError, http.client.HTTPException, ValueError, AttributeError):
                # AttributeError: http.client reading from a socket stop() closed.
                if self._stop.is_set():
                    return
                time.sleep(0.2)
            finally:
                conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._conn is not None:
            with contextlib.suppress(OSError):
                if self._conn.sock is not None:
                    self._conn.sock.shutdown(2)
            self._conn.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


# ------------------------------------------------------------------------ Prometheus
@dataclass(frozen=True)
class Query:
    at: float  # wall time the request arrived at the proxy
    promql: str
    value: float | None  # the single value Prometheus answered, if any


class Proxy:
    """A recording reverse proxy in front of Prometheus.

    The operator (or the prometheus-adapter) is pointed at it, so the bench knows to the
    millisecond when each evaluation asked for the metric and what it was told: that
    splits "wait for the evaluation" from "decide and patch" without reading logs.
    Loopback forwarding adds about a millisecond.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.queries: list[Query] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._forward(self.rfile.read(length))

            def _forward(self, body: bytes | None) -> None:
                arrived = time.time()
                conn = http.client.HTTPConnection(
                    proxy.upstream.hostname or LOOPBACK, proxy.upstream.port, timeout=30
                )
                # No Accept-Encoding: the proxy must read the answer (Prometheus would gzip it).
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "accept-encoding")
                }
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                conn.close()
                promql = _promql(self.path, body, self.headers.get("Content-Type", ""))
                if promql is not None:
                    proxy._record(Query(arrived, promql, _single_value(payload)))
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server.server_address[1]}"

    def _record(self, q: Query) -> None:
        with self._lock:
            self.queries.append(q)

    def matching(self, needle: str, since: float = 0.0) -> list[Query]:
        with self._lock:
            return [q for q in self.queries if needle in q.promql and q.at >= since]

    def start(self) -> Proxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _promql(path: str, body: bytes | None, content_type: str) -> str | None:
    parts = urllib.parse.urlsplit(path)
    if not parts.path.endswith("/api/v1/query"):
        return None
    params = urllib.parse.parse_qs(parts.query)
    if body and "form" in content_type:
        params.update(urllib.parse.parse_qs(body.decode()))
    found = params.get("query")
    return found[0] if found else None


def _single_value(payload: bytes) -> float | None:
    try:
        data = json.loads(payload)["data"]
        result = data["result"]
        if data["resultType"] == "scalar":
            return float(result[1])
        return float(result[0]["value"][1]) if result else None
    except (ValueError, KeyError, IndexError, TypeError):
        return None


# ----------------------------------------------------------------------- the operator
def operator_samples(port: int) -> dict[str, float]:
    """The operator's /metrics as {'name{labels}': value}, summed over nothing."""
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def status_writes(samples: dict[str, float]) -> float:
    """The operator's policy status writes so far (skipped ones are counted apart)."""
    return samples.get("wedsync_operator_status_writes_total{result=written}", 0.0)


def metric_sum(samples: dict[str, float], name: str) -> float:
    return sum(v for k, v in samples.items() if k.split("{", 1)[0] == name)


def tracebacks(log: str, limit: int = 3) -> list[str]:
    """The first ``limit`` tracebacks of an operator log, each with its last lines."""
    lines, found = log.splitlines(), []
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            end = next(
                (
                    j
                    for j in range(i + 1, len(lines))
                    if lines[j] and not lines[j].startswith((" ", "\t"))
                ),
                i + 1,
            )
            found.append(
                "\n".join(lines[max(i - 1, 0) : i + 1] + lines[max(end - 3, i + 1) : end + 1])
            )
            if len(found) >= limit:
                break
    return found


def proc_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of the process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
