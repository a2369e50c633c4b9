"""The watch cache's bookkeeping, without a server: which copy of an object is kept.

resourceVersions are opaque: these use words, so that no test passes by comparing them as
numbers (the API allows equality only)."""

from __future__ import annotations

from typing import cast

import pytest

from wedsync_operator.adapters import kube_watch
from wedsync_operator.adapters.kube import KubeClient
from wedsync_operator.adapters.kube_objects import scale_of
from wedsync_operator.adapters.kube_watch import Reflector
from wedsync_operator.model.observations import Scale


def event(version: str, replicas: int, current: int | None = None) -> dict[str, object]:
    return {
        "metadata": {"name": "web", "resourceVersion": version},
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas if current is None else current},
    }


def listed(replicas: int, version: str) -> Reflector[Scale]:
    reflector = Reflector(cast(KubeClient, None), "/apis/apps/v1/x", scale_of)
    reflector._put(event(version, replicas))
    reflector.synced = True
    return reflector


def test_our_patch_answer_replaces_the_cached_copy_until_the_watch_brings_it() -> None:
    reflector = listed(2, "apple")

    reflector.record("web", Scale(5, 2, "pear"), "pear")

    assert reflector.get("web") == Scale(5, 2, "pear")


def test_an_answer_the_watch_already_delivered_and_passed_is_ignored() -> None:
    reflector = listed(2, "apple")
    reflector._put(event("pear", 5, 2))  # our patch, delivered before its answer came
    reflector._put(event("quince", 7))  # then someone else scaled to 7

    reflector.record("web", Scale(5, 2, "pear"), "pear")

    assert reflector.get("web") == Scale(7, 7, "quince", ready_replicas=0)


def test_a_cache_that_is_not_current_answers_nothing() -> None:
    reflector = listed(2, "apple")
    reflector.synced = False

    reflector.record("web", Scale(5, 2, "pear"), "pear")

    assert reflector.get("web") is None
    assert reflector.items["web"].replicas == 2


def test_a_watch_event_from_before_our_patch_answer_does_not_undo_it() -> None:
    reflector = listed(2, "apple")
    reflector.record("web", Scale(5, 2, "pear"), "pear")

    reflector._put(event("fig", 3))  # from before the patch, delivered after its answer
    kept = reflector.get("web")
    reflector._put(event("pear", 5, 2))  # the patch itself: the hold ends
    reflector._put(event("zucchini", 5))  # and later events apply as usual

    assert kept == Scale(5, 2, "pear")
    assert reflector.get("web") == Scale(5, 5, "zucchini", ready_replicas=0)


def test_a_hold_the_watch_never_reaches_ends_after_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reflector = listed(2, "apple")
    monkeypatch.setattr(kube_watch, "HOLD_SECONDS", 0.0)
    reflector.record("web", Scale(5, 2, "pear"), "pear")

    # A restarted watch began after "pear": it will never deliver it.
    reflector._put(event("zucchini", 4))

    assert reflector.get("web") == Scale(4, 4, "zucchini", ready_replicas=0)
