"""Instant PromQL queries over the Prometheus HTTP API, each bounded by a timeout.

A query gives one number or ``None``: ``None`` when the result is empty, NaN or infinite,
because a missing metric is *missing*, never zero (CONVENTIONS.md, "Reliability habits").
Everything else that can go wrong becomes a :class:`PrometheusError` whose ``reason`` is
a CamelCase word fit for a condition and whose message is a sentence for an SRE.

The caller owns the :class:`aiohttp.ClientSession` (one per operator, made at startup and
reused); this module never creates or closes one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import aiohttp

from wedsync_operator.adapters.egress import answer_shape

__all__ = [
    "Outcome",
    "PrometheusClient",
    "PrometheusError",
    "Reason",
]

logger = logging.getLogger(__name__)

Reason = Literal[
    "PrometheusUnreachable",
    "PrometheusTimeout",
    "PrometheusBadResponse",
    "QueryFailed",
    "AmbiguousQuery",
]
# What the observer hears after each query: a value, no value, or the error's reason.
Outcome = Literal["Success", "Missing"] | Reason

QUERY_PATH: Final = "/api/v1/query"
# Prometheus's documented errorType values, in the operator's words: the remote text
# never reaches status or Events (a policy's URL may point at any endpoint it can reach).
_ERROR_TYPES: Final = {
    "bad_data": "the query is not valid PromQL or its parameters are wrong",
    "execution": "the query failed while it ran",
    "canceled": "the query was cancelled",
    "internal": "Prometheus had an internal error",
    "unavailable": "Prometheus is unavailable",
    "not_found": "the API path was not found",
    "not_acceptable": "the request was not acceptable",
}


class PrometheusError(Exception):
    """A query that gave no usable answer; ``reason`` says which kind of failure."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"PrometheusError({self.reason!r}, {self.message!r})"


class PrometheusClient:
    """Instant queries against one Prometheus (or a compatible API: Thanos, Mimir, …)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        timeout: float,
        bearer_token: str | None = None,
        observer: Callable[[float, str], None] | None = None,
    ) -> None:
        if not timeout > 0 or not math.isfinite(timeout):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self._session = session
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._headers = {"Accept": "application/json"}
        if bearer_token:
            self._headers["Authorization"] = f"Bearer {bearer_token}"
        self._observer = observer

    def __repr__(self) -> str:
        # Never the token.
        return f"PrometheusClient({self.url!r}, timeout={self.timeout})"

    async def query(self, promql: str) -> float | None:
        """The value of an instant query: one series or a scalar; ``None`` if missing.

        Raises :class:`PrometheusError` for every failure, including network ones, and
        never waits longer than the client's timeout.
        """
        started = time.monotonic()
        try:
            value = await self._query(promql)
        except PrometheusError as exc:
            self._observe(started, exc.reason)
            raise
        except Exception as exc:
            error = as_prometheus_error(exc, self.url, self.timeout)
            if error is None:
                raise
            self._observe(started, error.reason)
            raise error from exc
        self._observe(started, "Missing" if value is None else "Success")
        return value

    async def query_many(
        self, queries: Mapping[str, str]
    ) -> dict[str, float | PrometheusError | None]:
        """Run named queries concurrently; each name gets a value, ``None`` or its error.

        One slow or failing query neither delays beyond the timeout nor cancels the others.
        Exceptions that are not about talking to Prometheus (bugs) are re-raised.
        """
        names = list(queries)
        results = await asyncio.gather(
            *(self.query(queries[name]) for name in names), return_exceptions=True
        )
        answers: dict[str, float | PrometheusError | None] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                error = (
                    result
                    if isinstance(result, PrometheusError)
                    else as_prometheus_error(result, self.url, self.timeout)
                )
                if error is None:
                    raise result
                answers[name] = error
            else:
                answers[name] = result
        return answers

    async def _query(self, promql: str) -> float | None:
        # POST keeps long queries out of URL length limits; ``timeout`` asks Prometheus
        # to give up on its side too, so an abandoned query does not keep it busy.
        form = {"query": promql, "timeout": f"{self.timeout:g}s"}
        async with (
            asyncio.timeout(self.timeout),
            self._session.post(
                self.url + QUERY_PATH, data=form, headers=self._headers, allow_redirects=False
            ) as response,
        ):
            body = await response.read()
            status = response.status
            content_type = response.headers.get("Content-Type", "")
        try:
            return _parse(status, body, self.url)
        except PrometheusError as exc:
            # The answer itself only in the log: status and Events get its shape.
            logger.debug("Prometheus at %s answered %r: %r", self.url, exc.reason, body[:2000])
            if exc.reason == "PrometheusBadResponse" or status != 200:
                raise PrometheusError(
                    exc.reason, f"{exc.message} ({answer_shape(status, content_type, body)})"
                ) from None
            raise

    def _observe(self, started: float, outcome: Outcome) -> None:
        if self._observer is None:
            return
        try:
            self._observer(time.monotonic() - started, outcome)
        except Exception:
            # Metrics must never break the query they time.
            logger.exception("Prometheus query observer failed")


def as_prometheus_error(exc: BaseException, url: str, timeout: float) -> PrometheusError | None:
    """The :class:`PrometheusError` for a network failure, or ``None`` if it is not one."""
    if isinstance(exc, PrometheusError):
        return exc
    # aiohttp.ServerTimeoutError is a TimeoutError too; asyncio.timeout raises TimeoutError.
    if isinstance(exc, TimeoutError):
        return PrometheusError(
            "PrometheusTimeout", f"Prometheus at {url} did not answer within {timeout:g}s."
        )
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        # The exception's text may quote the answer: only its kind is reported.
        return PrometheusError(
            "PrometheusBadResponse",
            f"Prometheus at {url} sent a malformed HTTP response ({type(exc).__name__}).",
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return PrometheusError(
            "PrometheusUnreachable", f"The Prometheus URL {url!r} is not a valid URL."
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        detail = str(exc) or type(exc).__name__
        return PrometheusError(
            "PrometheusUnreachable", f"Prometheus at {url} could not be reached: {detail}."
        )
    return None


_UNAVAILABLE = (502, 503, 504)


def _parse(status: int, body: bytes, url: str) -> float | None:
    if 300 <= status < 400:
        raise PrometheusError(
            "PrometheusBadResponse",
            f"Prometheus at {url} answered with a redirect, which the operator does not follow",
        )
    try:
        document: Any = json.loads(body)
    except ValueError:
        if status in _UNAVAILABLE:
            # Prometheus starting or shutting down, or a proxy whose Prometheus is down,
            # says so in plain text: an outage, not a malformed answer (Prometheus's own
            # JSON errors, its query timeouts included, are read below).
            raise PrometheusError(
                "PrometheusUnreachable", f"Prometheus at {url} is unavailable"
            ) from None
        raise PrometheusError(
            "PrometheusBadResponse", f"Prometheus at {url} answered with something not JSON"
        ) from None
    if not isinstance(document, dict) or document.get("status") not in ("success", "error"):
        raise _bad(url, status, "no status")
    if document["status"] == "error":
        error_type = document.get("errorType")
        if error_type == "timeout":
            raise PrometheusError(
                "PrometheusTimeout", f"Prometheus at {url} gave up on the query (timeout)."
            )
        known = error_type if isinstance(error_type, str) and error_type in _ERROR_TYPES else None
        what = f"{known}: {_ERROR_TYPES[known]}" if known else "an unknown error type"
        raise PrometheusError(
            "QueryFailed",
            f"Prometheus rejected the query ({what}); Prometheus's own message is in the "
            "operator's debug log, or run the query in the Prometheus UI.",
        )
    if status != 200:
        raise _bad(url, status, "status success with a non-200 HTTP code")
    data = document.get("data")
    if not isinstance(data, dict):
        raise _bad(url, status, "no data")
    result_type = data.get("resultType")
    result = data.get("result")
    if result_type == "scalar":
        return _sample_value(result, url, status)
    if result_type == "vector":
        if not isinstance(result, list):
            raise _bad(url, status, "a vector that is not a list")
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(
                "AmbiguousQuery",
                f"The query returned {len(result)} series where one number is needed; "
                "aggregate it, e.g. sum(...), avg(...) or max(...).",
            )
        series = result[0]
        if not isinstance(series, dict):
            raise _bad(url, status, "a series that is not an object")
        if "value" not in series and "histogram" in series:
            raise PrometheusError(
                "QueryFailed",
                "The query returned a native histogram where a number is needed; "
                "use e.g. histogram_quantile(...), histogram_sum(...) or histogram_count(...).",
            )
        return _sample_value(series.get("value"), url, status)
    if result_type == "matrix":
        raise PrometheusError(
            "QueryFailed",
            "The query returned a range vector where one number is needed; "
            "wrap it in a function such as rate(...[5m]) or avg_over_time(...[5m]).",
        )
    if result_type == "string":
        raise PrometheusError(
            "QueryFailed", "The query returned a string where a number is needed."
        )
    raise _bad(url, status, "an unknown result type")


def _sample_value(sample: Any, url: str, status: int) -> float | None:
    # A sample is [<unix time>, "<value>"]; the value is a string so that NaN and ±Inf fit.
    if not isinstance(sample, list) or len(sample) != 2 or not isinstance(sample[1], str):
        raise _bad(url, status, "a sample that is not [time, value]")
    try:
        value = float(sample[1])
    except ValueError:
        raise _bad(url, status, "a sample value that is not a number") from None
    return value if math.isfinite(value) else None


def _bad(url: str, status: int, what: str) -> PrometheusError:
    return PrometheusError(
        "PrometheusBadResponse",
        f"Prometheus at {url} answered HTTP {status} with {what}; is the URL a Prometheus API?",
    )
