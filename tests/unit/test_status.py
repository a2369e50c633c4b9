"""Rendering decisions into status: conditions keep their transition time while steady."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wedsync_operator.engine.status import condition, merge_conditions, replica_summary

T0 = datetime(2027, 6, 12, 8, 0, tzinfo=UTC)


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    first = merge_conditions([], [condition("Ready", "True", "Evaluated", "ok", 1)], T0)
    later = merge_conditions(
        first, [condition("Ready", "True", "Evaluated", "still ok", 2)], T0 + timedelta(minutes=5)
    )

    assert later[0]["lastTransitionTime"] == "2027-06-12T08:00:00Z"
    assert later[0]["message"] == "still ok"
    assert later[0]["observedGeneration"] == 2


def test_a_condition_that_flips_gets_a_new_transition_time() -> None:
    first = merge_conditions([], [condition("Ready", "True", "Evaluated", "ok", 1)], T0)
    flipped = merge_conditions(
        first, [condition("Ready", "False", "Paused", "paused", 1)], T0 + timedelta(minutes=5)
    )

    assert flipped[0]["lastTransitionTime"] == "2027-06-12T08:05:00Z"
    assert flipped[0]["reason"] == "Paused"


def test_conditions_of_other_types_are_kept_and_sorted_by_type() -> None:
    first = merge_conditions([], [condition("Ready", "True", "Evaluated", "ok", 1)], T0)
    both = merge_conditions(
        first, [condition("MetricsAvailable", "False", "NoSamples", "none", 1)], T0
    )

    assert [c["type"] for c in both] == ["MetricsAvailable", "Ready"]


def test_replica_summary_shows_pending_changes_only() -> None:
    entries = [
        {"name": "web", "currentReplicas": 6, "desiredReplicas": 6},
        {"name": "redis-replica", "currentReplicas": 3, "desiredReplicas": 4},
    ]

    assert replica_summary(entries) == "web=6 redis-replica=3->4"
