"""The Prometheus adapter against a real Prometheus scraping a real exporter.

Each test sets gauges in the exporter, waits until Prometheus has scraped them (through
its HTTP API, independently of the adapter), then asserts what the adapter reads.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from services.prometheus import JOB, Exporter, PrometheusServer, free_port
from wedsync_operator.adapters.prometheus import PrometheusClient, PrometheusError

TIMEOUT = 5.0
LOOPBACK = "127.0.0.1"


@pytest.fixture
def client(session: aiohttp.ClientSession, prometheus: PrometheusServer) -> PrometheusClient:
    return PrometheusClient(session, prometheus.url, timeout=TIMEOUT)


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A TCP server on loopback that accepts connections and never answers."""
    connections: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read()  # until the client gives up and closes the connection
        writer.close()

    server = await asyncio.start_server(swallow, LOOPBACK, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()


def equals(expected: float) -> Callable[[float | None], bool]:
    return lambda value: value == expected


def is_nan(value: float | None) -> bool:
    return value is not None and math.isnan(value)


async def test_a_gauge_set_by_the_test_is_read_back_through_promql(
    exporter: Exporter, prometheus: PrometheusServer, client: PrometheusClient
) -> None:
    gauge = exporter.gauge("wedsync_test_read_back", "A value set by the test.")
    gauge.set(42)
    prometheus.wait_for_value("wedsync_test_read_back", equals(42))

    assert await client.query("wedsync_test_read_back") == 42.0


async def test_a_value_that_changes_is_read_as_its_latest_sample(
    exporter: Exporter, prometheus: PrometheusServer, client: PrometheusClient
) -> None:
    gauge = exporter.gauge("wedsync_test_changes", "A value that changes.")
    gauge.set(1.5)
    prometheus.wait_for_value("wedsync_test_changes", equals(1.5))
    gauge.set(0)
    prometheus.wait_for_value("wedsync_test_changes", equals(0))

    # Zero is a real value, not missing.
    assert await client.query("wedsync_test_changes") == 0.0


async def test_an_aggregation_of_several_series_returns_one_value(
    exporter: Exporter, prometheus: PrometheusServer, client: PrometheusClient
) -> None:
    gauge = exporter.gauge("wedsync_test_load", "Load per tier.", ["tier"])
    gauge.labels(tier="app").set(3)
    gauge.labels(tier="cache").set(4)
    prometheus.wait_for_value("count(wedsync_test_load)", equals(2))

    assert await client.query("sum(wedsync_test_load)") == 7.0
    assert await client.query("max(wedsync_test_load)") == 4.0


async def test_several_series_without_aggregation_is_an_ambiguous_query(
    exporter: Exporter, prometheus: PrometheusServer, client: PrometheusClient
) -> None:
    gauge = exporter.gauge("wedsync_test_per_pod", "A value per pod.", ["pod"])
    gauge.labels(pod="a").set(1)
    gauge.labels(pod="b").set(2)
    prometheus.wait_for_value("count(wedsync_test_per_pod)", equals(2))

    with pytest.raises(PrometheusError) as caught:
        await client.query("wedsync_test_per_pod")

    assert caught.value.reason == "AmbiguousQuery"
    assert "2 series" in str(caught.value)
    assert "sum(" in str(caught.value)


async def test_an_absent_metric_is_missing_not_zero(
    prometheus: PrometheusServer, client: PrometheusClient
) -> None:
    prometheus.wait_until_scraped()

    assert await client.query("wedsync_test_never_exported") is None
    assert await client.query("sum(wedsync_test_never_exported)") is None


async def test_nan_is_missing(
    exporter: Exporter, prometheus: PrometheusServer, client: PrometheusClient
) -> None:
    gauge = exporter.gauge("wedsync_test_nan", "A value that is not a number.")
    gauge.set(math.nan)
    prometheus.wait_for_value("wedsync_test_nan", is_nan)

    assert await client.query("wedsync_test_nan") is None
    # scalar() of an empty vector is NaN as well.
    assert await client.query("scalar(wedsync_test_never_exported)") is None


@pytest.mark.parametrize("sign", [1, -1], ids=["plus", "minus"])
async def test_infinity_is_missing(
    sign: int, exporter: Exporter, prometheus: PrometheusServer, client: PrometheusClient
) -> None:
    name = f"wedsync_test_infinity_{'plus' if sign > 0 else 'minus'}"
    gauge = exporter.gauge(name, "An infinite value.")
    gauge.set(sign * math.inf)
    prometheus.wait_for_value(name, equals(sign * math.inf))

    assert await client.query(name) is None


async def test_a_scalar_expression_is_read_as_a_value(
    exporter: Exporter, prometheus: PrometheusServer, client: PrometheusClient
) -> None:
    assert await client.query("2 * 21") == 42.0

    gauge = exporter.gauge("wedsync_test_scalar", "A value read through scalar().")
    gauge.set(8)
    prometheus.wait_for_value("wedsync_test_scalar", equals(8))
    assert await client.query("scalar(wedsync_test_scalar) / 2") == 4.0


async def test_a_promql_syntax_error_is_query_failed_with_prometheus_words_only_in_the_log(
    client: PrometheusClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG"), pytest.raises(PrometheusError) as caught:
        await client.query("sum(rate(http_requests_total[5m])")

    assert caught.value.reason == "QueryFailed"
    message = str(caught.value)
    assert "bad_data: the query is not valid PromQL" in message
    # Prometheus's own words stay out of status (a policy's URL may point anywhere).
    assert "parse error" not in message
    assert "parse error" in caplog.text


async def test_a_range_vector_is_a_failed_query_that_says_how_to_fix_it(
    prometheus: PrometheusServer, client: PrometheusClient
) -> None:
    prometheus.wait_until_scraped()

    with pytest.raises(PrometheusError) as caught:
        await client.query(f'up{{job="{JOB}"}}[1m]')

    assert caught.value.reason == "QueryFailed"
    assert "rate(" in str(caught.value)


async def test_an_unreachable_prometheus_is_reported_as_unreachable(
    session: aiohttp.ClientSession,
) -> None:
    url = f"http://{LOOPBACK}:{free_port()}"  # nothing listens there
    client = PrometheusClient(session, url, timeout=TIMEOUT)

    started = time.monotonic()
    with pytest.raises(PrometheusError) as caught:
        await client.query("up")

    assert caught.value.reason == "PrometheusUnreachable"
    assert url in str(caught.value)
    assert time.monotonic() - started < TIMEOUT  # refused at once, not timed out


@pytest.mark.timeout(15)
async def test_a_slow_prometheus_times_out_within_the_timeout(
    session: aiohttp.ClientSession, silent_server: str
) -> None:
    timeout = 1.0
    client = PrometheusClient(session, silent_server, timeout=timeout)

    started = time.monotonic()
    with pytest.raises(PrometheusError) as caught:
        await client.query("up")
    elapsed = time.monotonic() - started

    assert caught.value.reason == "PrometheusTimeout"
    assert timeout - 0.1 <= elapsed < timeout + 0.5
    assert "1s" in str(caught.value)


async def test_a_server_that_is_not_prometheus_is_a_bad_response(
    session: aiohttp.ClientSession, exporter: Exporter
) -> None:
    # The exporter answers every path with the text exposition format, not JSON.
    client = PrometheusClient(session, f"http://{exporter.target}", timeout=TIMEOUT)

    with pytest.raises(PrometheusError) as caught:
        await client.query("up")

    assert caught.value.reason == "PrometheusBadResponse"
    assert "not JSON" in str(caught.value)


async def test_a_prometheus_that_says_it_is_unavailable_is_unreachable_not_malformed(
    session: aiohttp.ClientSession,
) -> None:
    # What a Prometheus that is shutting down answers (seen when an e2e test stopped
    # it mid-query), as does one starting up or a proxy whose Prometheus is down.
    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503, text="Service Unavailable")

    app = web.Application()
    app.router.add_route("*", "/api/v1/query", unavailable)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        client = PrometheusClient(session, f"http://{LOOPBACK}:{port}", timeout=TIMEOUT)
        with pytest.raises(PrometheusError) as caught:
            await client.query("up")
    finally:
        await runner.cleanup()

    assert caught.value.reason == "PrometheusUnreachable"
    assert "is unavailable (HTTP 503, text/plain, 19 bytes)" in str(caught.value)
    assert "Service Unavailable" not in str(caught.value)


async def test_query_many_keeps_going_when_one_query_fails(
    exporter: Exporter, prometheus: PrometheusServer, client: PrometheusClient
) -> None:
    gauge = exporter.gauge("wedsync_test_many", "A value read among others.")
    gauge.set(5)
    prometheus.wait_for_value("wedsync_test_many", equals(5))

    results = await client.query_many(
        {
            "cpu": "wedsync_test_many",
            "broken": "sum(wedsync_test_many",
            "absent": "wedsync_test_never_exported",
            "doubled": "wedsync_test_many * 2",
        }
    )

    assert list(results) == ["cpu", "broken", "absent", "doubled"]
    assert results["cpu"] == 5.0
    assert results["doubled"] == 10.0
    assert results["absent"] is None
    broken = results["broken"]
    assert isinstance(broken, PrometheusError)
    assert broken.reason == "QueryFailed"


@pytest.mark.timeout(15)
async def test_query_many_runs_queries_concurrently_so_timeouts_do_not_add_up(
    session: aiohttp.ClientSession, silent_server: str
) -> None:
    timeout = 1.0
    client = PrometheusClient(session, silent_server, timeout=timeout)

    started = time.monotonic()
    results = await client.query_many({f"q{i}": "up" for i in range(4)})
    elapsed = time.monotonic() - started

    assert elapsed < timeout + 0.5  # not 4 x timeout
    for result in results.values():
        assert isinstance(result, PrometheusError)
        assert result.reason == "PrometheusTimeout"


async def test_query_many_reports_an_unreachable_prometheus_for_every_query(
    session: aiohttp.ClientSession,
) -> None:
    client = PrometheusClient(session, f"http://{LOOPBACK}:{free_port()}", timeout=TIMEOUT)

    results = await client.query_many({"a": "up", "b": "up"})

    assert set(results) == {"a", "b"}
    assert all(
        isinstance(result, PrometheusError) and result.reason == "PrometheusUnreachable"
        for result in results.values()
    )


async def test_the_observer_hears_each_query_with_its_duration_and_outcome(
    exporter: Exporter, prometheus: PrometheusServer, session: aiohttp.ClientSession
) -> None:
    gauge = exporter.gauge("wedsync_test_observed", "A value whose query is timed.")
    gauge.set(3)
    prometheus.wait_for_value("wedsync_test_observed", equals(3))
    heard: list[tuple[float, str]] = []
    client = PrometheusClient(
        session,
        prometheus.url,
        timeout=TIMEOUT,
        observer=lambda seconds, outcome: heard.append((seconds, outcome)),
    )

    await client.query("wedsync_test_observed")
    await client.query("wedsync_test_never_exported")
    with pytest.raises(PrometheusError):
        await client.query("sum(")

    assert [outcome for _, outcome in heard] == ["Success", "Missing", "QueryFailed"]
    assert all(0 < seconds < TIMEOUT for seconds, _ in heard)


async def test_a_failing_observer_does_not_fail_the_query(
    exporter: Exporter,
    prometheus: PrometheusServer,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_observer(seconds: float, outcome: str) -> None:
        raise RuntimeError("metrics are broken")

    client = PrometheusClient(session, prometheus.url, timeout=TIMEOUT, observer=broken_observer)

    assert await client.query("2 + 2") == 4.0
    assert "observer failed" in caplog.text


async def test_a_bearer_token_is_sent_and_never_shown(session: aiohttp.ClientSession) -> None:
    # Prometheus itself cannot check bearer tokens; a proxy in front of it would.
    seen: list[str | None] = []

    async def api(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response(
            {"status": "success", "data": {"resultType": "scalar", "result": [0, "1"]}}
        )

    app = web.Application()
    app.router.add_post("/prefix/api/v1/query", api)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, LOOPBACK, 0)
        await site.start()
        port = runner.addresses[0][1]
        url = f"http://{LOOPBACK}:{port}/prefix/"
        client = PrometheusClient(session, url, timeout=TIMEOUT, bearer_token="s3cret")

        assert await client.query("vector(1)") == 1.0
    finally:
        await runner.cleanup()

    assert seen == ["Bearer s3cret"]
    assert "s3cret" not in repr(client)


async def test_stopped_prometheus_then_restarted_is_read_again(
    exporter: Exporter, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # Its own Prometheus, so that the outage cannot leak into other tests.
    gauge = exporter.gauge("wedsync_test_outage", "A value read across an outage.")
    gauge.set(7)
    with PrometheusServer([exporter.target], tmp_path) as server:
        client = PrometheusClient(session, server.url, timeout=TIMEOUT)
        server.wait_for_value("wedsync_test_outage", equals(7))
        assert await client.query("wedsync_test_outage") == 7.0

        server.stop()
        with pytest.raises(PrometheusError) as caught:
            await client.query("wedsync_test_outage")
        assert caught.value.reason == "PrometheusUnreachable"

        gauge.set(8)  # changes during the outage
        server.restart()
        server.wait_for_value("wedsync_test_outage", equals(8))
        assert await client.query("wedsync_test_outage") == 8.0
