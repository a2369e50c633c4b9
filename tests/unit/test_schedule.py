"""Schedule rules: wall times to instants (DST), windows, phases, transitions, merging."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wedsync_operator.engine.schedule import (
    MODE_PHASES,
    Phase,
    ScheduleError,
    Window,
    merge_intervals,
    next_transition,
    phase_at,
    to_utc,
    window,
)
from wedsync_operator.model.types import ObjectMeta, WallTime, WeddingDay

LONDON = "Europe/London"
NEW_YORK = "America/New_York"


def z(text: str) -> datetime:
    """An aware UTC instant from "2027-06-05T12:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str) -> WallTime:
    return WallTime(local=datetime.fromisoformat(text), absolute=False)


def absolute(text: str) -> WallTime:
    return WallTime(local=datetime.fromisoformat(text), absolute=True)


SAT_START = absolute("2027-06-05T12:00:00+00:00")
SAT_END = absolute("2027-06-05T22:00:00+00:00")


def wedding(
    start: WallTime = SAT_START,
    end: WallTime = SAT_END,
    time_zone: str | None = None,
    *,
    lead_time: timedelta = timedelta(hours=2),
    wind_down: timedelta = timedelta(hours=1),
    cancelled: bool = False,
) -> WeddingDay:
    return WeddingDay(
        meta=ObjectMeta(namespace="weddings", name="smith-jones"),
        start=start,
        end=end,
        time_zone=time_zone,
        lead_time=lead_time,
        wind_down=wind_down,
        cancelled=cancelled,
    )


# ------------------------------------------------------------------------------ to_utc


def test_absolute_time_is_converted_to_utc_whatever_the_zone() -> None:
    got = to_utc(
        absolute("2027-06-05T14:00:00+02:00"), NEW_YORK, field="spec.start", prefer="earlier"
    )
    assert got == z("2027-06-05T12:00")
    assert got.tzinfo is UTC


def test_absolute_time_without_offset_is_refused() -> None:
    with pytest.raises(ScheduleError) as err:
        to_utc(absolute("2027-06-05T14:00:00"), None, field="spec.end", prefer="later")
    assert err.value.field == "spec.end"


def test_local_time_without_time_zone_is_refused_naming_the_zone_field() -> None:
    with pytest.raises(ScheduleError) as err:
        to_utc(local("2027-06-05T14:00"), None, field="spec.start", prefer="earlier")
    assert err.value.field == "spec.timeZone"
    assert str(err.value).startswith(
        "spec.timeZone: spec.start 2027-06-05T14:00:00 has no UTC offset"
    )


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "Europe", "Europe/"])
def test_unknown_time_zone_is_a_schedule_error(zone: str) -> None:
    with pytest.raises(ScheduleError) as err:
        to_utc(local("2027-06-05T14:00"), zone, field="spec.start", prefer="earlier")
    assert err.value.field == "spec.timeZone"
    assert f"{zone!r} is not a known IANA time zone" in str(err.value)


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        # Europe/London springs forward on 2027-03-28 at 01:00 GMT to 02:00 BST.
        (LONDON, "2027-03-28T00:30", "2027-03-28T00:30"),
        (LONDON, "2027-03-28T00:59", "2027-03-28T00:59"),
        (LONDON, "2027-03-28T02:00", "2027-03-28T01:00"),
        (LONDON, "2027-03-28T02:30", "2027-03-28T01:30"),
        # America/New_York springs forward on 2027-03-14 at 02:00 EST to 03:00 EDT.
        (NEW_YORK, "2027-03-14T01:59", "2027-03-14T06:59"),
        (NEW_YORK, "2027-03-14T03:00", "2027-03-14T07:00"),
        (NEW_YORK, "2027-03-14T03:30", "2027-03-14T07:30"),
        # Plain summer and winter days.
        (LONDON, "2027-07-01T12:00", "2027-07-01T11:00"),
        (NEW_YORK, "2027-01-15T12:00", "2027-01-15T17:00"),
    ],
)
def test_local_times_on_spring_forward_days_map_to_the_right_instant(
    zone: str, wall: str, expected: str
) -> None:
    for prefer in ("earlier", "later"):
        assert to_utc(local(wall), zone, field="spec.start", prefer=prefer) == z(expected)


@pytest.mark.parametrize(
    ("zone", "wall", "edges"),
    [
        (LONDON, "2027-03-28T01:00", "01:00 to 02:00"),
        (LONDON, "2027-03-28T01:30", "01:00 to 02:00"),
        (LONDON, "2027-03-28T01:59", "01:00 to 02:00"),
        (NEW_YORK, "2027-03-14T02:00", "02:00 to 03:00"),
        (NEW_YORK, "2027-03-14T02:30", "02:00 to 03:00"),
        # Lord Howe Island moves its clocks by half an hour.
        ("Australia/Lord_Howe", "2027-10-03T02:15", "02:00 to 02:30"),
    ],
)
def test_local_time_in_a_spring_forward_gap_is_refused(zone: str, wall: str, edges: str) -> None:
    with pytest.raises(ScheduleError) as err:
        to_utc(local(wall), zone, field="spec.start", prefer="earlier")
    assert err.value.field == "spec.start"
    assert str(err.value) == (
        f"spec.start: {datetime.fromisoformat(wall).isoformat()} does not exist in {zone} "
        f"(clocks go forward from {edges}); pick a time outside the gap"
    )


def test_gap_error_reads_as_documented_for_london() -> None:
    with pytest.raises(ScheduleError) as err:
        to_utc(local("2027-03-28T01:30:00"), LONDON, field="spec.start", prefer="earlier")
    assert str(err.value) == (
        "spec.start: 2027-03-28T01:30:00 does not exist in Europe/London (clocks go forward "
        "from 01:00 to 02:00); pick a time outside the gap"
    )
    assert err.value.message == str(err.value)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("zone", "wall", "prefer", "expected"),
    [
        # Europe/London falls back on 2027-10-31 at 01:00 GMT (02:00 BST): 01:xx twice.
        (LONDON, "2027-10-31T01:30", "earlier", "2027-10-31T00:30"),  # BST, UTC+1
        (LONDON, "2027-10-31T01:30", "later", "2027-10-31T01:30"),  # GMT, UTC+0
        (LONDON, "2027-10-31T01:00", "earlier", "2027-10-31T00:00"),
        (LONDON, "2027-10-31T01:00", "later", "2027-10-31T01:00"),
        (LONDON, "2027-10-31T00:59", "later", "2027-10-30T23:59"),
        (LONDON, "2027-10-31T02:00", "earlier", "2027-10-31T02:00"),
        # America/New_York falls back on 2027-11-07 at 02:00 EDT to 01:00 EST.
        (NEW_YORK, "2027-11-07T01:30", "earlier", "2027-11-07T05:30"),  # EDT, UTC-4
        (NEW_YORK, "2027-11-07T01:30", "later", "2027-11-07T06:30"),  # EST, UTC-5
        (NEW_YORK, "2027-11-07T00:30", "later", "2027-11-07T04:30"),
        (NEW_YORK, "2027-11-07T02:00", "earlier", "2027-11-07T07:00"),
    ],
)
def test_repeated_local_time_on_fall_back_day_resolves_by_preference(
    zone: str, wall: str, prefer: Literal["earlier", "later"], expected: str
) -> None:
    assert to_utc(local(wall), zone, field="spec.start", prefer=prefer) == z(expected)


ZONES = [LONDON, NEW_YORK, "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kolkata"]


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    wall=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31)),
)
def test_every_local_time_either_round_trips_or_is_refused_as_a_gap(
    zone: str, wall: datetime
) -> None:
    tz = ZoneInfo(zone)
    try:
        earlier = to_utc(WallTime(wall, False), zone, field="spec.start", prefer="earlier")
        later = to_utc(WallTime(wall, False), zone, field="spec.end", prefer="later")
    except ScheduleError as err:
        # Refused only when no instant shows this wall time.
        assert err.field == "spec.start"
        for fold in (0, 1):
            instant = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
            assert instant.astimezone(tz).replace(tzinfo=None) != wall
        return
    assert earlier.astimezone(tz).replace(tzinfo=None) == wall
    assert later.astimezone(tz).replace(tzinfo=None) == wall
    assert earlier <= later
    assert later - earlier <= timedelta(hours=1)


# ------------------------------------------------------------------------------ window


def test_window_adds_lead_time_before_and_wind_down_after() -> None:
    w = window(wedding(lead_time=timedelta(hours=3), wind_down=timedelta(minutes=90)))
    assert w == Window(
        start=z("2027-06-05T12:00"),
        end=z("2027-06-05T22:00"),
        mode_start=z("2027-06-05T09:00"),
        mode_end=z("2027-06-05T23:30"),
    )


def test_window_reads_local_times_in_the_day_time_zone() -> None:
    w = window(wedding(local("2027-06-05T13:00"), local("2027-06-05T23:00"), LONDON))
    assert (w.start, w.end) == (z("2027-06-05T12:00"), z("2027-06-05T22:00"))
    assert (w.mode_start, w.mode_end) == (z("2027-06-05T10:00"), z("2027-06-05T23:00"))


def test_window_on_fall_back_night_takes_the_first_start_and_the_last_end() -> None:
    # 01:30 to 01:30 on the night the clocks go back is the hour between the two 01:30s.
    w = window(wedding(local("2027-10-31T01:30"), local("2027-10-31T01:30"), LONDON))
    assert (w.start, w.end) == (z("2027-10-31T00:30"), z("2027-10-31T01:30"))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2027-06-05T12:00:00+00:00", "2027-06-05T12:00:00+00:00"),
        ("2027-06-05T12:00:00+00:00", "2027-06-05T11:59:00+00:00"),
        # Same instant written with two offsets.
        ("2027-06-05T12:00:00+00:00", "2027-06-05T14:00:00+02:00"),
    ],
)
def test_end_not_after_start_is_a_schedule_error_on_end(start: str, end: str) -> None:
    with pytest.raises(ScheduleError) as err:
        window(wedding(absolute(start), absolute(end)))
    assert err.value.field == "spec.end"
    assert "is not after spec.start" in str(err.value)


def test_gap_in_end_time_is_reported_on_end() -> None:
    with pytest.raises(ScheduleError) as err:
        window(wedding(local("2027-03-27T12:00"), local("2027-03-28T01:30"), LONDON))
    assert err.value.field == "spec.end"


@pytest.mark.parametrize(
    ("lead", "wind", "field"),
    [
        (timedelta(minutes=-1), timedelta(0), "spec.leadTime"),
        (timedelta(0), timedelta(seconds=-1), "spec.windDown"),
    ],
)
def test_negative_lead_time_or_wind_down_is_a_schedule_error(
    lead: timedelta, wind: timedelta, field: str
) -> None:
    with pytest.raises(ScheduleError) as err:
        window(wedding(lead_time=lead, wind_down=wind))
    assert err.value.field == field


# ------------------------------------------------------------------------------ phases

TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("t", "phase"),
    [
        (z("2027-06-05T10:00") - TICK, Phase.SCHEDULED),
        (z("2027-06-05T10:00"), Phase.PREPARING),
        (z("2027-06-05T12:00") - TICK, Phase.PREPARING),
        (z("2027-06-05T12:00"), Phase.ACTIVE),
        (z("2027-06-05T22:00") - TICK, Phase.ACTIVE),
        (z("2027-06-05T22:00"), Phase.WINDING_DOWN),
        (z("2027-06-05T23:00") - TICK, Phase.WINDING_DOWN),
        (z("2027-06-05T23:00"), Phase.COMPLETED),
        (z("2028-01-01T00:00"), Phase.COMPLETED),
    ],
)
def test_phase_boundaries_are_half_open(t: datetime, phase: Phase) -> None:
    assert phase_at(wedding(), t) is phase


def test_phase_accepts_instants_in_any_offset() -> None:
    t = datetime(2027, 6, 5, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))  # 12:00Z
    assert phase_at(wedding(), t) is Phase.ACTIVE


def test_cancelled_day_is_cancelled_even_inside_its_window() -> None:
    assert phase_at(wedding(cancelled=True), z("2027-06-05T13:00")) is Phase.CANCELLED


def test_day_whose_schedule_cannot_be_honoured_is_failed() -> None:
    wd = wedding(local("2027-03-28T01:30"), local("2027-03-28T12:00"), LONDON)
    assert phase_at(wd, z("2027-03-28T05:00")) is Phase.FAILED


def test_without_lead_time_the_day_goes_straight_to_active() -> None:
    wd = wedding(lead_time=timedelta(0))
    assert phase_at(wd, z("2027-06-05T12:00") - TICK) is Phase.SCHEDULED
    assert phase_at(wd, z("2027-06-05T12:00")) is Phase.ACTIVE


def test_mode_phases_are_preparing_active_and_winding_down() -> None:
    assert frozenset({Phase.PREPARING, Phase.ACTIVE, Phase.WINDING_DOWN}) == MODE_PHASES


def test_phase_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        phase_at(wedding(), datetime(2027, 6, 5, 12, 0))


# --------------------------------------------------------------------- next_transition


def test_next_transition_walks_all_four_transitions_then_stops() -> None:
    wd = wedding()
    seen: list[datetime] = []
    t: datetime | None = z("2027-06-01T00:00")
    while t is not None:
        t = next_transition(wd, t)
        if t is not None:
            seen.append(t)
    assert seen == [
        z("2027-06-05T10:00"),
        z("2027-06-05T12:00"),
        z("2027-06-05T22:00"),
        z("2027-06-05T23:00"),
    ]


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (z("2027-06-05T10:00"), z("2027-06-05T12:00")),  # strictly after: not 10:00 itself
        (z("2027-06-05T11:59"), z("2027-06-05T12:00")),
        (z("2027-06-05T22:30"), z("2027-06-05T23:00")),
    ],
)
def test_next_transition_is_strictly_after_t(t: datetime, expected: datetime) -> None:
    assert next_transition(wedding(), t) == expected


def test_next_transition_skips_the_empty_preparing_phase() -> None:
    wd = wedding(lead_time=timedelta(0))
    assert next_transition(wd, z("2027-06-05T09:00")) == z("2027-06-05T12:00")


@pytest.mark.parametrize(
    "wd",
    [
        wedding(cancelled=True),
        wedding(local("2027-03-28T01:30"), local("2027-03-28T12:00"), LONDON),
    ],
    ids=["cancelled", "failed"],
)
def test_next_transition_is_none_for_cancelled_or_failed_days(wd: WeddingDay) -> None:
    assert next_transition(wd, z("2027-01-01T00:00")) is None


def test_next_transition_is_none_once_completed() -> None:
    assert next_transition(wedding(), z("2027-06-05T23:00")) is None


# --------------------------------------------------------------------- merge_intervals


def h(hour: int) -> datetime:
    return z("2027-06-05T00:00") + timedelta(hours=hour)


@pytest.mark.parametrize(
    ("intervals", "merged"),
    [
        ([], []),
        ([(h(1), h(3))], [(h(1), h(3))]),
        ([(h(1), h(3)), (h(2), h(5))], [(h(1), h(5))]),  # overlapping
        ([(h(1), h(3)), (h(3), h(5))], [(h(1), h(5))]),  # touching
        ([(h(1), h(2)), (h(3), h(5))], [(h(1), h(2)), (h(3), h(5))]),  # disjoint
        ([(h(1), h(9)), (h(2), h(3))], [(h(1), h(9))]),  # contained
        ([(h(6), h(8)), (h(1), h(2)), (h(2), h(4))], [(h(1), h(4)), (h(6), h(8))]),  # unsorted
        ([(h(4), h(4)), (h(5), h(3)), (h(1), h(2))], [(h(1), h(2))]),  # empty ones dropped
    ],
)
def test_merge_intervals_returns_the_sorted_union(
    intervals: list[tuple[datetime, datetime]], merged: list[tuple[datetime, datetime]]
) -> None:
    assert merge_intervals(intervals) == merged


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 48), st.integers(0, 12)).map(lambda p: (h(p[0]), h(p[0] + p[1]))),
        max_size=8,
    ),
    st.integers(0, 60),
)
def test_merged_intervals_are_disjoint_and_cover_the_same_instants(
    intervals: list[tuple[datetime, datetime]], probe_hour: int
) -> None:
    merged = merge_intervals(intervals)
    for (_, end), (start, _) in itertools.pairwise(merged):
        assert end < start  # sorted, neither overlapping nor touching
    for probe in (h(probe_hour), h(probe_hour) + timedelta(minutes=30)):
        covered = any(s <= probe < e for s, e in intervals)
        assert covered == any(s <= probe < e for s, e in merged)
