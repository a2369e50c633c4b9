"""A real Alertmanager on loopback, for integration and e2e tests.

Debian's ``prometheus-alertmanager`` runs as a child process on a free port with a
minimal config (one receiver that sends nothing), its own storage directory, and
clustering disabled (``--cluster.listen-address=`` empty: no gossip port, no peers).
:meth:`AlertmanagerServer.silences` reads the v2 API with ``urllib``, independently of
the operator's adapter. Synchronous, for session fixtures and plain scripts alike.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from services.prometheus import LOOPBACK, free_port

__all__ = ["ALERTMANAGER_BINARY", "AlertmanagerServer", "AlertmanagerUnavailable"]

ALERTMANAGER_BINARY = Path(
    os.environ.get("WEDSYNC_ALERTMANAGER", "/usr/bin/prometheus-alertmanager")
)
INSTALL_HINT = (
    "Install it with `sudo DEBIAN_FRONTEND=noninteractive apt-get install -y "
    "prometheus-alertmanager` (Debian/Ubuntu; the system service need not run), or point "
    "WEDSYNC_ALERTMANAGER at an alertmanager binary from https://prometheus.io/download/. "
    "Integration tests need a real one."
)
# JSON is YAML: a route to a receiver that notifies nobody.
CONFIG = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}
# Loopback never goes through a proxy, whatever http_proxy says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class AlertmanagerUnavailable(RuntimeError):
    """The Alertmanager binary is missing or the server did not become ready."""


class AlertmanagerServer:
    """``prometheus-alertmanager`` on ``127.0.0.1:<port>``; config, data and log in
    ``directory``. :meth:`restart` keeps the port and the silences (its snapshot)."""

    def __init__(
        self,
        directory: Path,
        *,
        binary: Path = ALERTMANAGER_BINARY,
        port: int | None = None,
        ready_timeout: float = 30,
    ) -> None:
        self.directory = directory
        self.binary = binary
        self.port = port if port is not None else free_port()
        self.ready_timeout = ready_timeout
        self.config_file = directory / "alertmanager.yml"
        self.data_dir = directory / "data"
        self.log_file = directory / "alertmanager.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        if self.running:
            return self
        binary = self._find_binary()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        self.config_file.write_text(json.dumps(CONFIG, indent=2))
        self._log = self.log_file.open("ab")
        self._process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={self.config_file}",
                f"--storage.path={self.data_dir}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
                "--cluster.listen-address=",
                "--log.level=info",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        log, self._log = self._log, None
        if log is not None:
            log.close()

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def silences(self) -> list[dict[str, Any]]:
        """``GET /api/v2/silences`` as JSON (every state)."""
        with _OPENER.open(f"{self.url}/api/v2/silences", timeout=5) as response:
            document: list[dict[str, Any]] = json.load(response)
        return document

    def _find_binary(self) -> Path:
        if self.binary.is_file() and os.access(self.binary, os.X_OK):
            return self.binary
        for name in ("prometheus-alertmanager", "alertmanager"):
            found = shutil.which(name)
            if found is not None:
                return Path(found)
        raise AlertmanagerUnavailable(
            f"the Alertmanager binary {self.binary} is missing. {INSTALL_HINT}"
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = "(no answer yet)"
        while time.monotonic() < deadline:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                raise AlertmanagerUnavailable(
                    f"alertmanager exited with code {code} before it was ready.\n"
                    f"Log tail ({self.log_file}):\n{self.log_tail()}"
                )
            try:
                with _OPENER.open(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                exc.close()
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.1)
        raise AlertmanagerUnavailable(
            f"alertmanager on {self.url} was not ready within {self.ready_timeout}s "
            f"(last: {last}).\nLog tail ({self.log_file}):\n{self.log_tail()}"
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
