"""RaiseMinReplicas: the autoscaler's minimum goes up to the wedding-day floor, never
down, never past its maximum, and back to exactly the user's value when no policy holds
it; a user's edit during the mode is kept. A kill between any two steps is walked by
re-deciding from what the autoscaler shows (the record travels in the same PATCH)."""

from __future__ import annotations

import pytest
from tests.unit.test_replicas import metric, policy, target, wedding_mode

from wedsync_operator.engine.hpafloor import (
    FloorChange,
    FloorHold,
    decide_floor,
    parse_hold,
    render_hold,
    requested_floor,
)
from wedsync_operator.engine.mode import NORMAL_MODE

A = "shop/checkout"
B = "shop/payments"


def _decide(
    current: int | None, hold: FloorHold | None, floor: int | None, *, holder: str = A
) -> FloorChange | None:
    return decide_floor(
        current_min=current, maximum=10, default_min=1, hold=hold, holder=holder, floor=floor
    )


@pytest.mark.parametrize(
    ("current", "hold", "floor", "expected"),
    [
        # Activation raises and records the user's value in the same write.
        (2, None, 5, FloorChange(5, FloorHold(2, 5, {A: 5}))),
        # An unset minimum is recorded as unset, so the restore writes it unset again.
        (None, None, 4, FloorChange(4, FloorHold(None, 4, {A: 4}))),
        # A floor at or below the user's minimum changes nothing and records nothing.
        (6, None, 5, None),
        (5, None, 5, None),
        # Outside the mode with no record: nothing to do.
        (2, None, None, None),
        # Already raised and recorded: the same evaluation again writes nothing.
        (5, FloorHold(2, 5, {A: 5}), 5, None),
        # The floor grows within the mode: raised further, the original kept.
        (5, FloorHold(2, 5, {A: 5}), 7, FloorChange(7, FloorHold(2, 7, {A: 7}))),
        # The floor shrinks within the mode but stays above the user's: follows it down.
        (7, FloorHold(2, 7, {A: 7}), 3, FloorChange(3, FloorHold(2, 3, {A: 3}))),
        # The mode ends: exactly the user's value back, the record dropped.
        (5, FloorHold(2, 5, {A: 5}), None, FloorChange(2, None, restored=True)),
        (4, FloorHold(None, 4, {A: 4}), None, FloorChange(None, None, restored=True)),
        # The floor falls to the user's value within the mode: restore early.
        (5, FloorHold(2, 5, {A: 5}), 2, FloorChange(2, None, restored=True)),
    ],
)
def test_min_replicas_is_raised_in_the_mode_and_restored_after(
    current: int | None, hold: FloorHold | None, floor: int | None, expected: FloorChange | None
) -> None:
    assert _decide(current, hold, floor) == expected


def test_a_floor_above_the_maximum_is_cut_to_it_and_the_maximum_left_alone() -> None:
    change = _decide(2, None, 15)
    assert change == FloorChange(10, FloorHold(2, 10, {A: 15}), capped_at=10)


@pytest.mark.parametrize(
    ("current", "hold", "holder", "floor", "expected"),
    [
        # A second policy with a larger floor wins.
        (5, FloorHold(2, 5, {A: 5}), B, 8, FloorChange(8, FloorHold(2, 8, {A: 5, B: 8}))),
        # A second policy with a smaller floor is recorded and changes nothing else.
        (5, FloorHold(2, 5, {A: 5}), B, 3, FloorChange(5, FloorHold(2, 5, {A: 5, B: 3}))),
        # The larger holder lets go: down to the other's floor, not to the user's.
        (8, FloorHold(2, 8, {A: 5, B: 8}), B, None, FloorChange(5, FloorHold(2, 5, {A: 5}))),
        # The last holder lets go: the user's value.
        (5, FloorHold(2, 5, {A: 5}), A, None, FloorChange(2, None, restored=True)),
    ],
)
def test_two_policies_over_one_autoscaler_hold_the_larger_floor_until_both_let_go(
    current: int, hold: FloorHold, holder: str, floor: int | None, expected: FloorChange
) -> None:
    assert _decide(current, hold, floor, holder=holder) == expected


def test_a_user_edit_during_the_mode_is_kept_and_restored_after() -> None:
    raised = FloorHold(2, 5, {A: 5})
    edited = _decide(3, raised, 5)
    assert edited == FloorChange(3, FloorHold(3, 3, {A: 5}, yielded=True), user_edit=3)
    assert edited.hold is not None
    # Later evaluations in the mode leave the user's value alone: nothing, or only the
    # record of what the policy now asks.
    assert _decide(3, edited.hold, 5) is None
    assert _decide(3, edited.hold, 6) == FloorChange(3, FloorHold(3, 3, {A: 6}, yielded=True))
    # The mode ends: the user's value stays, the record goes.
    assert _decide(3, edited.hold, None) == FloorChange(3, None, restored=True)


def test_a_user_edit_above_the_floor_is_also_kept() -> None:
    edited = _decide(9, FloorHold(2, 5, {A: 5}), 5)
    assert edited == FloorChange(9, FloorHold(9, 9, {A: 5}, yielded=True), user_edit=9)


def test_a_scaled_object_reads_an_unset_minimum_as_zero() -> None:
    change = decide_floor(
        current_min=None, maximum=100, default_min=0, hold=None, holder=A, floor=3
    )
    assert change == FloorChange(3, FloorHold(None, 3, {A: 3}))


def test_a_kill_after_the_patch_restores_exactly_the_original() -> None:
    # The raise and the record land together; a restarted operator outside the mode
    # finds only the autoscaler and still gives back the user's value.
    first = _decide(2, None, 5)
    assert first is not None and first.hold is not None
    on_server = parse_hold(render_hold(first.hold))
    assert isinstance(on_server, FloorHold)
    assert _decide(first.min_replicas, on_server, None) == FloorChange(2, None, restored=True)


def test_the_record_round_trips_and_an_unreadable_one_is_an_error() -> None:
    hold = FloorHold(None, 4, {B: 4, A: 3}, yielded=True)
    assert parse_hold(render_hold(hold)) == hold
    assert render_hold(hold) == render_hold(FloorHold(None, 4, {A: 3, B: 4}, yielded=True))
    assert parse_hold(None) is None
    for text in ("{", '{"original": 2}', '{"applied": -1}', '{"applied": 2, "holders": [1]}'):
        assert isinstance(parse_hold(text), ValueError)


# The policy's own metrics on an HPA-owned target: they only raise the requested floor.


def test_the_policys_metrics_raise_the_floor_it_asks_of_the_autoscaler() -> None:
    t, p = target(max_replicas=20), policy(metrics=(metric("cpu", 60),))
    # user min 4 → wedding floor 5 (+20 %); cpu at 120 % of target at 6 replicas asks 12.
    asked = requested_floor(t, p, wedding_mode(), 4, samples={"cpu": 120.0}, current=6)
    assert asked == 12


def test_a_metric_asking_less_than_the_wedding_floor_leaves_the_floor() -> None:
    t, p = target(), policy(metrics=(metric("cpu", 60),))
    assert requested_floor(t, p, wedding_mode(), 4, samples={"cpu": 10.0}, current=6) == 5


def test_the_metric_raised_floor_is_never_above_the_targets_maximum() -> None:
    t, p = target(max_replicas=8), policy(metrics=(metric("cpu", 10),))
    assert requested_floor(t, p, wedding_mode(), 4, samples={"cpu": 100.0}, current=6) == 8


def test_outside_the_mode_the_metrics_ask_nothing_of_the_autoscaler() -> None:
    t, p = target(), policy(metrics=(metric("cpu", 10),))
    assert requested_floor(t, p, NORMAL_MODE, 4, samples={"cpu": 100.0}, current=6) is None


def test_a_missing_sample_or_unknown_count_falls_back_to_the_wedding_floor() -> None:
    t, p = target(), policy(metrics=(metric("cpu", 10),))
    assert requested_floor(t, p, wedding_mode(), 4, samples={"cpu": None}, current=6) == 5
    assert requested_floor(t, p, wedding_mode(), 4, samples={"cpu": 100.0}, current=None) == 5


def test_with_freeze_a_floor_already_held_is_not_lowered_in_the_mode() -> None:
    t, frozen = target(), policy(metrics=(metric("cpu", 60),))
    quiet = {"cpu": 10.0}
    assert requested_floor(t, frozen, wedding_mode(), 4, samples=quiet, current=12, held=12) == 12
    thawed = policy(metrics=(metric("cpu", 60),), freeze=False)
    assert requested_floor(t, thawed, wedding_mode(), 4, samples=quiet, current=12, held=12) == 5


def test_a_metric_for_another_target_does_not_raise_this_ones_floor() -> None:
    t = target("web")
    p = policy(target("web"), target("api"), metrics=(metric("cpu", 10, targets=("api",)),))
    assert requested_floor(t, p, wedding_mode(), 4, samples={"cpu": 100.0}, current=6) == 5
