"""Raising an autoscaler's floor for the mode, and giving the user's value back after.

Used for ``hpaConflict: RaiseMinReplicas``: the HPA (or the KEDA ScaledObject that writes
it) keeps scaling; the operator only raises its minimum to the wedding-day floor. What
the user had is recorded *on the autoscaler itself*, in the annotation ``HOLD_ANNOTATION``,
in the same merge PATCH as the raised value. One PATCH is applied atomically by the API
server, so a process killed at any instant leaves either neither change (the next
evaluation decides afresh from the user's value) or both (the next evaluation finds the
record and restores exactly ``original``). A separate annotation PATCH first would also
be safe, but costs a second write for no extra guarantee.

The record also names each policy that holds a floor (two policies over one autoscaler:
the larger floor wins; the value goes back only when no policy holds it), and the value
the operator last wrote, so a user's edit during the mode is seen as a difference from it.
A user edit wins: their value becomes the one to restore, and the operator stops raising
that autoscaler until the mode ends.

Pure: the handler passes the autoscaler's current fields and the parsed record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wedsync_operator.engine.mode import ModeResolution
from wedsync_operator.engine.replicas import Tolerances, metric_proposal, wedding_floor
from wedsync_operator.model.observations import HOLD_ANNOTATION
from wedsync_operator.model.types import PlatformScaling, Target

__all__ = [
    "FloorChange",
    "FloorHold",
    "decide_floor",
    "floor_event",
    "metric_floor",
    "parse_hold",
    "render_hold",
    "requested_floor",
    "user_minimum",
]


@dataclass(frozen=True)
class FloorHold:
    """The annotation's content: what to restore and who holds the raised floor."""

    original: int | None  # the user's minimum; None: the field was unset (API default)
    applied: int  # what the operator last wrote; any other value is a user's edit
    holders: Mapping[str, int] = field(default_factory=dict)  # policy key → floor asked
    yielded: bool = False  # a user edited during the mode: hands off until it ends


@dataclass(frozen=True)
class FloorChange:
    """What to write to the autoscaler. ``hold`` None means remove the annotation."""

    min_replicas: int | None  # None: write the field as unset (restore an unset original)
    hold: FloorHold | None
    capped_at: int | None = None  # the floor exceeded the maximum and was cut to it
    user_edit: int | None = None  # the minimum a user set during the mode, now kept
    restored: bool = False


def parse_hold(text: str | None) -> FloorHold | ValueError | None:
    """The annotation as written by ``render_hold``; an unreadable one is returned as an
    error for the handler to report, never read as "no hold" (that would lose the
    user's value)."""
    if text is None:
        return None
    try:
        raw: Any = json.loads(text)
        original = raw.get("original")
        applied = raw["applied"]
        holders = raw.get("holders") or {}
        if not (original is None or _count(original)) or not _count(applied):
            raise ValueError("original and applied must be non-negative integers")
        if not isinstance(holders, dict) or not all(
            isinstance(k, str) and _count(v) for k, v in holders.items()
        ):
            raise ValueError("holders must map policy keys to non-negative integers")
        return FloorHold(original, applied, dict(holders), bool(raw.get("yielded", False)))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return ValueError(f"annotation {HOLD_ANNOTATION} is not readable: {exc}")


def render_hold(hold: FloorHold) -> str:
    """Compact, key-sorted JSON: the same hold always renders to the same text."""
    return json.dumps(
        {
            "original": hold.original,
            "applied": hold.applied,
            "holders": dict(sorted(hold.holders.items())),
            "yielded": hold.yielded,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def decide_floor(
    *,
    current_min: int | None,
    maximum: int,
    default_min: int,
    hold: FloorHold | None,
    holder: str,
    floor: int | None,
) -> FloorChange | None:
    """What one policy's evaluation writes to an autoscaler, or None for nothing.

    ``current_min`` is the field as read (None: unset, which the API reads as
    ``default_min``: 1 for an HPA, 0 for a ScaledObject). ``floor`` is what ``holder``
    asks for now; None when it holds nothing (the mode ended, the target left the
    policy). The minimum is never lowered below the user's value, never raised above
    ``maximum`` (the maximum is left alone; the cut is reported), and restored exactly.
    """
    user_value = default_min if current_min is None else current_min
    user_edit: int | None = None
    if hold is None:
        original: int | None = current_min
        holders: dict[str, int] = {}
        yielded = False
    elif user_value != hold.applied:
        # Someone else wrote the minimum since we did: theirs is the value to restore.
        original, holders, yielded = current_min, dict(hold.holders), True
        user_edit = user_value
    else:
        original, holders, yielded = hold.original, dict(hold.holders), hold.yielded

    if floor is None:
        holders.pop(holder, None)
    else:
        holders[holder] = floor

    base = default_min if original is None else original
    wanted = max([base, *holders.values()]) if holders and not yielded else base
    if wanted <= base:
        if hold is None:
            return None  # nothing raised, nothing recorded: the floor is below the user's
        if holders and yielded:
            # Hands off until the last holder lets go; the record keeps the user's value.
            kept = FloorHold(original, user_value, holders, yielded=True)
            if kept == hold:
                return None
            return FloorChange(current_min, kept, user_edit=user_edit)
        # No policy raises it any more: give the user's value back, drop the record.
        return FloorChange(original, None, user_edit=user_edit, restored=True)

    target = min(wanted, maximum)
    capped = wanted if wanted > maximum else None
    new_hold = FloorHold(original, target, holders, yielded=False)
    if hold == new_hold and current_min == target:
        return None
    return FloorChange(target, new_hold, capped_at=maximum if capped else None)


def user_minimum(current_min: int | None, default_min: int, hold: FloorHold | None) -> int:
    """The minimum the user wants: the recorded original while the operator's value is in
    place, else whatever the field holds now (theirs, or their edit)."""
    if hold is not None and (default_min if current_min is None else current_min) == hold.applied:
        return default_min if hold.original is None else hold.original
    return default_min if current_min is None else current_min


def requested_floor(
    target: Target,
    policy: PlatformScaling,
    mode: ModeResolution,
    user_min: int,
    *,
    samples: Mapping[str, float | None] | None = None,
    current: int | None = None,
    held: int | None = None,
) -> int | None:
    """The minimum a policy asks of the autoscaler that owns ``target``: in the mode, the
    wedding-day floor sized from the user's own minimum (a stable baseline: it is what
    the record restores, so the floor never ratchets up from the operator's own raise),
    raised further by what the policy's own metrics ask for at ``current`` replicas;
    outside it, nothing. Scaling on metrics stays the autoscaler's job: the policy's
    metrics only ever raise the floor it requests, and with ``freezeScaleDown`` a floor
    already ``held`` is not lowered before the mode ends (the mode's no-scale-down)."""
    if not mode.on:
        return None
    floor = wedding_floor(target, policy, user_min, mode.load_factor)
    asked = metric_floor(target, policy, samples or {}, current, mode)
    if asked is not None:
        floor = max(floor, asked)
    if held is not None and policy.wedding_day.freeze_scale_down:
        floor = max(floor, held)
    return min(floor, target.max_replicas)


def metric_floor(
    target: Target,
    policy: PlatformScaling,
    samples: Mapping[str, float | None],
    current: int | None,
    mode: ModeResolution,
) -> int | None:
    """The most any of the policy's metrics for ``target`` asks for at ``current``
    replicas (with the mode's targets and the policy's tolerances), or None when no
    metric applies, none has a sample, or the count is unknown."""
    if current is None:
        return None
    tolerances = Tolerances.of(policy.behavior)
    asked = [
        p.replicas
        for m in policy.metrics
        if m.applies_to(target.name)
        and (sample := samples.get(m.name)) is not None
        and (p := metric_proposal(m, sample, current, mode.on, tolerances)) is not None
        and not p.stuck_at_zero
    ]
    return max(asked) if asked else None


def floor_event(
    change: FloorChange, scaler: str, target: str, *, before: int | None
) -> tuple[str, str, str]:
    """The (type, reason, message) of the Event a change owes; ``scaler`` names the
    autoscaler ("HorizontalPodAutoscaler web"), ``before`` the minimum it had."""
    shown = "unset" if before is None else str(before)
    if change.user_edit is not None:
        return (
            "Warning",
            "AutoscalerMinEditedByUser",
            f"{scaler} had its minimum changed to {change.user_edit} during wedding-day "
            f"mode; the operator keeps that value, stops raising it, and leaves it in "
            f"place when the mode ends",
        )
    if change.restored:
        back = "unset" if change.min_replicas is None else str(change.min_replicas)
        return (
            "Normal",
            "AutoscalerMinRestored",
            f"{scaler}: minimum restored from {shown} to the user's {back} for {target}",
        )
    cut = (
        f" (the floor exceeds its maximum; capped at {change.capped_at}, maximum unchanged)"
        if change.capped_at is not None
        else ""
    )
    return (
        "Warning" if cut else "Normal",
        "AutoscalerMinRaised",
        f"{scaler}: minimum raised from {shown} to {change.min_replicas} for {target}; "
        f"the autoscaler scales from there{cut}",
    )
