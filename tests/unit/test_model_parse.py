"""Parsing CR dicts into the typed model: defaults as the CRD's, errors with field paths."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from wedsync_operator.model import InvalidSpec, parse_object, parse_platform_scaling
from wedsync_operator.model.durations import format_duration, parse_duration
from wedsync_operator.model.parse import parse_wedding_day
from wedsync_operator.model.types import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    MetricTargetType,
    PolicyType,
    Role,
    SelectPolicy,
)

WEDDING_DAY: dict[str, Any] = {
    "apiVersion": "wedsync.io/v1alpha1",
    "kind": "WeddingDay",
    "metadata": {"name": "smith-jones", "namespace": "wedsync", "labels": {"tier": "gold"}},
    "spec": {
        "start": "2027-06-12T14:00:00",
        "end": "2027-06-12T23:00:00",
        "timeZone": "Europe/London",
    },
}

POLICY: dict[str, Any] = {
    "apiVersion": "wedsync.io/v1alpha1",
    "kind": "PlatformScaling",
    "metadata": {"name": "platform", "namespace": "wedsync"},
    "spec": {
        "targets": [
            {"kind": "Deployment", "name": "web", "maxReplicas": 20},
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "name": "redis-replica",
                "role": "cache",
                "minReplicas": 2,
                "maxReplicas": 6,
                "weddingDay": {"minReplicas": 4},
            },
        ],
        "metrics": [
            {
                "name": "cpu",
                "query": "avg(rate(container_cpu_usage_seconds_total[1m]))",
                "target": {"type": "Utilization", "value": 80},
                "weddingDayTarget": {"value": 60},
                "targets": ["web"],
            }
        ],
        "prometheus": {"url": "http://prometheus:9090/"},
    },
}


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with the dotted ``path`` set (``None`` deletes it)."""
    obj = copy.deepcopy(base)
    node: Any = obj
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    last = keys[-1]
    if value is None:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return obj


def _errors(obj: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidSpec) as info:
        parse_object(obj)
    return [str(e) for e in info.value.errors]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("1h0m5s", timedelta(hours=1, seconds=5)),
    ],
)
def test_go_style_durations_parse_and_format_back(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["2 hours", "", "h", "1.5h", "-1h", "10d"])
def test_durations_outside_the_go_form_are_rejected_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match="write it like 90s"):
        parse_duration(text)


def test_wedding_day_gets_the_crd_defaults() -> None:
    day = parse_wedding_day(WEDDING_DAY)

    assert day.meta.name == "smith-jones"
    assert day.meta.label_dict == {"tier": "gold"}
    assert day.start.local == datetime(2027, 6, 12, 14, 0)
    assert day.start.absolute is False
    assert day.time_zone == "Europe/London"
    assert day.lead_time == timedelta(hours=2)
    assert day.wind_down == timedelta(hours=1)
    assert (day.expected_weddings, day.expected_guests, day.load_factor) == (1, 0, 1.0)
    assert day.policy_selector.empty
    assert day.cancelled is False


def test_wedding_day_with_offsets_needs_no_time_zone() -> None:
    obj = _with(WEDDING_DAY, "spec.start", "2027-06-12T14:00:00+01:00")
    obj = _with(obj, "spec.end", "2027-06-12T22:00:00Z")
    obj = _with(obj, "spec.timeZone", None)

    day = parse_wedding_day(obj)

    assert day.start.absolute and day.end.absolute
    assert day.start.local.utcoffset() == timedelta(hours=1)
    assert day.end.local.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("spec.timeZone", "Mars/Olympus_Mons", "spec.timeZone: 'Mars/Olympus_Mons' is not an IANA"),
        ("spec.timeZone", None, "spec.start: a local time needs spec.timeZone"),
        ("spec.leadTime", "2 hours", "spec.leadTime: '2 hours' is not a duration"),
        ("spec.start", "next saturday", "spec.start: 'next saturday' is not a time"),
        ("spec.end", None, "spec.end: is required"),
        ("spec.expectedWeddings", 0, "spec.expectedWeddings: must be at least 1"),
        ("spec.loadFactor", 1.5, "spec.loadFactor: must be a decimal number written as a string"),
        (
            "spec.policySelector",
            {"matchExpressions": [{"key": "tier", "operator": "Near"}]},
            "spec.policySelector.matchExpressions[0].operator: must be In, NotIn",
        ),
    ],
)
def test_invalid_wedding_day_fields_are_reported_with_their_path(
    path: str, value: Any, expected: str
) -> None:
    errors = _errors(_with(WEDDING_DAY, path, value))
    assert any(e.startswith(expected) for e in errors), errors


def test_every_problem_of_an_object_is_reported_at_once() -> None:
    obj = _with(WEDDING_DAY, "spec.leadTime", "soon")
    obj = _with(obj, "spec.windDown", "later")
    obj = _with(obj, "spec.timeZone", "Nowhere/Land")

    paths = [e.split(":")[0] for e in _errors(obj)]

    assert paths == ["spec.timeZone", "spec.leadTime", "spec.windDown"]


def test_platform_scaling_applies_hpa_behaviour_defaults_and_policy_defaults() -> None:
    policy = parse_platform_scaling(POLICY)

    web, redis = policy.targets
    assert (web.api_version, web.role, web.min_replicas, web.max_replicas) == (
        "apps/v1",
        Role.APP,
        1,
        20,
    )
    assert redis.role is Role.CACHE and redis.role.stateful
    assert redis.wedding_day.min_replicas == 4
    metric = policy.metrics[0]
    assert metric.target_type is MetricTargetType.UTILIZATION
    assert (metric.target_value, metric.wedding_day_target_value) == (80.0, 60.0)
    assert metric.applies_to("web") and not metric.applies_to("redis-replica")
    assert policy.prometheus is not None
    assert policy.prometheus.url == "http://prometheus:9090"
    assert policy.prometheus.timeout == timedelta(seconds=5)
    assert policy.interval.normal == timedelta(seconds=30)
    assert policy.interval.wedding_day == timedelta(seconds=10)
    assert policy.behavior.scale_up == DEFAULT_SCALE_UP
    assert policy.behavior.scale_down == DEFAULT_SCALE_DOWN
    assert policy.wedding_day.extra_capacity_percent == 20
    assert policy.wedding_day.freeze_scale_down is True
    assert policy.wedding_day.mode_config_map == "wedsync-mode"
    assert policy.fallback.failure_threshold == 3 and policy.fallback.replicas is None
    assert not policy.paused and not policy.dry_run


def test_behaviour_rules_given_in_the_spec_replace_the_defaults() -> None:
    obj = _with(
        POLICY,
        "spec.behavior",
        {
            "scaleDown": {
                "stabilizationWindowSeconds": 60,
                "selectPolicy": "Min",
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}],
            }
        },
    )

    behavior = parse_platform_scaling(obj).behavior

    assert behavior.scale_up == DEFAULT_SCALE_UP
    assert behavior.scale_down.stabilization_window_seconds == 60
    assert behavior.scale_down.select_policy is SelectPolicy.MIN
    assert behavior.scale_down.policies[0].type is PolicyType.PODS


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            "spec.targets.0.minReplicas",
            30,
            "spec.targets[0].minReplicas: minReplicas (30) must not exceed maxReplicas (20)",
        ),
        (
            "spec.targets.1.weddingDay",
            {"minReplicas": 9},
            "spec.targets[1].weddingDay.minReplicas: wedding-day minReplicas (9) must not exceed",
        ),
        ("spec.targets.1.name", "web", "spec.targets: target names must be unique: 'web'"),
        ("spec.targets.1.role", "queue", "spec.targets[1].role: must be app, cache or database"),
        ("spec.metrics.0.targets", ["api"], "spec.metrics[0].targets: 'api' is not a target"),
        (
            "spec.metrics.0.target",
            {"type": "Utilization", "value": "-3"},
            "spec.metrics[0].target.value: must be a positive number",
        ),
        (
            "spec.metrics.0.target",
            {"type": "Percent", "value": 5},
            "spec.metrics[0].target.type: must be Value, AverageValue or Utilization",
        ),
        (
            "spec.prometheus",
            {"url": "prometheus:9090"},
            "spec.prometheus.url: must be an http:// or https:// URL",
        ),
        ("spec.interval", {"normal": "30 s"}, "spec.interval.normal: '30 s' is not a duration"),
        (
            "spec.weddingDay",
            {"extraCapacityPercent": 5000},
            "spec.weddingDay.extraCapacityPercent: must be at most 1000",
        ),
        (
            "spec.safety",
            {"redis": {"maxOffsetLag": 10}},
            "spec.safety.redis.secretRef.name: is required",
        ),
        ("spec.targets", [], "spec.targets: needs at least one target"),
    ],
)
def test_invalid_policy_fields_are_reported_with_their_path(
    path: str, value: Any, expected: str
) -> None:
    errors = _errors(_with(POLICY, path, value))
    assert any(e.startswith(expected) for e in errors), errors


def test_an_object_of_another_api_group_is_refused() -> None:
    errors = _errors(_with(POLICY, "apiVersion", "autoscaling/v2"))
    assert errors == ["apiVersion: must be wedsync.io/v1alpha1, not 'autoscaling/v2'"]


# ------------------------------------------------------------------ bounds (issue 15)

BOUNDED_DAY_FIELDS = [
    ("spec.leadTime", "99999999999h", "spec.leadTime: must be a duration from 0s to 168h"),
    ("spec.leadTime", "169h", "spec.leadTime: must be a duration from 0s to 168h (7 days)"),
    ("spec.windDown", "99999999999h", "spec.windDown: must be a duration from 0s to 168h"),
    ("spec.windDown", "1" * 40 + "h", "spec.windDown: must be at most 32 characters"),
    ("spec.start", "1999-12-31T23:00:00", "spec.start: must be in the years 2000 to 2199"),
    ("spec.end", "9999-12-31T23:00:00Z", "spec.end: must be in the years 2000 to 2199"),
    ("spec.start", "2027-02-29T14:00:00", "spec.start: must be a date and time that exists"),
    ("spec.end", "2027-04-31T23:00:00Z", "spec.end: must be a date and time that exists"),
    ("spec.end", "2027-06-12T23:00:00\n", "spec.end: '2027-06-12T23:00:00\\n' is not a time"),
    ("spec.end", "٢٠٢٧-06-12T23:00:00", "spec.end: '٢٠٢٧-06-12T23:00:00' is not a time"),
    ("spec.leadTime", "2h\n", "spec.leadTime: '2h\\n' is not a duration"),
    ("spec.timeZone", "Europe", "spec.timeZone: 'Europe' is not an IANA time zone"),
    ("spec.timeZone", "x" * 300, "spec.timeZone: '" + "x" * 56 + "... is not an IANA"),
    ("spec.expectedGuests", 2**40, "spec.expectedGuests: must be at most 2147483647"),
    ("spec.loadFactor", "9" * 400, "spec.loadFactor: must be a decimal number"),
    ("spec.policySelector", {"matchLabels": ["a"]}, "spec.policySelector.matchLabels: must be an"),
    (
        "spec.policySelector",
        {"matchExpressions": ["tier"]},
        "spec.policySelector.matchExpressions[0]: must be an object",
    ),
    (
        "spec.policySelector",
        {"matchExpressions": [{"key": "a", "operator": "In", "values": 5}]},
        "spec.policySelector.matchExpressions[0].values: must be a list",
    ),
    ("metadata", {"name": "d", "labels": "gold", "generation": "x"}, "metadata.labels: must be"),
]


@pytest.mark.parametrize(("path", "value", "expected"), BOUNDED_DAY_FIELDS)
def test_a_wedding_day_out_of_bounds_is_refused_with_its_field_not_an_exception(
    path: str, value: Any, expected: str
) -> None:
    errors = _errors(_with(WEDDING_DAY, path, value))
    assert any(e.startswith(expected) for e in errors), errors


BOUNDED_POLICY_FIELDS = [
    ("spec.interval", {"normal": "99999999999h"}, "spec.interval.normal: must be a duration"),
    ("spec.interval", {"weddingDay": "2h"}, "spec.interval.weddingDay: must be a duration from"),
    ("spec.interval", {"normal": "999ms"}, "spec.interval.normal: must be a duration from 1s to"),
    (
        "spec.prometheus",
        {"url": "http://p:9090", "timeout": "0s"},
        "spec.prometheus.timeout: must be a duration from 100ms to 60s, not '0s'",
    ),
    (
        "spec.weddingDay",
        {"readinessDeadline": "200h"},
        "spec.weddingDay.readinessDeadline: must be a duration from 0s to 168h",
    ),
    (
        "spec.weddingDay",
        {"cacheWarming": {"ttl": "0s"}},
        "spec.weddingDay.cacheWarming.ttl: must be a duration from 1s to 720h",
    ),
    (
        "spec.safety",
        {"postgres": {"secretRef": {"name": "pg"}, "maxReplicaLag": "2h"}},
        "spec.safety.postgres.maxReplicaLag: must be a duration from 0s to 1h",
    ),
    (
        "spec.safety",
        {"redis": {"secretRef": {"name": "r"}, "timeout": "5m"}},
        "spec.safety.redis.timeout: must be a duration from 100ms to 60s",
    ),
    ("spec.targets.0.maxReplicas", 2**31, "spec.targets[0].maxReplicas: must be at most"),
    ("spec.targets.0", "web", "spec.targets[0]: must be an object"),
    ("spec.targets", "web", "spec.targets: must be a list"),
    ("spec.metrics.0", 7, "spec.metrics[0]: must be an object"),
    (
        "spec.metrics.0.target",
        {"type": "Value", "value": "1" * 33},
        "spec.metrics[0].target.value: must be a positive number",
    ),
    (
        "spec.behavior",
        {"scaleUp": {"policies": [None, "x"]}},
        "spec.behavior.scaleUp.policies[1]: must be an object",
    ),
]


@pytest.mark.parametrize(("path", "value", "expected"), BOUNDED_POLICY_FIELDS)
def test_a_policy_out_of_bounds_is_refused_with_its_field_not_an_exception(
    path: str, value: Any, expected: str
) -> None:
    errors = _errors(_with(POLICY, path, value))
    assert any(e.startswith(expected) for e in errors), errors


@pytest.mark.parametrize("spec", [None, "spec", ["a"], {"start": {"a": 1}, "end": [1]}])
def test_a_wedding_day_of_the_wrong_shape_is_refused_not_raised(spec: Any) -> None:
    with pytest.raises(InvalidSpec):
        parse_wedding_day({**WEDDING_DAY, "spec": spec})


def test_durations_too_long_for_any_clock_are_refused_not_overflowed() -> None:
    with pytest.raises(ValueError, match="too long to be a duration"):
        parse_duration("99999999999999h")


@pytest.mark.parametrize(
    ("written", "tolerance"),
    [("0.05", Fraction(1, 20)), ("50m", Fraction(1, 20)), ("0", Fraction(0)), ("2", Fraction(2))],
)
def test_a_tolerance_is_read_per_direction_as_autoscaling_v2_writes_it(
    written: str, tolerance: Fraction
) -> None:
    obj = _with(POLICY, "spec.behavior", {"scaleUp": {"tolerance": written}})

    behavior = parse_platform_scaling(obj).behavior

    assert behavior.scale_up.tolerance == tolerance
    assert behavior.scale_up.policies == DEFAULT_SCALE_UP.policies
    assert behavior.scale_down.tolerance is None  # HPA's 10%, applied by the engine


@pytest.mark.parametrize("written", ["-0.1", "0.05%", "5e-2", 0.05])
def test_a_tolerance_that_is_not_a_quantity_is_reported_with_its_path(written: Any) -> None:
    errors = _errors(_with(POLICY, "spec.behavior", {"scaleDown": {"tolerance": written}}))
    assert any(e.startswith("spec.behavior.scaleDown.tolerance: must be a decimal") for e in errors)
