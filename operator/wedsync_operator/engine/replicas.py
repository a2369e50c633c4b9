"""How many replicas each target of a PlatformScaling policy should have, and why.

The rules follow the Kubernetes HorizontalPodAutoscaler (autoscaling/v2) wherever it has
one — usage ratios, the tolerance (10%, or per direction), the largest proposal over
several metrics, no scale-down on partial metrics, stabilization windows and rate
policies, a target at zero left alone, scale-up from zero — so that the policy behaves
as an SRE who knows HPA expects. On top come the wedding-day rules: a floor sized from
the replica count when the mode began, a scale-down freeze, a fallback for metric
outages that can only hold or raise capacity in the mode, and safety gates for stateful
tiers.

Everything here is pure: the time is an argument, the history (recommendations and scale
events) comes in and goes out as plain data that the caller keeps in status.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Literal

from wedsync_operator.engine.behavior import (
    Limit,
    Recommendation,
    ScaleEvent,
    describe_rules,
    limit_rate,
    prune_events,
    prune_recommendations,
    stabilize,
)
from wedsync_operator.engine.mode import Mode, ModeResolution
from wedsync_operator.engine.schedule import require_aware
from wedsync_operator.model.types import (
    Behavior,
    Metric,
    MetricTargetType,
    PlatformScaling,
    Role,
    Target,
)

__all__ = [
    "TOLERANCE",
    "Decision",
    "GateVerdict",
    "MetricProposal",
    "PolicyDecision",
    "Reason",
    "Recommendation",
    "ScaleEvent",
    "TargetState",
    "Tolerances",
    "decide",
    "decide_target",
    "is_missing",
    "metric_proposal",
    "metric_target_value",
    "metrics_available",
    "scale_order",
    "scale_steps",
    "wedding_floor",
]

# HPA's default --horizontal-pod-autoscaler-tolerance: ratios within 10% of 1 are noise.
TOLERANCE = Fraction(1, 10)


@dataclass(frozen=True)
class Tolerances:
    """HPA's per-direction tolerance (autoscaling/v2 ``behavior.scaleUp.tolerance`` and
    ``behavior.scaleDown.tolerance``, Kubernetes 1.33): a ratio inside
    ``[1 - down, 1 + up]``, edges included, is noise."""

    up: Fraction = TOLERANCE
    down: Fraction = TOLERANCE

    @classmethod
    def of(cls, behavior: Behavior) -> Tolerances:
        up, down = behavior.scale_up.tolerance, behavior.scale_down.tolerance
        return cls(TOLERANCE if up is None else up, TOLERANCE if down is None else down)

    def is_within(self, ratio: Fraction) -> bool:
        return 1 - self.down <= ratio <= 1 + self.up

    def toward(self, ratio: Fraction) -> Fraction:
        """The tolerance on the side of 1 where ``ratio`` lies."""
        return self.up if ratio > 1 else self.down


class Reason(StrEnum):
    SCALED_UP = "ScaledUp"
    SCALED_DOWN = "ScaledDown"
    WITHIN_TOLERANCE = "WithinTolerance"
    NO_CHANGE = "NoChange"
    STABILIZATION_WINDOW = "StabilizationWindow"
    RATE_LIMITED = "RateLimited"
    BELOW_MIN_REPLICAS = "BelowMinReplicas"
    ABOVE_MAX_REPLICAS = "AboveMaxReplicas"
    WEDDING_DAY_FLOOR = "WeddingDayFloor"
    SCALE_DOWN_FROZEN = "ScaleDownFrozen"
    SAFETY_GATE_BLOCKED = "SafetyGateBlocked"
    WAITING_FOR_TIER = "WaitingForTier"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    METRICS_PARTIAL = "MetricsPartial"
    FALLBACK = "Fallback"
    NO_METRICS = "NoMetrics"
    SCALING_DISABLED = "ScalingDisabled"


@dataclass(frozen=True)
class GateVerdict:
    """The outcome of a stateful tier's safety check, made by the caller (it needs I/O)."""

    passed: bool
    reason: str
    message: str


@dataclass(frozen=True)
class TargetState:
    """What a decision needs to remember between evaluations.

    ``baseline`` is the replica count when wedding-day mode began; the engine sets it on
    the first decision in the mode and clears it when the mode is off, so the floor does
    not ratchet up from its own result on every evaluation.
    """

    current: int
    baseline: int | None = None
    recommendations: tuple[Recommendation, ...] = ()
    events: tuple[ScaleEvent, ...] = ()


@dataclass(frozen=True)
class Decision:
    target: str
    role: Role
    current: int
    desired: int
    reason: Reason
    message: str
    # True when min/max, the floor, a rate policy, stabilization, the freeze or a safety
    # gate kept the result from what the metrics (or, without them, the current count)
    # asked for: it feeds the ScalingLimited condition.
    limited: bool
    floor: int | None
    proposal: int | None

    @property
    def changed(self) -> bool:
        return self.desired != self.current

    @property
    def direction(self) -> Literal["up", "down", "none"]:
        if self.desired > self.current:
            return "up"
        if self.desired < self.current:
            return "down"
        return "none"


@dataclass(frozen=True)
class PolicyDecision:
    decisions: tuple[Decision, ...]
    states: Mapping[str, TargetState] = field(default_factory=dict)


# --------------------------------------------------------------------------- metrics


def is_missing(sample: float | None) -> bool:
    """A sample that cannot be used: absent, NaN or infinite (never a reason to scale
    down)."""
    return sample is None or not math.isfinite(sample)


def _exact(x: float) -> Fraction:
    # The shortest decimal that round-trips is what the user or Prometheus wrote. Exact
    # maths on it keeps 88/80 on the tolerance edge (|1.1 - 1| <= 0.1) and 10 * 1.1 at
    # 11 replicas, where binary floats give 0.10000000000000009 and 11.000000000000002.
    return Fraction(repr(float(x)))


def metric_target_value(metric: Metric, in_mode: bool) -> float:
    if in_mode and metric.wedding_day_target_value is not None:
        return metric.wedding_day_target_value
    return metric.target_value


@dataclass(frozen=True)
class MetricProposal:
    metric: Metric
    observed: float
    target_value: float
    wedding_day_target: bool
    ratio: Fraction
    replicas: int
    within_tolerance: bool
    # A Utilization metric cannot say how many replicas are needed from zero.
    stuck_at_zero: bool = False
    tolerances: Tolerances = Tolerances()


def metric_proposal(
    metric: Metric,
    observed: float,
    current: int,
    in_mode: bool,
    tolerances: Tolerances = Tolerances(),
) -> MetricProposal | None:
    """The replica count one metric asks for; None when the metric cannot be used (a
    non-positive target, which the schema forbids)."""
    target_value = metric_target_value(metric, in_mode)
    if is_missing(observed) or not math.isfinite(target_value) or target_value <= 0:
        return None
    obs, tv = _exact(observed), _exact(target_value)
    wd_target = in_mode and metric.wedding_day_target_value is not None

    def made(ratio: Fraction, replicas: int, within: bool, stuck: bool = False) -> MetricProposal:
        return MetricProposal(
            metric=metric,
            observed=observed,
            target_value=target_value,
            wedding_day_target=wd_target,
            ratio=ratio,
            replicas=max(0, replicas),
            within_tolerance=within,
            stuck_at_zero=stuck,
            tolerances=tolerances,
        )

    if metric.target_type is MetricTargetType.AVERAGE_VALUE:
        # Observed is the total over the target; the per-replica target says how many
        # replicas carry it, which also works from zero replicas.
        needed = math.ceil(obs / tv)
        if current == 0:
            return made(obs / tv, needed, within=False)
        ratio = obs / (tv * current)
        if tolerances.is_within(ratio):
            return made(ratio, current, within=True)
        return made(ratio, needed, within=False)

    ratio = obs / tv
    if current == 0:
        if metric.target_type is MetricTargetType.VALUE:
            # HPA's getUsageRatioReplicaCount from zero: the ratio itself is the count.
            return made(ratio, math.ceil(ratio), within=False)
        return made(ratio, 0, within=False, stuck=True)
    if tolerances.is_within(ratio):
        return made(ratio, current, within=True)
    return made(ratio, math.ceil(current * ratio), within=False)


def metrics_available(policy: PlatformScaling, samples: Mapping[str, float | None]) -> bool:
    """Whether every metric of the policy has a usable sample (MetricsAvailable)."""
    return all(not is_missing(samples.get(m.name)) for m in policy.metrics)


def _num(x: float) -> str:
    return f"{x:g}"


def _describe(mp: MetricProposal, current: int) -> str:
    name = mp.metric.name
    which = "wedding-day target" if mp.wedding_day_target else "target"
    tv = _num(mp.target_value)
    if mp.stuck_at_zero:
        return (
            f"{name} is {_num(mp.observed)} but a {mp.metric.target_type} metric cannot scale "
            "up from zero replicas (only a Value or AverageValue metric can)"
        )
    if current == 0 and mp.metric.target_type is MetricTargetType.VALUE:
        return f"{name} {_num(mp.observed)} needs {mp.replicas} at its {which} {tv}"
    if mp.metric.target_type is MetricTargetType.AVERAGE_VALUE:
        if current == 0:
            return f"{name} {_num(mp.observed)} needs {mp.replicas} at its {which} {tv} per replica"
        subject = f"{name} {_num(mp.observed)} over {current} replicas"
        tv = f"{tv} per replica"
    else:
        subject = f"{name} {_num(mp.observed)}"
    if mp.within_tolerance:
        relation = f"is within {_num(float(mp.tolerances.toward(mp.ratio) * 100))}% of"
    elif mp.ratio > 1:
        relation = "is above"
    else:
        relation = "is below"
    return f"{subject} {relation} its {which} {tv} (ratio {float(mp.ratio):.2f})"


# ---------------------------------------------------------------------- wedding day


def _extra_percent(target: Target, policy: PlatformScaling) -> int:
    if target.wedding_day.extra_capacity_percent is not None:
        return target.wedding_day.extra_capacity_percent
    return policy.wedding_day.extra_capacity_percent


def _exact_load(load_factor: float) -> Fraction:
    # Schema validation keeps it finite and non-negative; should one slip through, read
    # it as configured (1.0) rather than let a NaN size the platform.
    if not math.isfinite(load_factor):
        return Fraction(1)
    return max(Fraction(0), _exact(load_factor))


def _uncapped_floor(
    target: Target, policy: PlatformScaling, baseline: int, load_factor: float
) -> int:
    extra = Fraction(_extra_percent(target, policy), 100) * _exact_load(load_factor)
    sized = math.ceil(max(0, baseline) * (1 + extra))
    return max(target.wedding_day.min_replicas or 0, sized)


def wedding_floor(
    target: Target, policy: PlatformScaling, baseline: int, load_factor: float
) -> int:
    """The least a target may run with in wedding-day mode: its explicit wedding-day
    minimum, or the baseline plus the extra capacity scaled by the load factor, whichever
    is larger, never above maxReplicas."""
    return min(_uncapped_floor(target, policy, baseline, load_factor), target.max_replicas)


def _floor_why(target: Target, policy: PlatformScaling, baseline: int, load_factor: float) -> str:
    uncapped = _uncapped_floor(target, policy, baseline, load_factor)
    floor = min(uncapped, target.max_replicas)
    capped = f", capped at maxReplicas {floor}" if uncapped > floor else ""
    explicit = target.wedding_day.min_replicas or 0
    if explicit >= uncapped:
        return f"wedding-day floor is {floor} (weddingDay.minReplicas {explicit}{capped})"
    return (
        f"wedding-day floor is {floor} (baseline {baseline} + "
        f"{_extra_percent(target, policy)}% extra at load factor {_num(load_factor)}{capped})"
    )


# ------------------------------------------------------------------------- decision


def _names(metrics: Iterable[Metric]) -> str:
    return ", ".join(m.name for m in metrics)


def decide_target(
    target: Target,
    policy: PlatformScaling,
    state: TargetState,
    samples: Mapping[str, float | None],
    mode: ModeResolution,
    failures: int,
    gate: GateVerdict | None,
    now: datetime,
) -> tuple[Decision, TargetState]:
    """Decide one target's replica count and return it with the state to keep."""
    require_aware(now, "now")
    current = state.current
    behavior = policy.behavior
    in_mode = mode.mode is Mode.WEDDING_DAY
    # HPA (TestZeroReplicas): a target at 0 whose minReplicas is above 0 was put there by
    # someone, which switches autoscaling off for it; a minReplicas of 0 lets the policy
    # scale it to zero itself, so there 0 is its own state and scaling goes on.
    disabled = current == 0 and target.min_replicas > 0
    baseline: int | None = None
    floor: int | None = None
    if in_mode and disabled:
        # No baseline from a count nobody autoscales: it is taken when the target is back.
        baseline = state.baseline
    elif in_mode:
        baseline = state.baseline if state.baseline is not None else current
        floor = wedding_floor(target, policy, baseline, mode.load_factor)
    # maxReplicas is the hard ceiling even for a spec whose minimum exceeds it.
    eff_min = min(max(target.min_replicas, floor or 0), target.max_replicas)
    floor_binds = floor is not None and floor >= target.min_replicas
    frozen = in_mode and policy.wedding_day.freeze_scale_down

    applying = [m for m in policy.metrics if m.applies_to(target.name)]
    tolerances = Tolerances.of(behavior)
    proposals: list[MetricProposal] = []
    missing: list[Metric] = []
    for metric in applying:
        sample = samples.get(metric.name)
        made = (
            None
            if sample is None
            else metric_proposal(metric, sample, current, in_mode, tolerances)
        )
        if made is None:
            missing.append(metric)
        else:
            proposals.append(made)
    # The first of equal proposals (spec order) explains the decision.
    driver = max(proposals, key=lambda p: p.replicas) if proposals else None
    proposal = driver.replicas if driver is not None else None

    recommendations = prune_recommendations(state.recommendations, behavior, now)
    events = prune_events(state.events, behavior, now)

    def finish(
        desired: int,
        reason: Reason,
        why: str,
        *,
        limited: bool,
        recs: tuple[Recommendation, ...] = recommendations,
    ) -> tuple[Decision, TargetState]:
        # A stateful tier only shrinks when its data is safe; the gate is checked last so
        # it covers every path that lowers the count. Growing is never blocked.
        if desired < current and target.role.stateful and gate is not None and not gate.passed:
            why = f"scale-down to {desired} deferred, {gate.message}"
            desired, reason, limited = current, Reason.SAFETY_GATE_BLOCKED, True
        if desired != current:
            verb = f"scale {target.name} {current} → {desired}"
            new_events = (*events, ScaleEvent(at=now, delta=desired - current))
        else:
            verb = f"hold {target.name} at {current}"
            new_events = events
        decision = Decision(
            target=target.name,
            role=target.role,
            current=current,
            desired=desired,
            reason=reason,
            message=f"{verb}: {why}",
            limited=limited,
            floor=floor,
            proposal=proposal,
        )
        # ``current`` becomes what was decided: the scale event above already assumes the
        # caller applies it, and the caller refreshes it from /scale before the next run.
        return decision, TargetState(
            current=desired, baseline=baseline, recommendations=recs, events=new_events
        )

    if disabled:
        kept = "; the wedding-day floor is not applied to it either" if in_mode else ""
        return finish(
            0,
            Reason.SCALING_DISABLED,
            f"0 replicas with minReplicas {target.min_replicas} means autoscaling is off for "
            f"it, as with HPA{kept}; scale it to 1 or more to hand it back",
            limited=True,
        )

    # Bounds first, as HPA does: out-of-range counts are corrected at once, without
    # rate limits, whatever the metrics say.
    if current > target.max_replicas:
        return finish(
            target.max_replicas,
            Reason.ABOVE_MAX_REPLICAS,
            f"{current} replicas is above maxReplicas {target.max_replicas}",
            limited=True,
        )
    if current < eff_min:
        if floor_binds:
            assert baseline is not None  # floor_binds implies the mode, hence a baseline
            return finish(
                eff_min,
                Reason.WEDDING_DAY_FLOOR,
                _floor_why(target, policy, baseline, mode.load_factor),
                limited=True,
            )
        return finish(
            eff_min,
            Reason.BELOW_MIN_REPLICAS,
            f"{current} replicas is below minReplicas {target.min_replicas}",
            limited=True,
        )

    if not applying:
        return finish(
            current, Reason.NO_METRICS, "no metric of the policy applies to it", limited=False
        )

    if driver is None:
        threshold = policy.fallback.failure_threshold
        unusable = f"no usable sample for {_names(missing)}"
        if failures < threshold:
            return finish(
                current,
                Reason.METRICS_UNAVAILABLE,
                f"{unusable} (failure {failures} of {threshold} before fallback)",
                limited=False,
            )
        outage = f"{unusable} in {failures} evaluations (fallback after {threshold})"
        if policy.fallback.replicas is None:
            return finish(current, Reason.FALLBACK, f"{outage}; fallback is to hold", limited=False)
        wanted = policy.fallback.replicas
        fallback = min(max(wanted, eff_min), target.max_replicas)
        note = ""
        if fallback != wanted:
            note = f", kept within [{eff_min}, {target.max_replicas}]"
        # During the mode an input outage may hold or raise capacity, never lower it.
        if in_mode and fallback < current:
            fallback = current
            note = ", not lowered during wedding-day mode"
        return finish(
            fallback,
            Reason.FALLBACK,
            f"{outage}; fallback.replicas is {wanted}{note}",
            limited=fallback != wanted,
        )

    assert proposal is not None
    metrics_why = _describe(driver, current)
    if missing:
        if proposal < current:
            # HPA's rule: a metric that cannot be read might be the one that needs the
            # capacity, so partial metrics never shrink a target.
            return finish(
                current,
                Reason.METRICS_PARTIAL,
                f"{metrics_why}, which alone would mean {proposal}, but {_names(missing)} has "
                "no usable sample; no scale-down on partial metrics",
                limited=False,
            )
        metrics_why += f" ({_names(missing)} has no usable sample)"

    recs = recommendations
    if not recs and behavior.scale_down.stabilization_window_seconds > 0:
        # HPA seeds an unseen autoscaler's history with the current count so that a new
        # policy does not drop capacity before one window has passed (a target with a
        # history keeps its newest recommendation: see prune_recommendations).
        recs = (Recommendation(at=now, replicas=current),)
    stabilized = stabilize(behavior, current, proposal, recs, now)
    recs = (*recs, Recommendation(at=now, replicas=proposal))
    bounded, which = limit_rate(
        stabilized, current, events, behavior, eff_min, target.max_replicas, now
    )

    if frozen and bounded < current:
        days = ", ".join(mode.active_days) or "no day named"
        return finish(
            current,
            Reason.SCALE_DOWN_FROZEN,
            f"scale-down to {bounded} frozen during wedding-day mode ({days})",
            limited=True,
            recs=recs,
        )
    if which is Limit.RATE:
        up = stabilized > current
        rules = behavior.scale_up if up else behavior.scale_down
        return finish(
            bounded,
            Reason.RATE_LIMITED,
            f"{metrics_why}; {stabilized} wanted, but the scale-{'up' if up else 'down'} "
            f"policies allow {bounded} now ({describe_rules(rules)})",
            limited=True,
            recs=recs,
        )
    if which is Limit.MIN:
        if floor_binds:
            assert baseline is not None
            bound = _floor_why(target, policy, baseline, mode.load_factor)
            reason = Reason.WEDDING_DAY_FLOOR
        else:
            bound = f"minReplicas is {target.min_replicas}"
            reason = Reason.BELOW_MIN_REPLICAS
        return finish(
            bounded,
            reason,
            f"{metrics_why}; {stabilized} wanted, but {bound}",
            limited=True,
            recs=recs,
        )
    if which is Limit.MAX:
        return finish(
            bounded,
            Reason.ABOVE_MAX_REPLICAS,
            f"{metrics_why}; {stabilized} wanted, but maxReplicas is {target.max_replicas}",
            limited=True,
            recs=recs,
        )
    if stabilized != proposal:
        if proposal < stabilized:
            window = behavior.scale_down.stabilization_window_seconds
            kept = f"scale-down stabilization window keeps its highest recommendation, {stabilized}"
        else:
            window = behavior.scale_up.stabilization_window_seconds
            kept = f"scale-up stabilization window keeps its lowest recommendation, {stabilized}"
        return finish(
            bounded,
            Reason.STABILIZATION_WINDOW,
            f"{metrics_why}; {proposal} wanted, but the {window} s {kept}",
            limited=True,
            recs=recs,
        )
    if bounded > current:
        return finish(bounded, Reason.SCALED_UP, metrics_why, limited=False, recs=recs)
    if bounded < current:
        return finish(bounded, Reason.SCALED_DOWN, metrics_why, limited=False, recs=recs)
    if driver.within_tolerance:
        return finish(current, Reason.WITHIN_TOLERANCE, metrics_why, limited=False, recs=recs)
    if not driver.stuck_at_zero:
        metrics_why += f", which still rounds to {proposal}"
    return finish(current, Reason.NO_CHANGE, metrics_why, limited=False, recs=recs)


# Entering the mode, the slowest tier to grow goes first (a database replica clones for
# minutes; a cache replica syncs; app pods start in seconds); leaving it, the reverse.
_UP_ORDER = {Role.DATABASE: 0, Role.CACHE: 1, Role.APP: 2}
_DOWN_ORDER = {Role.APP: 0, Role.CACHE: 1, Role.DATABASE: 2}


def scale_order(decisions: Iterable[Decision]) -> list[Decision]:
    """Scale-ups first (database, cache, app), then scale-downs (app, cache, database),
    then holds; each group keeps spec order. Raising before lowering means a mixed
    decision never dips below the capacity either side of it."""
    ds = list(decisions)
    ups = sorted((d for d in ds if d.direction == "up"), key=lambda d: _UP_ORDER[d.role])
    downs = sorted((d for d in ds if d.direction == "down"), key=lambda d: _DOWN_ORDER[d.role])
    holds = [d for d in ds if d.direction == "none"]
    return [*ups, *downs, *holds]


def scale_steps(decisions: Iterable[Decision]) -> list[list[Decision]]:
    """``scale_order`` cut into steps that may be patched together: the order holds
    between tiers, not between the targets of one tier. An activation of three app
    Deployments is then one round trip to the API server, not three in a row."""
    steps: list[list[Decision]] = []
    tier: tuple[str, Role | None] | None = None
    for d in scale_order(decisions):
        key = (d.direction, d.role if d.changed else None)  # holds patch nothing
        if not steps or key != tier:
            steps.append([])
            tier = key
        steps[-1].append(d)
    return steps


def decide(
    policy: PlatformScaling,
    states: Mapping[str, TargetState],
    samples: Mapping[str, float | None],
    mode: ModeResolution,
    failures: int,
    gates: Mapping[str, GateVerdict],
    now: datetime,
) -> PolicyDecision:
    """Decide every target of the policy. A target without a state (its /scale could not
    be read) is left out rather than guessed at; its old state, if any, is kept."""
    decisions: list[Decision] = []
    new_states = dict(states)
    for target in policy.targets:
        state = states.get(target.name)
        if state is None:
            continue
        decision, new_states[target.name] = decide_target(
            target, policy, state, samples, mode, failures, gates.get(target.name), now
        )
        decisions.append(decision)
    return PolicyDecision(decisions=tuple(scale_order(decisions)), states=new_states)
