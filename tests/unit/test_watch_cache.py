"""The watch cache's bookkeeping, without a server: which copy of an object is kept."""

from __future__ import annotations

from typing import cast

import pytest

from wedsync_operator.adapters.kube import KubeClient, Scale, scale_of
from wedsync_operator.adapters.kube_watch import Reflector, newer


@pytest.mark.parametrize(
    ("candidate", "held", "expected"),
    [
        ("120", "119", True),
        ("120", "120", True),
        ("119", "120", False),
        ("1000", "999", True),  # compared as numbers, not as strings
        ("opaque-b", "opaque-a", True),  # not etcd's revisions: taken as newer
        ("", "5", True),
    ],
)
def test_a_copy_is_newer_by_its_resource_version(candidate: str, held: str, expected: bool) -> None:
    assert newer(candidate, held) is expected


def listed(replicas: int, version: str) -> Reflector[Scale]:
    reflector = Reflector(cast(KubeClient, None), "/apis/apps/v1/x", scale_of)
    reflector.items["web"] = Scale(replicas, replicas, version)
    reflector._versions["web"] = version
    reflector.synced = True
    return reflector


def test_our_patch_answer_replaces_an_older_cached_copy() -> None:
    reflector = listed(2, "100")

    reflector.record("web", Scale(5, 2, "105"), "105")

    assert reflector.get("web") == Scale(5, 2, "105")


def test_an_answer_older_than_the_cached_copy_is_ignored() -> None:
    reflector = listed(7, "110")

    reflector.record("web", Scale(5, 2, "105"), "105")

    assert reflector.get("web") == Scale(7, 7, "110")


def test_a_cache_that_is_not_current_answers_nothing() -> None:
    reflector = listed(2, "100")
    reflector.synced = False

    reflector.record("web", Scale(5, 2, "105"), "105")

    assert reflector.get("web") is None
    assert reflector.items["web"].replicas == 2


def test_a_watch_event_older_than_our_patch_answer_does_not_undo_it() -> None:
    reflector = listed(2, "100")
    reflector.record("web", Scale(5, 2, "105"), "105")

    # An event from before the patch, delivered after its answer.
    reflector._put({"metadata": {"name": "web", "resourceVersion": "103"},
                    "spec": {"replicas": 3}})  # fmt: skip
    kept = reflector.get("web")
    reflector._put({"metadata": {"name": "web", "resourceVersion": "107"},
                    "spec": {"replicas": 5}, "status": {"replicas": 5}})  # fmt: skip

    assert kept == Scale(5, 2, "105")
    assert reflector.get("web") == Scale(5, 5, "107")
