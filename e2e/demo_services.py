"""The services `make demo` runs on loopback beside the local cluster, until SIGTERM.

    python e2e/demo_services.py STATE_DIR

- a small web app counting its requests (``demo_http_requests_total``) and a load
  generator sending it as many requests per second as the file ``STATE_DIR/load`` says
  (the demo writes that file to raise and lower the load);
- a real Prometheus scraping the web app every second;
- a real Alertmanager (the policy silences non-critical alerts in the mode);
- a Redis primary with a replica (the cache tier's safety gate, the warmed cache);
- a PostgreSQL primary with a streaming replica and a ``core_fields`` table of couples
  (the database tier's safety gate, the source of cache warming).

When everything is up it writes ``STATE_DIR/services.json`` (URLs and DSNs); SIGTERM or
SIGINT stops every service it started, in reverse order.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import prometheus_client

from services.alertmanager import AlertmanagerServer
from services.postgres import PostgresPair
from services.process import LOOPBACK
from services.prometheus import Exporter, PrometheusServer
from services.redis import RedisPair

COUPLES = 10  # couple-00000 … couple-00009, the ids the demo's wedding day names


class WebApp:
    """An HTTP server that answers every GET with 200 and counts it."""

    def __init__(self, requests: prometheus_client.Counter) -> None:
        counter = requests

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the load generator reuses one socket

            def do_GET(self) -> None:
                counter.inc()
                # One write: headers and body apart meet Nagle and delayed ACK (40 ms each).
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

            def log_message(self, *_: object) -> None:  # one line per request is noise
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LoadGenerator:
    """Sends ``rate`` requests per second to the web app, ``rate`` read from a file."""

    def __init__(self, port: int, rate_file: Path) -> None:
        self.port = port
        self.rate_file = rate_file
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def rate(self) -> float:
        try:
            return max(0.0, float(self.rate_file.read_text().strip() or 0))
        except (OSError, ValueError):
            return 0.0

    def _run(self) -> None:
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=2)
        while not self.stopped.is_set():
            second = time.monotonic()
            rate = self.rate()
            for i in range(int(rate)):
                if self.stopped.is_set():
                    break
                try:
                    conn.request("GET", "/")
                    conn.getresponse().read()
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=2)
                # Spread the second's requests evenly rather than in one burst.
                pause = second + (i + 1) / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            self.stopped.wait(max(0.0, second + 1 - time.monotonic()))
        conn.close()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)


def main(state: Path) -> int:
    state.mkdir(parents=True, exist_ok=True)
    (state / "services.json").unlink(missing_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    with contextlib.ExitStack() as stack:
        exporter = stack.enter_context(Exporter())
        requests = prometheus_client.Counter(
            "demo_http_requests", "Requests the demo web app served", registry=exporter.registry
        )
        web = WebApp(requests)
        web.start()
        stack.callback(web.stop)
        rate_file = state / "load"
        if not rate_file.exists():
            rate_file.write_text("0\n")
        load = LoadGenerator(web.port, rate_file)
        load.start()
        stack.callback(load.stop)

        prometheus = stack.enter_context(PrometheusServer([exporter.target], state / "prometheus"))
        alertmanager = stack.enter_context(AlertmanagerServer(state / "alertmanager"))
        redis = stack.enter_context(RedisPair(state / "redis"))
        # Not inside the state folder: the postgres user must reach its data, and a
        # state folder under a private home (or from mktemp -d) is closed to it. The
        # folder is listed in the state folder, so down.sh stops and removes it.
        pg_dir = Path(tempfile.mkdtemp(prefix="wedsync-demo-pg-"))
        with (state.parent / "sweep").open("a") as sweep:
            sweep.write(f"{pg_dir}\n")
        stack.callback(shutil.rmtree, pg_dir, ignore_errors=True)
        postgres = stack.enter_context(PostgresPair(pg_dir))
        postgres.seed_core_fields(COUPLES)

        info = {
            "prometheus": prometheus.url,
            "alertmanager": alertmanager.url,
            "redis": redis.url,
            "postgresPrimary": postgres.primary_dsn,
            "postgresReplica": postgres.replica_dsn,
            "web": f"http://{LOOPBACK}:{web.port}",
            "loadFile": str(rate_file),
        }
        ready = state / "services.json.tmp"
        ready.write_text(json.dumps(info, indent=2) + "\n")
        ready.rename(state / "services.json")  # the demo waits for this file: write it whole
        print("services ready:", json.dumps(info), flush=True)
        stop.wait()
        print("stopping the services", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]).resolve()))
