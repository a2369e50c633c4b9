"""A real Redis primary with one real replica on loopback, for integration and e2e tests.

Debian's ``redis-server`` runs as two child processes on free ports (the system service
is never touched): the primary with a password, the replica following it with
``replicaof``. :meth:`RedisPair.stop_replica` / :meth:`RedisPair.start_replica` make a
real replication outage and recovery. Synchronous, so it fits session fixtures and plain
scripts alike; it checks state with redis-py's synchronous client, independently of the
operator's adapter.

Debian quirk: ``/usr/bin/redis-server`` is a symlink to ``redis-check-rdb``, a
multi-call binary that picks its personality from ``argv[0]`` — run it by the link's
name, never by the resolved path.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import redis

from services.process import LOOPBACK, NotReady, ServiceProcess, free_port

__all__ = [
    "REDIS_BINARY",
    "RedisPair",
    "RedisServer",
    "RedisUnavailable",
]

REDIS_BINARY = Path(os.environ.get("WEDSYNC_REDIS_SERVER", "/usr/bin/redis-server"))
INSTALL_HINT = (
    "Install it with `sudo DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server` "
    "(Debian/Ubuntu; the system service need not run), or point WEDSYNC_REDIS_SERVER at a "
    "redis-server binary. Integration tests need a real one."
)


class RedisUnavailable(RuntimeError):
    """The redis-server binary is missing or a server did not become ready."""


class RedisServer(ServiceProcess):
    """One ``redis-server`` on ``127.0.0.1:<port>``; config, dump and log in ``directory``.

    :meth:`restart` keeps the port, as a real outage followed by recovery would.
    """

    program = "redis-server"
    unavailable = RedisUnavailable

    def __init__(
        self,
        directory: Path,
        *,
        password: str,
        replica_of: RedisServer | None = None,
        port: int | None = None,
        binary: Path = REDIS_BINARY,
        ready_timeout: float = 20,
    ) -> None:
        self.directory = directory
        self.password = password
        self.replica_of = replica_of
        self.port = port if port is not None else free_port()
        self.binary = binary
        self.config_file = directory / "redis.conf"
        super().__init__(directory / "redis.log", ready_timeout)

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        """``redis://:<password>@127.0.0.1:<port>/0`` — what a Secret would hold."""
        return f"redis://:{self.password}@{LOOPBACK}:{self.port}/0"

    def client(self, timeout: float = 5) -> redis.Redis:
        """A synchronous client (the caller closes it)."""
        return redis.Redis(
            host=LOOPBACK,
            port=self.port,
            password=self.password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )

    def info(self, section: str = "replication") -> dict[str, Any]:
        with self.client() as client:
            result: dict[str, Any] = client.info(section)
            return result

    def start(self) -> Self:
        if self.running:
            return self
        binary = find_redis_server(self.binary)
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = [
            f"bind {LOOPBACK}",
            f"port {self.port}",
            f"dir {self.directory}",
            "daemonize no",
            'logfile ""',
            'save ""',
            "appendonly no",
            f'requirepass "{self.password}"',
            f'masterauth "{self.password}"',
            # Redis 7 waits 5 s for more replicas before a diskless full sync; one is all
            # there will be.
            "repl-diskless-sync-delay 0",
            "repl-ping-replica-period 1",
        ]
        if self.replica_of is not None:
            lines.append(f"replicaof {LOOPBACK} {self.replica_of.port}")
        self.config_file.write_text("\n".join(lines) + "\n")
        # argv[0] must stay "redis-server" (see the module docstring).
        self._spawn([str(binary), str(self.config_file)], cwd=self.directory)
        self._wait_until_ready(self._ping, f"redis-server on {self.address}", interval=0.05)
        return self

    def freeze(self) -> None:
        """SIGSTOP: the server hangs with its connections open, as a stuck pod would."""
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError("the server is not running")
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze`."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.thaw()  # a frozen server cannot act on SIGTERM
        super().stop()

    def _ping(self) -> bool:
        try:
            with self.client(timeout=1) as client:
                return bool(client.ping())
        except redis.RedisError as exc:
            raise NotReady(str(exc)) from None


class RedisPair:
    """A password-protected primary and one replica following it, both on loopback."""

    def __init__(
        self,
        directory: Path,
        *,
        password: str = "wedsync-redis-test-secret",
        binary: Path = REDIS_BINARY,
    ) -> None:
        self.directory = directory
        self.password = password
        self.primary = RedisServer(directory / "primary", password=password, binary=binary)
        self.replica = RedisServer(
            directory / "replica", password=password, replica_of=self.primary, binary=binary
        )

    @property
    def url(self) -> str:
        """The primary's URL, with the password."""
        return self.primary.url

    def start(self) -> Self:
        try:
            self.primary.start()
            self.replica.start()
            self.wait_linked()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.replica.stop()
        self.primary.stop()

    def stop_replica(self, timeout: float = 15) -> None:
        """Stop the replica and wait until the primary no longer lists it."""
        self.replica.stop()
        deadline = time.monotonic() + timeout
        while self.primary.info().get("connected_slaves", 0) != 0:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"the primary still lists a replica {timeout}s after it stopped: "
                    f"{self.primary.info()}"
                )
            time.sleep(0.05)

    def start_replica(self) -> None:
        """Start the replica again (same port) and wait until it is linked and in sync."""
        self.replica.start()
        self.wait_linked()

    def freeze_replica(self) -> None:
        """Hang the replica (SIGSTOP): the primary keeps listing it, its acknowledged
        offset stops while the primary's moves on."""
        self.replica.freeze()

    def thaw_replica(self) -> None:
        """Let a frozen replica run again and wait until it has caught up."""
        self.replica.thaw()
        self.wait_linked()

    def write_on_primary(self, nbytes: int, key: str = "wedsync:filler") -> None:
        """Advance the replication offset by about ``nbytes`` (one large SET)."""
        with self.primary.client() as client:
            client.set(key, b"x" * nbytes)

    def wait_linked(self, timeout: float = 30) -> None:
        """Until the replica's link is up and the primary lists it online at its own
        replication offset."""
        deadline = time.monotonic() + timeout
        last: object = "(not checked yet)"
        while True:
            try:
                replica = self.replica.info()
                primary = self.primary.info()
            except redis.RedisError as exc:
                last = exc
            else:
                line = primary.get("slave0")
                if (
                    replica.get("master_link_status") == "up"
                    and isinstance(line, dict)
                    and line.get("state") == "online"
                    and line.get("port") == self.replica.port
                    and line.get("offset") == primary.get("master_repl_offset")
                ):
                    return
                last = {"replica": replica, "primary": primary}
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"the Redis replica did not link within {timeout}s; last INFO: {last}\n"
                    f"Replica log tail:\n{self.replica.log_tail()}"
                )
            time.sleep(0.05)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def find_redis_server(binary: Path = REDIS_BINARY) -> Path:
    """The redis-server to run, unresolved (argv[0] matters), or a clear error."""
    if binary.exists() and os.access(binary, os.X_OK):
        return binary
    found = shutil.which("redis-server")
    if found is not None:
        return Path(found)
    raise RedisUnavailable(f"the Redis server binary {binary} is missing. {INSTALL_HINT}")
