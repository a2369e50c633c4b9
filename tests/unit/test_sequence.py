"""The pre-scale tier by tier (engine/sequence.py): which scale-ups wait, for which tier,
until when; and which stateful targets must pass their safety check first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wedsync_operator.engine.mode import NORMAL_MODE, Mode, ModeResolution
from wedsync_operator.engine.replicas import GateVerdict, Reason, TargetState, decide
from wedsync_operator.engine.sequence import awaiting_sync, sequence
from wedsync_operator.model import parse_platform_scaling
from wedsync_operator.model.observations import Scale
from wedsync_operator.model.status import PolicyStatus
from wedsync_operator.model.types import PlatformScaling

T0 = datetime(2027, 6, 12, 11, 0, tzinfo=UTC)
MODE = ModeResolution(
    mode=Mode.WEDDING_DAY,
    active_days=("saturday",),
    since=T0 - timedelta(minutes=5),
    until=T0 + timedelta(hours=10),
    load_factor=1.0,
    reason="WeddingDayPreparing",
    message="wedding-day mode",
)


def target(name: str, role: str, floor: int) -> dict[str, Any]:
    kind = "Deployment" if role == "app" else "StatefulSet"
    return {
        "kind": kind,
        "apiVersion": "apps/v1",
        "name": name,
        "role": role,
        "minReplicas": 1,
        "maxReplicas": 10,
        "weddingDay": {"minReplicas": floor},
    }


def policy(**spec: Any) -> PlatformScaling:
    return parse_platform_scaling(
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "PlatformScaling",
            "metadata": {"name": "platform", "namespace": "wedsync", "uid": "u", "generation": 1},
            "spec": {
                "targets": [
                    target("web", "app", 3),
                    target("cache", "cache", 3),
                    target("db", "database", 2),
                ],
                "metrics": [],
                # The floors are the minimums alone.
                "weddingDay": {"extraCapacityPercent": 0},
                **spec,
            },
        }
    )


def scaled(at: datetime, **counts: tuple[int, int]) -> tuple[dict[str, Scale], PolicyStatus]:
    """Targets asking for, and having available, these counts, last scaled at ``at``."""
    scales = {n: Scale(a, a, ready_replicas=r, selector=f"app={n}") for n, (a, r) in counts.items()}
    status = PolicyStatus.parse(
        {
            "targets": [
                {"name": n, "lastScaleTime": at.strftime("%Y-%m-%dT%H:%M:%SZ")} for n in counts
            ]
        }
    )
    return scales, status


def run(
    p: PlatformScaling,
    currents: dict[str, int],
    scales: dict[str, Scale],
    seen: PolicyStatus,
    mode: ModeResolution = MODE,
    now: datetime = T0,
    syncs: dict[str, GateVerdict] | None = None,
):  # type: ignore[no-untyped-def]
    states = {n: TargetState(current=c, baseline=c) for n, c in currents.items()}
    return sequence(
        p, decide(p, states, {}, mode, 0, {}, now), states, scales, seen, mode, now, syncs
    )


def test_entering_the_mode_only_the_database_steps_and_the_others_wait_for_it() -> None:
    scales, seen = scaled(T0 - timedelta(hours=1), db=(1, 1), cache=(1, 1), web=(2, 2))

    s = run(policy(), {"db": 1, "cache": 1, "web": 2}, scales, seen)

    by = {d.target: d for d in s.decision.decisions}
    assert (by["db"].desired, by["db"].reason) == (2, Reason.WEDDING_DAY_FLOOR)
    assert (by["cache"].desired, by["cache"].reason) == (1, Reason.WAITING_FOR_TIER)
    assert by["web"].message == (
        "hold web at 2: waiting for the database tier (db: scaling 1 → 2) before scaling to 3"
    )
    assert s.decision.states["web"].current == 2 and s.decision.states["web"].baseline == 2
    assert s.waiting is not None and s.watched == ("db",)
    assert s.expires == T0 + timedelta(minutes=10)
    assert not s.warming_may_start


def test_a_tier_short_of_available_replicas_holds_the_next_until_its_timeout() -> None:
    scales, seen = scaled(T0 - timedelta(minutes=4), db=(2, 1), cache=(1, 1), web=(2, 2))

    s = run(policy(), {"db": 2, "cache": 1, "web": 2}, scales, seen)
    assert s.waiting is not None and s.waiting.message == "db: 1 of 2 replicas available"
    assert s.expires == T0 + timedelta(minutes=6)

    later = T0 + timedelta(minutes=6, seconds=1)
    s = run(policy(), {"db": 2, "cache": 1, "web": 2}, scales, seen, now=later)
    by = {d.target: d.desired for d in s.decision.decisions}
    assert by["cache"] == 3  # the database is late: the cache goes ahead
    assert [t.role.value for t in s.late] == ["database"]


def test_outside_the_mode_nothing_waits() -> None:
    scales, seen = scaled(T0 - timedelta(minutes=1), db=(2, 1), cache=(1, 1), web=(2, 2))
    p = policy(metrics=[])

    s = run(p, {"db": 2, "cache": 1, "web": 2}, scales, seen, mode=NORMAL_MODE)

    assert s.waiting is None and s.late == () and s.warming_may_start


def test_a_stateful_tier_with_every_pod_waits_for_its_safety_check() -> None:
    safety = {"redis": {"secretRef": {"name": "redis"}}}
    p = policy(safety=safety)
    scales, seen = scaled(T0 - timedelta(minutes=1), db=(2, 2), cache=(3, 3), web=(2, 2))

    assert awaiting_sync(p, scales, seen, MODE) == [("cache", p.target("cache").role, 3)]
    lagging = {"cache": GateVerdict(False, "ReplicaLagging", "redis-2 is not in sync yet")}
    s = run(p, {"db": 2, "cache": 3, "web": 2}, scales, seen, syncs=lagging)
    assert s.waiting is not None and s.waiting.message == "cache: redis-2 is not in sync yet"
    assert {d.target: d.reason for d in s.decision.decisions}["web"] is Reason.WAITING_FOR_TIER
    # Raised before the mode began, or long ago: no check is waited for.
    old, seen_old = scaled(T0 - timedelta(hours=1), cache=(3, 3))
    assert awaiting_sync(p, old, seen_old, MODE) == []


def test_on_the_way_down_the_app_shrinks_first_and_the_data_tiers_wait_their_turn() -> None:
    # Above maxReplicas (10): each tier is brought down at once, were it not for the order.
    scales, seen = scaled(T0 - timedelta(hours=1), db=(12, 12), cache=(12, 12), web=(12, 12))
    currents = {"db": 12, "cache": 12, "web": 12}

    s = run(policy(), currents, scales, seen, mode=NORMAL_MODE)

    by = {d.target: d for d in s.decision.decisions}
    assert by["web"].desired == 10
    assert (by["cache"].desired, by["cache"].reason) == (12, Reason.WAITING_FOR_TIER)
    assert by["db"].message == (
        "hold db at 12: waiting for the app tier (web: scaling 12 → 10) before scaling to 10"
    )
    assert s.watched == ("web",)

    # The app asks for 10 and still counts 12 (pods going): the cache waits on.
    scales["web"] = Scale(10, 12, ready_replicas=10)
    seen = PolicyStatus.parse(
        {"targets": [{"name": "web", "lastScaleTime": "2027-06-12T10:59:50Z"}]}
    )
    s = run(policy(), {**currents, "web": 10}, scales, seen, mode=NORMAL_MODE)
    assert {d.target: d.desired for d in s.decision.decisions} == {"web": 10, "cache": 12, "db": 12}

    # Settled: the cache goes, the database waits for it.
    scales["web"] = Scale(10, 10, ready_replicas=10)
    s = run(policy(), {**currents, "web": 10}, scales, seen, mode=NORMAL_MODE)
    assert {d.target: d.desired for d in s.decision.decisions} == {"web": 10, "cache": 10, "db": 12}


def test_a_tier_that_never_finishes_shrinking_stops_holding_the_next_after_the_timeout() -> None:
    scales, _ = scaled(T0, db=(12, 12), cache=(12, 12))
    scales["web"] = Scale(10, 12, ready_replicas=10)  # a pod that never terminates
    seen = PolicyStatus.parse(
        {"targets": [{"name": "web", "lastScaleTime": "2027-06-12T10:49:00Z"}]}
    )

    s = run(policy(), {"db": 12, "cache": 12, "web": 10}, scales, seen, mode=NORMAL_MODE)

    assert {d.target: d.desired for d in s.decision.decisions}["cache"] == 10


def test_a_tier_with_nothing_behind_it_is_not_watched_and_a_dry_run_holds_nothing() -> None:
    scales, seen = scaled(T0 - timedelta(hours=1), db=(2, 2), cache=(3, 3), web=(2, 2))

    s = run(policy(), {"db": 2, "cache": 3, "web": 2}, scales, seen)  # only web rises

    assert s.waiting is not None and s.waiting.role.value == "app"
    assert (s.watched, s.expires) == ((), None)  # its next tick is soon enough

    scales, seen = scaled(T0 - timedelta(hours=1), db=(1, 1), cache=(1, 1), web=(2, 2))
    s = run(policy(dryRun=True), {"db": 1, "cache": 1, "web": 2}, scales, seen)
    assert {d.target: d.desired for d in s.decision.decisions} == {"db": 2, "cache": 3, "web": 3}
