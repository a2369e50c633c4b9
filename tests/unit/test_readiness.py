"""The day-ready gate (engine/readiness.py): which shortfall names the condition, what
its message says, and when a deadline's Warning is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wedsync_operator.engine.readiness import (
    Cause,
    Deadline,
    TargetReadiness,
    Verdict,
    condition_unseen,
    day_condition,
    deadlines,
    needs_scheduling,
    needs_sync_check,
    next_deadline,
    readiness,
    warming_shortfall,
    warnings_due,
)
from wedsync_operator.engine.replicas import GateVerdict
from wedsync_operator.handlers.runtime import ReadinessReports
from wedsync_operator.model.observations import Refusal, Scale, Scheduling
from wedsync_operator.model.status import (
    StoredCondition,
    StoredDeadline,
    WarmingStatus,
    parse_conditions,
)
from wedsync_operator.model.types import (
    CacheWarming,
    ObjectMeta,
    PlatformScaling,
    RedisSafety,
    Role,
    Safety,
    SecretKeyRef,
    WallTime,
    WeddingDay,
    WeddingDayPolicy,
)

T0 = datetime(2027, 6, 12, 10, 0, tzinfo=UTC)
REF = SecretKeyRef(name="redis", key="url")


def scale(replicas: int, available: int | None, **kw: str) -> Scale:
    return Scale(replicas, replicas, ready_replicas=available, selector="app=x", **kw)


def target(name: str, role: Role, floor: int, s: Scale | str, **kw: object) -> TargetReadiness:
    return TargetReadiness(name, role, floor, s, **kw)  # type: ignore[arg-type]


def spec(**kw: object) -> PlatformScaling:
    return PlatformScaling(
        meta=ObjectMeta(namespace="weddings", name="platform"),
        targets=(),
        metrics=(),
        prometheus=None,
        **kw,  # type: ignore[arg-type]
    )


def test_the_first_shortfall_in_tier_order_names_the_condition_and_all_are_listed() -> None:
    found = readiness(
        [
            target("web", Role.APP, 6, scale(6, 4)),
            target("db", Role.DATABASE, 3, scale(3, 2)),
        ],
        None,
    )

    cond = found.condition(4)
    assert (cond["status"], cond["reason"]) == ("False", "ReplicasNotReady")
    assert cond["message"] == "db: 2 of 3 replicas available; web: 4 of 6 replicas available"
    assert cond["observedGeneration"] == 4


def test_pending_pods_are_named_with_the_schedulers_reason() -> None:
    pending = Scheduling(pending=2, unschedulable="0/1 nodes are available: 1 Insufficient cpu.")
    found = readiness([target("web", Role.APP, 6, scale(6, 4), scheduling=pending)], None)

    assert found.reason == Cause.PODS_PENDING
    assert found.message == (
        "web: 4 of 6 replicas available, 2 pods Pending "
        "(0/1 nodes are available: 1 Insufficient cpu.)"
    )


def test_a_quota_that_refused_pods_says_so() -> None:
    refused = 'pods "web-1" is forbidden: exceeded quota: compute, requested: cpu=1'
    found = readiness([target("web", Role.APP, 6, scale(6, 4, failure=refused))], None)

    assert found.reason == Cause.QUOTA_EXCEEDED
    assert found.message == f"web: 4 of 6 replicas available, {refused}"


def test_a_statefulset_refused_by_a_quota_since_its_scale_up_says_so() -> None:
    refused = Refusal(
        'create Pod db-1 in StatefulSet db failed error: pods "db-1" is forbidden: '
        "exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2",
        T0 + timedelta(seconds=3),
    )
    found = readiness(
        [target("db", Role.DATABASE, 2, scale(2, 1), refusal=refused, scaled_at=T0)], None
    )

    assert found.reason == Cause.QUOTA_EXCEEDED
    assert found.message == f"db: 1 of 2 replicas available, {refused.message}"


def test_a_refusal_from_before_the_scale_up_is_not_why_a_statefulset_is_short() -> None:
    old = Refusal('pods "db-1" is forbidden: exceeded quota: pods', T0 - timedelta(minutes=5))
    found = readiness(
        [target("db", Role.DATABASE, 2, scale(2, 1), refusal=old, scaled_at=T0)], None
    )

    assert found.reason == Cause.REPLICAS_NOT_READY
    assert found.message == "db: 1 of 2 replicas available"


def test_a_refusal_other_than_a_quota_is_named_as_not_ready() -> None:
    denied = Refusal('pods "db-1" is forbidden: violates PodSecurity "restricted"', T0)
    found = readiness(
        [target("db", Role.DATABASE, 2, scale(2, 1), refusal=denied, scaled_at=T0)], None
    )

    assert found.reason == Cause.REPLICAS_NOT_READY
    assert found.message == f"db: 1 of 2 replicas available, {denied.message}"


def test_a_spec_below_the_floor_or_an_unreadable_target_is_not_ready() -> None:
    found = readiness(
        [
            target("web", Role.APP, 6, scale(4, 4)),
            target("api", Role.APP, 2, 'deployments.apps "api" not found'),
        ],
        None,
    )

    assert found.message == (
        "web: asks for 4 replicas, its floor is 6; api: could not be read "
        '(deployments.apps "api" not found)'
    )


def test_a_stateful_tier_with_all_pods_is_ready_only_when_its_check_passes() -> None:
    lagging = GateVerdict(False, "ReplicaLagging", "redis-1 trails the primary by 5 MiB")
    cache = target("cache", Role.CACHE, 3, scale(3, 3), sync=lagging)
    policy = spec(safety=Safety(redis=RedisSafety(secret=REF)))

    assert needs_sync_check(target("cache", Role.CACHE, 3, scale(3, 3)), policy)
    assert not needs_sync_check(target("cache", Role.CACHE, 3, scale(3, 2)), policy)
    assert not needs_sync_check(target("cache", Role.CACHE, 3, scale(3, 3)), spec())
    found = readiness([cache], None)
    assert found.reason == Cause.REPLICA_LAGGING
    assert found.message == "cache: redis-1 trails the primary by 5 MiB"


def test_pods_are_asked_about_only_for_a_target_short_of_available_replicas() -> None:
    assert needs_scheduling(target("web", Role.APP, 6, scale(6, 4)))
    assert not needs_scheduling(target("web", Role.APP, 6, scale(6, 6)))
    # A kind read only through /scale: what exists counts, and its pods cannot be found.
    assert not needs_scheduling(target("pg", Role.DATABASE, 2, Scale(2, 2)))
    assert readiness([target("pg", Role.DATABASE, 2, Scale(2, 2))], None).ready


def test_warming_must_have_completed_where_it_applies() -> None:
    warming = CacheWarming(enabled=True, redis=REF, postgres=REF)
    policy = spec(wedding_day=WeddingDayPolicy(cache_warming=warming))
    failed = WarmingStatus(complete=False, message="Redis refused the connection")

    short = warming_shortfall(policy, ["c-1"], failed)

    assert short is not None and short.cause == Cause.WARMING_INCOMPLETE
    assert readiness([], short).message == "cache warming: Redis refused the connection"
    assert warming_shortfall(policy, ["c-1"], WarmingStatus(complete=True)) is None
    assert warming_shortfall(policy, None, None) is None  # no day prepares
    assert warming_shortfall(spec(), ["c-1"], None) is None  # not configured


def day(name: str, start: str) -> WeddingDay:
    return WeddingDay(
        meta=ObjectMeta(namespace="weddings", name=name),
        start=WallTime(datetime.fromisoformat(start), absolute=True),
        end=WallTime(datetime(2027, 6, 12, 23, 0, tzinfo=UTC), absolute=True),
        time_zone=None,
    )


def test_each_active_day_has_its_deadline_and_keeps_its_warning() -> None:
    days = [day("early", "2027-06-12T11:00:00+00:00"), day("late", "2027-06-12T14:00:00+00:00")]
    found = deadlines(spec(), days, ["early", "late"], [StoredDeadline("early", T0, warned=True)])

    assert found == [
        Deadline("early", T0 + timedelta(minutes=30), warned=True),
        Deadline("late", T0 + timedelta(hours=3, minutes=30)),
    ]
    assert deadlines(spec(), days, ["late"], ()) == found[1:]


def test_a_warning_is_due_once_the_deadline_came_without_readiness() -> None:
    days = [Deadline("a", T0), Deadline("b", T0 + timedelta(hours=1)), Deadline("c", T0, True)]
    short = readiness([target("web", Role.APP, 2, scale(2, 1))], None)

    assert warnings_due(short, days, T0) == [Deadline("a", T0)]
    assert warnings_due(readiness([], None), days, T0) == []
    assert next_deadline(days, T0) == T0 + timedelta(hours=1)


SHORT = Verdict(False, "PodsPending", "heavy: 0 of 2 replicas available, 2 pods Pending")
READY = Verdict(True, "CapacityReady", "every target is at its floor")


def stored(status: str) -> tuple[StoredCondition, ...]:
    return parse_conditions([{"type": "WeddingDayReady", "status": status, "reason": "r"}])


def test_a_day_is_ready_when_every_policy_holding_it_is_and_names_those_that_are_not() -> None:
    ready = day_condition(True, {"fits": READY, "other": READY}, (), 3)
    short = day_condition(True, {"fits": READY, "short": SHORT}, (), 3)

    assert ready is not None and short is not None
    assert (ready["status"], ready["message"]) == ("True", "ready for PlatformScaling fits, other")
    assert (short["status"], short["reason"]) == ("False", "PodsPending")
    assert short["message"] == f"PlatformScaling short: {SHORT.message}"


def test_a_day_keeps_its_stored_readiness_until_a_policy_reports_and_has_none_before_its_mode() -> (
    None
):
    assert day_condition(True, {}, stored("True"), 1) is None  # just after a restart
    assert day_condition(False, {}, (), 1) is None  # never in the mode: no condition
    left = day_condition(False, {}, stored("True"), 1)
    assert left is not None and (left["status"], left["reason"]) == (
        "Unknown",
        "NotInWeddingDayMode",
    )
    assert not condition_unseen(stored("Unknown"), {**left, "reason": "r", "message": None})
    assert condition_unseen(stored("True"), left)
    assert not condition_unseen(stored("True"), None)


def test_verdicts_change_only_the_days_they_concern() -> None:
    reports = ReadinessReports()

    assert reports.report("ns", "platform", ["sat", "sun"], SHORT) == ["sat", "sun"]
    assert reports.report("ns", "platform", ["sat", "sun"], SHORT) == []  # nothing new
    assert reports.report("ns", "other", ["sat"], READY) == ["sat"]
    assert reports.report("ns", "platform", ["sun"], READY) == ["sat", "sun"]  # sat let go
    assert reports.of_day("ns", "sat") == {"other": READY}
    assert reports.report("ns", "platform", (), None) == ["sun"]  # out of the mode
    assert reports.of_day("ns", "sun") == {}
