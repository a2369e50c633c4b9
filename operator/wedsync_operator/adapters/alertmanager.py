"""Silences over the Alertmanager v2 HTTP API, each call bounded by a timeout.

The caller owns the :class:`aiohttp.ClientSession` (the operator's one session, made at
startup and reused); this module never creates or closes one. Which silences to create
or expire is decided in ``engine.silences``; this module lists, creates and expires.

Alertmanager quirks handled here: expiring a silence that is already expired succeeds
(HTTP 200), and expiring one it does not know answers HTTP 500 "silence not found"
(0.25) or 404 (newer) — both mean there is nothing left to expire.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal

import aiohttp

from wedsync_operator.adapters.egress import answer_shape
from wedsync_operator.model.observations import Silence
from wedsync_operator.model.types import Matcher

__all__ = [
    "AlertmanagerClient",
    "AlertmanagerError",
    "Reason",
    "parse_silence",
]

logger = logging.getLogger(__name__)

Reason = Literal["AlertmanagerUnreachable", "AlertmanagerTimeout", "AlertmanagerBadResponse"]

SILENCES_PATH: Final = "/api/v2/silences"
SILENCE_PATH: Final = "/api/v2/silence/"


class AlertmanagerError(Exception):
    """A call that gave no usable answer; ``reason`` says which kind of failure."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"AlertmanagerError({self.reason!r}, {self.message!r})"


class AlertmanagerClient:
    """Silences of one Alertmanager (``url`` is its base, e.g. ``http://am:9093``)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, *, timeout: float) -> None:
        if not timeout > 0 or not math.isfinite(timeout):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self._session = session
        self.url = url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AlertmanagerClient({self.url!r}, timeout={self.timeout})"

    async def list_silences(self) -> list[Silence]:
        """Every silence Alertmanager keeps (active, pending and recently expired)."""
        status, body = await self._call("GET", SILENCES_PATH)
        if status != 200:
            raise self._bad(status, body, "listing silences")
        document = self._json(status, body)
        if not isinstance(document, list):
            raise self._bad(status, body, "listing silences (not a list)")
        try:
            return [parse_silence(item) for item in document]
        except (KeyError, TypeError, ValueError) as exc:
            logger.debug("Alertmanager at %s listed an unreadable silence: %r", self.url, exc)
            raise AlertmanagerError(
                "AlertmanagerBadResponse",
                f"Alertmanager at {self.url} listed a silence that cannot be read "
                f"({answer_shape(status, None, body)}).",
            ) from None

    async def create_silence(self, payload: Mapping[str, Any]) -> str:
        """Post a silence (``engine.silences.silence_payload``); its new id."""
        status, body = await self._call("POST", SILENCES_PATH, payload)
        if status != 200:
            raise self._bad(status, body, "creating a silence")
        document = self._json(status, body)
        silence_id = document.get("silenceID") if isinstance(document, dict) else None
        if not isinstance(silence_id, str) or not silence_id:
            raise self._bad(status, body, "creating a silence (no silenceID)")
        return silence_id

    async def expire_silence(self, silence_id: str) -> None:
        """Expire a silence now; one already expired or unknown is not an error."""
        status, body = await self._call("DELETE", SILENCE_PATH + silence_id)
        if status == 200 or status == 404:
            return
        if status == 500 and b"not found" in body.lower():
            return
        raise self._bad(status, body, f"expiring silence {silence_id}")

    async def _call(
        self, method: str, path: str, payload: Mapping[str, Any] | None = None
    ) -> tuple[int, bytes]:
        try:
            async with (
                asyncio.timeout(self.timeout),
                self._session.request(
                    method,
                    self.url + path,
                    json=payload,
                    headers={"Accept": "application/json"},
                    allow_redirects=False,
                ) as response,
            ):
                return response.status, await response.read()
        except TimeoutError:
            raise AlertmanagerError(
                "AlertmanagerTimeout",
                f"Alertmanager at {self.url} did not answer within {self.timeout:g}s.",
            ) from None
        except aiohttp.InvalidURL:
            raise AlertmanagerError(
                "AlertmanagerUnreachable", f"The Alertmanager URL {self.url!r} is not valid."
            ) from None
        except (aiohttp.ClientResponseError, aiohttp.ClientPayloadError) as exc:
            # The exception's text may quote the answer: only its kind is reported.
            raise AlertmanagerError(
                "AlertmanagerBadResponse",
                f"Alertmanager at {self.url} sent a malformed HTTP response "
                f"({type(exc).__name__}).",
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            detail = str(exc) or type(exc).__name__
            raise AlertmanagerError(
                "AlertmanagerUnreachable",
                f"Alertmanager at {self.url} could not be reached: {detail}.",
            ) from exc

    def _json(self, status: int, body: bytes) -> Any:
        try:
            return json.loads(body)
        except ValueError:
            raise self._bad(status, body, "a body that is not JSON") from None

    def _bad(self, status: int, body: bytes, what: str) -> AlertmanagerError:
        logger.debug("Alertmanager at %s answered %s: %r", self.url, what, body[:2000])
        redirect = "; redirects are not followed" if 300 <= status < 400 else ""
        return AlertmanagerError(
            "AlertmanagerBadResponse",
            f"Alertmanager at {self.url} answered {answer_shape(status, None, body)} "
            f"when {what}{redirect}.",
        )


def _instant(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a timestamp")
    t = datetime.fromisoformat(value)
    if t.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return t


def parse_silence(item: Any) -> Silence:
    """A :class:`Silence` from one element of ``GET /api/v2/silences``."""
    if not isinstance(item, dict):
        raise TypeError(f"{item!r} is not an object")
    matchers = tuple(
        Matcher(
            name=str(m["name"]),
            value=str(m["value"]),
            is_regex=bool(m.get("isRegex", False)),
            # Alertmanager before 0.22 has no isEqual: every matcher was an equality.
            is_equal=bool(m.get("isEqual", True)),
        )
        for m in item.get("matchers") or ()
    )
    status = item.get("status") or {}
    return Silence(
        id=str(item["id"]),
        matchers=matchers,
        starts_at=_instant(item["startsAt"]),
        ends_at=_instant(item["endsAt"]),
        created_by=str(item.get("createdBy", "")),
        comment=str(item.get("comment", "")),
        state=str(status.get("state", "")) if isinstance(status, dict) else "",
    )
