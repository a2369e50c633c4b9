"""The adapters' pure edges: secrets kept out of messages, redis-py's parsed INFO and
Alertmanager's silence JSON turned into the engine's types (no network here)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wedsync_operator.adapters.alertmanager import parse_silence
from wedsync_operator.adapters.datastores import DataStoreError, redact, scrub
from wedsync_operator.adapters.redis_store import replication_from_info
from wedsync_operator.model.observations import RedisReplica, RedisReplication, Silence
from wedsync_operator.model.types import Matcher


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@10.0.0.5:6379/0", "redis://10.0.0.5:6379/0"),
        ("redis://user:s3cret@cache.shop.svc", "redis://cache.shop.svc"),
        ("rediss://:p%40ss@[fd00::1]:6380/2", "rediss://[fd00::1]:6380/2"),
        (
            "postgresql://app:s3cret@db:5432/wed?sslmode=require&password=x",
            "postgresql://db:5432/wed",
        ),
        ("host=db user=app password=s3cret", "(a DSN that is not a URL)"),
        ("redis://:s3cret@host:notaport/0", "(unparseable URL)"),
    ],
)
def test_urls_are_named_without_credentials(url: str, shown: str) -> None:
    assert redact(url) == shown


@pytest.mark.parametrize(
    ("message", "url"),
    [
        ("auth failed for s3cret", "redis://:s3cret@h:1/0"),
        ("bad password p@ss", "rediss://:p%40ss@h:1/0"),
        ("bad password s3cret", "postgresql://u@h/db?password=s3cret"),
        ("bad password s3cret", "host=h password='s3cret' user=u"),
        ("could not use postgresql://u:s3cret@h/db", "postgresql://u:s3cret@h/db"),
    ],
)
def test_passwords_are_scrubbed_from_messages(message: str, url: str) -> None:
    scrubbed = scrub(message, url)
    assert "s3cret" not in scrubbed
    assert "p@ss" not in scrubbed
    assert "***" in scrubbed


def test_redis_info_from_redis_py_becomes_the_gate_input() -> None:
    # What redis-py's parse_info makes of a primary with two replicas.
    info = {
        "role": "master",
        "connected_slaves": 2,
        "slave0": {"ip": "10.0.0.7", "port": 6379, "state": "online", "offset": 990, "lag": 0},
        "slave1": {"ip": "10.0.0.8", "port": 6379, "state": "wait_bgsave", "offset": 0, "lag": 1},
        "master_failover_state": "no-failover",
        "master_replid": "8f3c",
        "master_repl_offset": 1000,
    }
    assert replication_from_info(info) == RedisReplication(
        role="master",
        connected_slaves=2,
        master_repl_offset=1000,
        replicas=(
            RedisReplica("10.0.0.7", 6379, "online", 990, 0),
            RedisReplica("10.0.0.8", 6379, "wait_bgsave", 0, 1),
        ),
    )


def test_redis_info_of_a_replica_keeps_its_link_status() -> None:
    info = {"role": "slave", "master_link_status": "down", "connected_slaves": 0}
    parsed = replication_from_info(info)
    assert (parsed.role, parsed.master_link_status, parsed.replicas) == ("slave", "down", ())


def test_redis_info_that_no_redis_sends_is_an_error() -> None:
    with pytest.raises(DataStoreError) as caught:
        replication_from_info({"role": "master", "slave0": {"ip": "x", "port": "six"}})
    assert caught.value.reason == "RedisError"


def test_an_alertmanager_silence_becomes_the_planner_input() -> None:
    item = {
        "id": "94dd91b6",
        "status": {"state": "active"},
        "updatedAt": "2027-06-05T08:00:00.357Z",
        "comment": "c [wedsync.io/policy=shop/platform]",
        "createdBy": "wedsync-operator",
        "endsAt": "2027-06-05T23:00:00.000Z",
        "matchers": [
            {"isEqual": False, "isRegex": False, "name": "severity", "value": "critical"},
            {"isRegex": True, "name": "team", "value": "web|api"},  # before 0.22: no isEqual
        ],
        "startsAt": "2027-06-05T08:00:00.357Z",
    }
    assert parse_silence(item) == Silence(
        id="94dd91b6",
        matchers=(
            Matcher("severity", "critical", is_regex=False, is_equal=False),
            Matcher("team", "web|api", is_regex=True, is_equal=True),
        ),
        starts_at=datetime(2027, 6, 5, 8, 0, 0, 357000, tzinfo=UTC),
        ends_at=datetime(2027, 6, 5, 23, 0, tzinfo=UTC),
        created_by="wedsync-operator",
        comment="c [wedsync.io/policy=shop/platform]",
        state="active",
    )
