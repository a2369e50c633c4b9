"""Real services shared by the integration and e2e suites, one of each per session:
an exporter the tests drive and Prometheus scraping it, a Redis primary with a replica,
a Postgres primary with a streaming replica, Alertmanager. Each starts on free loopback
ports from Debian's packages; a missing package is an error, never a silent skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.alertmanager import AlertmanagerServer
from services.postgres import PostgresPair
from services.prometheus import Exporter, PrometheusServer
from services.redis import RedisPair


@pytest.fixture(scope="session")
def exporter() -> Iterator[Exporter]:
    """A prometheus_client registry served over HTTP on loopback."""
    with Exporter() as running:
        yield running


@pytest.fixture(scope="session")
def prometheus(
    exporter: Exporter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """/usr/bin/prometheus scraping ``exporter`` every second."""
    with PrometheusServer([exporter.target], tmp_path_factory.mktemp("prometheus")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisPair]:
    """A password-protected Redis primary and one replica.

    Tests that stop the replica start it again before they end."""
    with RedisPair(tmp_path_factory.mktemp("redis")) as pair:
        yield pair


@pytest.fixture(scope="session")
def postgres_pair() -> Iterator[PostgresPair]:
    """A Postgres 15 primary with a streaming replica and a ``core_fields`` table.

    Tests that pause replay resume it before they end."""
    with PostgresPair() as pair:
        yield pair


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertmanagerServer]:
    """A real Alertmanager with clustering off."""
    with AlertmanagerServer(tmp_path_factory.mktemp("alertmanager")) as server:
        yield server
