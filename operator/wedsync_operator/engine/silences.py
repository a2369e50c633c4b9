"""Alertmanager silences for wedding-day mode, the pure parts.

While a policy is in wedding-day mode it wants one silence — its configured matchers
(ANDed, as Alertmanager applies them), from now until the end of the mode window. The
silences in Alertmanager are the state: the ones this operator made for a policy are
recognised by ``createdBy`` and a marker in the comment naming the namespace and the
policy, so a restart finds them again and creates no duplicate (status only mirrors
their ids). When the mode ends early, or its end moves, the operator's silences that no
longer match what is wanted are expired.

The adapter (``adapters.alertmanager``) turns the API's JSON into :class:`Silence` and
posts what :func:`silence_payload` builds; everything decided is here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wedsync_operator.engine.schedule import format_instant, require_aware
from wedsync_operator.model.observations import Silence
from wedsync_operator.model.types import Matcher, SilenceAlerts

__all__ = [
    "CREATED_BY",
    "SilenceOwner",
    "SilencePlan",
    "SilenceSpec",
    "is_ours",
    "plan_silences",
    "same_instant",
    "silence_payload",
    "silences_to_create",
    "silences_to_expire",
    "wanted_silence",
]

CREATED_BY = "wedsync-operator"


@dataclass(frozen=True)
class SilenceOwner:
    """The policy a silence belongs to; its marker goes into the silence's comment."""

    namespace: str
    policy: str

    @property
    def marker(self) -> str:
        return f"[wedsync.io/policy={self.namespace}/{self.policy}]"


@dataclass(frozen=True)
class SilenceSpec:
    """A silence the operator wants to exist."""

    owner: SilenceOwner
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    comment: str


@dataclass(frozen=True)
class SilencePlan:
    """Create ``create`` first, then expire ``expire`` (no unsilenced gap on a change);
    ``keep`` are live silences that already match."""

    create: tuple[SilenceSpec, ...]
    expire: tuple[Silence, ...]
    keep: tuple[Silence, ...]

    @property
    def empty(self) -> bool:
        return not self.create and not self.expire


def same_instant(a: datetime, b: datetime) -> bool:
    """Equal to the second: payloads carry whole seconds, Alertmanager milliseconds."""
    return a.replace(microsecond=0) == b.replace(microsecond=0)


def _matcher_key(m: Matcher) -> tuple[str, str, bool, bool]:
    return (m.name, m.value, m.is_regex, m.is_equal)


def _same_matchers(a: Iterable[Matcher], b: Iterable[Matcher]) -> bool:
    return {_matcher_key(m) for m in a} == {_matcher_key(m) for m in b}


def wanted_silence(
    owner: SilenceOwner,
    silence_alerts: SilenceAlerts,
    days: Sequence[str],
    until: datetime,
    now: datetime,
) -> SilenceSpec | None:
    """The silence a policy in wedding-day mode wants: its matchers from ``now`` until
    the end of the mode window ``until``; ``None`` once that end has passed."""
    require_aware(now, "now")
    require_aware(until, "until")
    if until <= now:
        return None
    which = f" for {', '.join(days)}" if days else ""
    comment = (
        f"wedding-day mode of PlatformScaling {owner.namespace}/{owner.policy}{which} "
        f"until {format_instant(until)}; managed by {CREATED_BY}, do not edit "
        f"{owner.marker}"
    )
    return SilenceSpec(
        owner=owner,
        matchers=silence_alerts.matchers,
        starts_at=now,
        ends_at=until,
        comment=comment,
    )


def silence_payload(spec: SilenceSpec) -> dict[str, Any]:
    """The JSON body of ``POST /api/v2/silences`` (a PostableSilence)."""
    return {
        "matchers": [
            {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
            for m in spec.matchers
        ],
        "startsAt": format_instant(spec.starts_at),
        "endsAt": format_instant(spec.ends_at),
        "createdBy": CREATED_BY,
        "comment": spec.comment,
    }


def is_ours(silence: Silence, owner: SilenceOwner) -> bool:
    """Made by this operator for this policy (a person's silence is never touched)."""
    return silence.created_by == CREATED_BY and owner.marker in silence.comment


def _satisfies(silence: Silence, spec: SilenceSpec) -> bool:
    return (
        silence.live
        and is_ours(silence, spec.owner)
        and _same_matchers(silence.matchers, spec.matchers)
        and same_instant(silence.ends_at, spec.ends_at)
    )


def silences_to_create(
    existing: Iterable[Silence], wanted: Iterable[SilenceSpec]
) -> list[SilenceSpec]:
    """The wanted silences that no live silence of ours already provides (same owner,
    same matchers, same end)."""
    have = list(existing)
    return [spec for spec in wanted if not any(_satisfies(s, spec) for s in have)]


def silences_to_expire(
    existing: Iterable[Silence], wanted: Iterable[SilenceSpec], owner: SilenceOwner
) -> list[Silence]:
    """Live silences of ``owner`` that nothing wanted matches: all of them when the mode
    is off (``wanted`` empty), or a stale one after the mode's end moved. Of several
    identical live silences (left by an earlier crash) only the first is kept."""
    specs = list(wanted)
    kept: set[int] = set()
    out: list[Silence] = []
    for silence in sorted(existing, key=lambda s: (s.starts_at, s.id)):
        if not silence.live or not is_ours(silence, owner):
            continue
        match = next(
            (i for i, spec in enumerate(specs) if i not in kept and _satisfies(silence, spec)),
            None,
        )
        if match is None:
            out.append(silence)
        else:
            kept.add(match)
    return out


def plan_silences(
    existing: Sequence[Silence], wanted: Sequence[SilenceSpec], owner: SilenceOwner
) -> SilencePlan:
    """What to create and expire so that exactly the wanted silences of ``owner`` live."""
    if any(spec.owner != owner for spec in wanted):
        raise ValueError("every wanted silence must belong to the owner being planned")
    expire = silences_to_expire(existing, wanted, owner)
    expired_ids = {s.id for s in expire}
    keep = tuple(s for s in existing if s.live and is_ours(s, owner) and s.id not in expired_ids)
    return SilencePlan(
        create=tuple(silences_to_create(existing, wanted)), expire=tuple(expire), keep=keep
    )
