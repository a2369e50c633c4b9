"""Whether a PlatformScaling policy is in wedding-day mode, and from when to when.

A policy is in the mode while any WeddingDay that selects it is Preparing, Active or
WindingDown. Days that overlap or touch form one continuous mode window, so the
ConfigMap's ``since``/``until`` and the alert silences span the whole stretch rather than
flickering at the seam between two days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from wedsync_operator.engine.schedule import (
    MODE_PHASES,
    Phase,
    Window,
    format_instant,
    merge_intervals,
    phase_at,
    require_aware,
    try_window,
)
from wedsync_operator.model.types import LabelSelector, PlatformScaling, WeddingDay


class Mode(StrEnum):
    NORMAL = "Normal"
    WEDDING_DAY = "WeddingDay"


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics: every matchLabels pair and every expression
    must hold; an empty selector matches everything."""
    if any(labels.get(key) != value for key, value in selector.match_labels):
        return False
    for req in selector.match_expressions:
        present = req.key in labels
        if req.operator == "In":
            ok = present and labels[req.key] in req.values
        elif req.operator == "NotIn":
            # As in Kubernetes, an absent label is "not in" any set.
            ok = not present or labels[req.key] not in req.values
        elif req.operator == "Exists":
            ok = present
        elif req.operator == "DoesNotExist":
            ok = not present
        else:
            # The API server rejects unknown operators; matching nothing is the safe
            # reading if one slips through (it cannot pull a policy into the mode).
            ok = False
        if not ok:
            return False
    return True


def _selects(policy: PlatformScaling, wd: WeddingDay) -> bool:
    return wd.meta.namespace == policy.meta.namespace and selector_matches(
        wd.policy_selector, policy.meta.label_dict
    )


def _eligible(
    policy: PlatformScaling, days: Iterable[WeddingDay]
) -> list[tuple[WeddingDay, Window]]:
    # Cancelled days and days whose schedule fails never hold the mode; the latter report
    # Failed on their own resource.
    out: list[tuple[WeddingDay, Window]] = []
    for wd in days:
        if not _selects(policy, wd):
            continue
        w = try_window(wd)
        if w is not None:
            out.append((wd, w))
    return out


@dataclass(frozen=True)
class ModeResolution:
    mode: Mode
    active_days: tuple[str, ...]
    since: datetime | None
    until: datetime | None
    load_factor: float
    reason: str
    message: str

    @property
    def on(self) -> bool:
        return self.mode is Mode.WEDDING_DAY


NORMAL_MODE = ModeResolution(
    mode=Mode.NORMAL,
    active_days=(),
    since=None,
    until=None,
    load_factor=1.0,
    reason="NoActiveWeddingDay",
    message="no selected wedding day is preparing, active or winding down",
)

# Which reason names the mode when several days are in different phases: the one that
# matters most to an SRE looking at the policy (an Active day outranks a Preparing one).
_REASON_BY_PHASE = (
    (Phase.ACTIVE, "WeddingDayActive"),
    (Phase.PREPARING, "WeddingDayPreparing"),
    (Phase.WINDING_DOWN, "WeddingDayWindingDown"),
)
_PHASE_WORDS = {
    Phase.PREPARING: "preparing",
    Phase.ACTIVE: "active",
    Phase.WINDING_DOWN: "winding down",
}


def resolve_mode(
    policy: PlatformScaling, days: Iterable[WeddingDay], t: datetime
) -> ModeResolution:
    require_aware(t)
    eligible = _eligible(policy, days)
    active = sorted(
        ((wd.meta.name, phase_at(wd, t), wd.load_factor) for wd, _ in eligible),
        key=lambda item: item[0],
    )
    active = [a for a in active if a[1] in MODE_PHASES]
    if not active:
        return NORMAL_MODE

    # since/until come from every eligible day, not only the active ones: a day that
    # starts exactly when this one ends continues the same mode window.
    since: datetime | None = None
    until: datetime | None = None
    for start, end in merge_intervals((w.mode_start, w.mode_end) for _, w in eligible):
        if start <= t < end:
            since, until = start, end
            break

    phases = {phase for _, phase, _ in active}
    reason = next(r for p, r in _REASON_BY_PHASE if p in phases)
    load_factor = max(lf for _, _, lf in active)
    listed = ", ".join(f"{name} is {_PHASE_WORDS[phase]}" for name, phase, _ in active)
    span = ""
    if since is not None and until is not None:
        span = f" from {format_instant(since)} until {format_instant(until)}"
    return ModeResolution(
        mode=Mode.WEDDING_DAY,
        active_days=tuple(name for name, _, _ in active),
        since=since,
        until=until,
        load_factor=load_factor,
        reason=reason,
        message=f"wedding-day mode{span}: {listed} (load factor {load_factor:g})",
    )


def mode_due(policy: PlatformScaling, days: Iterable[WeddingDay], t: datetime) -> datetime | None:
    """When the policy's current mode window began, or its next one begins; None when no
    day is ahead. What an alert compares with the mode actually entered."""
    require_aware(t)
    windows = merge_intervals((w.mode_start, w.mode_end) for _, w in _eligible(policy, days))
    return next((start for start, end in windows if end > t), None)


def mode_switches(
    policy: PlatformScaling,
    days: Iterable[WeddingDay],
    t_from: datetime,
    t_to: datetime,
) -> list[tuple[datetime, Mode]]:
    """The instants in [t_from, t_to] at which the policy's mode changes, in order."""
    require_aware(t_from, "t_from")
    require_aware(t_to, "t_to")
    switches: list[tuple[datetime, Mode]] = []
    for start, end in merge_intervals(
        (w.mode_start, w.mode_end) for _, w in _eligible(policy, days)
    ):
        if t_from <= start <= t_to:
            switches.append((start, Mode.WEDDING_DAY))
        if t_from <= end <= t_to:
            switches.append((end, Mode.NORMAL))
    return switches
