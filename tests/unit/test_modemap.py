"""A mode ConfigMap shared by several policies: each writes its own key set, and the
unprefixed keys merge them, so no policy's switch overwrites another's mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wedsync_operator.engine.mode import NORMAL_MODE, Mode, ModeResolution
from wedsync_operator.engine.modemap import forgotten_keys, merged_view, policy_keys

T0 = datetime(2027, 6, 12, 11, 0, tzinfo=UTC)


def on(
    since: datetime, until: datetime, day: str, reason: str = "WeddingDayActive"
) -> ModeResolution:
    return ModeResolution(
        mode=Mode.WEDDING_DAY,
        active_days=(day,),
        since=since,
        until=until,
        load_factor=1.0,
        reason=reason,
        message="",
    )


def test_a_policy_writes_only_keys_prefixed_with_its_name() -> None:
    keys = policy_keys("platform", on(T0, T0 + timedelta(hours=2), "smith"), 4)

    assert keys == {
        "platform.mode": "WeddingDay",
        "platform.since": "2027-06-12T11:00:00Z",
        "platform.until": "2027-06-12T13:00:00Z",
        "platform.reason": "WeddingDayActive",
        "platform.activeWeddingDays": "smith",
        "platform.cacheTtlMultiplier": "4",
    }
    assert policy_keys("platform", NORMAL_MODE, 4)["platform.cacheTtlMultiplier"] == "1"


def test_one_policy_in_the_mode_holds_the_namespace_in_it_whatever_the_other_wrote_last() -> None:
    data = {
        **policy_keys(
            "couples", on(T0, T0 + timedelta(hours=2), "smith", "WeddingDayPreparing"), 4
        ),
        **policy_keys("suppliers", NORMAL_MODE, 2),
    }

    view = merged_view(data, T0 + timedelta(minutes=1))

    assert view["mode"] == "WeddingDay"
    assert view["until"] == "2027-06-12T13:00:00Z"
    assert view["reason"] == "WeddingDayPreparing"
    assert view["cacheTtlMultiplier"] == "4"
    assert view["policies"] == "couples,suppliers"


def test_policies_in_the_mode_at_once_merge_into_one_window() -> None:
    data = {
        **policy_keys("a", on(T0, T0 + timedelta(hours=2), "smith", "WeddingDayPreparing"), 2),
        **policy_keys("b", on(T0 - timedelta(hours=1), T0 + timedelta(hours=1), "jones"), 6),
    }

    view = merged_view(data, T0)

    assert (view["since"], view["until"]) == ("2027-06-12T10:00:00Z", "2027-06-12T13:00:00Z")
    assert view["activeWeddingDays"] == "jones,smith"
    assert view["reason"] == "WeddingDayActive"  # an active day outranks a preparing one
    assert view["cacheTtlMultiplier"] == "6"


def test_every_policy_out_of_the_mode_publishes_normal() -> None:
    data = {**policy_keys("a", NORMAL_MODE, 4), **policy_keys("b", NORMAL_MODE, 4)}

    view = merged_view(data, T0)

    assert view == {
        "mode": "Normal",
        "since": "",
        "until": "",
        "reason": "NoActiveWeddingDay",
        "activeWeddingDays": "",
        "cacheTtlMultiplier": "1",
        "policies": "a,b",
    }


def test_a_key_set_past_its_until_no_longer_holds_the_mode() -> None:
    # Its policy was deleted while in the mode, say: nobody will switch it off.
    data = policy_keys("gone", on(T0, T0 + timedelta(hours=1), "smith"), 4)

    assert merged_view(data, T0 + timedelta(minutes=59))["mode"] == "WeddingDay"
    assert merged_view(data, T0 + timedelta(hours=1))["mode"] == "Normal"


def test_dotted_policy_names_and_foreign_keys_are_read_right() -> None:
    data = {
        **policy_keys("web.v2", on(T0, T0 + timedelta(hours=1), "smith"), 3),
        "mode": "Normal",  # the merged view itself is no policy's key set
        "app.settings": "x",  # somebody else's key
    }

    view = merged_view(data, T0)

    assert view["mode"] == "WeddingDay"
    assert view["policies"] == "web.v2"


def test_a_deleted_policy_takes_its_key_set_out_and_the_view_follows() -> None:
    data: dict[str, str | None] = {
        **policy_keys("gone", on(T0, T0 + timedelta(hours=1), "smith"), 4),
        **policy_keys("stays", NORMAL_MODE, 4),
    }
    data.update(forgotten_keys("gone"))  # the merge patch: None removes a key
    left = {k: v for k, v in data.items() if v is not None}

    assert sorted(left) == sorted(policy_keys("stays", NORMAL_MODE, 4))
    assert merged_view(left, T0)["mode"] == "Normal"
    assert merged_view(left, T0)["policies"] == "stays"
