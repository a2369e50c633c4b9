"""Alertmanager silences, the pure parts: the wanted silence, its payload, which silences
are ours, and what to create and expire so that a restart never duplicates one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from wedsync_operator.engine.silences import (
    CREATED_BY,
    SilenceOwner,
    SilenceSpec,
    is_ours,
    plan_silences,
    silence_payload,
    silences_to_create,
    silences_to_expire,
    wanted_silence,
)
from wedsync_operator.model.observations import Silence
from wedsync_operator.model.types import DEFAULT_SILENCE_MATCHERS, Matcher, SilenceAlerts

NOW = datetime(2027, 6, 5, 8, 0, tzinfo=UTC)
UNTIL = datetime(2027, 6, 5, 23, 0, tzinfo=UTC)
OWNER = SilenceOwner("shop", "platform")
OTHER = SilenceOwner("shop", "other-policy")
ALERTS = SilenceAlerts(alertmanager_url="http://am:9093")


def wanted(owner: SilenceOwner = OWNER, until: datetime = UNTIL) -> SilenceSpec:
    spec = wanted_silence(owner, ALERTS, ["saturday-a"], until, NOW)
    assert spec is not None
    return spec


def existing(
    spec: SilenceSpec,
    id_: str = "s-1",
    *,
    state: str = "active",
    ends_at: datetime | None = None,
    created_by: str = CREATED_BY,
    matchers: tuple[Matcher, ...] | None = None,
    starts_at: datetime = NOW,
) -> Silence:
    """The silence Alertmanager would report for ``spec``."""
    return Silence(
        id=id_,
        matchers=spec.matchers if matchers is None else matchers,
        starts_at=starts_at,
        ends_at=ends_at or spec.ends_at,
        created_by=created_by,
        comment=spec.comment,
        state=state,
    )


def test_the_wanted_silence_lasts_until_the_end_of_the_mode() -> None:
    spec = wanted_silence(OWNER, ALERTS, ["saturday-a", "saturday-b"], UNTIL, NOW)
    assert spec == SilenceSpec(
        owner=OWNER,
        matchers=DEFAULT_SILENCE_MATCHERS,
        starts_at=NOW,
        ends_at=UNTIL,
        comment=(
            "wedding-day mode of PlatformScaling shop/platform for saturday-a, saturday-b "
            "until 2027-06-05T23:00:00Z; managed by wedsync-operator, do not edit "
            "[wedsync.io/policy=shop/platform]"
        ),
    )


@pytest.mark.parametrize("until", [NOW, NOW - timedelta(minutes=1)])
def test_no_silence_is_wanted_once_the_mode_window_has_ended(until: datetime) -> None:
    assert wanted_silence(OWNER, ALERTS, [], until, NOW) is None


def test_the_payload_is_an_alertmanager_v2_postable_silence() -> None:
    alerts = SilenceAlerts(
        "http://am",
        (Matcher("severity", "critical", is_equal=False), Matcher("team", "web|api", True)),
    )
    spec = wanted_silence(OWNER, alerts, [], UNTIL, NOW)
    assert spec is not None
    assert silence_payload(spec) == {
        "matchers": [
            {"name": "severity", "value": "critical", "isRegex": False, "isEqual": False},
            {"name": "team", "value": "web|api", "isRegex": True, "isEqual": True},
        ],
        "startsAt": "2027-06-05T08:00:00Z",
        "endsAt": "2027-06-05T23:00:00Z",
        "createdBy": "wedsync-operator",
        "comment": spec.comment,
    }


@pytest.mark.parametrize(
    ("silence", "ours"),
    [
        (existing(wanted()), True),
        (existing(wanted(), created_by="alice"), False),  # a person's silence, same text
        (existing(wanted(OTHER)), False),  # another policy's
    ],
    ids=["ours", "someone else's", "another policy's"],
)
def test_ours_means_made_by_the_operator_for_this_policy(silence: Silence, ours: bool) -> None:
    assert is_ours(silence, OWNER) is ours


def test_the_marker_does_not_match_a_policy_whose_name_extends_ours() -> None:
    longer = existing(wanted(SilenceOwner("shop", "platform-2")))
    assert not is_ours(longer, OWNER)


# ------------------------------------------------------------------------- the plan

PLAN_CASES = [
    # (case, existing, wanted, create?, expired ids, kept ids)
    ("first visit", [], [wanted()], True, [], []),
    ("restart: already there", [existing(wanted())], [wanted()], False, [], ["s-1"]),
    (
        "restart: pending (starts later) counts",
        [existing(wanted(), state="pending")],
        [wanted()],
        False,
        [],
        ["s-1"],
    ),
    (
        "Alertmanager's milliseconds do not make it different",
        [existing(wanted(), ends_at=UNTIL + timedelta(milliseconds=400))],
        [wanted()],
        False,
        [],
        ["s-1"],
    ),
    (
        "an expired one of ours is ignored",
        [existing(wanted(), state="expired")],
        [wanted()],
        True,
        [],
        [],
    ),
    (
        "the mode's end moved: replace",
        [existing(wanted(), ends_at=UNTIL - timedelta(hours=2))],
        [wanted()],
        True,
        ["s-1"],
        [],
    ),
    (
        "the matchers changed: replace",
        [existing(wanted(), matchers=(Matcher("severity", "warning"),))],
        [wanted()],
        True,
        ["s-1"],
        [],
    ),
    ("mode ended early: expire ours", [existing(wanted())], [], False, ["s-1"], []),
    (
        "mode off: an expired one needs nothing",
        [existing(wanted(), state="expired")],
        [],
        False,
        [],
        [],
    ),
    (
        "never touch someone else's",
        [existing(wanted(), created_by="alice"), existing(wanted(OTHER), "s-2")],
        [],
        False,
        [],
        [],
    ),
    (
        "duplicates left by a crash: keep the oldest, expire the rest",
        [
            existing(wanted(), "s-new", starts_at=NOW + timedelta(seconds=5)),
            existing(wanted(), "s-old"),
        ],
        [wanted()],
        False,
        ["s-new"],
        ["s-old"],
    ),
]


@pytest.mark.parametrize(
    ("have", "want", "creates", "expired", "kept"),
    [case[1:] for case in PLAN_CASES],
    ids=[case[0] for case in PLAN_CASES],
)
def test_the_plan_makes_exactly_the_wanted_silences_live(
    have: list[Silence],
    want: list[SilenceSpec],
    creates: bool,
    expired: list[str],
    kept: list[str],
) -> None:
    plan = plan_silences(have, want, OWNER)
    assert list(plan.create) == (want if creates else [])
    assert [s.id for s in plan.expire] == expired
    assert [s.id for s in plan.keep] == kept
    assert plan.empty is (not creates and not expired)
    # The parts agree with the plan.
    assert silences_to_create(have, want) == list(plan.create)
    assert silences_to_expire(have, want, OWNER) == list(plan.expire)


def test_a_plan_applied_once_needs_nothing_the_second_time() -> None:
    spec = wanted()
    first = plan_silences([], [spec], OWNER)
    applied = [existing(s, f"id-{i}") for i, s in enumerate(first.create)]
    assert plan_silences(applied, [spec], OWNER).empty


def test_a_plan_refuses_silences_of_another_owner() -> None:
    with pytest.raises(ValueError, match="owner"):
        plan_silences([], [replace(wanted(), owner=OTHER)], OWNER)
