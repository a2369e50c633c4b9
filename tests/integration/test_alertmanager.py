"""Wedding-day silences against a real Alertmanager.

What the adapter did is read back through Alertmanager's own API (``urllib``, not the
adapter): the silence's matchers, end and author; no duplicate after a second reconcile
or a restart of the operator; expired when the mode ends early.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from services.alertmanager import AlertmanagerServer
from services.prometheus import free_port
from wedsync_operator.adapters.alertmanager import AlertmanagerClient, AlertmanagerError
from wedsync_operator.engine.silences import (
    CREATED_BY,
    SilenceOwner,
    SilenceSpec,
    silence_payload,
    wanted_silence,
)
from wedsync_operator.handlers.datatier import reconcile_silences
from wedsync_operator.model.types import Matcher, SilenceAlerts

TIMEOUT = 5.0


@pytest.fixture
def owner() -> SilenceOwner:
    """A policy of this test only (the Alertmanager is shared by the session)."""
    return SilenceOwner("shop", f"platform-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def client(session: aiohttp.ClientSession, alertmanager: AlertmanagerServer) -> AlertmanagerClient:
    return AlertmanagerClient(session, alertmanager.url, timeout=TIMEOUT)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def want(owner: SilenceOwner, until: datetime, alerts: SilenceAlerts | None = None) -> SilenceSpec:
    spec = wanted_silence(
        owner, alerts or SilenceAlerts("http://unused"), ["saturday-a"], until, now()
    )
    assert spec is not None
    return spec


def owned(server: AlertmanagerServer, owner: SilenceOwner) -> list[dict[str, Any]]:
    return [s for s in server.silences() if owner.marker in s["comment"]]


def live(server: AlertmanagerServer, owner: SilenceOwner) -> list[dict[str, Any]]:
    return [s for s in owned(server, owner) if s["status"]["state"] in ("active", "pending")]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_entering_the_mode_creates_a_silence_with_the_matchers_until_its_end(
    client: AlertmanagerClient, alertmanager: AlertmanagerServer, owner: SilenceOwner
) -> None:
    until = now() + timedelta(hours=6)

    sync = await reconcile_silences(client, owner, [want(owner, until)])

    [silence] = live(alertmanager, owner)
    assert sync.created == sync.ids == (silence["id"],)
    assert sync.expired == ()
    assert silence["status"]["state"] == "active"
    assert silence["createdBy"] == CREATED_BY
    assert silence["matchers"] == [
        {"name": "severity", "value": "critical", "isRegex": False, "isEqual": False}
    ]
    assert instant(silence["endsAt"]) == until
    assert f"PlatformScaling shop/{owner.policy} for saturday-a" in silence["comment"]


async def test_a_second_reconcile_and_a_restarted_operator_create_no_duplicate(
    session: aiohttp.ClientSession,
    client: AlertmanagerClient,
    alertmanager: AlertmanagerServer,
    owner: SilenceOwner,
) -> None:
    until = now() + timedelta(hours=6)
    first = await reconcile_silences(client, owner, [want(owner, until)])
    second = await reconcile_silences(client, owner, [want(owner, until)])
    # A restarted operator: a new session and client, no memory but Alertmanager's.
    async with aiohttp.ClientSession() as fresh_session:
        fresh = AlertmanagerClient(fresh_session, alertmanager.url, timeout=TIMEOUT)
        third = await reconcile_silences(fresh, owner, [want(owner, until)])

    assert len(first.created) == 1
    assert second.created == third.created == ()
    assert first.ids == second.ids == third.ids
    assert len(live(alertmanager, owner)) == 1


async def test_ending_the_mode_early_expires_the_silence(
    client: AlertmanagerClient, alertmanager: AlertmanagerServer, owner: SilenceOwner
) -> None:
    created = await reconcile_silences(client, owner, [want(owner, now() + timedelta(hours=6))])

    ended = await reconcile_silences(client, owner, [])

    assert ended.expired == created.ids
    assert ended.ids == ended.created == ()
    [silence] = owned(alertmanager, owner)
    assert silence["status"]["state"] == "expired"
    assert instant(silence["endsAt"]) <= datetime.now(UTC)
    # Nothing left to do the second time.
    again = await reconcile_silences(client, owner, [])
    assert again.expired == again.created == ()


async def test_a_moved_end_replaces_the_silence_without_a_gap(
    client: AlertmanagerClient, alertmanager: AlertmanagerServer, owner: SilenceOwner
) -> None:
    first = await reconcile_silences(client, owner, [want(owner, now() + timedelta(hours=6))])
    later = now() + timedelta(hours=9)

    moved = await reconcile_silences(client, owner, [want(owner, later)])

    assert moved.expired == first.ids
    assert len(moved.created) == 1 and moved.ids == moved.created
    [silence] = live(alertmanager, owner)
    assert silence["id"] == moved.created[0]
    assert instant(silence["endsAt"]) == later


async def test_configured_matchers_are_posted_as_configured(
    client: AlertmanagerClient, alertmanager: AlertmanagerServer, owner: SilenceOwner
) -> None:
    alerts = SilenceAlerts(
        "http://unused",
        (
            Matcher("severity", "critical", is_equal=False),
            Matcher("team", "web|api", is_regex=True),
            Matcher("namespace", "shop"),
        ),
    )
    await reconcile_silences(client, owner, [want(owner, now() + timedelta(hours=1), alerts)])

    [silence] = live(alertmanager, owner)
    assert sorted(silence["matchers"], key=lambda m: m["name"]) == [
        {"name": "namespace", "value": "shop", "isRegex": False, "isEqual": True},
        {"name": "severity", "value": "critical", "isRegex": False, "isEqual": False},
        {"name": "team", "value": "web|api", "isRegex": True, "isEqual": True},
    ]


async def test_a_persons_silence_with_the_same_matchers_is_never_touched(
    client: AlertmanagerClient, alertmanager: AlertmanagerServer, owner: SilenceOwner
) -> None:
    spec = want(owner, now() + timedelta(hours=2))
    by_hand = {**silence_payload(spec), "createdBy": "alice"}
    hand_id = await client.create_silence(by_hand)

    await reconcile_silences(client, owner, [spec])
    await reconcile_silences(client, owner, [])

    by_id = {s["id"]: s for s in alertmanager.silences()}
    assert by_id[hand_id]["status"]["state"] == "active"
    await client.expire_silence(hand_id)


async def test_expiring_an_expired_or_unknown_silence_is_not_an_error(
    client: AlertmanagerClient, owner: SilenceOwner
) -> None:
    silence_id = await client.create_silence(
        silence_payload(want(owner, now() + timedelta(hours=1)))
    )
    await client.expire_silence(silence_id)
    await client.expire_silence(silence_id)
    await client.expire_silence(str(uuid.uuid4()))


async def test_an_unreachable_alertmanager_is_an_error_with_a_condition_reason(
    session: aiohttp.ClientSession, owner: SilenceOwner
) -> None:
    client = AlertmanagerClient(session, f"http://127.0.0.1:{free_port()}", timeout=TIMEOUT)
    with pytest.raises(AlertmanagerError) as caught:
        await reconcile_silences(client, owner, [])
    assert caught.value.reason == "AlertmanagerUnreachable"


async def test_a_hung_alertmanager_times_out(
    session: aiohttp.ClientSession, silent_port: int
) -> None:
    client = AlertmanagerClient(session, f"http://127.0.0.1:{silent_port}", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(AlertmanagerError) as caught:
        await client.list_silences()
    assert time.monotonic() - started < 1.5
    assert caught.value.reason == "AlertmanagerTimeout"


async def test_a_rejected_silence_is_a_bad_response_with_alertmanagers_words_only_in_the_log(
    client: AlertmanagerClient, owner: SilenceOwner, caplog: pytest.LogCaptureFixture
) -> None:
    payload = {**silence_payload(want(owner, now() + timedelta(hours=1))), "matchers": []}
    with caplog.at_level("DEBUG"), pytest.raises(AlertmanagerError) as caught:
        await client.create_silence(payload)
    assert caught.value.reason == "AlertmanagerBadResponse"
    assert "HTTP 422" in caught.value.message
    assert "bytes when creating a silence" in caught.value.message
    # Alertmanager's own words name the field, but a remote answer stays out of status.
    assert "matchers" not in caught.value.message
    assert "matchers" in caplog.text
