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
from pathlib import Path
from typing import Any, Self

from services.process import LOOPBACK, OPENER, ServiceProcess, free_port, http_ready

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


class AlertmanagerUnavailable(RuntimeError):
    """The Alertmanager binary is missing or the server did not become ready."""


class AlertmanagerServer(ServiceProcess):
    """``prometheus-alertmanager`` on ``127.0.0.1:<port>``; config, data and log in
    ``directory``. :meth:`restart` keeps the port and the silences (its snapshot)."""

    program = "alertmanager"
    unavailable = AlertmanagerUnavailable

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
        self.config_file = directory / "alertmanager.yml"
        self.data_dir = directory / "data"
        super().__init__(directory / "alertmanager.log", ready_timeout)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> Self:
        if self.running:
            return self
        binary = self._find_binary()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        self.config_file.write_text(json.dumps(CONFIG, indent=2))
        self._spawn(
            [
                str(binary),
                f"--config.file={self.config_file}",
                f"--storage.path={self.data_dir}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
                "--cluster.listen-address=",
                "--log.level=info",
            ],
            cwd=self.directory,
        )
        self._wait_until_ready(
            lambda: http_ready(f"{self.url}/-/ready"), f"alertmanager on {self.url}"
        )
        return self

    def silences(self) -> list[dict[str, Any]]:
        """``GET /api/v2/silences`` as JSON (every state)."""
        with OPENER.open(f"{self.url}/api/v2/silences", timeout=5) as response:
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
