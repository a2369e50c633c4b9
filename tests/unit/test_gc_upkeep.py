"""The collector upkeep that keeps full collections from stopping the event loop."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from wedsync_operator.handlers.settings import gc_step


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
