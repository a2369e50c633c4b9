"""HPA ``behavior`` maths: stabilization windows and scaling-rate policies.

This mirrors the Kubernetes HorizontalPodAutoscaler controller (autoscaling/v2,
``pkg/controller/podautoscaler/horizontal.go``): ``stabilizeRecommendationWithBehaviors``,
``convertDesiredReplicasWithBehaviorRate``, ``calculateScaleUpLimitWithScalingRules`` and
``calculateScaleDownLimitWithBehaviors``, including its choices of strict/non-strict
comparisons and rounding, so a policy behaves as an SRE who knows HPA expects. The one
difference is where history lives: HPA keeps it in controller memory, we take it as
plain data that the caller stores in the resource's status, so it survives restarts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from wedsync_operator.model.types import (
    Behavior,
    PolicyType,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
)


@dataclass(frozen=True)
class Recommendation:
    """A metric proposal as it was before stabilization, when it was made."""

    at: datetime
    replicas: int


@dataclass(frozen=True)
class ScaleEvent:
    """A scale the operator made: +n up, -n down."""

    at: datetime
    delta: int


class Limit(StrEnum):
    """Which bound held a rate-limited recommendation back, if any."""

    NONE = "None"
    RATE = "Rate"
    MIN = "Min"
    MAX = "Max"


def stabilize(
    behavior: Behavior,
    current: int,
    proposal: int,
    recommendations: Iterable[Recommendation],
    now: datetime,
) -> int:
    """HPA's stabilization: do not go above the lowest recommendation of the scale-up
    window, nor below the highest of the scale-down window (the new proposal counts in
    both). Recommendations exactly at a cutoff are outside it, as in HPA (``After``)."""
    up_cutoff = now - timedelta(seconds=behavior.scale_up.stabilization_window_seconds)
    down_cutoff = now - timedelta(seconds=behavior.scale_down.stabilization_window_seconds)
    up_recommendation = proposal
    down_recommendation = proposal
    for rec in recommendations:
        if rec.at > up_cutoff:
            up_recommendation = min(rec.replicas, up_recommendation)
        if rec.at > down_cutoff:
            down_recommendation = max(rec.replicas, down_recommendation)
    recommendation = current
    if recommendation < up_recommendation:
        recommendation = up_recommendation
    if recommendation > down_recommendation:
        recommendation = down_recommendation
    return recommendation


def replicas_change_in_period(
    events: Iterable[ScaleEvent], period_seconds: int, now: datetime, *, up: bool
) -> int:
    """Replicas added (``up``) or removed (not ``up``) within the last period, as a
    positive count — HPA's ``getReplicasChangePerPeriod`` over its up or down events."""
    cutoff = now - timedelta(seconds=period_seconds)
    total = 0
    for event in events:
        if event.at > cutoff and (event.delta > 0 if up else event.delta < 0):
            total += abs(event.delta)
    return total


def _period_start(
    current: int, policy: ScalingPolicy, events: tuple[ScaleEvent, ...], now: datetime
) -> int:
    added = replicas_change_in_period(events, policy.period_seconds, now, up=True)
    deleted = replicas_change_in_period(events, policy.period_seconds, now, up=False)
    return current - added + deleted


def scale_up_limit(
    current: int, events: Iterable[ScaleEvent], rules: ScalingRules, now: datetime
) -> int | None:
    """The most replicas the scale-up policies allow now; None when no policy limits it.

    selectPolicy Max allows the largest change, Min the smallest; Disabled allows none.
    """
    if rules.select_policy is SelectPolicy.DISABLED:
        return current
    # HPA's validation rejects rules without policies; if one reaches us anyway, read it
    # as "no rate limit" rather than HPA's accidental "never scale".
    if not rules.policies:
        return None
    history = tuple(events)
    proposals: list[int] = []
    for policy in rules.policies:
        start = _period_start(current, policy, history, now)
        if policy.type is PolicyType.PODS:
            proposals.append(start + policy.value)
        else:
            # Rounded up, as HPA does, so a small percentage of a small count still adds
            # a replica instead of never scaling.
            proposals.append(math.ceil(start * (1 + policy.value / 100)))
    return max(proposals) if rules.select_policy is SelectPolicy.MAX else min(proposals)


def scale_down_limit(
    current: int, events: Iterable[ScaleEvent], rules: ScalingRules, now: datetime
) -> int | None:
    """The fewest replicas the scale-down policies allow now; None when unlimited."""
    if rules.select_policy is SelectPolicy.DISABLED:
        return current
    if not rules.policies:
        return None
    history = tuple(events)
    proposals: list[int] = []
    for policy in rules.policies:
        start = _period_start(current, policy, history, now)
        if policy.type is PolicyType.PODS:
            proposals.append(start - policy.value)
        else:
            # int() truncates toward zero like Go's int32 conversion.
            proposals.append(int(start * (1 - policy.value / 100)))
    # The largest change down is the smallest count.
    return min(proposals) if rules.select_policy is SelectPolicy.MAX else max(proposals)


def limit_rate(
    desired: int,
    current: int,
    events: Iterable[ScaleEvent],
    behavior: Behavior,
    min_replicas: int,
    max_replicas: int,
    now: datetime,
) -> tuple[int, Limit]:
    """HPA's ``convertDesiredReplicasWithBehaviorRate``: bound a stabilized
    recommendation by the rate policies and by [min, max], and say which bound held."""
    history = tuple(events)
    if desired > current:
        up_limit = scale_up_limit(current, history, behavior.scale_up, now)
        # Earlier scale-ups in the period may have used up the allowance; never go down
        # because of that.
        if up_limit is not None and up_limit < current:
            up_limit = current
        if up_limit is not None and up_limit < max_replicas:
            ceiling, which = up_limit, Limit.RATE
        else:
            ceiling, which = max_replicas, Limit.MAX
        if desired > ceiling:
            return ceiling, which
    elif desired < current:
        down_limit = scale_down_limit(current, history, behavior.scale_down, now)
        if down_limit is not None and down_limit > current:
            down_limit = current
        if down_limit is not None and down_limit > min_replicas:
            floor, which = down_limit, Limit.RATE
        else:
            floor, which = min_replicas, Limit.MIN
        if desired < floor:
            return floor, which
    return desired, Limit.NONE


def longest_window(behavior: Behavior) -> timedelta:
    """How far back recommendations still matter."""
    return timedelta(
        seconds=max(
            behavior.scale_up.stabilization_window_seconds,
            behavior.scale_down.stabilization_window_seconds,
        )
    )


def longest_period(behavior: Behavior) -> timedelta:
    """How far back scale events still matter: both directions' periods count, because
    each direction's limit starts from the count net of the other direction's events."""
    periods = [p.period_seconds for p in behavior.scale_up.policies + behavior.scale_down.policies]
    return timedelta(seconds=max(periods, default=0))


def prune_recommendations(
    recommendations: Iterable[Recommendation], behavior: Behavior, now: datetime
) -> tuple[Recommendation, ...]:
    """The recommendations still inside a window; when none is, the newest alone.

    That one counts in no window (``stabilize`` ignores it), but it tells a target with a
    history from one never seen, which HPA seeds with its current count: a history that
    emptied during a quiet spell (metrics out, bounds, an interval longer than the
    window) must not hold a scale-down for another whole window."""
    recs = tuple(recommendations)
    cutoff = now - longest_window(behavior)
    kept = tuple(r for r in recs if r.at > cutoff)
    if kept or not recs:
        return kept
    return (max(recs, key=lambda r: r.at),)


def prune_events(
    events: Iterable[ScaleEvent], behavior: Behavior, now: datetime
) -> tuple[ScaleEvent, ...]:
    cutoff = now - longest_period(behavior)
    return tuple(e for e in events if e.at > cutoff)


def describe_rules(rules: ScalingRules) -> str:
    """The rules as an SRE would write them, e.g. "Percent 100/15s, Pods 4/15s,
    selectPolicy Max"."""
    if rules.select_policy is SelectPolicy.DISABLED:
        return "selectPolicy Disabled"
    policies = ", ".join(f"{p.type} {p.value}/{p.period_seconds}s" for p in rules.policies)
    return f"{policies}, selectPolicy {rules.select_policy}"
