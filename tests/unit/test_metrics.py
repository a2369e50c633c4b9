"""The operator's own metrics that need no cluster."""

from __future__ import annotations

import gc

from wedsync_operator import metrics


def _pauses(generation: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "wedsync_operator_gc_pause_seconds_count", {"generation": generation}
    )
    return value or 0.0


def test_a_full_garbage_collection_is_recorded_as_a_pause_of_generation_2() -> None:
    before = _pauses("2")
    gc.callbacks.append(metrics._on_gc)
    try:
        gc.collect(2)
    finally:
        gc.callbacks.remove(metrics._on_gc)
    assert _pauses("2") == before + 1
