"""What the operator reads of pods and Events (adapters/kube_objects.py): the scheduler's
reason for a Pending pod, and a StatefulSet's latest FailedCreate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wedsync_operator.adapters.kube_objects import refusal_of, scheduling_of
from wedsync_operator.model.observations import Refusal, Scheduling


def failed_create(message: str, **times: Any) -> dict[str, Any]:
    return {"reason": "FailedCreate", "message": message, **times}


def test_the_latest_failed_create_is_the_refusal_whichever_clock_the_event_keeps() -> None:
    found = refusal_of(
        [
            failed_create("older", lastTimestamp="2027-06-12T10:00:00Z"),
            # An events.k8s.io/v1 Event repeated as a series: its last observation counts.
            failed_create(
                "newest",
                eventTime="2027-06-12T09:00:00.000000Z",
                series={"count": 4, "lastObservedTime": "2027-06-12T10:05:00.000000Z"},
            ),
            failed_create("middle", eventTime="2027-06-12T10:02:00.000000Z"),
        ]
    )

    assert found == Refusal("newest", datetime(2027, 6, 12, 10, 5, tzinfo=UTC))


def test_no_failed_create_or_one_without_a_time_is_no_refusal() -> None:
    assert refusal_of([]) is None
    assert refusal_of([failed_create("when?")]) is None


def test_only_pending_pods_count_and_the_schedulers_message_is_kept() -> None:
    pods = [
        {"status": {"phase": "Running"}},
        {
            "status": {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/2 nodes are available: 2 Insufficient cpu.",
                    }
                ],
            }
        },
        {"status": {"phase": "Pending"}},
    ]

    assert scheduling_of(pods) == Scheduling(
        pending=2, unschedulable="0/2 nodes are available: 2 Insufficient cpu."
    )
