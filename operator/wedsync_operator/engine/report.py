"""What an evaluation reports: a policy's conditions, its status as written, and the one
rule for observed generations. Pure; the handlers pass what they read and write what is
returned (rendering helpers: engine/status.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wedsync_operator.engine.dryrun import DRY_RUN
from wedsync_operator.engine.intent import OwedEvent, owed_event, warming_event
from wedsync_operator.engine.mode import ModeResolution
from wedsync_operator.engine.replicas import Decision
from wedsync_operator.engine.schedule import format_instant
from wedsync_operator.engine.status import (
    Condition,
    already_reported,
    condition,
    merge_conditions,
    mode_fields,
)
from wedsync_operator.model.status import (
    DayStatus,
    PolicyStatus,
    WarmingStatus,
    observed_generation,
)
from wedsync_operator.model.types import PlatformScaling

__all__ = [
    "MetricsReport",
    "dry_run_silence_report",
    "evaluation_status",
    "generation_of",
    "generation_unseen",
    "invalid_status",
    "mode_condition",
    "paused_conditions",
    "policy_conditions",
    "silence_report",
    "spec_is_unseen",
    "warming_report",
]


def generation_of(body: Mapping[str, Any]) -> int:
    return int((body.get("metadata") or {}).get("generation") or 0)


def generation_unseen(status: PolicyStatus | DayStatus, generation: int) -> bool:
    """Whether ``status`` was written for an older spec than ``generation``."""
    return status.observed_generation != generation


def spec_is_unseen(body: Mapping[str, Any]) -> bool:
    """True when the object's spec changed since the operator last wrote its status: its
    own status writes (which do not bump metadata.generation) must not wake it again."""
    generation = (body.get("metadata") or {}).get("generation")
    return bool(generation != observed_generation(body.get("status")))


@dataclass(frozen=True)
class MetricsReport:
    """What the metrics source answered: each metric's sample (None: no usable sample)
    and, for those that failed, (reason, message)."""

    samples: Mapping[str, float | None]
    errors: Mapping[str, tuple[str, str]]


def mode_condition(mode: ModeResolution, generation: int) -> Condition:
    return condition(
        "WeddingDayMode", "True" if mode.on else "False", mode.reason, mode.message, generation
    )


def paused_conditions(mode: ModeResolution, generation: int) -> list[Condition]:
    return [
        condition(
            "Ready",
            "False",
            "Paused",
            "spec.paused is true: nothing is decided or patched",
            generation,
        ),
        mode_condition(mode, generation),
    ]


def policy_conditions(
    policy: PlatformScaling,
    decisions: Iterable[Decision],
    unreadable: Mapping[str, str],
    hpa_notes: Sequence[str],
    metrics: MetricsReport,
    generation: int,
) -> list[Condition]:
    """Ready (every target read), MetricsAvailable and ScalingLimited."""
    decisions = list(decisions)
    if unreadable:
        message = "; ".join(f"{n}: {e}" for n, e in unreadable.items())
        ready = condition("Ready", "False", "TargetUnavailable", message, generation)
    else:
        message = f"{len(decisions)} of {len(policy.targets)} targets evaluated"
        ready = condition("Ready", "True", "Evaluated", message, generation)
    if not policy.metrics:
        available = condition(
            "MetricsAvailable", "Unknown", "NoMetrics", "no metrics configured", generation
        )
    elif metrics.errors:
        reason = next(iter(metrics.errors.values()))[0]
        message = "; ".join(f"{n}: {m}" for n, (_, m) in metrics.errors.items())
        available = condition("MetricsAvailable", "False", reason, message, generation)
    elif missing := [n for n, v in metrics.samples.items() if v is None]:
        message = f"no usable sample (empty, NaN or stale) for {', '.join(missing)}"
        available = condition("MetricsAvailable", "False", "NoSamples", message, generation)
    else:
        available = condition(
            "MetricsAvailable", "True", "SamplesRead", "every metric returned a sample", generation
        )
    limited = [d for d in decisions if d.limited]
    if hpa_notes:
        message = "; ".join(hpa_notes)
        scaling = condition("ScalingLimited", "True", "HPAOwnsTarget", message, generation)
    elif limited:
        message = "; ".join(d.message for d in limited)
        scaling = condition("ScalingLimited", "True", limited[0].reason.value, message, generation)
    else:
        scaling = condition(
            "ScalingLimited",
            "False",
            "WithinLimits",
            "no target is held back by a limit",
            generation,
        )
    return [ready, available, scaling]


def evaluation_status(
    previous: PolicyStatus,
    mode: ModeResolution,
    generation: int,
    now: datetime,
    conditions: Iterable[Condition],
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The status an evaluation writes (a merge patch: None removes a field)."""
    return {
        **mode_fields(mode),
        "observedGeneration": generation,
        "lastEvaluationTime": format_instant(now),
        "conditions": merge_conditions(previous.conditions, conditions, now),
        **extra,
    }


def invalid_status(
    errors: Iterable[object], previous: PolicyStatus, generation: int, now: datetime
) -> tuple[dict[str, Any], str, bool]:
    """A spec that does not parse: (status, message, whether the Warning is due — once
    per generation, not at every recheck)."""
    message = "; ".join(str(e) for e in errors)
    status = {
        "observedGeneration": generation,
        "conditions": merge_conditions(
            previous.conditions,
            [condition("Ready", "False", "InvalidSpec", message, generation)],
            now,
        ),
    }
    return status, message, generation_unseen(previous, generation)


def warming_report(
    before: WarmingStatus | None, block: Mapping[str, Any], name: str, uid: str
) -> OwedEvent | None:
    """One Event per warming outcome, not one per retry: status shows the current state."""
    before = before or WarmingStatus()
    if (before.reason, before.message) == (block.get("reason"), block.get("message")):
        return None
    return warming_event(name, uid, block)


def dry_run_silence_report(
    message: str, seen: PolicyStatus, name: str, uid: str, generation: int
) -> tuple[Condition, OwedEvent | None]:
    """What a dry run says about the silences it would make; its Event once."""
    cond = condition("AlertsSilenced", "False", DRY_RUN, message, generation)
    if already_reported(seen.conditions, "AlertsSilenced", message):
        return cond, None
    return cond, owed_event(name, uid, "Normal", DRY_RUN, message)


def silence_report(
    ids: Sequence[str] | None,
    error: str | None,
    seen: PolicyStatus,
    name: str,
    uid: str,
    generation: int,
) -> tuple[Condition, OwedEvent | None]:
    """The AlertsSilenced condition after a reconciliation, and the Warning a new failure
    owes (a failure retried at each evaluation posts one)."""
    if error is not None:
        cond = condition("AlertsSilenced", "False", "AlertmanagerError", error, generation)
        if already_reported(seen.conditions, "AlertsSilenced", error):
            return cond, None
        return cond, owed_event(name, uid, "Warning", "SilenceFailed", error)
    count = len(ids or [])
    return (
        condition(
            "AlertsSilenced",
            "True" if count else "False",
            "SilencesActive" if count else "NoSilences",
            f"{count} Alertmanager silence(s) for non-critical alerts",
            generation,
        ),
        None,
    )
