"""A real Prometheus scraping a real exporter on loopback, for integration and e2e tests.

:class:`Exporter` serves a private ``prometheus_client`` registry over HTTP, so a test
(or the e2e operator, a separate process) sees metrics exactly as Prometheus scrapes
them; :class:`PrometheusServer` runs ``/usr/bin/prometheus`` scraping those targets every
second. Both are synchronous so they fit session fixtures and plain scripts alike.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from wsgiref.simple_server import WSGIServer

import prometheus_client

from services.process import LOOPBACK, OPENER, ServiceProcess, free_port, http_ready

__all__ = [
    "JOB",
    "LOOPBACK",
    "PROMETHEUS_BINARY",
    "Exporter",
    "PrometheusServer",
    "PrometheusUnavailable",
    "free_port",
]

PROMETHEUS_BINARY = Path(os.environ.get("WEDSYNC_PROMETHEUS", "/usr/bin/prometheus"))
JOB = "wedsync-test"


class PrometheusUnavailable(RuntimeError):
    """The Prometheus binary is missing or the server did not become ready."""


class Exporter:
    """A fresh registry served on ``127.0.0.1:<port>/metrics`` until :meth:`stop`."""

    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    def start(self) -> Self:
        if self._server is None:
            # Port 0: the kernel picks a free port while binding, so no race with others.
            server, thread = prometheus_client.start_http_server(
                0, addr=LOOPBACK, registry=self.registry
            )
            self._server, self._thread = server, thread
            self._port = int(server.server_address[1])
        return self

    def stop(self) -> None:
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the exporter has not been started")
        return self._port

    @property
    def target(self) -> str:
        """``host:port`` as a Prometheus ``static_configs`` target."""
        return f"{LOOPBACK}:{self.port}"

    def gauge(
        self, name: str, documentation: str, labelnames: Sequence[str] = ()
    ) -> prometheus_client.Gauge:
        return prometheus_client.Gauge(
            name, documentation, labelnames=labelnames, registry=self.registry
        )

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class PrometheusServer(ServiceProcess):
    """``/usr/bin/prometheus`` on loopback, scraping ``targets`` every second.

    Config, TSDB and log live in ``directory``; :meth:`restart` keeps the port and the
    data, as a real outage followed by recovery would.

    Ready is not scraped: Prometheus 2.x throttles service-discovery updates to one per
    5 s, so the first scrape comes ~5 s after :meth:`start` (and after a restart). Until
    then a restarted server answers with the samples from before the outage (no
    staleness markers are written at shutdown). Use :meth:`wait_until_scraped` or
    :meth:`wait_for_value` before asserting.
    """

    program = "prometheus"
    unavailable = PrometheusUnavailable

    def __init__(
        self,
        targets: Sequence[str],
        directory: Path,
        *,
        binary: Path = PROMETHEUS_BINARY,
        port: int | None = None,
        ready_timeout: float = 30,
        rule_files: Sequence[Path] = (),
    ) -> None:
        self.targets = list(targets)
        self.rule_files = [str(p) for p in rule_files]
        self.directory = directory
        self.binary = binary
        self.port = port if port is not None else free_port()
        self.config_file = directory / "prometheus.yml"
        self.data_dir = directory / "data"
        super().__init__(directory / "prometheus.log", ready_timeout)
        self._started_at = 0.0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> Self:
        if self.running:
            return self
        binary = self._find_binary()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        # JSON is YAML; no YAML library needed for a config this small.
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": self.rule_files,
            "scrape_configs": [
                {"job_name": JOB, "static_configs": [{"targets": self.targets}]},
            ],
        }
        self.config_file.write_text(json.dumps(config, indent=2))
        self._started_at = time.time()
        self._spawn(
            [
                str(binary),
                f"--config.file={self.config_file}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=info",
            ],
            cwd=self.directory,
        )
        self._wait_until_ready(
            lambda: http_ready(f"{self.url}/-/ready"), f"prometheus on {self.url}"
        )
        return self

    def query(self, promql: str, timeout: float = 5) -> float | None:
        """The instant query's single value (NaN kept), ``None`` if empty; synchronous."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            with OPENER.open(url, timeout=timeout) as response:
                document: Any = json.load(response)
        except urllib.error.HTTPError as exc:
            with exc:
                raise AssertionError(
                    f"Prometheus rejected {promql!r}: HTTP {exc.code} {exc.read()!r}"
                ) from None
        result = document["data"]["result"]
        if document["data"]["resultType"] == "scalar":
            return float(result[1])
        if not result:
            return None
        if len(result) > 1:
            raise AssertionError(f"{promql!r} returned {len(result)} series: {result}")
        return float(result[0]["value"][1])

    def api(self, path: str, timeout: float = 5) -> Any:
        """The ``data`` of a GET of the HTTP API, e.g. ``rules`` or ``alerts``."""
        with OPENER.open(f"{self.url}/api/v1/{path}", timeout=timeout) as response:
            return json.load(response)["data"]

    def wait_for_value(
        self,
        query: str,
        predicate: Callable[[float | None], bool],
        timeout: float = 30,
        interval: float = 0.2,
    ) -> float | None:
        """Poll the instant ``query`` until ``predicate(value)``; return that value.

        Tests use it to know a scrape has happened before they assert on the adapter.
        """
        deadline = time.monotonic() + timeout
        last: float | str | None = "(never queried)"
        while True:
            try:
                value = self.query(query)
            except (urllib.error.URLError, OSError) as exc:
                last = f"error: {exc}"
            else:
                if predicate(value):
                    return value
                last = value
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {query!r} to satisfy the "
                    f"predicate; last value: {last!r}\nPrometheus log tail:\n{self.log_tail()}"
                )
            time.sleep(interval)

    def wait_until_scraped(self, timeout: float = 30) -> None:
        """Wait until every target has been scraped successfully by this process."""
        # up's latest sample; after a restart, the pre-outage one is replaced within 1 s
        # of the first new scrape, so also require a scrape since this process started.
        started = self._started_at
        self.wait_for_value(
            f'count(up{{job="{JOB}"}} == 1 and timestamp(up{{job="{JOB}"}}) > {started})',
            lambda value: value == len(self.targets),
            timeout=timeout,
        )

    def _find_binary(self) -> Path:
        if self.binary.is_file() and os.access(self.binary, os.X_OK):
            return self.binary
        found = shutil.which(self.binary.name)
        if found is not None:
            return Path(found)
        raise PrometheusUnavailable(
            f"the Prometheus server binary {self.binary} is missing. Install it with "
            "`sudo apt-get install -y prometheus` (Debian/Ubuntu), or point "
            "WEDSYNC_PROMETHEUS at a prometheus binary from "
            "https://prometheus.io/download/. Integration tests need a real one."
        )
