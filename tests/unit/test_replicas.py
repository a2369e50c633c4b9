"""Replica decisions: metric proposals, bounds, wedding-day floor and freeze, fallback,
safety gates, behavior, history and ordering — and their properties."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wedsync_operator.engine.mode import NORMAL_MODE, Mode, ModeResolution
from wedsync_operator.engine.replicas import (
    Decision,
    GateVerdict,
    PolicyDecision,
    Reason,
    Recommendation,
    ScaleEvent,
    TargetState,
    decide,
    decide_target,
    metric_proposal,
    metrics_available,
    scale_order,
    scale_steps,
    wedding_floor,
)
from wedsync_operator.model.types import (
    Behavior,
    Fallback,
    Metric,
    MetricTargetType,
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

NOW = datetime(2027, 6, 5, 12, 0, tzinfo=UTC)
UTIL = MetricTargetType.UTILIZATION
VALUE = MetricTargetType.VALUE
AVG = MetricTargetType.AVERAGE_VALUE

# Scale-down without a stabilization window, for tests about other rules.
FAST = Behavior(
    scale_down=ScalingRules(0, SelectPolicy.MAX, (ScalingPolicy(PolicyType.PERCENT, 100, 15),))
)


def target(
    name: str = "web-couples",
    role: Role = Role.APP,
    min_replicas: int = 1,
    max_replicas: int = 50,
    *,
    wd_min: int | None = None,
    wd_extra: int | None = None,
) -> Target:
    return Target(
        api_version="apps/v1",
        kind="StatefulSet" if role.stateful else "Deployment",
        name=name,
        role=role,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        wedding_day=TargetWeddingDay(min_replicas=wd_min, extra_capacity_percent=wd_extra),
    )


def metric(
    name: str = "cpu",
    value: float = 80,
    *,
    kind: MetricTargetType = UTIL,
    wd: float | None = None,
    targets: tuple[str, ...] = (),
) -> Metric:
    return Metric(
        name=name,
        query=f"{name}_query",
        target_type=kind,
        target_value=value,
        wedding_day_target_value=wd,
        targets=targets,
    )


def policy(
    *targets: Target,
    metrics: tuple[Metric, ...] = (metric(),),
    behavior: Behavior = FAST,
    fallback: Fallback = Fallback(),  # noqa: B008 - frozen dataclass, safe as a default
    freeze: bool = True,
    extra: int = 20,
) -> PlatformScaling:
    return PlatformScaling(
        meta=ObjectMeta(namespace="weddings", name="platform"),
        targets=targets or (target(),),
        metrics=metrics,
        prometheus=None,
        behavior=behavior,
        fallback=fallback,
        wedding_day=WeddingDayPolicy(extra_capacity_percent=extra, freeze_scale_down=freeze),
    )


def wedding_mode(
    load_factor: float = 1.0, days: tuple[str, ...] = ("smith-jones",)
) -> ModeResolution:
    return ModeResolution(
        mode=Mode.WEDDING_DAY,
        active_days=days,
        since=NOW - timedelta(hours=1),
        until=NOW + timedelta(hours=9),
        load_factor=load_factor,
        reason="WeddingDayActive",
        message="",
    )


def run(
    t: Target,
    p: PlatformScaling,
    current: int,
    samples: dict[str, float | None],
    mode: ModeResolution = NORMAL_MODE,
    *,
    state: TargetState | None = None,
    failures: int = 0,
    gate: GateVerdict | None = None,
    now: datetime = NOW,
) -> tuple[Decision, TargetState]:
    return decide_target(
        t, p, state or TargetState(current=current), samples, mode, failures, gate, now
    )


# ----------------------------------------------------------------- metric proposals


@pytest.mark.parametrize(
    ("kind", "target_value", "current", "observed", "replicas", "within"),
    [
        (UTIL, 80, 4, 120, 6, False),
        (UTIL, 80, 4, 88, 4, True),  # ratio exactly 1.1: inside the tolerance
        (UTIL, 80, 4, 72, 4, True),  # ratio exactly 0.9
        (UTIL, 80, 4, 89, 5, False),  # 4 * 1.1125 = 4.45
        (UTIL, 80, 4, 71, 4, False),  # 4 * 0.8875 = 3.55 still rounds up to 4
        (UTIL, 80, 4, 40, 2, False),
        (UTIL, 80, 10, 88, 10, True),  # binary floats would call this 1.1000000000000001
        (VALUE, 70, 7, 290, 29, False),  # binary floats would give ceil(29.000000000000004)
        (VALUE, 100, 3, 0, 0, False),
        (AVG, 100, 4, 1000, 10, False),  # 1000 total at 100 per replica
        (AVG, 100, 4, 430, 4, True),  # 107.5 per replica
        (AVG, 100, 4, 300, 3, False),
        (AVG, 100, 0, 250, 3, False),  # AverageValue can scale from zero
        (UTIL, 80, 0, 500, 0, False),  # Utilization cannot
        (VALUE, 80, 0, 500, 7, False),  # Value can, as HPA: ceil(500 / 80)
    ],
)
def test_metric_proposal_follows_the_hpa_usage_ratio(
    kind: MetricTargetType,
    target_value: float,
    current: int,
    observed: float,
    replicas: int,
    within: bool,
) -> None:
    mp = metric_proposal(metric(value=target_value, kind=kind), observed, current, in_mode=False)
    assert mp is not None
    assert (mp.replicas, mp.within_tolerance) == (replicas, within)


def test_metric_with_non_positive_target_is_unusable() -> None:
    assert metric_proposal(metric(value=0), 50, 4, in_mode=False) is None


@pytest.mark.parametrize(("in_mode", "replicas"), [(False, 5), (True, 7)])
def test_wedding_day_target_applies_only_in_the_mode(in_mode: bool, replicas: int) -> None:
    mp = metric_proposal(metric(value=80, wd=60), 92, 4, in_mode=in_mode)
    assert mp is not None
    assert mp.replicas == replicas
    assert mp.target_value == (60 if in_mode else 80)


def test_metric_without_wedding_day_target_keeps_its_target_in_the_mode() -> None:
    mp = metric_proposal(metric(value=80), 92, 4, in_mode=True)
    assert mp is not None
    assert (mp.target_value, mp.replicas, mp.wedding_day_target) == (80, 5, False)


# ------------------------------------------------------------------ metric decisions


def test_scale_up_message_names_the_driving_metric_and_its_wedding_day_target() -> None:
    p = policy(metrics=(metric(value=80, wd=60),))
    d, _ = run(target(), p, 4, {"cpu": 92}, wedding_mode(), state=TargetState(4, baseline=3))
    assert (d.desired, d.reason, d.limited, d.proposal, d.floor) == (
        7,
        Reason.SCALED_UP,
        False,
        7,
        4,
    )
    assert (
        d.message
        == "scale web-couples 4 → 7: cpu 92 is above its wedding-day target 60 (ratio 1.53)"
    )
    assert (d.changed, d.direction) == (True, "up")


def test_several_metrics_take_the_largest_proposal() -> None:
    p = policy(metrics=(metric("cpu", 80), metric("rps", 100, kind=AVG), metric("mem", 70)))
    d, _ = run(target(), p, 10, {"cpu": 150, "rps": 1500, "mem": 35})
    assert (d.desired, d.reason, d.proposal) == (19, Reason.SCALED_UP, 19)  # ceil(18.75)
    assert d.message.startswith("scale web-couples 10 → 19: cpu 150 is above its target 80")


def test_scale_down_follows_metrics_outside_the_mode() -> None:
    d, _ = run(target(), policy(), 8, {"cpu": 40})
    assert (d.desired, d.reason, d.direction) == (4, Reason.SCALED_DOWN, "down")
    assert d.message == "scale web-couples 8 → 4: cpu 40 is below its target 80 (ratio 0.50)"


def test_average_value_message_speaks_per_replica() -> None:
    p = policy(metrics=(metric("rps", 100, kind=AVG),))
    d, _ = run(target(), p, 4, {"rps": 600})
    assert d.message == (
        "scale web-couples 4 → 6: rps 600 over 4 replicas is above its target 100 per replica "
        "(ratio 1.50)"
    )


@pytest.mark.parametrize("observed", [72, 80, 88])
def test_change_within_tolerance_holds_current(observed: float) -> None:
    d, _ = run(target(), policy(), 4, {"cpu": observed})
    assert (d.desired, d.reason, d.limited, d.proposal) == (4, Reason.WITHIN_TOLERANCE, False, 4)
    assert "is within 10% of its target 80" in d.message


def test_ratio_that_still_rounds_to_current_is_no_change() -> None:
    d, _ = run(target(), policy(), 1, {"cpu": 40})
    assert (d.desired, d.reason) == (1, Reason.NO_CHANGE)
    assert d.message == (
        "hold web-couples at 1: cpu 40 is below its target 80 (ratio 0.50), which still rounds to 1"
    )


def test_average_value_metric_scales_up_from_zero() -> None:
    p = policy(target(min_replicas=0), metrics=(metric("queue", 100, kind=AVG),))
    d, _ = run(target(min_replicas=0), p, 0, {"queue": 250})
    assert (d.desired, d.reason) == (3, Reason.SCALED_UP)
    assert d.message == "scale web-couples 0 → 3: queue 250 needs 3 at its target 100 per replica"


def test_utilization_metric_cannot_scale_up_from_zero() -> None:
    p = policy(target(min_replicas=0))
    d, _ = run(target(min_replicas=0), p, 0, {"cpu": 500})
    assert (d.desired, d.reason, d.proposal) == (0, Reason.NO_CHANGE, 0)
    assert "cannot scale up from zero replicas" in d.message


# ------------------------------------------------------------------- missing samples

TWO = (metric("cpu", 80), metric("latency", 0.2, kind=VALUE))


@pytest.mark.parametrize("missing", [None, math.nan, math.inf, -math.inf, "absent"])
def test_missing_sample_prevents_a_scale_down(missing: float | str | None) -> None:
    samples: dict[str, float | None] = {"cpu": 20}
    if missing != "absent":
        samples["latency"] = missing  # type: ignore[assignment]
    d, state = run(target(), policy(metrics=TWO), 8, samples)
    assert (d.desired, d.reason, d.limited, d.proposal) == (8, Reason.METRICS_PARTIAL, False, 2)
    assert d.message == (
        "hold web-couples at 8: cpu 20 is below its target 80 (ratio 0.25), which alone would "
        "mean 2, but latency has no usable sample; no scale-down on partial metrics"
    )
    assert state.recommendations == ()  # as HPA, an evaluation that errors records nothing


def test_missing_sample_does_not_prevent_a_scale_up() -> None:
    d, _ = run(target(), policy(metrics=TWO), 4, {"cpu": 160, "latency": None})
    assert (d.desired, d.reason) == (8, Reason.SCALED_UP)
    assert d.message.endswith("(latency has no usable sample)")


def test_all_metrics_missing_below_the_threshold_holds() -> None:
    p = policy(metrics=TWO, fallback=Fallback(failure_threshold=3, replicas=10))
    d, _ = run(target(), p, 6, {}, failures=2)
    assert (d.desired, d.reason, d.proposal) == (6, Reason.METRICS_UNAVAILABLE, None)
    assert d.message == (
        "hold web-couples at 6: no usable sample for cpu, latency (failure 2 of 3 before fallback)"
    )


@pytest.mark.parametrize(
    ("mode", "freeze", "current", "fallback", "desired", "limited"),
    [
        (NORMAL_MODE, True, 6, 10, 10, False),  # straight there, no rate limit
        (NORMAL_MODE, True, 6, 2, 2, False),
        (NORMAL_MODE, True, 6, 80, 50, True),  # kept within max
        (NORMAL_MODE, True, 6, 0, 1, True),  # kept within min
        (wedding_mode(), True, 6, 9, 9, False),
        (wedding_mode(), True, 8, 3, 8, True),  # never lowered in the mode
        (wedding_mode(), False, 8, 3, 8, True),  # not even without the freeze
        (wedding_mode(), False, 8, 9, 9, False),
    ],
)
def test_fallback_after_threshold_goes_to_fallback_replicas(
    mode: ModeResolution, freeze: bool, current: int, fallback: int, desired: int, limited: bool
) -> None:
    p = policy(fallback=Fallback(failure_threshold=3, replicas=fallback), freeze=freeze)
    d, _ = run(
        target(),
        p,
        current,
        {"cpu": None},
        mode,
        state=TargetState(current, baseline=5),
        failures=3,
    )
    assert (d.desired, d.reason, d.limited) == (desired, Reason.FALLBACK, limited)


def test_fallback_never_goes_below_the_wedding_day_floor() -> None:
    p = policy(fallback=Fallback(failure_threshold=1, replicas=2), freeze=False)
    # baseline 10 → floor 12; current 12 is at the floor.
    d, _ = run(target(), p, 12, {}, wedding_mode(), state=TargetState(12, baseline=10), failures=5)
    assert (d.desired, d.reason, d.floor) == (12, Reason.FALLBACK, 12)


def test_fallback_to_hold_holds() -> None:
    p = policy(fallback=Fallback(failure_threshold=3, replicas=None))
    d, _ = run(target(), p, 6, {}, failures=4)
    assert (d.desired, d.reason) == (6, Reason.FALLBACK)
    assert d.message == (
        "hold web-couples at 6: no usable sample for cpu in 4 evaluations (fallback after 3); "
        "fallback is to hold"
    )


def test_fallback_message_says_where_it_goes() -> None:
    p = policy(fallback=Fallback(failure_threshold=3, replicas=10))
    d, _ = run(target(), p, 6, {}, failures=3)
    assert d.message == (
        "scale web-couples 6 → 10: no usable sample for cpu in 3 evaluations (fallback after 3); "
        "fallback.replicas is 10"
    )


def test_target_without_applying_metric_holds() -> None:
    p = policy(metrics=(metric(targets=("web-suppliers",)),))
    d, _ = run(target(), p, 5, {"cpu": 500})
    assert (d.desired, d.reason, d.proposal, d.limited) == (5, Reason.NO_METRICS, None, False)


def test_target_without_applying_metric_is_still_brought_to_its_minimum() -> None:
    p = policy(target(min_replicas=3), metrics=())
    d, _ = run(target(min_replicas=3), p, 1, {})
    assert (d.desired, d.reason) == (3, Reason.BELOW_MIN_REPLICAS)


@pytest.mark.parametrize(
    ("samples", "available"),
    [
        ({"cpu": 1.0, "latency": 0.0}, True),
        ({"cpu": 1.0}, False),
        ({"cpu": 1.0, "latency": None}, False),
        ({"cpu": math.nan, "latency": 0.1}, False),
        ({"cpu": 1.0, "latency": math.inf}, False),
    ],
)
def test_metrics_available_only_when_every_metric_has_a_usable_sample(
    samples: dict[str, float | None], available: bool
) -> None:
    assert metrics_available(policy(metrics=TWO), samples) is available


# ------------------------------------------------------------------------------ bounds


def test_below_min_replicas_jumps_to_min_at_once() -> None:
    d, _ = run(target(min_replicas=12), policy(target(min_replicas=12)), 2, {"cpu": 80})
    assert (d.desired, d.reason, d.limited) == (12, Reason.BELOW_MIN_REPLICAS, True)
    assert d.message == "scale web-couples 2 → 12: 2 replicas is below minReplicas 12"


def test_above_max_replicas_drops_to_max_at_once() -> None:
    d, _ = run(target(max_replicas=10), policy(target(max_replicas=10)), 30, {"cpu": 300})
    assert (d.desired, d.reason, d.limited) == (10, Reason.ABOVE_MAX_REPLICAS, True)
    assert d.message == "scale web-couples 30 → 10: 30 replicas is above maxReplicas 10"


def test_proposal_above_max_is_held_at_max() -> None:
    t = target(max_replicas=20)
    d, _ = run(t, policy(t), 20, {"cpu": 160})
    assert (d.desired, d.reason, d.limited, d.proposal) == (20, Reason.ABOVE_MAX_REPLICAS, True, 40)
    assert d.message == (
        "hold web-couples at 20: cpu 160 is above its target 80 (ratio 2.00); 40 wanted, "
        "but maxReplicas is 20"
    )


def test_proposal_below_min_is_held_at_min() -> None:
    t = target(min_replicas=3)
    d, _ = run(t, policy(t), 6, {"cpu": 10})
    assert (d.desired, d.reason, d.limited, d.proposal) == (3, Reason.BELOW_MIN_REPLICAS, True, 1)


# ------------------------------------------------------------------ wedding-day floor


@pytest.mark.parametrize(
    ("t", "extra", "baseline", "load_factor", "floor"),
    [
        (target(), 20, 10, 1.0, 12),
        (target(), 20, 5, 1.0, 6),
        (target(), 20, 4, 1.0, 5),  # ceil(4.8)
        (target(), 10, 10, 1.0, 11),  # binary floats: ceil(11.000000000000002) = 12
        (target(max_replicas=200), 10, 100, 1.1, 111),  # binary floats: 112
        (target(), 20, 10, 1.5, 13),  # 10 * 1.3
        (target(), 20, 10, 0.0, 10),
        (target(wd_extra=50), 20, 10, 1.0, 15),  # the target overrides the policy
        (target(wd_extra=0), 20, 10, 1.0, 10),
        (target(wd_min=20), 20, 10, 1.0, 20),  # explicit minimum wins when larger
        (target(wd_min=8), 20, 10, 1.0, 12),
        (target(max_replicas=11), 20, 10, 1.0, 11),  # capped at max
        (target(max_replicas=11, wd_min=30), 20, 10, 1.0, 11),
        (target(), 20, 0, 1.0, 0),
    ],
)
def test_wedding_floor_is_baseline_plus_extra_capacity_or_explicit_minimum(
    t: Target, extra: int, baseline: int, load_factor: float, floor: int
) -> None:
    assert wedding_floor(t, policy(t, extra=extra), baseline, load_factor) == floor


def test_entering_the_mode_jumps_to_the_floor_without_rate_limit() -> None:
    p = policy(extra=100, behavior=Behavior())
    d, _ = run(target(), p, 10, {"cpu": 80}, wedding_mode(load_factor=3.0))
    assert (d.desired, d.reason, d.limited, d.floor) == (40, Reason.WEDDING_DAY_FLOOR, True, 40)
    assert d.message == (
        "scale web-couples 10 → 40: wedding-day floor is 40 "
        "(baseline 10 + 100% extra at load factor 3)"
    )


def test_floor_from_explicit_minimum_says_so() -> None:
    t = target(wd_min=30)
    d, _ = run(t, policy(t), 10, {"cpu": 80}, wedding_mode())
    assert d.message == (
        "scale web-couples 10 → 30: wedding-day floor is 30 (weddingDay.minReplicas 30)"
    )


def test_floor_capped_at_max_says_so() -> None:
    t = target(max_replicas=11)
    d, _ = run(t, policy(t), 10, {"cpu": 80}, wedding_mode())
    assert d.desired == 11
    assert d.message == (
        "scale web-couples 10 → 11: wedding-day floor is 11 "
        "(baseline 10 + 20% extra at load factor 1, capped at maxReplicas 11)"
    )


def test_first_decision_in_the_mode_records_the_baseline() -> None:
    _, state = run(target(), policy(), 10, {"cpu": 80}, wedding_mode())
    assert state.baseline == 10
    assert state.current == 12


def test_floor_is_sized_from_the_recorded_baseline_not_from_current() -> None:
    # Without a baseline the floor would ratchet: 12 → 15 → 18 ...
    d, state = run(
        target(), policy(), 12, {"cpu": 80}, wedding_mode(), state=TargetState(12, baseline=10)
    )
    assert (d.desired, d.reason, d.floor) == (12, Reason.WITHIN_TOLERANCE, 12)
    assert state.baseline == 10


def test_leaving_the_mode_clears_the_baseline() -> None:
    _, state = run(target(), policy(), 12, {"cpu": 80}, state=TargetState(12, baseline=10))
    assert state.baseline is None


def test_largest_load_factor_raises_the_floor() -> None:
    d, _ = run(target(), policy(), 10, {"cpu": 80}, wedding_mode(load_factor=2.5))
    assert d.desired == 15  # 10 * (1 + 0.2 * 2.5)


def test_normal_mode_has_no_floor() -> None:
    d, _ = run(target(), policy(), 10, {"cpu": 40})
    assert (d.floor, d.desired) == (None, 5)


# ---------------------------------------------------------------------------- freeze


def test_scale_down_is_frozen_during_wedding_day() -> None:
    d, _ = run(
        target(), policy(), 10, {"cpu": 20}, wedding_mode(), state=TargetState(10, baseline=5)
    )
    assert (d.desired, d.reason, d.limited, d.proposal) == (10, Reason.SCALE_DOWN_FROZEN, True, 3)
    assert d.message == (
        "hold web-couples at 10: scale-down to 6 frozen during wedding-day mode (smith-jones)"
    )


def test_without_freeze_the_mode_scales_down_to_the_floor_only() -> None:
    d, _ = run(
        target(),
        policy(freeze=False),
        10,
        {"cpu": 20},
        wedding_mode(),
        state=TargetState(10, baseline=5),
    )
    assert (d.desired, d.reason, d.limited) == (6, Reason.WEDDING_DAY_FLOOR, True)
    assert d.message == (
        "scale web-couples 10 → 6: cpu 20 is below its target 80 (ratio 0.25); 3 wanted, but "
        "wedding-day floor is 6 (baseline 5 + 20% extra at load factor 1)"
    )


def test_freeze_does_not_stop_a_scale_up() -> None:
    d, _ = run(
        target(), policy(), 10, {"cpu": 120}, wedding_mode(), state=TargetState(10, baseline=5)
    )
    assert (d.desired, d.reason) == (15, Reason.SCALED_UP)


def test_freeze_ends_with_the_mode() -> None:
    d, _ = run(target(), policy(), 10, {"cpu": 20}, state=TargetState(10, baseline=5))
    assert (d.desired, d.reason) == (3, Reason.SCALED_DOWN)


# ------------------------------------------------------------------------ safety gates

BEHIND = GateVerdict(
    passed=False, reason="ReplicaLagging", message="replica redis-1 is 5 MB behind"
)
IN_SYNC = GateVerdict(passed=True, reason="ReplicasInSync", message="all replicas in sync")
CONNS = (metric("connections", 100, kind=AVG),)


def test_failed_gate_holds_a_cache_scale_down() -> None:
    t = target("redis-replica", Role.CACHE, 1, 5)
    d, state = run(t, policy(t, metrics=CONNS), 3, {"connections": 200}, gate=BEHIND)
    assert (d.desired, d.reason, d.limited, d.proposal) == (3, Reason.SAFETY_GATE_BLOCKED, True, 2)
    assert (
        d.message
        == "hold redis-replica at 3: scale-down to 2 deferred, replica redis-1 is 5 MB behind"
    )
    assert state.events == ()


@pytest.mark.parametrize(
    ("role", "gate", "desired", "reason"),
    [
        (Role.CACHE, BEHIND, 3, Reason.SAFETY_GATE_BLOCKED),
        (Role.DATABASE, BEHIND, 3, Reason.SAFETY_GATE_BLOCKED),
        (Role.CACHE, IN_SYNC, 2, Reason.SCALED_DOWN),
        (Role.DATABASE, None, 2, Reason.SCALED_DOWN),  # no gate configured
        (Role.APP, BEHIND, 2, Reason.SCALED_DOWN),  # app tiers have no data to protect
    ],
)
def test_stateful_tiers_go_down_only_when_their_gate_passes(
    role: Role, gate: GateVerdict | None, desired: int, reason: Reason
) -> None:
    t = target("tier", role, 1, 5)
    d, _ = run(t, policy(t, metrics=CONNS), 3, {"connections": 200}, gate=gate)
    assert (d.desired, d.reason) == (desired, reason)


def test_failed_gate_never_blocks_a_scale_up() -> None:
    t = target("pg-replica", Role.DATABASE, 1, 5)
    d, _ = run(t, policy(t, metrics=CONNS), 3, {"connections": 500}, gate=BEHIND)
    assert (d.desired, d.reason) == (5, Reason.SCALED_UP)


@pytest.mark.parametrize(
    ("current", "samples", "failures"),
    [(8, {"connections": 300}, 0), (4, {}, 3)],
    ids=["above-max", "fallback"],
)
def test_failed_gate_also_holds_bound_and_fallback_scale_downs(
    current: int, samples: dict[str, float | None], failures: int
) -> None:
    t = target("pg-replica", Role.DATABASE, 1, 5)
    p = policy(t, metrics=CONNS, fallback=Fallback(failure_threshold=3, replicas=2))
    d, _ = run(t, p, current, samples, failures=failures, gate=BEHIND)
    assert (d.desired, d.reason) == (current, Reason.SAFETY_GATE_BLOCKED)


# ------------------------------------------------------------------ behavior in decisions


def test_scale_down_waits_for_the_stabilization_window() -> None:
    state = TargetState(9, recommendations=(Recommendation(NOW - timedelta(seconds=100), 9),))
    d, new = run(target(), policy(behavior=Behavior()), 9, {"cpu": 40}, state=state)
    assert (d.desired, d.reason, d.limited, d.proposal) == (9, Reason.STABILIZATION_WINDOW, True, 5)
    assert d.message == (
        "hold web-couples at 9: cpu 40 is below its target 80 (ratio 0.50); 5 wanted, but the "
        "300 s scale-down stabilization window keeps its highest recommendation, 9"
    )
    # As HPA, the recommendation recorded is the proposal before stabilization.
    assert new.recommendations == (
        Recommendation(NOW - timedelta(seconds=100), 9),
        Recommendation(NOW, 5),
    )


def test_stabilization_steps_down_to_the_highest_recent_recommendation() -> None:
    recs = (
        Recommendation(NOW - timedelta(seconds=400), 12),
        Recommendation(NOW - timedelta(seconds=200), 7),
        Recommendation(NOW - timedelta(seconds=50), 6),
    )
    d, new = run(
        target(),
        policy(behavior=Behavior()),
        9,
        {"cpu": 40},
        state=TargetState(9, recommendations=recs),
    )
    assert (d.desired, d.reason) == (7, Reason.STABILIZATION_WINDOW)
    assert new.recommendations == (*recs[1:], Recommendation(NOW, 5))


def test_new_policy_does_not_scale_down_before_one_window_has_passed() -> None:
    # HPA seeds an unseen autoscaler's history with the current count.
    p = policy(behavior=Behavior())
    state = TargetState(9)
    first_down: datetime | None = None
    for tick in range(0, 400, 30):
        now = NOW + timedelta(seconds=tick)
        d, state = run(target(), p, state.current, {"cpu": 40}, state=state, now=now)
        if d.direction == "down":
            first_down = now
            break
        assert d.reason is Reason.STABILIZATION_WINDOW
    assert first_down == NOW + timedelta(seconds=300)


def test_scale_up_is_rate_limited_by_default_policies() -> None:
    d, _ = run(target(), policy(behavior=Behavior()), 2, {"cpu": 800})
    assert (d.desired, d.reason, d.limited, d.proposal) == (6, Reason.RATE_LIMITED, True, 20)
    assert d.message == (
        "scale web-couples 2 → 6: cpu 800 is above its target 80 (ratio 10.00); 20 wanted, but "
        "the scale-up policies allow 6 now (Percent 100/15s, Pods 4/15s, selectPolicy Max)"
    )


def test_rate_limit_uses_the_recorded_scale_events() -> None:
    # 2 → 6 five seconds ago: the default period starts from 2, so 6 is all for now.
    state = TargetState(6, events=(ScaleEvent(NOW - timedelta(seconds=5), +4),))
    d, new = run(target(), policy(behavior=Behavior()), 6, {"cpu": 800}, state=state)
    assert (d.desired, d.reason) == (6, Reason.RATE_LIMITED)
    assert new.events == state.events


def test_disabled_scale_down_holds() -> None:
    behavior = Behavior(scale_down=ScalingRules(0, SelectPolicy.DISABLED, FAST.scale_down.policies))
    d, _ = run(target(), policy(behavior=behavior), 8, {"cpu": 20})
    assert (d.desired, d.reason, d.limited) == (8, Reason.RATE_LIMITED, True)
    assert d.message.endswith("the scale-down policies allow 8 now (selectPolicy Disabled)")


# --------------------------------------------------------------------------- history


def test_scale_appends_an_event_and_prunes_expired_history() -> None:
    old = ScaleEvent(NOW - timedelta(seconds=15), +1)  # exactly one 15 s period ago
    stale = Recommendation(NOW - timedelta(seconds=300), 4)
    d, new = run(
        target(),
        policy(behavior=Behavior()),
        4,
        {"cpu": 120},
        state=TargetState(4, recommendations=(stale,), events=(old,)),
    )
    assert d.desired == 6
    assert new == TargetState(
        current=6,
        baseline=None,
        # the stale one counts in no window, but stays as the newest: the target has a
        # history, so no seed (current at now) is made for it
        recommendations=(stale, Recommendation(NOW, 6)),
        events=(ScaleEvent(NOW, +2),),
    )


def test_scale_down_event_has_a_negative_delta() -> None:
    _, new = run(target(), policy(), 8, {"cpu": 40})
    assert new.events == (ScaleEvent(NOW, -4),)


def test_hold_appends_no_event() -> None:
    _, new = run(target(), policy(), 4, {"cpu": 80})
    assert new.events == ()


def test_decision_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        run(target(), policy(), 4, {"cpu": 80}, now=datetime(2027, 6, 5, 12, 0))


# -------------------------------------------------------------------------- ordering


def decision(name: str, role: Role, current: int, desired: int) -> Decision:
    return Decision(name, role, current, desired, Reason.NO_CHANGE, "", False, None, None)


def test_scale_order_raises_database_cache_app_then_lowers_app_cache_database() -> None:
    ds = [
        decision("web-down", Role.APP, 5, 3),
        decision("web-up", Role.APP, 3, 5),
        decision("pg-hold", Role.DATABASE, 2, 2),
        decision("redis-down", Role.CACHE, 3, 2),
        decision("redis-up", Role.CACHE, 2, 3),
        decision("pg-down", Role.DATABASE, 3, 2),
        decision("pg-up", Role.DATABASE, 2, 3),
        decision("web-hold", Role.APP, 4, 4),
    ]
    assert [d.target for d in scale_order(ds)] == [
        "pg-up",
        "redis-up",
        "web-up",
        "web-down",
        "redis-down",
        "pg-down",
        "pg-hold",
        "web-hold",
    ]


def test_scale_steps_patch_one_tier_together_and_keep_the_order_between_tiers() -> None:
    ds = [
        decision("web-a", Role.APP, 3, 5),
        decision("pg", Role.DATABASE, 2, 3),
        decision("web-b", Role.APP, 3, 4),
        decision("web-hold", Role.APP, 4, 4),
        decision("redis-a", Role.CACHE, 3, 2),
        decision("pg-hold", Role.DATABASE, 2, 2),
        decision("redis-b", Role.CACHE, 3, 1),
        decision("web-down", Role.APP, 6, 5),
    ]
    assert [[d.target for d in step] for step in scale_steps(ds)] == [
        ["pg"],
        ["web-a", "web-b"],
        ["web-down"],
        ["redis-a", "redis-b"],
        ["web-hold", "pg-hold"],
    ]
    assert [d for step in scale_steps(ds) for d in step] == scale_order(ds)
    assert scale_steps([]) == []


def test_decision_direction_and_changed() -> None:
    assert (decision("a", Role.APP, 3, 5).direction, decision("a", Role.APP, 3, 5).changed) == (
        "up",
        True,
    )
    assert decision("a", Role.APP, 5, 3).direction == "down"
    assert (decision("a", Role.APP, 3, 3).direction, decision("a", Role.APP, 3, 3).changed) == (
        "none",
        False,
    )


def test_decide_covers_every_target_in_scale_order_and_returns_their_states() -> None:
    web = target("web-couples", Role.APP, 2, 40)
    redis = target("redis-replica", Role.CACHE, 1, 6)
    pg = target("pg-replica", Role.DATABASE, 1, 4)
    p = policy(web, redis, pg, metrics=(metric("cpu", 80, targets=("web-couples",)),))
    states = {
        "web-couples": TargetState(10),
        "redis-replica": TargetState(2),
        "pg-replica": TargetState(2),
    }
    result = decide(p, states, {"cpu": 80}, wedding_mode(), 0, {}, NOW)
    assert isinstance(result, PolicyDecision)
    assert [(d.target, d.current, d.desired, d.reason) for d in result.decisions] == [
        ("pg-replica", 2, 3, Reason.WEDDING_DAY_FLOOR),
        ("redis-replica", 2, 3, Reason.WEDDING_DAY_FLOOR),
        ("web-couples", 10, 12, Reason.WEDDING_DAY_FLOOR),
    ]
    assert {name: s.current for name, s in result.states.items()} == {
        "web-couples": 12,
        "redis-replica": 3,
        "pg-replica": 3,
    }


def test_decide_passes_each_target_its_own_gate() -> None:
    redis = target("redis-replica", Role.CACHE, 1, 6)
    pg = target("pg-replica", Role.DATABASE, 1, 6)
    p = policy(redis, pg, metrics=CONNS)
    states = {"redis-replica": TargetState(4), "pg-replica": TargetState(4)}
    result = decide(p, states, {"connections": 200}, NORMAL_MODE, 0, {"pg-replica": BEHIND}, NOW)
    assert [(d.target, d.desired, d.reason) for d in result.decisions] == [
        ("redis-replica", 2, Reason.SCALED_DOWN),
        ("pg-replica", 4, Reason.SAFETY_GATE_BLOCKED),
    ]


def test_decide_skips_targets_without_state_and_keeps_other_states() -> None:
    web = target("web-couples")
    other = TargetState(7, baseline=3)
    p = policy(web, target("web-suppliers"))
    result = decide(
        p, {"web-couples": TargetState(4), "gone": other}, {"cpu": 80}, NORMAL_MODE, 0, {}, NOW
    )
    assert [d.target for d in result.decisions] == ["web-couples"]
    assert set(result.states) == {"web-couples", "gone"}
    assert result.states["gone"] is other


# -------------------------------------------------------------------------- properties

BEHAVIORS = st.sampled_from(
    [
        Behavior(),
        FAST,
        Behavior(
            scale_up=ScalingRules(
                60,
                SelectPolicy.MIN,
                (ScalingPolicy(PolicyType.PERCENT, 50, 60), ScalingPolicy(PolicyType.PODS, 2, 30)),
            ),
            scale_down=ScalingRules(
                120,
                SelectPolicy.MIN,
                (ScalingPolicy(PolicyType.PERCENT, 30, 60), ScalingPolicy(PolicyType.PODS, 1, 20)),
            ),
        ),
        Behavior(
            scale_up=ScalingRules(
                0, SelectPolicy.DISABLED, (ScalingPolicy(PolicyType.PODS, 1, 15),)
            ),
            scale_down=ScalingRules(
                0, SelectPolicy.DISABLED, (ScalingPolicy(PolicyType.PODS, 1, 15),)
            ),
        ),
    ]
)
SAMPLE = st.one_of(
    st.none(),
    st.just(math.nan),
    st.floats(min_value=0, max_value=5000, allow_nan=False, allow_infinity=False),
)


@dataclass(frozen=True)
class Scenario:
    target: Target
    policy: PlatformScaling
    state: TargetState
    samples: dict[str, float | None]
    mode: ModeResolution
    failures: int
    gate: GateVerdict | None

    def decide(self) -> tuple[Decision, TargetState]:
        return decide_target(
            self.target,
            self.policy,
            self.state,
            self.samples,
            self.mode,
            self.failures,
            self.gate,
            NOW,
        )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    lo = draw(st.integers(0, 10))
    hi = draw(st.integers(max(lo, 1), 40))
    t = target(
        role=draw(st.sampled_from(list(Role))),
        min_replicas=lo,
        max_replicas=hi,
        wd_min=draw(st.none() | st.integers(0, 50)),
        wd_extra=draw(st.none() | st.integers(0, 200)),
    )
    metrics = tuple(
        metric(
            f"m{i}",
            draw(st.integers(1, 500)),
            kind=draw(st.sampled_from(list(MetricTargetType))),
            wd=draw(st.none() | st.integers(1, 500)),
        )
        for i in range(draw(st.integers(0, 3)))
    )
    p = policy(
        t,
        metrics=metrics,
        behavior=draw(BEHAVIORS),
        fallback=Fallback(draw(st.integers(1, 4)), draw(st.none() | st.integers(0, 60))),
        freeze=draw(st.booleans()),
        extra=draw(st.integers(0, 100)),
    )
    current = draw(st.integers(0, hi + 10))
    recs = tuple(
        Recommendation(NOW - timedelta(seconds=s), r)
        for s, r in draw(st.lists(st.tuples(st.integers(0, 600), st.integers(0, 60)), max_size=6))
    )
    events = tuple(
        ScaleEvent(NOW - timedelta(seconds=s), dlt)
        for s, dlt in draw(
            st.lists(st.tuples(st.integers(0, 120), st.integers(-10, 10)), max_size=4)
        )
    )
    in_mode = draw(st.booleans())
    return Scenario(
        target=t,
        policy=p,
        state=TargetState(current, draw(st.none() | st.integers(0, 30)), recs, events),
        samples={m.name: draw(SAMPLE) for m in metrics},
        mode=wedding_mode(draw(st.floats(0, 3))) if in_mode else NORMAL_MODE,
        failures=draw(st.integers(0, 5)),
        gate=draw(st.sampled_from([None, IN_SYNC])),
    )


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_property_result_is_always_within_min_and_max(s: Scenario) -> None:
    d, new = s.decide()
    if s.state.current == 0 and s.target.min_replicas > 0:
        assert (d.desired, d.reason) == (0, Reason.SCALING_DISABLED)  # as HPA: left alone
    else:
        assert s.target.min_replicas <= d.desired <= s.target.max_replicas
    assert new.current == d.desired


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_property_never_below_the_floor_in_the_mode(s: Scenario) -> None:
    d, _ = s.decide()
    if s.state.current == 0 and s.target.min_replicas > 0:
        assert d.floor is None  # scaling is off for it, the floor too
    elif s.mode.mode is Mode.WEDDING_DAY:
        baseline = s.state.baseline if s.state.baseline is not None else s.state.current
        floor = wedding_floor(s.target, s.policy, baseline, s.mode.load_factor)
        assert d.floor == floor
        assert d.desired >= floor
    else:
        assert d.floor is None


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_property_never_a_scale_down_while_frozen(s: Scenario) -> None:
    d, _ = s.decide()
    frozen = s.mode.mode is Mode.WEDDING_DAY and s.policy.wedding_day.freeze_scale_down
    # maxReplicas is the one bound the freeze yields to (see AboveMaxReplicas).
    if frozen and d.current <= s.target.max_replicas:
        assert d.desired >= d.current


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_property_failed_gate_never_lets_a_stateful_tier_shrink(s: Scenario) -> None:
    d, _ = replace(s, gate=BEHIND).decide()
    if s.target.role.stateful:
        assert d.desired >= d.current


@st.composite
def within_band(draw: st.DrawFn) -> tuple[Target, PlatformScaling, int, dict[str, float | None]]:
    lo = draw(st.integers(1, 10))
    hi = draw(st.integers(lo, 40))
    current = draw(st.integers(lo, hi))
    metrics: list[Metric] = []
    samples: dict[str, float | None] = {}
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(list(MetricTargetType)))
        value = draw(st.integers(1, 500))
        total = value * current if kind is AVG else value
        # Integers whose ratio to the target is within [0.9, 1.1], edges included.
        observed = draw(st.integers(math.ceil(total * 9 / 10), total * 11 // 10))
        metrics.append(metric(f"m{i}", value, kind=kind))
        samples[f"m{i}"] = observed
    t = target(min_replicas=lo, max_replicas=hi)
    return t, policy(t, metrics=tuple(metrics), behavior=draw(BEHAVIORS)), current, samples


@settings(max_examples=200, deadline=None)
@given(within_band())
def test_property_tolerance_band_means_no_change_from_metrics(
    case: tuple[Target, PlatformScaling, int, dict[str, float | None]],
) -> None:
    t, p, current, samples = case
    d, _ = run(t, p, current, samples)
    assert (d.desired, d.proposal, d.reason) == (current, current, Reason.WITHIN_TOLERANCE)


# ----------------------------------------------------------------- HPA's edge cases
# Each row names the case of the Kubernetes HPA controller it mirrors
# (pkg/controller/podautoscaler: horizontal.go, replica_calculator.go and their tests).


def rules_with(rules: ScalingRules, tolerance: str | None) -> ScalingRules:
    return replace(rules, tolerance=None if tolerance is None else Fraction(tolerance))


@pytest.mark.parametrize(
    ("upstream", "min_replicas", "current", "in_mode", "samples", "failures", "desired", "reason"),
    [
        # horizontal_test.go TestZeroReplicas: min 3, spec 0 → stays 0, ScalingDisabled.
        ("TestZeroReplicas", 3, 0, False, {"cpu": 160}, 0, 0, Reason.SCALING_DISABLED),
        ("TestZeroReplicas, no metrics", 3, 0, False, {"cpu": None}, 0, 0, Reason.SCALING_DISABLED),
        ("TestZeroReplicas, past the fallback", 3, 0, False, {}, 5, 0, Reason.SCALING_DISABLED),
        # Ours: the wedding-day floor does not raise a target someone turned off either.
        ("TestZeroReplicas, in the mode", 3, 0, True, {"cpu": 160}, 0, 0, Reason.SCALING_DISABLED),
        # TestTooFewReplicas: any count above 0 below the minimum is raised to it.
        ("TestTooFewReplicas", 3, 2, False, {"cpu": 80}, 0, 3, Reason.BELOW_MIN_REPLICAS),
        # minReplicas 0 (HPAScaleToZero): 0 is the policy's own state and scaling goes on;
        # in the mode the floor applies, as to any count the policy set itself.
        ("scale to zero allowed", 0, 0, True, {"cpu": 80}, 0, 4, Reason.WEDDING_DAY_FLOOR),
    ],
)
def test_a_target_at_zero_with_a_minimum_is_left_alone_as_hpa_does(
    upstream: str,
    min_replicas: int,
    current: int,
    in_mode: bool,
    samples: dict[str, float | None],
    failures: int,
    desired: int,
    reason: Reason,
) -> None:
    t = target(min_replicas=min_replicas, wd_min=4)
    p = policy(t, fallback=Fallback(failure_threshold=3, replicas=6))
    mode = wedding_mode() if in_mode else NORMAL_MODE
    d, new = run(t, p, current, samples, mode, failures=failures)
    assert (d.desired, d.reason) == (desired, reason), upstream
    if reason is Reason.SCALING_DISABLED:
        assert d.limited and d.floor is None and new.baseline is None
        assert "autoscaling is off for it" in d.message


def test_a_target_handed_back_during_the_mode_takes_its_baseline_then() -> None:
    t = target(min_replicas=2)
    p = policy(t)
    _, state = run(t, p, 0, {"cpu": 80}, wedding_mode())
    assert state.baseline is None
    d, state = run(t, p, 5, {"cpu": 60}, wedding_mode(), state=replace(state, current=5))
    # ceil(5 x 1.2) = 6: sized from the count it came back with, not from 0.
    assert (state.baseline, d.floor, d.desired) == (5, 6, 6)


@pytest.mark.parametrize(
    ("upstream", "target_value", "observed", "proposal", "desired", "reason"),
    [
        # replica_calculator.go getUsageRatioReplicaCount, currentReplicas == 0:
        # ceil(usageRatio), with no tolerance band around 1.
        ("from zero: ceil(ratio)", 80, 500, 7, 4, Reason.RATE_LIMITED),  # default 4 Pods/15s
        ("from zero: ratio exactly 1", 100, 100, 1, 1, Reason.SCALED_UP),
        ("from zero: no tolerance at zero", 100, 105, 2, 2, Reason.SCALED_UP),
        ("from zero: nothing to do stays at zero", 100, 0, 0, 0, Reason.NO_CHANGE),
    ],
)
def test_a_value_metric_scales_up_from_zero_as_hpa_does(
    upstream: str,
    target_value: float,
    observed: float,
    proposal: int,
    desired: int,
    reason: Reason,
) -> None:
    t = target(min_replicas=0)
    p = policy(t, metrics=(metric("queue", target_value, kind=VALUE),), behavior=Behavior())
    d, _ = run(t, p, 0, {"queue": observed})
    assert (d.proposal, d.desired, d.reason) == (proposal, desired, reason), upstream


def test_a_value_metric_from_zero_says_how_many_it_needs() -> None:
    t = target(min_replicas=0)
    p = policy(t, metrics=(metric("queue", 100, kind=VALUE),))
    d, _ = run(t, p, 0, {"queue": 250})
    assert d.message == "scale web-couples 0 → 3: queue 250 needs 3 at its target 100"


@pytest.mark.parametrize(
    ("upstream", "history", "evaluations", "first_down_after"),
    [
        # horizontal.go recordInitialRecommendation seeds only a key never seen: a new
        # policy waits one window (300 s) before its first scale-down.
        ("recordInitialRecommendation, new key", (), range(0, 400, 30), 300),
        # stabilizeRecommendationWithBehaviors counts only what is inside the window: a
        # history whose last entry is 400 s old (metrics were out) holds nothing.
        ("quiet spell longer than the window", ((400, 9),), range(0, 400, 30), 0),
        # A spell shorter than the window still counts: 9 until 300 s after it.
        ("quiet spell inside the window", ((100, 9),), range(0, 400, 30), 210),
        # An evaluation every 10 min against a 5 min window empties the window each time;
        # only the first evaluation is a new key.
        ("interval longer than the window", (), range(0, 1900, 600), 600),
    ],
)
def test_an_emptied_stabilization_history_does_not_hold_another_window(
    upstream: str,
    history: tuple[tuple[int, int], ...],
    evaluations: range,
    first_down_after: int,
) -> None:
    p = policy(behavior=Behavior())
    recs = tuple(Recommendation(NOW - timedelta(seconds=ago), n) for ago, n in history)
    state = TargetState(9, recommendations=recs)
    first_down: int | None = None
    for tick in evaluations:
        now = NOW + timedelta(seconds=tick)
        d, state = run(target(), p, state.current, {"cpu": 40}, state=state, now=now)
        if d.direction == "down":
            first_down = tick
            break
        assert d.reason is Reason.STABILIZATION_WINDOW, (upstream, tick, d.message)
    assert first_down == first_down_after, upstream


def test_a_fallback_spell_keeps_the_newest_recommendation_as_history() -> None:
    p = policy(behavior=Behavior())
    state = TargetState(9, recommendations=(Recommendation(NOW - timedelta(seconds=10), 9),))
    later = NOW + timedelta(seconds=600)
    _, state = run(target(), p, 9, {"cpu": None}, state=state, now=later)
    assert state.recommendations == (Recommendation(NOW - timedelta(seconds=10), 9),)


@pytest.mark.parametrize(
    ("upstream", "down", "up", "kind", "target_value", "observed", "desired"),
    [
        # replica_calculator_test.go TestReplicaCalcConfigurableTolerance (3 replicas,
        # utilization target 100); Tolerances{scaleDown, scaleUp}.
        ("Outside of a 0% tolerance", "0", "0", UTIL, 100, 101, 4),
        ("Within a 200% scale-up tolerance", None, "2", UTIL, 100, 190, 3),
        ("Outside 8% scale-up tolerance", "2", "0.08", UTIL, 100, 109, 4),
        ("Within a 36% scale-down tolerance", "0.36", None, UTIL, 100, 65, 3),
        ("Outside a 34% scale-down tolerance", "0.34", None, UTIL, 100, 65, 2),
        # TestReplicaCalcConfigurableToleranceCMExternal and ...PerPodCMExternal.
        ("ToleranceCMExternal", None, "0.01", VALUE, 8800, 8900, 4),
        ("TolerancePerPodCMExternal", None, "0.01", AVG, 2800, 8600, 4),
        # The default when neither is set: --horizontal-pod-autoscaler-tolerance 0.1.
        ("TestReplicaCalcToleranceCMExternal (default)", None, None, VALUE, 8888, 8600, 3),
        ("default 10% up", None, None, UTIL, 100, 109, 3),
        ("the band's edge is inside it", "0.05", "0.05", UTIL, 100, 95, 3),
    ],
)
def test_tolerance_is_set_per_direction_as_in_autoscaling_v2(
    upstream: str,
    down: str | None,
    up: str | None,
    kind: MetricTargetType,
    target_value: float,
    observed: float,
    desired: int,
) -> None:
    behavior = Behavior(
        scale_up=rules_with(Behavior().scale_up, up),
        scale_down=rules_with(FAST.scale_down, down),
    )
    p = policy(metrics=(metric("m", target_value, kind=kind),), behavior=behavior)
    d, _ = run(target(), p, 3, {"m": observed})
    assert d.desired == desired, (upstream, d.message)
    assert (d.reason is Reason.WITHIN_TOLERANCE) is (desired == 3), upstream


def test_within_tolerance_message_names_the_tolerance_of_its_direction() -> None:
    behavior = Behavior(scale_down=rules_with(FAST.scale_down, "0.36"))
    d, _ = run(target(), policy(behavior=behavior), 3, {"cpu": 56})
    assert d.message == "hold web-couples at 3: cpu 56 is within 36% of its target 80 (ratio 0.70)"
