"""When a WeddingDay's mode window lies in absolute time, and which phase it is in.

Wall-clock times are turned into instants here, not in ``model``: doing so is a decision
(which of two 01:30s is meant on the night the clocks go back) and it must be tested with
the rest of the schedule rules. Every function takes the time it reasons about as an
argument; nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wedsync_operator.model.types import WallTime, WeddingDay


class Phase(StrEnum):
    SCHEDULED = "Scheduled"
    PREPARING = "Preparing"
    ACTIVE = "Active"
    WINDING_DOWN = "WindingDown"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"
    FAILED = "Failed"


# The phases during which a day holds its policies in wedding-day mode.
MODE_PHASES = frozenset({Phase.PREPARING, Phase.ACTIVE, Phase.WINDING_DOWN})


class ScheduleError(ValueError):
    """A WeddingDay whose times cannot be turned into a window.

    ``field`` names the spec field to fix so the handler can put it in a condition;
    ``str(error)`` is the whole sentence, prefixed with that field.
    """

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail

    @property
    def message(self) -> str:
        return str(self)


def require_aware(t: datetime, what: str = "t") -> None:
    """Refuse naive datetimes: comparing one with an aware instant raises deep inside a
    decision, and silently treating it as UTC would shift a schedule by hours."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {t.isoformat()}")


def format_instant(t: datetime) -> str:
    """An instant as the RFC 3339 UTC string used in status and messages."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clock(t: datetime) -> str:
    # Transitions fall on whole minutes in every real zone; show seconds only if not.
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")


def _zone(name: str | None, wall: WallTime, field: str) -> ZoneInfo:
    if name is None:
        raise ScheduleError(
            "spec.timeZone",
            f"{field} {wall} has no UTC offset, so spec.timeZone (an IANA zone such as "
            "Europe/London) must be set",
        )
    try:
        return ZoneInfo(name)
    # ValueError: malformed keys ("", "../x"); OSError: keys naming a directory
    # ("Europe") or too long for the file system.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(
            "spec.timeZone", f"{name!r} is not a known IANA time zone (e.g. Europe/London)"
        ) from None


def _gap_edges(local: datetime, zone: ZoneInfo, before: timedelta, after: timedelta) -> str:
    """Describe the gap that ``local`` falls in as wall-clock readings, e.g. "01:00 to
    02:00", by locating the transition instant between the two offsets."""
    # Read with the pre-transition offset the wall time lands after the transition; with
    # the post-transition offset, before it. Bisect over whole seconds (tzdata
    # transitions fall on whole seconds) for the first instant with the new offset.
    lo = math.floor((local - after).replace(tzinfo=UTC).timestamp())
    hi = math.ceil((local - before).replace(tzinfo=UTC).timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    transition = datetime.fromtimestamp(hi, UTC)
    return f"{_clock((transition + before).replace(tzinfo=None))} to " + _clock(
        (transition + after).replace(tzinfo=None)
    )


def to_utc(
    wall: WallTime,
    zone: str | None,
    *,
    field: str,
    prefer: Literal["earlier", "later"],
) -> datetime:
    """The UTC instant a WallTime denotes.

    A local time in a spring-forward gap never happens, so it is refused rather than
    shifted: any shift would start or end capacity at a time nobody chose. A local time
    in a fall-back fold happens twice; ``prefer`` picks the occurrence (callers use
    "earlier" for starts and "later" for ends, so the mode is never shorter than meant).
    """
    if wall.absolute:
        if wall.local.tzinfo is None or wall.local.utcoffset() is None:
            raise ScheduleError(field, f"{wall} is marked absolute but has no UTC offset")
        return wall.local.astimezone(UTC)

    tz = _zone(zone, wall, field)
    naive = wall.local.replace(tzinfo=None)
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    off_first, off_second = first.utcoffset(), second.utcoffset()
    if off_first is None or off_second is None:  # pragma: no cover - ZoneInfo always has one
        raise ScheduleError(field, f"{wall} has no UTC offset in {zone}")
    if off_first == off_second:
        return first.astimezone(UTC)

    # The two folds disagree: the time is either skipped or repeated. A repeated time
    # round-trips through UTC with both offsets; a skipped one with neither.
    candidates = [c.astimezone(UTC) for c in (first, second)]
    real = [c for c in candidates if c.astimezone(tz).replace(tzinfo=None) == naive]
    if not real:
        before, after = min(off_first, off_second), max(off_first, off_second)
        edges = _gap_edges(naive, tz, before, after)
        raise ScheduleError(
            field,
            f"{naive.isoformat()} does not exist in {zone} (clocks go forward from "
            f"{edges}); pick a time outside the gap",
        )
    return min(real) if prefer == "earlier" else max(real)


@dataclass(frozen=True)
class Window:
    """A WeddingDay's instants in UTC: the event itself and the mode around it."""

    start: datetime
    end: datetime
    mode_start: datetime
    mode_end: datetime


def _in_calendar(field: str, compute: Callable[[], datetime]) -> datetime:
    # The model bounds the years and durations; a WeddingDay built past it (or a bound
    # loosened later) must still fail as this day's ScheduleError, not as an
    # OverflowError in every policy that reads the day.
    try:
        return compute()
    except OverflowError:
        raise ScheduleError(field, "lies outside the calendar (years 1 to 9999)") from None


def window(wd: WeddingDay) -> Window:
    """The day's window; raises ScheduleError when it cannot be honoured."""
    start = _in_calendar(
        "spec.start", lambda: to_utc(wd.start, wd.time_zone, field="spec.start", prefer="earlier")
    )
    end = _in_calendar(
        "spec.end", lambda: to_utc(wd.end, wd.time_zone, field="spec.end", prefer="later")
    )
    if end <= start:
        raise ScheduleError(
            "spec.end",
            f"{wd.end} ({format_instant(end)}) is not after spec.start {wd.start} "
            f"({format_instant(start)})",
        )
    # Negative durations would put Preparing after Active; the schema forbids them, but
    # a decision must not depend on the schema having been applied.
    if wd.lead_time < timedelta(0):
        raise ScheduleError("spec.leadTime", f"{wd.lead_time} is negative")
    if wd.wind_down < timedelta(0):
        raise ScheduleError("spec.windDown", f"{wd.wind_down} is negative")
    return Window(
        start=start,
        end=end,
        mode_start=_in_calendar("spec.leadTime", lambda: start - wd.lead_time),
        mode_end=_in_calendar("spec.windDown", lambda: end + wd.wind_down),
    )


def try_window(wd: WeddingDay) -> Window | None:
    """The window, or None when the day is cancelled or its schedule is invalid."""
    if wd.cancelled:
        return None
    try:
        return window(wd)
    except ScheduleError:
        return None


def _phase_in(w: Window, t: datetime) -> Phase:
    # Half-open intervals: each boundary instant belongs to the phase it starts.
    if t < w.mode_start:
        return Phase.SCHEDULED
    if t < w.start:
        return Phase.PREPARING
    if t < w.end:
        return Phase.ACTIVE
    if t < w.mode_end:
        return Phase.WINDING_DOWN
    return Phase.COMPLETED


def phase_at(wd: WeddingDay, t: datetime) -> Phase:
    require_aware(t)
    if wd.cancelled:
        return Phase.CANCELLED
    try:
        w = window(wd)
    except ScheduleError:
        return Phase.FAILED
    return _phase_in(w, t)


def next_transition(wd: WeddingDay, t: datetime) -> datetime | None:
    """When the day's phase next changes after ``t`` (for the handler's next wake-up)."""
    require_aware(t)
    w = try_window(wd)
    if w is None:
        return None
    later = [b for b in (w.mode_start, w.start, w.end, w.mode_end) if b > t]
    return min(later) if later else None


def merge_intervals(
    intervals: Iterable[tuple[datetime, datetime]],
) -> list[tuple[datetime, datetime]]:
    """Sorted union of half-open intervals; touching ones merge because the mode does
    not switch off for zero seconds between back-to-back days. Empty intervals hold no
    instant and are dropped."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged
