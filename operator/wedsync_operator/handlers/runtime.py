"""What the handlers share: clients made once at startup, the clock, and wake-ups.

A WeddingDay changing phase must switch its policies at that instant, not at their next
tick: each policy loop sleeps on its own asyncio.Event, and ``Wakeups`` lets the
WeddingDay side set the events of every policy in a namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from wedsync_operator.adapters.kube import KubeClient

Key = tuple[str, str, str]  # (kind, namespace, name)
Logger = logging.Logger | logging.LoggerAdapter[Any]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Wakeups:
    events: dict[Key, asyncio.Event] = field(default_factory=dict)

    def register(self, key: Key) -> asyncio.Event:
        return self.events.setdefault(key, asyncio.Event())

    def unregister(self, key: Key) -> None:
        self.events.pop(key, None)

    def wake(self, key: Key) -> None:
        if key in self.events:
            self.events[key].set()

    def wake_policies(self, namespace: str) -> None:
        for (kind, ns, _), event in self.events.items():
            if kind == "ps" and ns == namespace:
                event.set()


@dataclass
class Runtime:
    kube: KubeClient
    http: aiohttp.ClientSession
    wakeups: Wakeups = field(default_factory=Wakeups)


async def sleep_or_wake(wake: asyncio.Event, stopped: Any, seconds: float) -> None:
    """Sleep ``seconds``, or less if woken or asked to stop (kopf's daemon flag)."""
    waiters = {
        asyncio.ensure_future(wake.wait()),
        asyncio.ensure_future(stopped.wait()),
    }
    try:
        await asyncio.wait(waiters, timeout=max(seconds, 0.0), return_when="FIRST_COMPLETED")
    finally:
        for w in waiters:
            w.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await w
    wake.clear()
