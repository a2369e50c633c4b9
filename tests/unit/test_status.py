"""Rendering decisions into status: conditions keep their transition time while steady, and
an evaluation that changes nothing significant does not rewrite the status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wedsync_operator.engine.status import (
    already_reported,
    condition,
    merge_conditions,
    replica_summary,
    resumed,
    significant,
    status_write_due,
)
from wedsync_operator.model.status import parse_conditions

T0 = datetime(2027, 6, 12, 8, 0, tzinfo=UTC)


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    first = merge_conditions([], [condition("Ready", "True", "Evaluated", "ok", 1)], T0)
    later = merge_conditions(
        parse_conditions(first),
        [condition("Ready", "True", "Evaluated", "still ok", 2)],
        T0 + timedelta(minutes=5),
    )

    assert later[0]["lastTransitionTime"] == "2027-06-12T08:00:00Z"
    assert later[0]["message"] == "still ok"
    assert later[0]["observedGeneration"] == 2


def test_a_condition_that_flips_gets_a_new_transition_time() -> None:
    first = merge_conditions([], [condition("Ready", "True", "Evaluated", "ok", 1)], T0)
    flipped = merge_conditions(
        parse_conditions(first),
        [condition("Ready", "False", "Paused", "paused", 1)],
        T0 + timedelta(minutes=5),
    )

    assert flipped[0]["lastTransitionTime"] == "2027-06-12T08:05:00Z"
    assert flipped[0]["reason"] == "Paused"


def test_conditions_of_other_types_are_kept_and_sorted_by_type() -> None:
    first = merge_conditions([], [condition("Ready", "True", "Evaluated", "ok", 1)], T0)
    both = merge_conditions(
        parse_conditions(first),
        [condition("MetricsAvailable", "False", "NoSamples", "none", 1)],
        T0,
    )

    assert [c["type"] for c in both] == ["MetricsAvailable", "Ready"]


def test_replica_summary_shows_pending_changes_only() -> None:
    entries = [
        {"name": "web", "currentReplicas": 6, "desiredReplicas": 6},
        {"name": "redis-replica", "currentReplicas": 3, "desiredReplicas": 4},
    ]

    assert replica_summary(entries) == "web=6 redis-replica=3->4"


def _policy_status(**changes: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "mode": "Normal",
        "observedGeneration": 1,
        "lastEvaluationTime": "2026-06-06T10:00:00Z",
        "conditions": [{"type": "Ready", "status": "True", "reason": "Evaluated"}],
        "metrics": [{"name": "cpu", "value": "71.5", "at": "2026-06-06T10:00:00Z"}],
        "healthScore": 93,
        "targets": [
            {
                "name": "web",
                "currentReplicas": 4,
                "desiredReplicas": 4,
                "reason": "WithinTolerance",
                "message": "cpu 71.5 is within 10% of its target 70",
                "recommendationHistory": [{"at": "2026-06-06T10:00:00Z", "replicas": 4}],
            }
        ],
    }
    status.update(changes)
    return status


WRITTEN_AT = datetime(2026, 6, 6, 10, 0, tzinfo=UTC)
REFRESH = timedelta(seconds=60)


def test_the_first_status_of_a_loop_is_always_written() -> None:
    assert status_write_due(_policy_status(), None, None, WRITTEN_AT)


def test_a_new_heartbeat_metric_value_and_history_entry_alone_wait_for_the_refresh() -> None:
    written = _policy_status()
    later = _policy_status(
        lastEvaluationTime="2026-06-06T10:00:30Z",
        metrics=[{"name": "cpu", "value": "72.9", "at": "2026-06-06T10:00:30Z"}],
        healthScore=91,
    )
    later["targets"][0]["message"] = "cpu 72.9 is within 10% of its target 70"
    later["targets"][0]["recommendationHistory"].append(
        {"at": "2026-06-06T10:00:30Z", "replicas": 4}
    )
    now = WRITTEN_AT + timedelta(seconds=30)
    assert significant(later) == significant(written)
    assert not status_write_due(later, written, WRITTEN_AT + REFRESH, now)
    assert status_write_due(later, written, WRITTEN_AT + REFRESH, WRITTEN_AT + REFRESH)


@pytest.mark.parametrize(
    "change",
    [
        {"mode": "WeddingDay"},
        {"observedGeneration": 2},
        {"conditions": [{"type": "Ready", "status": "False", "reason": "TargetUnavailable"}]},
        {"consecutiveFailures": 1},
        {"replicaSummary": "web=4->6"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_a_significant_change_is_written_at_once(change: dict[str, Any]) -> None:
    now = WRITTEN_AT + timedelta(seconds=1)
    assert status_write_due(_policy_status(**change), _policy_status(), WRITTEN_AT + REFRESH, now)


@pytest.mark.parametrize(
    ("field", "value"),
    [("desiredReplicas", 6), ("currentReplicas", 6), ("reason", "ScaleUpLimited")],
)
def test_a_target_decision_that_changes_is_written_at_once(field: str, value: Any) -> None:
    later = _policy_status()
    later["targets"][0][field] = value
    now = WRITTEN_AT + timedelta(seconds=1)
    assert status_write_due(later, _policy_status(), WRITTEN_AT + REFRESH, now)


def test_a_new_count_in_the_recommendation_history_is_written_at_once() -> None:
    later = _policy_status()
    later["targets"][0]["recommendationHistory"].append(
        {"at": "2026-06-06T10:00:30Z", "replicas": 5}
    )
    now = WRITTEN_AT + timedelta(seconds=30)
    assert status_write_due(later, _policy_status(), WRITTEN_AT + REFRESH, now)


def test_a_resumed_status_carries_each_targets_last_recommendation_to_now() -> None:
    written = _policy_status()
    written["targets"][0]["recommendationHistory"] = [
        {"at": "2026-06-06T09:58:00Z", "replicas": 6},
        {"at": "2026-06-06T09:59:00Z", "replicas": 4},
    ]
    restarted = WRITTEN_AT + timedelta(minutes=3)

    history = resumed(written, restarted)["targets"][0]["recommendationHistory"]

    assert history[:2] == written["targets"][0]["recommendationHistory"]
    assert history[2] == {"at": "2026-06-06T10:03:00Z", "replicas": 4}
    assert len(written["targets"][0]["recommendationHistory"]) == 2  # not mutated


def test_a_resumed_status_without_history_is_left_as_it_is() -> None:
    assert resumed({"mode": "Normal"}, WRITTEN_AT) == {"mode": "Normal"}
    empty = _policy_status()
    empty["targets"][0]["recommendationHistory"] = []
    assert resumed(empty, WRITTEN_AT) == empty


def test_a_failure_is_already_reported_only_with_the_same_type_status_and_message() -> None:
    stored = parse_conditions(
        [
            condition("ModePublished", "False", "Invalid", "immutable", 1),
            condition("AlertsSilenced", "True", "SilencesActive", "2 silences", 1),
        ]
    )
    assert already_reported(stored, "ModePublished", "immutable")
    assert not already_reported(stored, "ModePublished", "forbidden")  # a new failure
    assert not already_reported(stored, "AlertsSilenced", "2 silences")  # not a failure
    assert not already_reported(stored, "Ready", "immutable")
    assert not already_reported((), "ModePublished", "immutable")
