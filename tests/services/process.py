"""What the loopback service helpers share: a free port, and a child-process lifecycle.

:class:`ServiceProcess` runs one server binary as a child process with its output
appended to a log file, waits until a probe says it is ready (failing with the log tail
if it exits or takes too long), and stops it with SIGTERM, then SIGKILL after 15 s.
Subclasses build the command line and the probe; see ``services.prometheus``,
``services.redis`` and ``services.alertmanager``.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self

__all__ = [
    "LOOPBACK",
    "OPENER",
    "NotReady",
    "ServiceProcess",
    "free_port",
    "http_ready",
    "tail",
]

LOOPBACK = "127.0.0.1"
# Loopback never goes through a proxy, whatever http_proxy says.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of the log at ``path``, or ``(no log)``."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class NotReady(Exception):
    """Raised by a readiness probe to keep waiting; its text is the answer it got."""


def http_ready(url: str, timeout: float = 2) -> bool:
    """A probe: whether ``GET url`` answers 200 (:class:`NotReady` with the reason if not)."""
    try:
        with OPENER.open(url, timeout=timeout) as response:
            status: int = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        raise NotReady(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise NotReady(str(exc)) from None
    if status != 200:
        raise NotReady(f"HTTP {status}")
    return True


class ServiceProcess:
    """One server binary running as a child process, its output appended to ``log_file``.

    A subclass sets :attr:`program` (its name in messages) and :attr:`unavailable` (the
    error raised when it cannot run), and implements :meth:`start` with :meth:`_spawn`
    and :meth:`_wait_until_ready`. :meth:`restart` keeps whatever :meth:`start` reads
    from the instance (port, directory), as a real outage followed by recovery would.
    """

    program: ClassVar[str]
    unavailable: ClassVar[type[RuntimeError]]

    def __init__(self, log_file: Path, ready_timeout: float) -> None:
        self.log_file = log_file
        self.ready_timeout = ready_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        raise NotImplementedError

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
        """Stop, then start again on the same port with the same directory."""
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_file, lines)

    def _spawn(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> None:
        """Run ``argv`` in ``cwd`` (with ``env``, else this process's), stdout and stderr
        appended to :attr:`log_file`."""
        self._log = self.log_file.open("ab")
        self._process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else dict(env),
        )

    def _wait_until_ready(
        self, probe: Callable[[], bool], what: str, *, interval: float = 0.1
    ) -> None:
        """Poll ``probe`` until it returns true (it raises :class:`NotReady` to go on).

        If the process exits first or :attr:`ready_timeout` passes, raise
        :attr:`unavailable` with the log tail (``what`` names the server in the timeout
        message, e.g. ``"prometheus on http://127.0.0.1:9090"``). On any failure,
        interrupts included, the process is stopped.
        """
        try:
            deadline = time.monotonic() + self.ready_timeout
            last = "(no answer yet)"
            while time.monotonic() < deadline:
                assert self._process is not None
                code = self._process.poll()
                if code is not None:
                    raise self.unavailable(
                        f"{self.program} exited with code {code} before it was ready.\n"
                        f"Log tail ({self.log_file}):\n{self.log_tail()}"
                    )
                try:
                    if probe():
                        return
                except NotReady as exc:
                    last = str(exc)
                time.sleep(interval)
            raise self.unavailable(
                f"{what} was not ready within {self.ready_timeout}s "
                f"(last: {last}).\nLog tail ({self.log_file}):\n{self.log_tail()}"
            )
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
