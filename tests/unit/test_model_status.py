"""model/status.py: a stored status reads into typed fields; what is malformed or edited
by hand reads as empty fields, never as an exception."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from wedsync_operator.engine.status import condition, merge_conditions, states_from_status
from wedsync_operator.model.status import (
    DayStatus,
    PendingScaleStatus,
    PolicyStatus,
    StoredCondition,
    StoredEvent,
    TargetStatus,
    TimedCount,
    WarmingStatus,
    observed_generation,
    parse_conditions,
)

NOW = datetime(2027, 6, 12, 8, 0, tzinfo=UTC)

MALFORMED: list[Any] = [None, "Ready", 3, True, [], {}, ["x", 1, None], {"type": "Ready"}]


def test_a_condition_reads_back_as_it_was_written() -> None:
    written = merge_conditions([], [condition("Ready", "True", "Evaluated", "ok", 4)], NOW)

    (stored,) = parse_conditions(written)

    assert stored == StoredCondition(
        type="Ready",
        status="True",
        reason="Evaluated",
        message="ok",
        observed_generation=4,
        last_transition_time="2027-06-12T08:00:00Z",
    )
    assert stored.as_status() == written[0]


@pytest.mark.parametrize("value", MALFORMED)
def test_malformed_conditions_read_as_none(value: Any) -> None:
    assert parse_conditions(value) == ()


def test_a_hand_edited_condition_keeps_only_its_well_typed_fields() -> None:
    stored = parse_conditions(
        [
            {"type": 7, "status": "True"},  # no usable type: nothing can key it
            {"status": "False"},
            "Ready=True",
            {"type": "Ready", "status": 1, "message": ["no"], "observedGeneration": "3"},
            {"type": "WeddingDayMode", "observedGeneration": True, "lastTransitionTime": 5},
        ]
    )

    assert stored == (StoredCondition(type="Ready"), StoredCondition(type="WeddingDayMode"))
    assert stored[0].as_status() == {"type": "Ready"}


def test_a_condition_of_another_type_is_kept_as_it_was_stored() -> None:
    stored = merge_conditions(
        [], [condition("ModePublished", "True", "ConfigMapWritten", "ok", 2)], NOW
    )

    merged = merge_conditions(
        parse_conditions(stored), [condition("Ready", "True", "Evaluated", "ok", 3)], NOW
    )

    assert merged[0] == stored[0]


@pytest.mark.parametrize("value", [None, "2", 2.0, True, [2], {"n": 2}])
def test_an_observed_generation_that_is_not_a_whole_number_reads_as_none(value: Any) -> None:
    assert observed_generation({"observedGeneration": value}) is None
    assert PolicyStatus.parse({"observedGeneration": value}).observed_generation is None
    assert DayStatus.parse({"observedGeneration": value}).observed_generation is None


@pytest.mark.parametrize("value", [None, "status", 3, ["phase"]])
def test_a_status_that_is_not_a_mapping_reads_as_empty(value: Any) -> None:
    assert observed_generation(value) is None
    assert PolicyStatus.parse(value).conditions == ()
    assert DayStatus.parse(value) == DayStatus()


def test_a_hand_edited_day_status_reads_as_empty_fields() -> None:
    seen = DayStatus.parse(
        {
            "phase": 3,
            "nextTransition": ["soon"],
            "activatedAt": True,
            "completedAt": {"at": "now"},
            "conditions": "Ready",
        }
    )

    assert seen == DayStatus()


def test_a_day_status_reads_its_fields() -> None:
    seen = DayStatus.parse(
        {
            "phase": "Active",
            "nextTransition": "2027-06-12T18:00:00Z",
            "observedGeneration": 2,
            "activatedAt": "2027-06-12T08:00:00Z",
            "conditions": [{"type": "Ready", "status": "True"}],
        }
    )

    assert (seen.phase, seen.next_transition, seen.observed_generation) == (
        "Active",
        "2027-06-12T18:00:00Z",
        2,
    )
    assert (seen.activated_at, seen.completed_at) == ("2027-06-12T08:00:00Z", None)
    assert seen.conditions == (StoredCondition(type="Ready", status="True"),)


def test_a_target_entry_reads_its_baseline_history_and_scale_events() -> None:
    entry = {
        "name": "web",
        "reason": "MetricAboveTarget",
        "baselineReplicas": 4,
        "lastScaleTime": "2027-06-12T07:55:00Z",
        "recommendationHistory": [{"at": "2027-06-12T07:59:00Z", "replicas": 6}],
        "scaleEvents": [{"at": "2027-06-12T07:55:00Z", "delta": 2}],
    }

    web = PolicyStatus.parse({"targets": [entry]}).target("web")

    assert web == TargetStatus(
        name="web",
        raw=entry,
        reason="MetricAboveTarget",
        last_scale_time="2027-06-12T07:55:00Z",
        last_scaled_at=datetime(2027, 6, 12, 7, 55, tzinfo=UTC),
        baseline_replicas=4,
        recommendation_history=(TimedCount(datetime(2027, 6, 12, 7, 59, tzinfo=UTC), 6),),
        scale_events=(TimedCount(datetime(2027, 6, 12, 7, 55, tzinfo=UTC), 2),),
    )


def test_a_hand_edited_target_entry_reads_as_empty_fields() -> None:
    entry = {
        "name": "web",
        "reason": 3,
        "baselineReplicas": "4",
        "lastScaleTime": 1718000000,
        "recommendationHistory": [
            "6",
            {"at": "yesterday", "replicas": 6},
            {"at": "2027-06-12T07:59:00", "replicas": 6},  # no offset: no instant
            {"at": "2027-06-12T07:59:00Z", "replicas": True},
            {"replicas": 6},
        ],
        "scaleEvents": {"at": "2027-06-12T07:55:00Z", "delta": 2},
    }

    web = PolicyStatus.parse({"targets": [entry, "cache", {"replicas": 3}]}).target("web")

    assert web == TargetStatus(name="web", raw=entry)


def test_a_target_without_an_entry_reads_as_an_empty_one() -> None:
    assert PolicyStatus.parse({"targets": [{"name": "db"}]}).target("web") == TargetStatus("web")


def test_engine_states_from_a_hand_edited_status_keep_only_the_live_counts() -> None:
    seen = PolicyStatus.parse(
        {"targets": [{"name": "web", "recommendationHistory": [1, None], "scaleEvents": "x"}]}
    )

    (state,) = states_from_status(seen, {"web": 3}).values()

    assert (state.current, state.baseline, state.recommendations, state.events) == (
        3,
        None,
        (),
        (),
    )


@pytest.mark.parametrize("value", [None, "CacheWarmed", ["complete"], 1])
def test_a_cache_warming_block_that_is_not_a_mapping_reads_as_none(value: Any) -> None:
    assert PolicyStatus.parse({"cacheWarming": value}).cache_warming is None


def test_a_cache_warming_block_reads_its_outcome() -> None:
    block = {"fingerprint": "f00", "complete": True, "reason": "CacheWarmed", "message": "2 keys"}

    assert PolicyStatus.parse({"cacheWarming": block}).cache_warming == WarmingStatus(
        fingerprint="f00", complete=True, reason="CacheWarmed", message="2 keys"
    )


@pytest.mark.parametrize("complete", ["true", 1, None, [True]])
def test_a_warming_is_complete_only_when_it_says_true(complete: Any) -> None:
    seen = PolicyStatus.parse({"cacheWarming": {"fingerprint": 3, "complete": complete}})

    assert seen.cache_warming == WarmingStatus()


def test_a_recorded_patch_reads_its_counts_instant_and_event() -> None:
    entry = {
        "name": "web",
        "pendingScale": {"from": 5, "to": 6, "at": "2027-06-12T08:00:00Z", "event": "p.x"},
    }

    assert PolicyStatus.parse({"targets": [entry]}).target("web").pending_scale == (
        PendingScaleStatus(5, 6, NOW, "p.x")
    )


@pytest.mark.parametrize(
    "pending",
    [
        "garbage",
        {"from": 5, "to": 6, "event": "e"},  # no instant
        {"from": 5, "to": 6, "at": "2027-06-12T08:00:00", "event": "e"},  # no offset
        {"from": "5", "to": 6, "at": "2027-06-12T08:00:00Z", "event": "e"},
        {"from": 5, "to": True, "at": "2027-06-12T08:00:00Z", "event": "e"},
        {"from": 5, "to": 6, "at": "2027-06-12T08:00:00Z", "event": 1},
    ],
)
def test_a_recorded_patch_that_cannot_be_checked_reads_as_none(pending: Any) -> None:
    entry = {"name": "web", "pendingScale": pending}

    assert PolicyStatus.parse({"targets": [entry]}).target("web").pending_scale is None


def test_pending_events_without_a_name_are_left_out() -> None:
    seen = PolicyStatus.parse(
        {
            "pendingEvents": [
                {"name": "p.a", "type": "Warning", "reason": 3, "message": "m"},
                {"reason": "no name"},
                {"name": 7},
                "p.b",
            ]
        }
    )

    assert seen.pending_events == (StoredEvent("p.a", "Warning", None, "m"),)


@pytest.mark.parametrize("value", [None, "p.a", {"name": "p.a"}, 3])
def test_pending_events_that_are_not_a_list_read_as_none(value: Any) -> None:
    assert PolicyStatus.parse({"pendingEvents": value}).pending_events == ()
