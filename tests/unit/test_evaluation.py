"""One policy evaluation end to end against in-memory fakes of the outside world
(handlers/ports.py): what it reads, the order of its writes, what it reports. The same
paths run against the real control plane in e2e/; here each case takes milliseconds."""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest

from wedsync_operator.adapters.kube import KubeError
from wedsync_operator.adapters.kube_slots import Urgency
from wedsync_operator.adapters.prometheus import PrometheusError
from wedsync_operator.handlers import platformscaling
from wedsync_operator.handlers.ports import PostgresStore, RedisStore, Silencer
from wedsync_operator.handlers.runtime import LoopMemory, Runtime
from wedsync_operator.model import parse_wedding_day
from wedsync_operator.model.observations import Autoscaler, Refusal, Scale, Scheduling
from wedsync_operator.model.types import WeddingDay

NS = "wedsync"
LOGGER = logging.getLogger("test_evaluation")
Step = tuple[Any, ...]


class FakeCluster:
    """The API server: records every write in ``log``, in order."""

    def __init__(self, log: list[Step]) -> None:
        self.log = log
        self.config_maps: dict[str, dict[str, str]] = {}
        self.version = 0
        self.pending: dict[str, Scheduling] = {}  # label selector → its Pending pods
        self.refusals: dict[str, Refusal] = {}  # StatefulSet → its latest FailedCreate
        self.regarding: list[tuple[str, str, str]] = []  # (reason, kind, name) of each Event

    @contextlib.contextmanager
    def on_behalf_of(self, urgency: Urgency) -> Iterator[None]:
        yield

    def hurry(self, urgency: Urgency) -> None:
        pass

    async def patch_status(self, plural: str, namespace: str, name: str, status: Any) -> None:
        self.log.append(("status", copy.deepcopy(status)))

    async def list_own(self, plural: str, namespace: str, *, page: int = 500) -> list[Any]:
        return []

    async def create_event(
        self,
        namespace: str,
        name: str,
        involved: dict[str, str],
        *,
        type_: str,
        reason: str,
        message: str,
        component: str,
    ) -> None:
        self.log.append(("event", reason, message))
        self.regarding.append((reason, involved["kind"], involved["name"]))

    async def pod_scheduling(self, namespace: str, selector: str) -> Scheduling:
        return self.pending.get(selector, Scheduling(pending=0))

    async def statefulset_refusal(self, namespace: str, name: str) -> Refusal | None:
        return self.refusals.get(name)

    def _config_map(self, name: str, data: Mapping[str, str | None]) -> Any:
        held = self.config_maps.setdefault(name, {})
        for k, v in data.items():
            if v is None:
                held.pop(k, None)
            else:
                held[k] = v
        self.version += 1
        return {"metadata": {"resourceVersion": str(self.version)}, "data": dict(held)}

    async def apply_config_map(
        self,
        namespace: str,
        name: str,
        data: dict[str, str | None],
        labels: dict[str, str],
        *,
        create: bool = True,
    ) -> Any:
        return self._config_map(name, data)

    async def patch_config_map_at(
        self, namespace: str, name: str, data: dict[str, str | None], resource_version: str
    ) -> Any:
        return self._config_map(name, data)

    async def secret_value(self, namespace: str, name: str, key: str) -> str:
        raise KubeError("NotFound", f"secrets {name!r} not found", 404)

    async def get_scaled_object(self, namespace: str, name: str) -> Any:
        raise KubeError("NotFound", f"scaledobjects {name!r} not found", 404)

    async def patch_autoscaler_min(
        self, scaler: Autoscaler, namespace: str, value: int | None, annotation: Any
    ) -> Any:
        raise AssertionError("no autoscaler in these cases")

    async def autoscalers(self, namespace: str) -> list[Autoscaler]:
        return []


class FakeTargets:
    """Targets' replicas; a patch is recorded in the shared log and changes the count."""

    def __init__(self, log: list[Step], replicas: dict[str, int]) -> None:
        self.log = log
        self.replicas = replicas
        self.refuse: set[str] = set()
        self.available: dict[str, int] = {}  # as the watch reports; else all of them

    async def scale(self, api_version: str, kind: str, namespace: str, name: str) -> Scale:
        if name not in self.replicas:
            raise KubeError("NotFound", f"{kind.lower()}s {name!r} not found", 404)
        count = self.replicas[name]
        return Scale(
            count,
            count,
            ready_replicas=self.available.get(name, count),
            selector=f"app={name}",
        )

    async def set_replicas(
        self, api_version: str, kind: str, namespace: str, name: str, replicas: int
    ) -> None:
        if name in self.refuse:
            raise KubeError("Forbidden", f"cannot patch {name}", 403)
        self.log.append(("scale", name, replicas))
        self.replicas[name] = replicas

    async def autoscalers(self, namespace: str) -> list[Autoscaler]:
        return []

    def record_autoscaler(self, namespace: str, body: Any) -> None:
        pass


class FakeMetrics:
    """Prometheus: each query's value, or an outage for all of them."""

    def __init__(self, values: dict[str, float]) -> None:
        self.values = values
        self.down = False

    async def query_many(
        self, queries: Mapping[str, str]
    ) -> dict[str, float | PrometheusError | None]:
        if self.down:
            error = PrometheusError("PrometheusUnreachable", "connection refused")
            return dict.fromkeys(queries, error)
        return {name: self.values.get(query) for name, query in queries.items()}


class NoDataStores:
    def redis_link(self, url: str) -> RedisStore:
        raise AssertionError("these policies use no Redis")

    async def postgres_link(self, dsn: str) -> PostgresStore:
        raise AssertionError("these policies use no Postgres")


def no_silencer(url: str, *, timeout: float) -> Silencer:
    raise AssertionError("these policies silence nothing")


class World:
    def __init__(self, replicas: dict[str, int], values: dict[str, float]) -> None:
        self.log: list[Step] = []
        self.cluster = FakeCluster(self.log)
        self.targets = FakeTargets(self.log, replicas)
        self.metrics = FakeMetrics(values)
        self.runtime = Runtime(
            kube=self.cluster,
            datastores=NoDataStores(),
            targets=self.targets,
            metrics_sources=lambda url, *, timeout, bearer_token: self.metrics,
            silencers=no_silencer,
        )
        self.memory = LoopMemory()

    async def evaluate(self, body: dict[str, Any], days: Sequence[WeddingDay] = ()) -> float:
        return await platformscaling.evaluate(
            self.runtime, kopf.Body(body), list(days), self.memory, LOGGER
        )

    def steps(self, kind: str) -> list[Step]:
        return [s for s in self.log if s[0] == kind]

    def last_status(self) -> dict[str, Any]:
        return dict(self.steps("status")[-1][1])


def policy(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "PlatformScaling",
        "metadata": {
            "name": "platform",
            "namespace": NS,
            "uid": "uid-1",
            "generation": 1,
            "labels": {"policy": "platform"},
        },
        "spec": {
            "targets": [
                {
                    "kind": "StatefulSet",
                    "apiVersion": "apps/v1",
                    "name": "db",
                    "role": "database",
                    "minReplicas": 1,
                    "maxReplicas": 4,
                    "weddingDay": {"minReplicas": 2},
                },
                {
                    "kind": "StatefulSet",
                    "apiVersion": "apps/v1",
                    "name": "cache",
                    "role": "cache",
                    "minReplicas": 1,
                    "maxReplicas": 5,
                    "weddingDay": {"minReplicas": 3},
                },
                {"kind": "Deployment", "name": "web", "minReplicas": 2, "maxReplicas": 20},
            ],
            "metrics": [
                {
                    "name": "rps",
                    "query": "sum(rate(http_requests_total[1m]))",
                    "target": {"type": "AverageValue", "value": "100"},
                    "targets": ["web"],
                }
            ],
            "prometheus": {"url": "http://prometheus.monitoring:9090"},
            **spec,
        },
    }


def day_now(hours_from_now: float) -> WeddingDay:
    start = datetime.now(UTC) + timedelta(hours=hours_from_now)
    return parse_wedding_day(
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "saturday", "namespace": NS, "uid": "day-1", "generation": 1},
            "spec": {
                "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": (start + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "leadTime": "2h",
                "policySelector": {"matchLabels": {"policy": "platform"}},
            },
        }
    )


def condition(status: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


QUERY = "sum(rate(http_requests_total[1m]))"


async def test_a_metric_above_its_target_scales_with_the_intent_written_before_the_patch() -> None:
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 600.0})

    interval = await world.evaluate(policy())

    assert interval == 30.0
    assert world.targets.replicas == {"db": 1, "cache": 1, "web": 6}
    first_scale = world.log.index(("scale", "web", 6))
    intent = [s for s in world.log[:first_scale] if s[0] == "status"]
    assert intent, "the intent must be in status before the patch"
    [web] = [t for t in intent[-1][1]["targets"] if t["name"] == "web"]
    assert web["pendingScale"]["to"] == 6
    assert any(s[:2] == ("event", "ScaledUp") for s in world.log[first_scale:])
    status = world.last_status()
    assert condition(status, "Ready")["status"] == "True"
    assert condition(status, "MetricsAvailable")["status"] == "True"


async def test_a_second_evaluation_at_the_same_load_patches_nothing() -> None:
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 600.0})
    await world.evaluate(policy())
    world.log.clear()

    await world.evaluate(policy())

    assert world.steps("scale") == []
    assert world.steps("event") == []


async def prescale(world: World, day: WeddingDay) -> None:
    """Evaluate until the pre-scale's tiers have all stepped (one each, in turn)."""
    for _ in range(3):
        await world.evaluate(policy(), [day])


def reasons(status: Mapping[str, Any]) -> dict[str, str]:
    return {t["name"]: t["reason"] for t in status["targets"]}


async def test_the_mode_scales_database_then_cache_then_app_each_when_the_one_before_is_ready() -> (
    None
):
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 200.0})
    day = day_now(hours_from_now=1)

    interval = await world.evaluate(policy(), [day])

    assert interval == 10.0
    assert [s[1:] for s in world.steps("scale")] == [("db", 2)]
    status = world.last_status()
    assert reasons(status) == {
        "db": "WeddingDayFloor",
        "cache": "WaitingForTier",
        "web": "WaitingForTier",
    }
    assert status["tierSequence"]["waitingFor"] == {
        "role": "database",
        "message": "db: scaling 1 → 2",
    }
    assert world.cluster.config_maps["wedsync-mode"]["platform.mode"] == "WeddingDay"
    assert condition(status, "WeddingDayMode")["status"] == "True"

    # The database's replicas are available (the fake's are at once): the cache goes next.
    await world.evaluate(policy(), [day])
    assert [s[1:] for s in world.steps("scale")] == [("db", 2), ("cache", 3)]
    assert world.last_status()["tierSequence"]["waitingFor"]["role"] == "cache"

    await world.evaluate(policy(), [day])
    # +20% capacity on the day over what the metric asks for (2 replicas).
    assert [s[1:] for s in world.steps("scale")] == [("db", 2), ("cache", 3), ("web", 3)]

    await world.evaluate(policy(), [day])
    assert world.last_status()["tierSequence"] is None  # every tier is ready


async def test_a_tier_whose_replicas_are_not_available_holds_the_next_until_its_timeout() -> None:
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 200.0})
    day = day_now(hours_from_now=1)
    await world.evaluate(policy(), [day])  # db 1 → 2
    world.targets.available["db"] = 1

    await world.evaluate(policy(), [day])

    assert [s[1:] for s in world.steps("scale")] == [("db", 2)]
    waiting = world.last_status()["tierSequence"]["waitingFor"]
    assert waiting == {"role": "database", "message": "db: 1 of 2 replicas available"}
    assert world.runtime.awaiting[("ps", NS, "platform")] == ((NS, "db"),)

    # Past tierReadyTimeout (10m) after its scale-up the others go ahead, and say why.
    status = world.last_status()
    [db] = [t for t in status["targets"] if t["name"] == "db"]
    db["lastScaleTime"] = (datetime.now(UTC) - timedelta(minutes=11)).strftime("%Y-%m-%dT%H:%M:%SZ")
    world.memory.wrote(status)
    await world.evaluate(policy(), [day])

    assert [s[1:] for s in world.steps("scale")] == [("db", 2), ("cache", 3)]
    [late] = world.last_status()["tierSequence"]["late"]
    assert late == {
        "role": "database",
        "message": "db: 1 of 2 replicas available, 10m after its scale-up: the next tiers go ahead",
    }
    assert [s[1] for s in world.steps("event") if s[1] == "TierNotReady"] == ["TierNotReady"]
    await world.evaluate(policy(), [day])  # still late: said once
    assert [s[1] for s in world.steps("event") if s[1] == "TierNotReady"] == ["TierNotReady"]


async def test_a_tier_wait_wakes_the_policy_at_its_timeout_sooner_than_the_tick() -> None:
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 200.0})
    spec = policy(
        interval={"normal": "1h", "weddingDay": "1h"}, weddingDay={"tierReadyTimeout": "5s"}
    )

    interval = await world.evaluate(spec, [day_now(hours_from_now=1)])

    assert interval <= 5.0


async def test_a_prometheus_outage_holds_every_target_and_says_why() -> None:
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 600.0})
    world.metrics.down = True

    await world.evaluate(policy())

    assert world.steps("scale") == []
    available = condition(world.last_status(), "MetricsAvailable")
    assert (available["status"], available["reason"]) == ("False", "PrometheusUnreachable")
    assert world.last_status()["consecutiveFailures"] == 1


async def test_a_missing_target_is_reported_by_name_and_the_others_still_scale() -> None:
    world = World({"db": 1, "cache": 1}, {QUERY: 600.0})

    await world.evaluate(policy())

    ready = condition(world.last_status(), "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "TargetUnavailable")
    assert "web" in ready["message"]
    assert world.targets.replicas == {"db": 1, "cache": 1}


@pytest.mark.parametrize("bad", [{"interval": {"normal": "soon"}}, {"targets": []}])
async def test_an_invalid_spec_reports_the_field_and_touches_no_target(
    bad: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    posted: list[str] = []
    monkeypatch.setattr(kopf, "event", lambda *a, reason, **k: posted.append(reason))
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 600.0})

    await world.evaluate(policy(**bad))

    assert world.steps("scale") == []
    ready = condition(world.last_status(), "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec." in ready["message"]
    assert posted == ["InvalidSpec"]


UNSCHEDULABLE = "0/2 nodes are available: 2 Insufficient cpu."


async def test_in_the_mode_pods_the_scheduler_cannot_place_are_named_and_other_tiers_scale() -> (
    None
):
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 200.0})
    await prescale(world, day_now(hours_from_now=1))
    world.targets.available["web"] = 2
    world.cluster.pending["app=web"] = Scheduling(pending=1, unschedulable=UNSCHEDULABLE)

    await world.evaluate(policy(), [day_now(hours_from_now=1)])

    assert world.targets.replicas == {"db": 2, "cache": 3, "web": 3}
    ready = condition(world.last_status(), "WeddingDayReady")
    assert ready["status"] == "False"
    assert ready["reason"] == "PodsPending"
    assert ready["message"] == f"web: 2 of 3 replicas available, 1 pod Pending ({UNSCHEDULABLE})"


async def test_after_the_first_step_every_tier_is_short_and_named_in_tier_order() -> None:
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 200.0})

    await world.evaluate(policy(), [day_now(hours_from_now=1)])

    ready = condition(world.last_status(), "WeddingDayReady")
    assert ready["reason"] == "ReplicasNotReady"
    assert ready["message"] == (
        "db: 1 of 2 replicas available; cache: asks for 1 replicas, its floor is 3; "
        "web: asks for 2 replicas, its floor is 3"
    )


async def test_a_policy_whose_targets_are_all_available_is_ready_for_the_day() -> None:
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 200.0})
    await prescale(world, day_now(hours_from_now=1))

    await world.evaluate(policy(), [day_now(hours_from_now=1)])

    ready = condition(world.last_status(), "WeddingDayReady")
    assert (ready["status"], ready["reason"]) == ("True", "CapacityReady")


async def test_outside_the_mode_readiness_is_unknown() -> None:
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 200.0})

    await world.evaluate(policy())

    ready = condition(world.last_status(), "WeddingDayReady")
    assert (ready["status"], ready["reason"]) == ("Unknown", "NotInWeddingDayMode")
    assert world.last_status()["readinessDeadlines"] is None


def deadline_warnings(world: World) -> list[tuple[str, str]]:
    return [(k, n) for reason, k, n in world.cluster.regarding if reason == "NotReadyAtDeadline"]


async def test_a_day_not_ready_at_its_deadline_is_warned_once_on_the_policy_and_the_day() -> None:
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 200.0})
    await prescale(world, day_now(hours_from_now=1))
    world.targets.available["cache"] = 1
    day = day_now(hours_from_now=0.25)  # the 30m deadline passed a quarter of an hour ago

    await world.evaluate(policy(), [day])
    await world.evaluate(policy(), [day])

    assert deadline_warnings(world) == [("PlatformScaling", "platform"), ("WeddingDay", "saturday")]
    [deadline] = world.last_status()["readinessDeadlines"]
    assert deadline["day"] == "saturday" and deadline["warned"] is True
    [message] = {s[2] for s in world.steps("event") if s[1] == "NotReadyAtDeadline"}
    assert message.startswith("WeddingDay saturday is not ready at its readiness deadline (")
    assert message.endswith(
        ", 30m before the start) for PlatformScaling platform: cache: 1 of 3 replicas available"
    )


async def test_a_day_ready_at_its_deadline_gets_no_warning() -> None:
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 200.0})
    await prescale(world, day_now(hours_from_now=1))

    await world.evaluate(policy(), [day_now(hours_from_now=0.25)])

    assert deadline_warnings(world) == []
    [deadline] = world.last_status()["readinessDeadlines"]
    assert deadline["warned"] is False


async def test_the_evaluation_wakes_at_a_deadline_sooner_than_its_interval() -> None:
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 200.0})
    day = day_now(hours_from_now=0.5 + 4 / 3600)  # its deadline in 4 s

    interval = await world.evaluate(policy(), [day])

    assert interval <= 4.0  # not the 10 s of the mode


async def test_a_late_day_is_judged_by_the_evaluation_after_its_prescale_not_by_the_prescale() -> (
    None
):
    world = World({"db": 1, "cache": 1, "web": 2}, {QUERY: 200.0})
    day = day_now(hours_from_now=0.25)  # applied after its deadline
    world.targets.available["web"] = 2  # web's third replica will not come

    await prescale(world, day)  # raises a tier each time: the new replicas cannot be ready
    assert deadline_warnings(world) == []

    await world.evaluate(policy(), [day])
    assert deadline_warnings(world) == [("PlatformScaling", "platform"), ("WeddingDay", "saturday")]
