"""Tier by tier into the mode: the database tier first, then the cache, then the app, then
cache warming, each step when the tier before it has its new replicas available, not when
its patch returned.

In wedding-day mode a tier is *in progress* while this evaluation raises it, or while a
target of it raised within ``tierReadyTimeout`` (its ``lastScaleTime``) has fewer
available replicas than it asks for. The scale-ups of every later tier are held back
meanwhile (``WaitingForTier``), and so is cache warming. A tier still short once the
timeout has passed no longer holds the others back: it is *late*, which the status and a
Warning say. Everything it needs is in the targets' counts and their stored
``lastScaleTime``, so a restart in the middle resumes at the right step. Outside the mode
nothing waits: a metric-driven scale-up is never delayed by another tier.

Pure: the handlers pass the decision, the counts they read and ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from wedsync_operator.engine.intent import OwedEvent, event_name
from wedsync_operator.engine.mode import ModeResolution
from wedsync_operator.engine.replicas import (
    Decision,
    GateVerdict,
    PolicyDecision,
    Reason,
    TargetState,
)
from wedsync_operator.engine.schedule import format_instant
from wedsync_operator.model.durations import format_duration
from wedsync_operator.model.observations import Scale
from wedsync_operator.model.status import PolicyStatus
from wedsync_operator.model.types import PlatformScaling, Role

__all__ = [
    "TIERS_UP",
    "Sequenced",
    "TierWait",
    "awaiting_sync",
    "late_tier_event",
    "newly_late",
    "sequence",
    "sequence_status",
    "settle_downs",
]

TIERS_UP = (Role.DATABASE, Role.CACHE, Role.APP)


@dataclass(frozen=True)
class TierWait:
    """A tier the next ones wait for (or waited for, until its timeout), and why."""

    role: Role
    message: str
    since: datetime | None = None  # its latest scale-up, when it is late

    def as_status(self) -> dict[str, Any]:
        return {"role": self.role.value, "message": self.message}


@dataclass(frozen=True)
class Sequenced:
    decision: PolicyDecision
    waiting: TierWait | None  # the tier the later ones wait for now
    late: tuple[TierWait, ...]  # tiers past their timeout and still short
    watched: tuple[str, ...]  # targets whose readiness ends the wait
    expires: datetime | None = None  # when the wait ends anyway (the tier's timeout)

    @property
    def warming_may_start(self) -> bool:
        return self.waiting is None


def _hold(
    d: Decision, state: TargetState, before: TargetState, wait: TierWait
) -> tuple[Decision, TargetState]:
    why = f"waiting for the {wait.role.value} tier ({wait.message}) before scaling to {d.desired}"
    held = replace(
        d,
        desired=d.current,
        reason=Reason.WAITING_FOR_TIER,
        message=f"hold {d.target} at {d.current}: {why}",
        limited=True,
    )
    # The new recommendation and baseline stand; no scale event happened.
    return held, replace(state, current=before.current, events=before.events)


def sequence(
    policy: PlatformScaling,
    decision: PolicyDecision,
    states: Mapping[str, TargetState],
    scales: Mapping[str, Scale],
    seen: PolicyStatus,
    mode: ModeResolution,
    now: datetime,
    syncs: Mapping[str, GateVerdict] | None = None,
) -> Sequenced:
    """Hold the scale-ups of the tiers behind one in progress (see the module's doc),
    and the scale-downs of the tiers behind one still shrinking (``settle_downs``).
    ``syncs``: the safety checks of the targets ``awaiting_sync`` named."""
    syncs = syncs or {}
    if policy.dry_run:
        return Sequenced(decision, None, (), ())  # nothing is patched: nothing to wait for
    decision, down_watched, down_expires = settle_downs(policy, decision, states, scales, seen, now)
    if not mode.on:
        return Sequenced(decision, None, (), down_watched, down_expires)
    timeout = policy.wedding_day.tier_ready_timeout
    roles = {t.name: t.role for t in policy.targets}
    decisions = {d.target: d for d in decision.decisions}
    new_states = dict(decision.states)
    waiting: TierWait | None = None
    expires: datetime | None = None
    late: list[TierWait] = []
    watched: list[str] = []
    for role in TIERS_UP:
        names = [n for n, r in roles.items() if r is role]
        if waiting is not None:
            for n in names:
                d = decisions.get(n)
                if d is not None and d.direction == "up" and n in states:
                    decisions[n], new_states[n] = _hold(d, new_states[n], states[n], waiting)
            continue
        raising = [decisions[n] for n in names if n in decisions and decisions[n].direction == "up"]
        short: list[tuple[str, str]] = []
        overdue: list[tuple[str, datetime]] = []
        for n in names:
            scale, scaled = scales.get(n), seen.target(n).last_scaled_at
            if scale is None or scaled is None:
                continue
            if scale.available < scale.replicas:
                counted = f"{n}: {scale.available} of {scale.replicas} replicas available"
            elif (verdict := syncs.get(n)) is not None and not verdict.passed:
                counted = f"{n}: {verdict.message}"  # every pod there, the data not yet
            else:
                continue
            if now - scaled < timeout:
                short.append((n, counted))
            elif mode.since is None or scaled >= mode.since:
                overdue.append((counted, scaled))  # raised in this mode, and late
        if raising or short:
            told = [f"{d.target}: scaling {d.current} → {d.desired}" for d in raising]
            waiting = TierWait(role, "; ".join([*told, *(c for _, c in short)]))
            watched += [d.target for d in raising] + [n for n, _ in short]
            started = [now] * bool(raising) + [
                seen.target(n).last_scaled_at or now for n, _ in short
            ]
            expires = max(started) + timeout
        if overdue:
            message = (
                "; ".join(c for c, _ in overdue)
                + f", {format_duration(timeout)} after its scale-up: the next tiers go ahead"
            )
            late.append(TierWait(role, message, since=max(t for _, t in overdue)))
    ordered = tuple(decisions[d.target] for d in decision.decisions)
    if not any(d.reason is Reason.WAITING_FOR_TIER for d in ordered):
        # Nothing held behind the tier in progress: its next tick is soon enough (an extra
        # evaluation would also change the policy's cadence).
        watched, expires = [], None
    ends = [e for e in (expires, down_expires) if e is not None]
    return Sequenced(
        PolicyDecision(decisions=ordered, states=new_states),
        waiting,
        tuple(late),
        (*watched, *down_watched),
        min(ends, default=None),
    )


def settle_downs(
    policy: PlatformScaling,
    decision: PolicyDecision,
    states: Mapping[str, TargetState],
    scales: Mapping[str, Scale],
    seen: PolicyStatus,
    now: datetime,
) -> tuple[PolicyDecision, tuple[str, ...], datetime | None]:
    """The way down in reverse: the app, then the cache, then the database, each tier's
    scale-down once the tier before it has settled (this evaluation does not shrink it,
    and it counts no more replicas than it asks for), or ``tierReadyTimeout`` after that
    tier's last scale. Returns the decision, the targets to watch and when the wait ends."""
    timeout = policy.wedding_day.tier_ready_timeout
    roles = {t.name: t.role for t in policy.targets}
    decisions = {d.target: d for d in decision.decisions}
    new_states = dict(decision.states)
    blocking: TierWait | None = None
    watched: list[str] = []
    expires: datetime | None = None
    for role in reversed(TIERS_UP):
        names = [n for n, r in roles.items() if r is role]
        if blocking is not None:
            for n in names:
                d = decisions.get(n)
                if d is not None and d.direction == "down" and n in states:
                    decisions[n], new_states[n] = _hold(d, new_states[n], states[n], blocking)
            continue
        shrinking = [d for n in names if (d := decisions.get(n)) and d.direction == "down"]
        draining: list[tuple[str, str, datetime]] = []
        for n in names:
            scale, scaled = scales.get(n), seen.target(n).last_scaled_at
            if scale is None or scaled is None or scale.status_replicas <= scale.replicas:
                continue
            if now - scaled < timeout:
                counted = f"{n}: {scale.status_replicas} replicas, asks for {scale.replicas}"
                draining.append((n, counted, scaled))
        if shrinking or draining:
            told = [f"{d.target}: scaling {d.current} → {d.desired}" for d in shrinking]
            blocking = TierWait(role, "; ".join([*told, *(c for _, c, _ in draining)]))
            watched += [d.target for d in shrinking] + [n for n, _, _ in draining]
            started = [now] * bool(shrinking) + [t for _, _, t in draining]
            expires = max(started) + timeout
    if blocking is None or not any(d.reason is Reason.WAITING_FOR_TIER for d in decisions.values()):
        return decision, (), None
    ordered = tuple(decisions[d.target] for d in decision.decisions)
    return PolicyDecision(decisions=ordered, states=new_states), tuple(watched), expires


def awaiting_sync(
    policy: PlatformScaling,
    scales: Mapping[str, Scale],
    seen: PolicyStatus,
    mode: ModeResolution,
) -> list[tuple[str, Role, int]]:
    """The stateful targets raised in this mode whose pods are all there: their store's
    check (Redis in sync, Postgres streaming within the lag bounds) must pass for the new
    count before the next tier goes. (name, role, count) each."""
    if not mode.on:
        return []
    out: list[tuple[str, Role, int]] = []
    for t in policy.targets:
        scale, scaled = scales.get(t.name), seen.target(t.name).last_scaled_at
        if (
            not policy.safety.covers(t.role)
            or scale is None
            or scaled is None
            or scale.available < scale.replicas
        ):
            continue
        # Past the timeout too: a tier that is late must still be seen to be so.
        if mode.since is None or scaled >= mode.since:
            out.append((t.name, t.role, scale.replicas))
    return out


def sequence_status(s: Sequenced) -> dict[str, Any] | None:
    """``status.tierSequence``: the tier the others wait for and the late ones; None (the
    field removed) when nothing waits and none is late."""
    if s.waiting is None and not s.late:
        return None
    return {
        "waitingFor": s.waiting.as_status() if s.waiting is not None else None,
        "late": [t.as_status() for t in s.late],
    }


def newly_late(s: Sequenced, seen: PolicyStatus) -> list[TierWait]:
    """The late tiers the stored status did not list yet: each gets its Warning once."""
    return [t for t in s.late if t.role.value not in seen.late_tiers]


def late_tier_event(policy: str, uid: str, t: TierWait) -> OwedEvent:
    """One Warning per late tier and scale-up (its name fixed by both)."""
    since = format_instant(t.since) if t.since is not None else ""
    return OwedEvent(
        name=event_name(policy, uid, "TierNotReady", t.role.value, since),
        type="Warning",
        reason="TierNotReady",
        message=f"the {t.role.value} tier is not ready: {t.message}",
    )
