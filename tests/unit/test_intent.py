"""Intent before action: a restart at any instant of an activation ends as a run without
one — the floor from the count when the mode began, every scaling action with its Event.

Each test walks the handler's steps with the engine's own functions: decide, write the
intent (what status holds before the patch), then read it back as a restarted operator
would, with the target at the count the kill left it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wedsync_operator.engine.behavior import scale_up_limit
from wedsync_operator.engine.intent import (
    OwedEvent,
    event_name,
    intent_targets,
    landed_state,
    mode_event,
    owed_event,
    owed_events,
    pending_scales,
    settle_states,
    unapplied_state,
    warming_event,
)
from wedsync_operator.engine.mode import NORMAL_MODE, Mode, ModeResolution
from wedsync_operator.engine.replicas import ScaleEvent, TargetState, decide
from wedsync_operator.engine.status import states_from_status, target_status
from wedsync_operator.model.status import PolicyStatus
from wedsync_operator.model.types import (
    ObjectMeta,
    PlatformScaling,
    PolicyType,
    Role,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    Target,
    TargetWeddingDay,
    WeddingDayPolicy,
)

T0 = datetime(2027, 6, 12, 11, 0, tzinfo=UTC)
UID = "0b4e6c1e-0000-4000-8000-000000000001"
MODE = ModeResolution(
    mode=Mode.WEDDING_DAY,
    active_days=("smith-jones",),
    since=T0,
    until=T0 + timedelta(hours=12),
    load_factor=1.0,
    reason="WeddingDayPreparing",
    message="wedding-day mode: smith-jones is preparing",
)


def policy() -> PlatformScaling:
    web = Target(
        api_version="apps/v1",
        kind="Deployment",
        name="web",
        role=Role.APP,
        min_replicas=1,
        max_replicas=50,
        wedding_day=TargetWeddingDay(),
    )
    return PlatformScaling(
        meta=ObjectMeta(namespace="weddings", name="platform"),
        targets=(web,),
        metrics=(),
        prometheus=None,
        wedding_day=WeddingDayPolicy(extra_capacity_percent=20),
    )


def evaluate_until_the_patch(
    status: dict[str, Any], current: int, now: datetime
) -> tuple[dict[str, Any], int]:
    """One evaluation up to its patch: the status its intent write leaves, and the count
    the patch sets (the current count if it decides no change)."""
    p = policy()
    seen = PolicyStatus.parse(status)
    states = settle_states(states_from_status(seen, {"web": current}), seen, {"web": current})
    decision = decide(p, states, {}, MODE, 0, {}, now)
    (d,) = decision.decisions
    before = seen.target("web")
    entries = {
        "web": target_status(
            d, unapplied_state(d, decision, states), before, applied=False, now=now
        )
    }
    pending = pending_scales("platform", UID, decision.decisions, now)
    owed = [e.as_status() for e in owed_events(seen, {"web": current})]
    intent = {
        **status,
        "mode": "WeddingDay",
        "targets": list(intent_targets(entries, pending).values()),
    }
    intent["pendingEvents"] = owed or None
    return intent, d.desired


def test_a_kill_after_the_prescale_landed_keeps_the_floor_and_owes_the_scaled_up_event() -> None:
    before_mode: dict[str, Any] = {
        "mode": "Normal",
        "targets": [{"name": "web", "currentReplicas": 5}],
    }
    intent, patched = evaluate_until_the_patch(before_mode, current=5, now=T0)
    assert patched == 6  # ceil(5 x 1.2)
    # Killed here: the patch landed (web has 6), neither the Event nor the final write did.
    restarted, again = evaluate_until_the_patch(intent, current=6, now=T0 + timedelta(seconds=3))

    assert again == 6, "the floor must come from the count when the mode began (5), not 6"
    assert restarted["targets"][0]["baselineReplicas"] == 5
    assert restarted["targets"][0]["floor"] == 6
    owed = owed_events(PolicyStatus.parse(intent), {"web": 6})
    assert [(e.reason, e.name) for e in owed] == [
        ("ScaledUp", intent["targets"][0]["pendingScale"]["event"])
    ]
    assert owed[0].message.startswith("scale web 5 → 6")


def test_a_kill_before_the_patch_landed_drops_the_intent_and_patches_the_same_count() -> None:
    before_mode: dict[str, Any] = {
        "mode": "Normal",
        "targets": [{"name": "web", "currentReplicas": 5}],
    }
    intent, _ = evaluate_until_the_patch(before_mode, current=5, now=T0)
    # Killed before the patch: web still has 5.
    restarted, again = evaluate_until_the_patch(intent, current=5, now=T0 + timedelta(seconds=3))

    assert again == 6
    assert (
        owed_events(PolicyStatus.parse(intent), {"web": 5}) == []
    )  # nothing happened, nothing is owed
    # The new intent owes the new patch's Event, a different one from the lapsed intent's.
    assert restarted["targets"][0]["pendingScale"]["to"] == 6


def test_repeated_kills_never_raise_the_floor_above_the_first_baseline() -> None:
    status: dict[str, Any] = {"mode": "Normal", "targets": [{"name": "web", "currentReplicas": 5}]}
    current, names = 5, set()
    for i in range(10):
        status, patched = evaluate_until_the_patch(status, current, T0 + timedelta(seconds=i))
        current = patched  # every patch lands, no final write ever does
        names |= {e.name for e in owed_events(PolicyStatus.parse(status), {"web": current})}

    assert current == 6
    assert status["targets"][0]["baselineReplicas"] == 5
    assert len(names) == 1  # one scaling action, one Event, however often it is owed


def test_a_landed_patch_counts_once_in_the_rate_limit_history() -> None:
    at = T0.replace(microsecond=0)
    status = {
        "targets": [
            {
                "name": "web",
                "pendingScale": {"from": 5, "to": 6, "at": "2027-06-12T11:00:00Z", "event": "p.x"},
            }
        ]
    }
    states = {"web": TargetState(current=6)}

    seen = PolicyStatus.parse(status)
    once = settle_states(states, seen, {"web": 6})
    twice = settle_states(once, seen, {"web": 6})

    assert once["web"].events == (ScaleEvent(at=at, delta=1),)
    assert twice == once
    assert settle_states(states, seen, {"web": 5}) == states  # not landed: no event


def test_a_scale_event_counts_from_when_its_patch_landed_not_when_it_was_decided() -> None:
    earlier = ScaleEvent(at=T0 - timedelta(seconds=30), delta=2)
    decided = TargetState(current=4, events=(earlier, ScaleEvent(at=T0, delta=2)))
    landed = T0 + timedelta(seconds=2)

    state = landed_state(decided, T0, landed)

    assert state.events == (earlier, ScaleEvent(at=landed, delta=2))
    # +2 pods per 4 s: a slow patch does not let the next step come sooner than 4 s after it.
    rules = ScalingRules(0, SelectPolicy.MAX, (ScalingPolicy(PolicyType.PODS, 2, 4),))
    assert scale_up_limit(4, state.events, rules, T0 + timedelta(seconds=4)) == 4
    assert scale_up_limit(4, state.events, rules, landed + timedelta(seconds=4)) == 6


@pytest.mark.parametrize(
    ("entry", "currents"),
    [
        ({"name": "web"}, {"web": 6}),  # no intent recorded
        ({"name": "web", "pendingScale": "garbage"}, {"web": 6}),
        ({"name": "web", "pendingScale": {"from": 5, "to": 6, "event": "e"}}, {"web": 6}),  # no at
        (
            {"name": "web", "pendingScale": {"from": 5, "to": 6, "at": "2027", "event": 1}},
            {"web": 6},
        ),
        (  # the target could not be read
            {
                "name": "web",
                "pendingScale": {"from": 5, "to": 6, "at": "2027-06-12T11:00:00Z", "event": "e"},
            },
            {},
        ),
    ],
)
def test_an_unusable_or_unverifiable_intent_owes_nothing(
    entry: dict[str, Any], currents: dict[str, int]
) -> None:
    assert owed_events(PolicyStatus.parse({"targets": [entry]}), currents) == []


def test_owed_events_recorded_in_status_are_owed_once_each() -> None:
    recorded = {
        "name": "platform.abc",
        "type": "Normal",
        "reason": "WeddingDayModeOn",
        "message": "on",
    }
    status = {"pendingEvents": [recorded, recorded, {"reason": "no name"}]}

    assert owed_events(PolicyStatus.parse(status), {}) == [
        OwedEvent("platform.abc", "Normal", "WeddingDayModeOn", "on")
    ]


def test_a_mode_switch_owes_one_event_whose_name_a_restart_computes_again() -> None:
    switch = mode_event("platform", UID, MODE, PolicyStatus(mode="Normal"))
    again = mode_event("platform", UID, MODE, PolicyStatus.parse({"mode": "Normal", "since": None}))
    off = mode_event(
        "platform", UID, NORMAL_MODE, PolicyStatus(mode="WeddingDay", since="2027-06-12T11:00:00Z")
    )

    assert switch is not None and again is not None and off is not None
    assert (switch.reason, off.reason) == ("WeddingDayModeOn", "WeddingDayModeOff")
    assert switch.name == again.name != off.name
    assert mode_event("platform", UID, MODE, PolicyStatus(mode="WeddingDay")) is None  # no switch
    # A first evaluation switches nothing; nor does a mode edited into something unknown.
    assert mode_event("platform", UID, MODE, PolicyStatus.parse({})) is None
    assert mode_event("platform", UID, MODE, PolicyStatus.parse({"mode": 1})) is None


def test_event_names_are_dns_subdomains_that_tell_policies_and_actions_apart() -> None:
    long = "p" * 253
    name = event_name(long, UID, "ScaledUp", "web")

    assert len(name) <= 253 and name.startswith("p") and name[-21] == "."
    assert event_name("a", UID, "x") != event_name("a", "other-uid", "x")
    assert event_name("a", UID, "x") == event_name("a", UID, "x")
    report = owed_event("a", UID, "Warning", "SilenceFailed", "down")
    assert report == owed_event("a", UID, "Warning", "SilenceFailed", "down")
    assert report.name != owed_event("a", UID, "Warning", "SilenceFailed", "down again").name


def test_a_completed_warming_redone_after_a_kill_is_the_same_event() -> None:
    done = {"reason": "CacheWarmed", "fingerprint": "f1", "message": "wrote 3 of 3 rows in 0.12s"}
    redone = {**done, "message": "wrote 3 of 3 rows in 0.31s"}
    failed = {"reason": "WarmingUnavailable", "fingerprint": "f1", "message": "no Secret"}

    assert warming_event("p", UID, done).name == warming_event("p", UID, redone).name
    assert warming_event("p", UID, redone).message == redone["message"]
    assert (warming_event("p", UID, failed).type, warming_event("p", UID, failed).reason) == (
        "Warning",
        "CacheWarmingFailed",
    )
    dry = warming_event("p", UID, {**done, "reason": "DryRun"})
    assert (dry.type, dry.reason) == ("Normal", "DryRun")
