"""The collector upkeep that keeps full collections from stopping the event loop."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from wedsync_operator.handlers.settings import (
    FIRST_FULL_COLLECTION_AFTER_SECONDS,
    FULL_COLLECTION_EVERY_SECONDS,
    full_collection_due,
    gc_step,
    release_free_memory,
)


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_objects_that_survive_the_young_collections_are_frozen_out_of_full_scans() -> None:
    kept = [{"day": i} for i in range(1000)]
    gc_step(full=False)
    assert gc.get_freeze_count() >= len(kept)


def test_a_garbage_cycle_among_frozen_objects_waits_for_the_full_step() -> None:
    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    gc_step(full=False)  # the cycle is still referenced: frozen with the rest
    del a, b  # now garbage that only a scan can find

    gc.collect()  # a full collection as Python runs it: frozen objects are not scanned
    assert alive() is not None

    gc_step(full=True)
    assert alive() is None


def test_the_first_full_collection_comes_ten_minutes_after_start_then_hourly() -> None:
    first = FIRST_FULL_COLLECTION_AFTER_SECONDS
    assert first == 600 and FULL_COLLECTION_EVERY_SECONDS == 3600
    assert not full_collection_due(started=100.0, last_full=None, now=100.0 + first - 1)
    assert full_collection_due(started=100.0, last_full=None, now=100.0 + first)
    then = 100.0 + first
    assert not full_collection_due(100.0, last_full=then, now=then + 3599)
    assert full_collection_due(100.0, last_full=then, now=then + 3600)


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc_trim")
def test_free_heap_memory_is_given_back_to_the_system_with_glibc() -> None:
    garbage = [bytes(1 << 20) for _ in range(8)]
    del garbage
    assert release_free_memory() is True
