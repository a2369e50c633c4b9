"""A real Postgres primary with a streaming replica on loopback, for integration and e2e
tests.

Debian's PostgreSQL 15 binaries (``/usr/lib/postgresql/15/bin``) make two clusters of
our own on free ports — ``initdb`` for the primary, ``pg_basebackup -R`` for the replica —
and start them with ``pg_ctl`` (the system's clusters and service are never touched).
Postgres refuses to run as root: when the tests run as root every server command runs
as the ``postgres`` system user (``runuser -u postgres --``), in a directory of its own
under the system temp dir (pytest's temp dirs are private to root).

Real lag on demand: :meth:`PostgresPair.pause_replay` stops the replica applying WAL
(it keeps receiving it), :meth:`PostgresPair.write_wal` writes on the primary, and
:meth:`PostgresPair.resume_replay` lets it catch up. State is read with ``psql``,
independently of the operator's adapter. Synchronous, for session fixtures and scripts.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

from services.process import LOOPBACK, free_port, tail

__all__ = [
    "PG_BIN",
    "CoreFields",
    "PostgresPair",
    "PostgresUnavailable",
]

PG_BIN = Path(os.environ.get("WEDSYNC_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"
INSTALL_HINT = (
    "Install it with `sudo DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql` "
    "(Debian 12 ships PostgreSQL 15 under /usr/lib/postgresql/15/bin; the system cluster "
    "need not run), or point WEDSYNC_PG_BIN at a directory with initdb, pg_ctl, "
    "pg_basebackup and psql. Integration tests need a real one."
)
REPLICA_NAME = "wedsync_replica"

CORE_FIELDS_DDL = """
CREATE TABLE IF NOT EXISTS core_fields (
    couple_id    text PRIMARY KEY,
    partner_one  text NOT NULL,
    partner_two  text NOT NULL,
    venue        text,
    wedding_date date NOT NULL,
    guest_count  integer NOT NULL DEFAULT 0
);
"""


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL binaries are missing or a server did not start."""


@dataclass(frozen=True)
class CoreFields:
    """One seeded row of ``core_fields`` as ``row_to_json`` renders it."""

    couple_id: str
    partner_one: str
    partner_two: str
    venue: str | None
    wedding_date: date
    guest_count: int

    def as_json(self) -> dict[str, object]:
        return {
            "couple_id": self.couple_id,
            "partner_one": self.partner_one,
            "partner_two": self.partner_two,
            "venue": self.venue,
            "wedding_date": self.wedding_date.isoformat(),
            "guest_count": self.guest_count,
        }


def _sql_literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


class PostgresPair:
    """A primary and streaming replicas: one by default (``application_name``
    ``wedsync_replica``), more with ``replicas`` (``wedsync_replica_2``, …)."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        replicas: int = 1,
        bin_dir: Path = PG_BIN,
        ready_timeout: float = 60,
    ) -> None:
        self._given_directory = directory
        self.directory: Path | None = None
        self.bin_dir = bin_dir
        self.ready_timeout = ready_timeout
        self.primary_port = free_port()
        self.replica_ports = [free_port() for _ in range(replicas)]
        self.replica_port = self.replica_ports[0]
        self._as_postgres = os.geteuid() == 0
        self._started: list[Path] = []

    # ---------------------------------------------------------------- addresses

    @property
    def primary_dsn(self) -> str:
        return f"postgresql://{PG_USER}@{LOOPBACK}:{self.primary_port}/postgres"

    @property
    def replica_dsn(self) -> str:
        return f"postgresql://{PG_USER}@{LOOPBACK}:{self.replica_port}/postgres"

    @property
    def primary_data(self) -> Path:
        assert self.directory is not None, "not started"
        return self.directory / "primary"

    @property
    def replica_data(self) -> Path:
        return self._replica_data(0)

    def _replica_data(self, index: int) -> Path:
        assert self.directory is not None, "not started"
        return self.directory / ("replica" if index == 0 else f"replica{index + 1}")

    @staticmethod
    def replica_name(index: int = 0) -> str:
        """The ``application_name`` replica ``index`` streams under."""
        return REPLICA_NAME if index == 0 else f"{REPLICA_NAME}_{index + 1}"

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        self._check_binaries()
        try:
            self._make_directory()
            self._init_primary()
            self._pg_ctl_start(self.primary_data)
            self.psql(CORE_FIELDS_DDL)
            for index in range(len(self.replica_ports)):
                self._base_backup(index)
                self._pg_ctl_start(self._replica_data(index))
            self.wait_streaming()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for data in reversed(self._started):
            self._pg_ctl_stop(data)
        self._started.clear()
        if self.directory is not None and self._given_directory is None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def log_tail(self, which: str = "primary", lines: int = 40) -> str:
        if self.directory is None:
            return "(no log)"
        return tail(self.directory / f"{which}.log", lines)

    # ------------------------------------------------------------------ queries

    def psql(self, sql: str, *, replica: bool | int = False, timeout: float = 60) -> str:
        """Run SQL with ``psql`` (as user postgres over TCP, trust auth) on the primary, or
        on a replica (``True``: the first; an int: that index); its output, unaligned and
        tuples-only."""
        if replica is False:
            port = self.primary_port
        else:
            port = self.replica_ports[0 if replica is True else replica]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGCONNECT_TIMEOUT"] = "5"
        result = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                LOOPBACK,
                "-p",
                str(port),
                "-U",
                PG_USER,
                "-d",
                "postgres",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"psql on port {port} failed ({result.returncode}): {result.stderr.strip()}\n"
                f"SQL: {sql}"
            )
        return result.stdout.strip()

    def replication(self) -> list[dict[str, str]]:
        """The primary's ``pg_stat_replication``, as psql prints it."""
        out = self.psql(
            "SELECT application_name, state, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint "
            "FROM pg_stat_replication"
        )
        rows = []
        for line in out.splitlines():
            name, state, lag = line.split("|")
            rows.append({"application_name": name, "state": state, "replay_lag_bytes": lag})
        return rows

    def wait_streaming(self, timeout: float | None = None, *, caught_up: bool = True) -> None:
        """Until every replica streams (and, with ``caught_up``, has replayed everything)."""
        limit = timeout if timeout is not None else self.ready_timeout
        deadline = time.monotonic() + limit
        last: object = "(not checked yet)"
        while True:
            try:
                rows = self.replication()
            except AssertionError as exc:
                last = exc
            else:
                by_name = {r["application_name"]: r for r in rows}
                mine = [by_name.get(self.replica_name(i)) for i in range(len(self.replica_ports))]
                if all(
                    r is not None
                    and r["state"] == "streaming"
                    and (not caught_up or r["replay_lag_bytes"] == "0")
                    for r in mine
                ):
                    return
                last = rows
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"the Postgres replica was not streaming{' and caught up' if caught_up else ''}"
                    f" within {limit}s; pg_stat_replication: {last}\n"
                    f"Replica log tail:\n{self.log_tail('replica')}"
                )
            time.sleep(0.1)

    def pause_replay(self, timeout: float = 30, *, replica: int = 0) -> None:
        """Stop a replica applying WAL, and wait until the pause took effect."""
        self.psql("SELECT pg_wal_replay_pause()", replica=replica)
        deadline = time.monotonic() + timeout
        while self.psql("SELECT pg_get_wal_replay_pause_state()", replica=replica) != "paused":
            if time.monotonic() >= deadline:
                raise AssertionError(f"replay on the replica did not pause within {timeout}s")
            time.sleep(0.05)

    def resume_replay(self, *, replica: int = 0) -> None:
        self.psql("SELECT pg_wal_replay_resume()", replica=replica)

    def write_wal(self, megabytes: int) -> int:
        """Write at least ``megabytes`` MiB of WAL on the primary; the bytes written."""
        start = self.psql("SELECT pg_current_wal_lsn()")
        # ~1.1 KiB of WAL per row of random (incompressible, never TOASTed) text.
        rows = megabytes * 1024
        self.psql(
            "CREATE TABLE IF NOT EXISTS wal_filler (id bigserial PRIMARY KEY, pad text);"
            "INSERT INTO wal_filler (pad) "
            "SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 32) s, "
            f"generate_series(1, {rows}) g GROUP BY g;"
        )
        written = self.psql(f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{start}')::bigint")
        return int(written)

    def seed_core_fields(
        self, count: int, *, prefix: str = "couple", wedding_date: date = date(2027, 6, 5)
    ) -> list[CoreFields]:
        """Insert (or overwrite) ``count`` couples; the rows as the table holds them."""
        rows = [
            CoreFields(
                couple_id=f"{prefix}-{i:05d}",
                partner_one=f"Partner A{i}",
                partner_two=f"O'Partner B{i}",  # a quote, as real names have
                venue=None if i % 7 == 0 else f"Venue {i % 13}",
                wedding_date=wedding_date + timedelta(days=i % 3),
                guest_count=50 + i % 150,
            )
            for i in range(count)
        ]
        for chunk_start in range(0, len(rows), 1000):
            values = ",".join(
                "("
                + ",".join(
                    _sql_literal(v)
                    for v in (
                        r.couple_id,
                        r.partner_one,
                        r.partner_two,
                        r.venue,
                        r.wedding_date.isoformat(),
                        r.guest_count,
                    )
                )
                + ")"
                for r in rows[chunk_start : chunk_start + 1000]
            )
            self.psql(
                "INSERT INTO core_fields "
                "(couple_id, partner_one, partner_two, venue, wedding_date, guest_count) "
                f"VALUES {values} ON CONFLICT (couple_id) DO UPDATE SET "
                "partner_one = EXCLUDED.partner_one, partner_two = EXCLUDED.partner_two, "
                "venue = EXCLUDED.venue, wedding_date = EXCLUDED.wedding_date, "
                "guest_count = EXCLUDED.guest_count"
            )
        return rows

    # ----------------------------------------------------------------- internals

    def _check_binaries(self) -> None:
        missing = [
            name
            for name in ("initdb", "pg_ctl", "pg_basebackup", "psql", "postgres")
            if not os.access(self.bin_dir / name, os.X_OK)
        ]
        if missing:
            raise PostgresUnavailable(
                f"PostgreSQL binaries {', '.join(missing)} are missing from {self.bin_dir}. "
                f"{INSTALL_HINT}"
            )
        if self._as_postgres:
            try:
                pwd.getpwnam(PG_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"the tests run as root and Postgres refuses root, but there is no "
                    f"{PG_USER!r} system user to run it as. {INSTALL_HINT}"
                ) from None

    def _make_directory(self) -> None:
        if self._given_directory is not None:
            self.directory = self._given_directory
            self.directory.mkdir(parents=True, exist_ok=True)
        else:
            self.directory = Path(tempfile.mkdtemp(prefix="wedsync-pg-"))
        if self._as_postgres:
            entry = pwd.getpwnam(PG_USER)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        self.directory.chmod(0o700)

    def _run(self, args: Sequence[str | Path], timeout: float = 120) -> None:
        command = [str(a) for a in args]
        if self._as_postgres:
            command = ["runuser", "-u", PG_USER, "--", *command]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            cwd=self.directory,
            timeout=timeout,
            env={k: v for k, v in os.environ.items() if not k.startswith("PG")},
            check=False,
        )
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{' '.join(command)} failed ({result.returncode}):\n"
                f"{result.stdout.strip()}\n{result.stderr.strip()}"
            )

    def _init_primary(self) -> None:
        assert self.directory is not None
        self._run(
            [
                self.bin_dir / "initdb",
                "-D",
                self.primary_data,
                "-U",
                PG_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        settings = {
            "listen_addresses": f"'{LOOPBACK}'",
            "port": str(self.primary_port),
            "unix_socket_directories": f"'{self.directory}'",
            "wal_level": "replica",
            "max_wal_senders": "5",
            "wal_keep_size": "'512MB'",
            "hot_standby": "on",
            # The replica reports its positions every second (default 10 s), so a gate
            # sees a resumed replay promptly.
            "wal_receiver_status_interval": "'1s'",
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "'32MB'",
            "max_connections": "40",
        }
        self._append_conf(self.primary_data, settings)

    def _base_backup(self, index: int) -> None:
        self._run(
            [
                self.bin_dir / "pg_basebackup",
                "-h",
                LOOPBACK,
                "-p",
                str(self.primary_port),
                "-U",
                PG_USER,
                "-D",
                self._replica_data(index),
                "-R",  # standby.signal + primary_conninfo
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ]
        )
        # postgresql.conf came with the backup: later lines win.
        self._append_conf(
            self._replica_data(index),
            {
                "port": str(self.replica_ports[index]),
                "cluster_name": f"'{self.replica_name(index)}'",  # its application_name
            },
        )

    def _append_conf(self, data: Path, settings: dict[str, str]) -> None:
        text = "\n# wedsync tests\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())
        conf = data / "postgresql.conf"
        with conf.open("a") as handle:  # root may write; the owner stays postgres
            handle.write(text)

    def _pg_ctl_start(self, data: Path) -> None:
        assert self.directory is not None
        log = self.directory / f"{data.name}.log"
        try:
            self._run(
                [
                    self.bin_dir / "pg_ctl",
                    "-D",
                    data,
                    "-l",
                    log,
                    "-w",
                    "-t",
                    str(int(self.ready_timeout)),
                    "start",
                ],
                timeout=self.ready_timeout + 10,
            )
        except PostgresUnavailable as exc:
            raise PostgresUnavailable(f"{exc}\nLog tail:\n{self.log_tail(data.name)}") from None
        self._started.append(data)

    def _pg_ctl_stop(self, data: Path) -> None:
        try:
            self._run([self.bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"])
        except (PostgresUnavailable, subprocess.TimeoutExpired):
            self._run([self.bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
