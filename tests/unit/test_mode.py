"""Mode resolution: which wedding days hold a policy in wedding-day mode, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wedsync_operator.engine.mode import (
    NORMAL_MODE,
    Mode,
    ModeResolution,
    mode_due,
    mode_switches,
    resolve_mode,
    selector_matches,
)
from wedsync_operator.model.types import (
    LabelSelector,
    LabelSelectorRequirement,
    ObjectMeta,
    PlatformScaling,
    WallTime,
    WeddingDay,
)


def z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def policy(labels: dict[str, str] | None = None, namespace: str = "weddings") -> PlatformScaling:
    return PlatformScaling(
        meta=ObjectMeta(
            namespace=namespace, name="platform", labels=tuple((labels or {"tier": "web"}).items())
        ),
        targets=(),
        metrics=(),
        prometheus=None,
    )


def day(
    name: str,
    start: str,
    end: str,
    *,
    load_factor: float = 1.0,
    selector: LabelSelector | None = None,
    namespace: str = "weddings",
    cancelled: bool = False,
    time_zone: str | None = None,
    lead_hours: int = 2,
    wind_down_hours: int = 1,
) -> WeddingDay:
    """A day; times with "Z" are absolute, others local to ``time_zone``."""

    def wall(text: str) -> WallTime:
        if text.endswith("Z"):
            return WallTime(z(text[:-1]), absolute=True)
        return WallTime(datetime.fromisoformat(text), absolute=False)

    return WeddingDay(
        meta=ObjectMeta(namespace=namespace, name=name),
        start=wall(start),
        end=wall(end),
        time_zone=time_zone,
        lead_time=timedelta(hours=lead_hours),
        wind_down=timedelta(hours=wind_down_hours),
        load_factor=load_factor,
        policy_selector=selector or LabelSelector(),
        cancelled=cancelled,
    )


def req(key: str, operator: str, *values: str) -> LabelSelectorRequirement:
    return LabelSelectorRequirement(key=key, operator=operator, values=values)


# ------------------------------------------------------------------- selector_matches

LABELS = {"tier": "web", "region": "eu"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        (LabelSelector(), True),
        (LabelSelector(match_labels=(("tier", "web"),)), True),
        (LabelSelector(match_labels=(("tier", "web"), ("region", "eu"))), True),
        (LabelSelector(match_labels=(("tier", "db"),)), False),
        (LabelSelector(match_labels=(("team", "web"),)), False),
        (LabelSelector(match_expressions=(req("tier", "In", "web", "api"),)), True),
        (LabelSelector(match_expressions=(req("tier", "In", "api"),)), False),
        (LabelSelector(match_expressions=(req("team", "In", "web"),)), False),
        (LabelSelector(match_expressions=(req("tier", "NotIn", "db"),)), True),
        (LabelSelector(match_expressions=(req("tier", "NotIn", "web"),)), False),
        (LabelSelector(match_expressions=(req("team", "NotIn", "web"),)), True),  # absent
        (LabelSelector(match_expressions=(req("region", "Exists"),)), True),
        (LabelSelector(match_expressions=(req("team", "Exists"),)), False),
        (LabelSelector(match_expressions=(req("team", "DoesNotExist"),)), True),
        (LabelSelector(match_expressions=(req("region", "DoesNotExist"),)), False),
        (LabelSelector(match_expressions=(req("tier", "Matches", "web"),)), False),
        # Everything must hold: labels AND every expression.
        (
            LabelSelector(
                match_labels=(("tier", "web"),),
                match_expressions=(req("region", "In", "eu"), req("team", "DoesNotExist")),
            ),
            True,
        ),
        (
            LabelSelector(
                match_labels=(("tier", "web"),),
                match_expressions=(
                    req("region", "In", "eu"),
                    req("tier", "Exists"),
                    req("region", "NotIn", "eu"),
                ),
            ),
            False,
        ),
    ],
)
def test_selector_follows_kubernetes_semantics(selector: LabelSelector, matches: bool) -> None:
    assert selector_matches(selector, LABELS) is matches


def test_empty_selector_matches_an_object_without_labels() -> None:
    assert selector_matches(LabelSelector(), {}) is True


# ------------------------------------------------------------------------ resolve_mode

SAT = day("smith-jones", "2027-06-05T12:00Z", "2027-06-05T22:00Z")  # mode 10:00-23:00


def test_without_wedding_days_the_policy_is_in_normal_mode() -> None:
    res = resolve_mode(policy(), [], z("2027-06-05T12:00"))
    assert res == NORMAL_MODE
    assert res.mode is Mode.NORMAL
    assert res.reason == "NoActiveWeddingDay"
    assert res.load_factor == 1.0
    assert (res.since, res.until, res.active_days) == (None, None, ())


@pytest.mark.parametrize(
    ("t", "reason"),
    [
        ("2027-06-05T10:00", "WeddingDayPreparing"),
        ("2027-06-05T12:00", "WeddingDayActive"),
        ("2027-06-05T22:00", "WeddingDayWindingDown"),
        ("2027-06-05T22:59", "WeddingDayWindingDown"),
    ],
)
def test_preparing_active_and_winding_down_days_hold_the_mode(t: str, reason: str) -> None:
    res = resolve_mode(policy(), [SAT], z(t))
    assert res.mode is Mode.WEDDING_DAY
    assert res.reason == reason
    assert res.active_days == ("smith-jones",)
    assert (res.since, res.until) == (z("2027-06-05T10:00"), z("2027-06-05T23:00"))


@pytest.mark.parametrize("t", ["2027-06-05T09:59", "2027-06-05T23:00", "2027-06-06T10:00"])
def test_scheduled_or_completed_days_leave_the_policy_in_normal_mode(t: str) -> None:
    assert resolve_mode(policy(), [SAT], z(t)).mode is Mode.NORMAL


def test_mode_message_names_the_days_their_phases_and_the_span() -> None:
    res = resolve_mode(policy(), [SAT], z("2027-06-05T11:00"))
    assert res.message == (
        "wedding-day mode from 2027-06-05T10:00:00Z until 2027-06-05T23:00:00Z: "
        "smith-jones is preparing (load factor 1)"
    )


@pytest.mark.parametrize(
    "ignored",
    [
        day("elsewhere", "2027-06-05T12:00Z", "2027-06-05T22:00Z", namespace="other"),
        day(
            "for-db-only",
            "2027-06-05T12:00Z",
            "2027-06-05T22:00Z",
            selector=LabelSelector(match_labels=(("tier", "db"),)),
        ),
        day("called-off", "2027-06-05T12:00Z", "2027-06-05T22:00Z", cancelled=True),
        # 01:30 does not exist in London that night: the day reports Failed itself.
        day("in-the-gap", "2027-03-28T01:30", "2027-06-05T22:00", time_zone="Europe/London"),
        day("no-zone", "2027-06-05T12:00", "2027-06-05T22:00"),
    ],
    ids=["other-namespace", "selector-mismatch", "cancelled", "dst-gap", "no-time-zone"],
)
def test_days_that_do_not_select_the_policy_or_cannot_run_are_ignored(ignored: WeddingDay) -> None:
    assert resolve_mode(policy(), [ignored], z("2027-06-05T13:00")).mode is Mode.NORMAL


def test_day_selecting_the_policy_by_label_holds_the_mode() -> None:
    wd = day(
        "web-only",
        "2027-06-05T12:00Z",
        "2027-06-05T22:00Z",
        selector=LabelSelector(match_expressions=(req("tier", "In", "web"),)),
    )
    assert resolve_mode(policy(), [wd], z("2027-06-05T13:00")).active_days == ("web-only",)


def test_overlapping_days_merge_into_one_window_and_the_largest_load_factor_wins() -> None:
    days = [
        # mode 10:00-23:00, 15:00-next 01:00, 08:00-12:00
        day("smith-jones", "2027-06-05T12:00Z", "2027-06-05T22:00Z", load_factor=2.25),
        day("patel", "2027-06-05T17:00Z", "2027-06-06T00:00Z", load_factor=1.5),
        day("okafor", "2027-06-05T10:00Z", "2027-06-05T11:00Z", load_factor=1.0),
    ]
    res = resolve_mode(policy(), days, z("2027-06-05T18:00"))
    assert res.mode is Mode.WEDDING_DAY
    assert res.active_days == ("patel", "smith-jones")  # okafor completed at 12:00
    assert res.since == z("2027-06-05T08:00")
    assert res.until == z("2027-06-06T01:00")
    assert res.load_factor == 2.25
    assert res.reason == "WeddingDayActive"
    assert res.message == (
        "wedding-day mode from 2027-06-05T08:00:00Z until 2027-06-06T01:00:00Z: "
        "patel is active, smith-jones is active (load factor 2.25)"
    )


def test_active_day_outranks_preparing_day_in_the_reason() -> None:
    days = [
        day("early", "2027-06-05T12:00Z", "2027-06-05T22:00Z"),
        day("late", "2027-06-05T14:00Z", "2027-06-05T22:00Z"),
    ]
    res = resolve_mode(policy(), days, z("2027-06-05T12:30"))
    assert res.reason == "WeddingDayActive"
    assert "early is active, late is preparing" in res.message


def test_a_day_that_starts_when_another_ends_extends_until() -> None:
    first = day("friday", "2027-06-04T12:00Z", "2027-06-04T22:00Z")  # mode 10:00-23:00
    second = day("saturday", "2027-06-05T01:00Z", "2027-06-05T20:00Z")  # mode 04-04T23:00-21:00
    res = resolve_mode(policy(), [first, second], z("2027-06-04T20:00"))
    assert res.active_days == ("friday",)
    assert (res.since, res.until) == (z("2027-06-04T10:00"), z("2027-06-05T21:00"))


def test_mode_resolution_is_a_plain_value() -> None:
    res = resolve_mode(policy(), [SAT], z("2027-06-05T13:00"))
    assert res == ModeResolution(
        mode=Mode.WEDDING_DAY,
        active_days=("smith-jones",),
        since=z("2027-06-05T10:00"),
        until=z("2027-06-05T23:00"),
        load_factor=1.0,
        reason="WeddingDayActive",
        message=res.message,
    )
    assert res.on is True
    assert NORMAL_MODE.on is False


def test_resolve_mode_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_mode(policy(), [SAT], datetime(2027, 6, 5, 12, 0))


# ------------------------------------------------------------------------ mode_switches

WEEKEND = [
    day("smith-jones", "2027-06-05T12:00Z", "2027-06-05T22:00Z"),  # 10:00-23:00
    day("patel", "2027-06-05T20:00Z", "2027-06-06T00:00Z"),  # 18:00-01:00 (overlaps)
    day("okafor", "2027-06-06T03:00Z", "2027-06-06T04:00Z"),  # 06-06 01:00-05:00 (touches)
    day("lee", "2027-06-12T12:00Z", "2027-06-12T22:00Z"),  # 10:00-23:00 a week later
    day("cancelled", "2027-06-08T12:00Z", "2027-06-08T22:00Z", cancelled=True),
]


def test_mode_switches_lists_each_merged_window_once() -> None:
    assert mode_switches(policy(), WEEKEND, z("2027-06-01T00:00"), z("2027-06-30T00:00")) == [
        (z("2027-06-05T10:00"), Mode.WEDDING_DAY),
        (z("2027-06-06T05:00"), Mode.NORMAL),
        (z("2027-06-12T10:00"), Mode.WEDDING_DAY),
        (z("2027-06-12T23:00"), Mode.NORMAL),
    ]


def test_mode_switches_includes_both_ends_of_the_range() -> None:
    assert mode_switches(policy(), WEEKEND, z("2027-06-05T10:00"), z("2027-06-06T05:00")) == [
        (z("2027-06-05T10:00"), Mode.WEDDING_DAY),
        (z("2027-06-06T05:00"), Mode.NORMAL),
    ]


def test_mode_switches_has_no_switch_where_the_range_starts_inside_a_window() -> None:
    assert mode_switches(policy(), WEEKEND, z("2027-06-05T12:00"), z("2027-06-12T12:00")) == [
        (z("2027-06-06T05:00"), Mode.NORMAL),
        (z("2027-06-12T10:00"), Mode.WEDDING_DAY),
    ]


def test_mode_switches_ignores_days_of_other_policies() -> None:
    other = policy(labels={"tier": "db"})
    web_only = day(
        "web",
        "2027-06-05T12:00Z",
        "2027-06-05T22:00Z",
        selector=LabelSelector(match_labels=(("tier", "web"),)),
    )
    assert mode_switches(other, [web_only], z("2027-06-01T00:00"), z("2027-06-30T00:00")) == []


@pytest.mark.parametrize(
    ("start", "end", "lead", "wind_down"),
    [
        ("9999-12-31T20:00:00Z", "9999-12-31T23:00:00Z", 2, 48),  # end + windDown past 9999
        ("0001-01-01T01:00:00Z", "0001-01-01T05:00:00Z", 48, 1),  # start - leadTime before 1
        ("2027-06-12T12:00:00Z", "2027-06-12T18:00:00Z", 10**9, 1),  # leadTime past the calendar
    ],
)
def test_a_day_at_the_calendar_edge_is_left_out_and_never_stops_a_valid_day(
    start: str, end: str, lead: int, wind_down: int
) -> None:
    edge = day("edge", start, end, lead_hours=lead, wind_down_hours=wind_down)
    valid = day("saturday", "2027-06-12T14:00:00Z", "2027-06-12T23:00:00Z")
    t = z("2027-06-12T15:00:00")

    mode = resolve_mode(policy(), [edge, valid], t)
    switches = mode_switches(policy(), [edge, valid], z("2027-06-12T00:00:00"), t)

    assert mode.on and mode.active_days == ("saturday",)
    assert switches == [(z("2027-06-12T12:00:00"), Mode.WEDDING_DAY)]


def test_the_mode_is_due_at_the_start_of_the_current_or_next_window_and_not_without_a_day() -> None:
    days = [
        day("sat", "2027-06-12T14:00:00Z", "2027-06-12T22:00:00Z"),
        day("sun", "2027-06-13T14:00:00Z", "2027-06-13T22:00:00Z"),
        day("gone", "2027-06-11T14:00:00Z", "2027-06-11T22:00:00Z", cancelled=True),
    ]

    assert mode_due(policy(), days, z("2027-06-10T00:00:00")) == z("2027-06-12T12:00:00")
    assert mode_due(policy(), days, z("2027-06-12T20:00:00")) == z("2027-06-12T12:00:00")
    assert mode_due(policy(), days, z("2027-06-12T23:30:00")) == z("2027-06-13T12:00:00")
    assert mode_due(policy(), days, z("2027-06-14T00:00:00")) is None
