"""WeddingDay wiring: the store of days the policies read and the newest body of each day
(fed by watch events), and the day's step, which the scheduler runs at each of the day's
transitions: it writes the phase and wakes the policies the day selects at that instant.
No daemon and no finalizer per day (docs/decisions/0001-one-scheduler.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import kopf

from wedsync_operator import metrics
from wedsync_operator.adapters.kube import KubeError
from wedsync_operator.adapters.kube_slots import Urgency
from wedsync_operator.aiokits.scheduler import Due
from wedsync_operator.engine.readiness import condition_unseen, day_condition
from wedsync_operator.engine.report import generation_of, generation_unseen, spec_is_unseen
from wedsync_operator.engine.schedule import (
    MODE_PHASES,
    Phase,
    ScheduleError,
    format_instant,
    next_transition,
    phase_at,
    try_window,
    window,
)
from wedsync_operator.engine.status import wedding_day_status
from wedsync_operator.handlers.runtime import (
    Logger,
    LoopMemory,
    Runtime,
    utcnow,
)
from wedsync_operator.model import GROUP, VERSION, InvalidSpec, parse_wedding_day
from wedsync_operator.model.status import DayStatus
from wedsync_operator.model.types import WeddingDay

PLURAL = "weddingdays"
log = logging.getLogger(__name__)
# Even with no transition ahead the scheduler looks again now and then (cheap, and heals a
# status someone edited by hand).
IDLE_RECHECK_SECONDS = 300.0
RETRY_SECONDS = 5.0


# on.event, not on.update: it needs no stored diff-base, so no change can slip by.
# async: kopf runs sync handlers in threads, and the scheduler is not thread-safe.
@kopf.on.event(GROUP, VERSION, PLURAL, id="weddingday_changed")
async def weddingday_changed(
    *,
    event: kopf.RawEvent,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    uid: str | None,
    memo: Any,
    **_: Any,
) -> None:
    runtime: Runtime = memo.runtime
    namespace = str(namespace)
    key = ("wd", namespace, name)
    if event.get("type") == "DELETED":
        runtime.days.forget(namespace, name, str(uid))
        runtime.untrack(key)
        # A deleted day in progress must end its mode now, not at the next tick.
        runtime.wake_policies(namespace)
        return
    before, after = runtime.days.observe(namespace, name, body)
    edited = spec_is_unseen(body)
    # Not kopf's object logger: a day's lines stay in the log (its Events are its phases).
    logger = logging.LoggerAdapter(log, {"day": f"{namespace}/{name}"})
    if runtime.track(key, body, logger) or edited:
        # A day seen for the first time (listed at start-up) is brought up to date in
        # its turn; a new or edited one at once.
        runtime.schedule(key, time.time(), urgent=edited)
    if edited and (
        before is not None
        and after is not None
        and (before.policy_selector != after.policy_selector)
    ):
        # Policies the day no longer selects leave its mode, new ones join: now.
        runtime.wake_policies(namespace, before.policy_selector)
        runtime.wake_policies(namespace, after.policy_selector)


def _describe(phase: Phase, body: Mapping[str, Any], error: str | None) -> str:
    if error:
        return error
    spec = body.get("spec") or {}
    zone = f" {spec['timeZone']}" if spec.get("timeZone") else ""
    return {
        Phase.SCHEDULED: f"scheduled for {spec.get('start')}{zone}; the mode starts "
        f"{spec.get('leadTime', '2h')} before",
        Phase.PREPARING: f"preparing: lead time before the start at {spec.get('start')}{zone}",
        Phase.ACTIVE: f"active until {spec.get('end')}{zone}",
        Phase.WINDING_DOWN: f"winding down for {spec.get('windDown', '1h')} after the end",
        Phase.COMPLETED: "completed: the mode has ended",
        Phase.CANCELLED: "cancelled: spec.cancelled is true",
    }.get(phase, str(phase))


async def weddingday_step(runtime: Runtime, namespace: str, name: str) -> Due | None:
    """The scheduler's work for one day: returns when its next step is due, urgent when
    that is a phase change."""
    tracked = runtime.tracked.get(("wd", namespace, name))
    if tracked is None:
        return None  # deleted meanwhile
    seconds, transition = await _step(
        runtime, tracked.body, namespace, name, tracked.memory, tracked.logger
    )
    return Due(time.time() + seconds, urgent=transition)


async def _step(
    runtime: Runtime,
    body: kopf.Body,
    namespace: str,
    name: str,
    memory: LoopMemory,
    logger: Logger,
) -> tuple[float, bool]:
    """Bring status.phase up to date; return the seconds until the next step, and
    whether that step is the next transition (not a recheck or a retry)."""
    now = utcnow()
    error: str | None = None
    win = None
    nxt = None
    day: WeddingDay | None = None
    failure = "ScheduleInvalid"
    try:
        day = parse_wedding_day(body)
        window(day)  # surfaces a ScheduleError message (DST gap, end before start)
        phase = phase_at(day, now)
        win = try_window(day)
        nxt = next_transition(day, now)
    except InvalidSpec as exc:
        phase, error = Phase.FAILED, "; ".join(str(e) for e in exc.errors)
        failure = "InvalidSpec"
    except ScheduleError as exc:
        phase, error = Phase.FAILED, str(exc)

    seen = DayStatus.parse(memory.previous(body))
    generation = generation_of(body)
    message = _describe(phase, body, error)
    verdicts = runtime.readiness.of_day(namespace, name)
    readiness = day_condition(phase in MODE_PHASES, verdicts, seen.conditions, generation)
    status = wedding_day_status(
        phase=phase,
        window=win,
        next_transition=nxt,
        message=message,
        generation=generation,
        previous=seen,
        now=now,
        failure=failure,
        readiness=readiness,
    )
    changed = (
        seen.phase != status["phase"]
        or generation_unseen(seen, generation)
        or seen.next_transition != status["nextTransition"]
        or condition_unseen(seen.conditions, readiness)
    )
    switched = seen.phase != phase.value
    activation = switched and (seen.phase in MODE_PHASES or phase in MODE_PHASES)
    if activation:
        # Before the phase write: the policies read the day's schedule, not its status,
        # so their switch waits for no round trip (and survives a failed write). Only a
        # phase that holds the mode, before or after, concerns them (not the Scheduled
        # that new days first write); a day that does not parse wakes them all.
        runtime.wake_policies(namespace, day.policy_selector if day else None)
    if changed:
        try:
            # An activation's phase goes ahead of routine requests, as the policies'
            # switch does; a first Scheduled or a new nextTransition waits its turn.
            # Why: docs/decisions/0003-request-slots.md
            with runtime.kube.on_behalf_of(Urgency(urgent=activation)):
                await runtime.kube.patch_status(PLURAL, namespace, name, status)
        except KubeError as exc:
            if exc.not_found:  # deleted meanwhile; its DELETED event untracks it
                return IDLE_RECHECK_SECONDS, False
            logger.warning("could not write the phase (%s): %s; retrying", exc.reason, exc)
            return RETRY_SECONDS, False
        memory.wrote(status)
        if switched:
            metrics.WEDDING_DAY_TRANSITIONS.labels(phase=phase.value).inc()
        # A day that stays Failed through an edit still says what is wrong now.
        refailed = phase is Phase.FAILED and generation_unseen(seen, generation)
        if switched or refailed:
            kopf.event(
                body,
                type="Warning" if phase is Phase.FAILED else "Normal",
                reason=failure if phase is Phase.FAILED else phase.value,
                message=f"WeddingDay {name} is {phase.value}: {message}",
            )
    if nxt is None:
        return IDLE_RECHECK_SECONDS, False
    logger.debug("next transition at %s", format_instant(nxt))
    # Wake exactly at the transition; cap the sleep so clock jumps heal eventually.
    seconds = (nxt - utcnow()).total_seconds()
    if seconds > IDLE_RECHECK_SECONDS:
        return IDLE_RECHECK_SECONDS, False
    # Urgent at its instant, so a restart's backlog of first turns, all due earlier, does
    # not delay it (docs/decisions/0001-one-scheduler.md).
    return seconds, True
