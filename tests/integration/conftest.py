"""Integration fixtures: a real exporter and a real Prometheus scraping it, per session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from services.prometheus import Exporter, PrometheusServer

INTEGRATION = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Called with every collected item of the session, not only this folder's.
    for item in items:
        if INTEGRATION in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def exporter() -> Iterator[Exporter]:
    """A prometheus_client registry served over HTTP on loopback."""
    with Exporter() as running:
        yield running


@pytest.fixture(scope="session")
def prometheus(
    exporter: Exporter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """/usr/bin/prometheus scraping ``exporter`` every second (an error if not installed)."""
    server = PrometheusServer([exporter.target], tmp_path_factory.mktemp("prometheus"))
    with server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client
