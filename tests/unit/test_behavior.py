"""HPA behavior maths: stabilization windows, rate policies, selectPolicy, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wedsync_operator.engine.behavior import (
    Limit,
    Recommendation,
    ScaleEvent,
    describe_rules,
    limit_rate,
    longest_period,
    longest_window,
    prune_events,
    prune_recommendations,
    replicas_change_in_period,
    scale_down_limit,
    scale_up_limit,
    stabilize,
)
from wedsync_operator.model.types import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    Behavior,
    PolicyType,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
)

NOW = datetime(2027, 6, 5, 12, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def rec(seconds_ago: float, replicas: int) -> Recommendation:
    return Recommendation(at=ago(seconds_ago), replicas=replicas)


def event(seconds_ago: float, delta: int) -> ScaleEvent:
    return ScaleEvent(at=ago(seconds_ago), delta=delta)


def pods(value: int, period: int) -> ScalingPolicy:
    return ScalingPolicy(PolicyType.PODS, value, period)


def percent(value: int, period: int) -> ScalingPolicy:
    return ScalingPolicy(PolicyType.PERCENT, value, period)


def rules(
    *policies: ScalingPolicy, select: SelectPolicy = SelectPolicy.MAX, window: int = 0
) -> ScalingRules:
    return ScalingRules(
        stabilization_window_seconds=window, select_policy=select, policies=policies
    )


# -------------------------------------------------------------------- default scale-up


@pytest.mark.parametrize(
    ("current", "limit"),
    [(1, 5), (2, 6), (3, 7), (4, 8), (5, 10), (10, 20), (50, 100)],
)
def test_default_scale_up_limit_is_double_or_plus_four_whichever_is_more(
    current: int, limit: int
) -> None:
    assert scale_up_limit(current, (), DEFAULT_SCALE_UP, NOW) == limit


def test_default_scale_up_allowance_is_spent_for_fifteen_seconds() -> None:
    # 3 → 7 ten seconds ago: the period started at 3, so 7 is all that is allowed.
    history = (event(10, +4),)
    assert scale_up_limit(7, history, DEFAULT_SCALE_UP, NOW) == 7
    # Sixteen seconds after that scale the period has moved on: from 7, up to 14.
    assert scale_up_limit(7, history, DEFAULT_SCALE_UP, NOW + timedelta(seconds=6)) == 14


def test_scale_event_exactly_one_period_ago_no_longer_counts() -> None:
    # HPA counts events strictly after the cutoff.
    assert scale_up_limit(7, (event(15, +4),), DEFAULT_SCALE_UP, NOW) == 14
    assert scale_up_limit(7, (event(14.999, +4),), DEFAULT_SCALE_UP, NOW) == 7


def test_scale_up_limit_through_limit_rate_is_reported_as_rate() -> None:
    assert limit_rate(30, 3, (), Behavior(), 1, 100, NOW) == (7, Limit.RATE)


# --------------------------------------------------------------------- stabilization


def test_scale_down_stabilization_keeps_the_highest_recommendation_of_the_last_300_seconds() -> (
    None
):
    history = (rec(301, 12), rec(299, 8), rec(100, 6))
    assert stabilize(Behavior(), 10, 4, history, NOW) == 8


def test_recommendation_exactly_at_the_window_edge_is_outside_it() -> None:
    assert stabilize(Behavior(), 10, 4, (rec(300, 9),), NOW) == 4
    assert stabilize(Behavior(), 10, 4, (rec(299.999, 9),), NOW) == 9


def test_scale_down_stabilization_never_raises_above_current() -> None:
    assert stabilize(Behavior(), 10, 4, (rec(10, 15),), NOW) == 10


def test_scale_up_is_not_stabilized_by_default() -> None:
    assert stabilize(Behavior(), 4, 9, (rec(5, 4), rec(10, 5)), NOW) == 9


def test_scale_up_stabilization_keeps_the_lowest_recommendation_of_its_window() -> None:
    behavior = Behavior(scale_up=rules(percent(100, 15), window=60))
    history = (rec(90, 3), rec(30, 5), rec(10, 7))
    assert stabilize(behavior, 4, 9, history, NOW) == 5


def test_scale_up_stabilization_never_lowers_below_current() -> None:
    behavior = Behavior(scale_up=rules(percent(100, 15), window=60))
    assert stabilize(behavior, 4, 9, (rec(30, 2),), NOW) == 4


def test_stabilization_holds_current_when_recommendations_straddle_it() -> None:
    behavior = Behavior(scale_up=rules(percent(100, 15), window=60))
    assert stabilize(behavior, 6, 6, (rec(30, 2), rec(20, 11)), NOW) == 6


# -------------------------------------------------------------------- rate policies


def test_percent_scale_down_starts_from_the_count_at_the_start_of_the_period() -> None:
    # 12 → 8 thirty seconds ago; 50% per 60 s from 12 allows down to 6.
    down = rules(percent(50, 60))
    assert scale_down_limit(8, (event(30, -4),), down, NOW) == 6
    behavior = Behavior(scale_down=down)
    assert limit_rate(2, 8, (event(30, -4),), behavior, 1, 20, NOW) == (6, Limit.RATE)


def test_pods_scale_down_counts_replicas_removed_in_the_period() -> None:
    down = rules(pods(2, 60))
    assert scale_down_limit(10, (event(20, -1),), down, NOW) == 9
    assert scale_down_limit(10, (event(61, -1),), down, NOW) == 8


def test_percent_scale_up_rounds_up() -> None:
    assert scale_up_limit(5, (), rules(percent(50, 60)), NOW) == 8  # ceil(7.5)
    assert scale_up_limit(1, (), rules(percent(10, 60)), NOW) == 2  # ceil(1.1)


def test_percent_scale_down_truncates() -> None:
    assert scale_down_limit(5, (), rules(percent(30, 60)), NOW) == 3  # int(3.5)
    assert scale_down_limit(3, (), rules(percent(10, 60)), NOW) == 2  # int(2.7)


def test_replicas_removed_in_the_period_raise_the_scale_up_start() -> None:
    # 8 → 4 ten seconds ago: the period started at 8, so Pods 4 allows 12.
    assert scale_up_limit(4, (event(10, -4),), rules(pods(4, 15)), NOW) == 12


def test_used_up_scale_up_allowance_holds_rather_than_lowers() -> None:
    # 0 → 6 five seconds ago with Pods 4: the limit (4) is below current; hold at 6.
    behavior = Behavior(scale_up=rules(pods(4, 15)))
    assert scale_up_limit(6, (event(5, +6),), behavior.scale_up, NOW) == 4
    assert limit_rate(10, 6, (event(5, +6),), behavior, 1, 20, NOW) == (6, Limit.RATE)


def test_used_up_scale_down_allowance_holds_rather_than_raises() -> None:
    behavior = Behavior(scale_down=rules(pods(1, 60)))
    history = (event(5, -3),)  # 8 → 5: start 8, limit 7 > current
    assert limit_rate(2, 5, history, behavior, 1, 20, NOW) == (5, Limit.RATE)


def test_each_policy_uses_its_own_period_history() -> None:
    up = rules(pods(2, 60), percent(50, 15))
    # +3 forty seconds ago counts for the 60 s Pods policy (start 7 → 9) but not for the
    # 15 s Percent one (start 10 → 15).
    history = (event(40, +3),)
    assert scale_up_limit(10, history, up, NOW) == 15
    assert scale_up_limit(10, history, rules(*up.policies, select=SelectPolicy.MIN), NOW) == 9


@pytest.mark.parametrize(
    ("select", "up_limit", "down_limit"),
    [
        (SelectPolicy.MAX, 20, 5),  # largest change: +10 up, -5 down
        (SelectPolicy.MIN, 14, 8),  # smallest change: +4 up, -2 down
        (SelectPolicy.DISABLED, 10, 10),  # no change either way
    ],
)
def test_select_policy_picks_the_largest_or_smallest_change_or_none(
    select: SelectPolicy, up_limit: int, down_limit: int
) -> None:
    up = rules(percent(100, 15), pods(4, 15), select=select)
    down = rules(percent(50, 60), pods(2, 60), select=select)
    assert scale_up_limit(10, (), up, NOW) == up_limit
    assert scale_down_limit(10, (), down, NOW) == down_limit


def test_disabled_scale_down_keeps_current_and_is_reported_as_rate() -> None:
    behavior = Behavior(scale_down=rules(percent(100, 15), select=SelectPolicy.DISABLED))
    assert limit_rate(2, 10, (), behavior, 1, 20, NOW) == (10, Limit.RATE)


def test_rules_without_policies_do_not_limit() -> None:
    assert scale_up_limit(3, (), rules(), NOW) is None
    assert scale_down_limit(3, (), rules(), NOW) is None
    assert limit_rate(50, 3, (), Behavior(scale_up=rules()), 1, 20, NOW) == (20, Limit.MAX)


@pytest.mark.parametrize(
    ("desired", "current", "expected"),
    [
        (9, 5, (9, Limit.NONE)),  # within the rate and max
        (30, 12, (20, Limit.MAX)),  # rate would allow 24; max 20 binds
        (30, 5, (10, Limit.RATE)),  # rate allows 10, below max
        (3, 5, (3, Limit.NONE)),
        (0, 5, (2, Limit.MIN)),  # default scale-down allows 0; min 2 binds
        (5, 5, (5, Limit.NONE)),
    ],
)
def test_limit_rate_says_which_bound_held(
    desired: int, current: int, expected: tuple[int, Limit]
) -> None:
    assert limit_rate(desired, current, (), Behavior(), 2, 20, NOW) == expected


def test_rate_limit_equal_to_max_is_reported_as_max() -> None:
    # From 10 the default allows 20, which is also max: HPA names the max (TooManyReplicas).
    assert limit_rate(25, 10, (), Behavior(), 1, 20, NOW) == (20, Limit.MAX)


# --------------------------------------------------------------------------- history


def test_replicas_change_in_period_counts_each_direction_separately() -> None:
    history = (event(5, +3), event(10, -2), event(20, +1), event(70, +5))
    assert replicas_change_in_period(history, 60, NOW, up=True) == 4
    assert replicas_change_in_period(history, 60, NOW, up=False) == 2
    assert replicas_change_in_period(history, 15, NOW, up=True) == 3


def test_longest_window_and_period_cover_both_directions() -> None:
    behavior = Behavior(
        scale_up=rules(pods(4, 15), window=60),
        scale_down=rules(percent(10, 600), window=300),
    )
    assert longest_window(behavior) == timedelta(seconds=300)
    assert longest_period(behavior) == timedelta(seconds=600)


def test_pruning_drops_history_that_can_no_longer_matter() -> None:
    behavior = Behavior()  # windows 0/300 s, periods 15 s
    recs = (rec(400, 9), rec(300, 8), rec(299, 7), rec(0, 6))
    events = (event(20, +1), event(15, +2), event(14, -1))
    assert prune_recommendations(recs, behavior, NOW) == (rec(299, 7), rec(0, 6))
    assert prune_events(events, behavior, NOW) == (event(14, -1),)


@pytest.mark.parametrize(
    ("scaling_rules", "text"),
    [
        (DEFAULT_SCALE_UP, "Percent 100/15s, Pods 4/15s, selectPolicy Max"),
        (DEFAULT_SCALE_DOWN, "Percent 100/15s, selectPolicy Max"),
        (rules(pods(1, 60), select=SelectPolicy.DISABLED), "selectPolicy Disabled"),
    ],
)
def test_rules_are_described_as_an_sre_writes_them(scaling_rules: ScalingRules, text: str) -> None:
    assert describe_rules(scaling_rules) == text
