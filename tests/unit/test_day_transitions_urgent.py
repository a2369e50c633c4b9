"""A day's next step: urgent when it is a phase change, so that after a restart the
activation goes ahead of the backlog of first turns that fell due before it."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import kopf
import pytest

from wedsync_operator.adapters.kube import Urgency
from wedsync_operator.aiokits.scheduler import Due
from wedsync_operator.handlers.runtime import Runtime
from wedsync_operator.handlers.weddingday import IDLE_RECHECK_SECONDS, weddingday_step

LOG = logging.getLogger(__name__)


@pytest.fixture(autouse=True)
def _no_event_posting(monkeypatch: pytest.MonkeyPatch) -> None:
    # kopf.event posts through context that only kopf's object tasks carry.
    monkeypatch.setattr(kopf, "event", lambda *args, **kwargs: None)


class StatusWrites:
    """Stands in for the KubeClient calls a day's step makes."""

    def __init__(self) -> None:
        self.written: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def on_behalf_of(self, urgency: Urgency) -> Iterator[None]:
        yield

    def hurry(self, urgency: Urgency) -> None:
        pass

    async def patch_status(self, plural: str, namespace: str, name: str, status: Any) -> None:
        self.written.append(status)


def _runtime_with_day(mode_starts_in: timedelta) -> Runtime:
    start = datetime.now(UTC) + mode_starts_in + timedelta(hours=2)  # default leadTime
    body = {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "WeddingDay",
        "metadata": {"name": "saturday", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": {
            "start": start.isoformat(timespec="seconds"),
            "end": (start + timedelta(hours=4)).isoformat(timespec="seconds"),
        },
    }
    runtime = Runtime(
        kube=cast(Any, StatusWrites()),
        datastores=cast(Any, None),
        targets=cast(Any, None),
        metrics_sources=cast(Any, None),
        silencers=cast(Any, None),
    )
    runtime.track(("wd", "ns", "saturday"), kopf.Body(cast(kopf.RawBody, body)), LOG)
    return runtime


async def test_a_phase_change_within_the_recheck_is_due_urgently_at_its_instant() -> None:
    runtime = _runtime_with_day(timedelta(seconds=60))

    due = await weddingday_step(runtime, "ns", "saturday")

    assert isinstance(due, Due) and due.urgent
    assert abs(due.at - (time.time() + 60)) < 2


async def test_a_phase_change_beyond_the_recheck_waits_as_routine_recheck() -> None:
    runtime = _runtime_with_day(timedelta(days=30))

    due = await weddingday_step(runtime, "ns", "saturday")

    assert isinstance(due, Due) and not due.urgent
    assert abs(due.at - (time.time() + IDLE_RECHECK_SECONDS)) < 2
