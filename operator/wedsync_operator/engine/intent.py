"""Intent before action: what a policy writes to status before it patches, and what a
restarted (or retried) evaluation owes when it finds that intent.

An evaluation that will patch a target, or that switches the mode, first writes its
intent: the mode, each target's baseline and floor, the scale it is about to make
(``pendingScale``: from, to, the Event it owes) and the Events it has still to post
(``pendingEvents``). Then it patches, posts the Events under the names recorded in the
intent (a name the API server already holds is a post that already happened), and writes
status without them. A process killed at any instant leaves one of three states, and each
reaches the same end:

- intent not written: nothing was patched; the next evaluation decides afresh from the
  same counts;
- intent written, patch not landed: the target still has ``from``; the intent is
  dropped and the next evaluation decides again with the recorded baseline;
- patch landed, Event or final write lost: the target has ``to``; the Event is owed and
  posted under its recorded name, and the scale counts in the rate-limit history.

Pure: the handlers pass the previous status, the counts they read and ``now``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from wedsync_operator.engine.dryrun import DRY_RUN
from wedsync_operator.engine.mode import ModeResolution
from wedsync_operator.engine.replicas import Decision, PolicyDecision, ScaleEvent, TargetState
from wedsync_operator.engine.schedule import format_instant, require_aware
from wedsync_operator.model.status import PolicyStatus, TargetStatus

__all__ = [
    "OwedEvent",
    "PendingScale",
    "event_name",
    "intent_targets",
    "landed_state",
    "mode_event",
    "owed_event",
    "owed_events",
    "pending_scales",
    "settle_states",
    "unapplied_state",
    "warming_event",
]

# An Event's name is a DNS subdomain (at most 253 characters): the policy's name, cut
# to leave room for a dot and the digest.
_NAME_ROOM = 253 - 1 - 20


@dataclass(frozen=True)
class OwedEvent:
    """An Event the policy has to post, under a name fixed before the action, so that
    posting it twice (before and after a restart) leaves one Event."""

    name: str
    type: str  # Normal | Warning
    reason: str
    message: str

    def as_status(self) -> dict[str, str]:
        return {
            "name": self.name,
            "type": self.type,
            "reason": self.reason,
            "message": self.message,
        }


@dataclass(frozen=True)
class PendingScale:
    """A /scale patch about to be sent: ``from_`` and ``to`` replicas, and its Event."""

    target: str
    from_: int
    to: int
    at: datetime
    event: OwedEvent

    def as_status(self) -> dict[str, Any]:
        return {
            "from": self.from_,
            "to": self.to,
            "at": format_instant(self.at),
            "event": self.event.name,
            "reason": self.event.reason,
            "message": self.event.message,
        }


def event_name(policy: str, uid: str, *parts: str) -> str:
    """A stable Event name for one action of one policy (its uid tells a re-created
    policy of the same name apart)."""
    digest = hashlib.sha256("\0".join((uid, *parts)).encode()).hexdigest()[:20]
    return f"{policy[:_NAME_ROOM].rstrip('.-')}.{digest}"


def owed_event(
    policy: str, uid: str, type_: str, reason: str, message: str, *key: str
) -> OwedEvent:
    """An Event named after what it reports: the same report (a retry, a restart) is the
    same Event, posted once."""
    return OwedEvent(
        name=event_name(policy, uid, reason, message, *key),
        type=type_,
        reason=reason,
        message=message,
    )


def warming_event(policy: str, uid: str, block: Mapping[str, Any]) -> OwedEvent:
    """The Event of a cache-warming outcome (``status.cacheWarming``). A completed run is
    named after what it warmed alone: a run a kill interrupted after its Event is redone
    with another duration in its message, and must not post a second ``CacheWarmed``."""
    reason = str(block.get("reason"))
    fingerprint = str(block.get("fingerprint"))
    message = str(block.get("message"))
    if reason == "CacheWarmed":
        return OwedEvent(event_name(policy, uid, reason, fingerprint), "Normal", reason, message)
    if reason == DRY_RUN:
        return owed_event(policy, uid, "Normal", reason, message, fingerprint)
    return owed_event(policy, uid, "Warning", "CacheWarmingFailed", message, fingerprint)


def mode_event(
    policy: str, uid: str, mode: ModeResolution, previous: PolicyStatus
) -> OwedEvent | None:
    """The WeddingDayModeOn/Off Event a switch owes, or None without a switch (the first
    evaluation of a policy has nothing to switch from). Its name comes from the window
    the switch opens or closes, so a restart that sees the same switch posts the same."""
    if previous.mode in (None, mode.mode.value):
        return None
    window = format_instant(mode.since) if mode.since else previous.since or ""
    reason = "WeddingDayModeOn" if mode.on else "WeddingDayModeOff"
    return OwedEvent(
        name=event_name(policy, uid, reason, window),
        type="Normal",
        reason=reason,
        message=mode.message,
    )


def pending_scales(
    policy: str, uid: str, decisions: Iterable[Decision], now: datetime
) -> dict[str, PendingScale]:
    """The patches an evaluation is about to send, each with the Event it owes."""
    require_aware(now, "now")
    out: dict[str, PendingScale] = {}
    for d in decisions:
        if not d.changed:
            continue
        reason = "ScaledUp" if d.direction == "up" else "ScaledDown"
        name = event_name(
            policy, uid, reason, d.target, str(d.current), str(d.desired), format_instant(now)
        )
        out[d.target] = PendingScale(
            target=d.target,
            from_=d.current,
            to=d.desired,
            at=now,
            event=OwedEvent(name=name, type="Normal", reason=reason, message=d.message),
        )
    return out


def _pending_of(entry: TargetStatus) -> PendingScale | None:
    raw = entry.pending_scale
    if raw is None:
        return None
    reason = raw.reason or ("ScaledUp" if raw.to > raw.from_ else "ScaledDown")
    return PendingScale(
        target=entry.name,
        from_=raw.from_,
        to=raw.to,
        at=raw.at,
        event=OwedEvent(name=raw.event, type="Normal", reason=reason, message=str(raw.message)),
    )


def _landed(status: PolicyStatus, currents: Mapping[str, int]) -> list[PendingScale]:
    """The recorded patches the targets show as done: the count read is ``to``. A target
    still at ``from`` (or elsewhere, or unread) did not take it; its intent lapses."""
    out = []
    for entry in status.targets.values():
        pending = _pending_of(entry)
        if pending is not None and currents.get(pending.target) == pending.to:
            out.append(pending)
    return out


def owed_events(status: PolicyStatus, currents: Mapping[str, int]) -> list[OwedEvent]:
    """The Events the previous evaluation (perhaps of a killed process) left owed: those
    it recorded as still to post, and those of its patches that landed."""
    owed = [
        OwedEvent(
            name=e.name,
            type="Warning" if e.type == "Warning" else "Normal",
            reason=e.reason or "",
            message=e.message or "",
        )
        for e in status.pending_events
    ]
    owed.extend(p.event for p in _landed(status, currents))
    return list({e.name: e for e in owed}.values())


def settle_states(
    states: Mapping[str, TargetState], status: PolicyStatus, currents: Mapping[str, int]
) -> dict[str, TargetState]:
    """The engine states with each landed patch of the intent counted as the scale event
    it was: the rate-limit policies must see it whether or not its final write was."""
    out = dict(states)
    for pending in _landed(status, currents):
        state = out.get(pending.target)
        if state is None:
            continue
        event = ScaleEvent(at=pending.at, delta=pending.to - pending.from_)
        if event not in state.events:
            out[pending.target] = replace(state, events=(*state.events, event))
    return out


def intent_targets(
    entries: Mapping[str, dict[str, Any]], pending: Mapping[str, PendingScale]
) -> dict[str, dict[str, Any]]:
    """The status entries of the targets with each pending patch recorded in its own."""
    return {
        name: {**entry, "pendingScale": pending[name].as_status()} if name in pending else entry
        for name, entry in entries.items()
    }


def landed_state(state: TargetState, decided: datetime, landed: datetime) -> TargetState:
    """The state with the scale event decided at ``decided`` stamped ``landed``, when its
    patch returned: as HPA does, a rate-limit period counts from when the count changed,
    so a slow patch cannot shorten the gap to the next step."""
    return replace(
        state,
        events=tuple(replace(e, at=landed) if e.at == decided else e for e in state.events),
    )


def unapplied_state(
    d: Decision, decision: PolicyDecision, states: Mapping[str, TargetState]
) -> TargetState:
    """The state to record while a change is not (or not yet) applied: the new
    recommendation history and baseline stand (stabilization and the floor need them),
    the count and the scale events stay as observed."""
    state = decision.states.get(d.target, states[d.target])
    if not d.changed:
        return state
    old = states[d.target]
    return replace(state, current=old.current, events=old.events)
