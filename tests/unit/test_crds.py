"""The two CRDs, their examples and the time-zone list: static checks, no API server.

The real API server (CEL compilation, cost limits, rejection of examples/invalid) is
exercised by the e2e suite; these tests keep the files honest between e2e runs: shape,
descriptions, bounds that keep CEL cost estimates small, defaults that agree with the typed
model, and examples that conform to the OpenAPI part of the schemas.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
import zoneinfo
from collections.abc import Iterator
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from wedsync_operator.model import InvalidSpec, bounds, parse_object, types
from wedsync_operator.model.durations import parse_duration as model_duration

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
EXAMPLES = ROOT / "examples"
INVALID = EXAMPLES / "invalid"
TZ_SCRIPT = ROOT / "hack" / "update_crd_timezones.py"

WEDDING_DAY = "wedsync.io_weddingdays.yaml"
PLATFORM_SCALING = "wedsync.io_platformscalings.yaml"
KINDS = {WEDDING_DAY: "WeddingDay", PLATFORM_SCALING: "PlatformScaling"}
FILES = {kind: name for name, kind in KINDS.items()}
SHORT_NAMES = {WEDDING_DAY: "wd", PLATFORM_SCALING: "ps"}

DURATION_PATTERN = "^([0-9]+(ms|s|m|h))+$"
TIME_ZONE_MESSAGE = (
    "timeZone must be an IANA time zone name such as Europe/London or America/New_York"
)

Schema = dict[str, Any]


@cache
def crd(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((CRDS / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def root_schema(name: str) -> Schema:
    schema = crd(name)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert isinstance(schema, dict)
    return schema


def at(schema: Schema, path: str) -> Schema:
    """The sub-schema at a dotted path; ``[]`` steps into array items."""
    node = schema
    for part in path.split("."):
        node = node["items"] if part == "[]" else node["properties"][part]
    return node


def walk(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every sub-schema with its dotted path (``[]`` for array items)."""
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from walk(sub, f"{path}.{key}" if path else key)
    if "items" in schema:
        yield from walk(schema["items"], f"{path}.[]")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from walk(extra, f"{path}.{{}}")


def parse_duration(text: str) -> timedelta:
    units = {"ms": timedelta(milliseconds=1), "s": timedelta(seconds=1)}
    units |= {"m": timedelta(minutes=1), "h": timedelta(hours=1)}
    return sum((int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h)", text)), timedelta())


def documents(path: Path) -> list[dict[str, Any]]:
    docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    assert all(isinstance(d, dict) for d in docs), f"{path.name}: empty or non-object document"
    return docs


# ------------------------------------------------------- a small OpenAPI v3 validator
# Enough of the API server's structural-schema validation to check the examples: types,
# int-or-string, required, enum, pattern, lengths, bounds, item counts, unknown fields
# (which the server would silently prune) and defaulting. CEL rules are not evaluated here.


def apply_defaults(value: Any, schema: Schema) -> Any:
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = yaml.safe_load(yaml.safe_dump(sub["default"]))
        for key, item in value.items():
            if key in props:
                apply_defaults(item, props[key])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            apply_defaults(item, schema["items"])
    return value


def schema_errors(value: Any, schema: Schema, path: str) -> list[str]:
    errors: list[str] = []
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [f"{path}: must be an integer or a string"]
    else:
        expected = {
            "object": dict,
            "array": list,
            "string": str,
            "integer": int,
            "boolean": bool,
        }[schema["type"]]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            return [f"{path}: must be of type {schema['type']}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: Unsupported value: {value!r}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path} in body should match '{schema['pattern']}'")
        if len(value) > schema.get("maxLength", len(value)):
            errors.append(f"{path}: Too long")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: Too short")
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = schema.get("minimum", value), schema.get("maximum", value)
        errors += [] if low <= value <= high else [f"{path}: out of range"]
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            errors.append(f"{path}: wrong number of items")
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{path}[{i}]")
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        errors += [
            f"{path}.{k}: Required value" for k in schema.get("required", []) if k not in value
        ]
        for key, item in value.items():
            if key not in props:
                errors.append(f"{path}.{key}: unknown field")
            else:
                errors += schema_errors(item, props[key], f"{path}.{key}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            errors += schema_errors(item, schema["additionalProperties"], f"{path}.{key}")
    return errors


def validate_object(obj: dict[str, Any]) -> list[str]:
    """OpenAPI errors for a WeddingDay or PlatformScaling, after defaulting."""
    name = {v: k for k, v in KINDS.items()}[obj["kind"]]
    schema = root_schema(name)
    spec = apply_defaults(yaml.safe_load(yaml.safe_dump(obj["spec"])), at(schema, "spec"))
    return schema_errors(spec, at(schema, "spec"), "spec")


def test_the_example_validator_reports_what_the_api_server_would() -> None:
    day = {
        "kind": "WeddingDay",
        "spec": {"start": "2027-06-12T14:00", "leadTime": 2, "colour": "blue"},
    }
    assert sorted(validate_object(day)) == sorted(
        [
            "spec.end: Required value",
            "spec.start in body should match '"
            + at(root_schema(WEDDING_DAY), "spec.start")["pattern"]
            + "'",
            "spec.leadTime: must be of type string",
            "spec.colour: unknown field",
        ]
    )


# ------------------------------------------------------------------------ CRD shape


@pytest.mark.parametrize("name", sorted(KINDS))
def test_crds_declare_status_subresource_and_short_names(name: str) -> None:
    doc = crd(name)
    assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
    assert doc["kind"] == "CustomResourceDefinition"
    spec = doc["spec"]
    plural = spec["names"]["plural"]
    assert doc["metadata"]["name"] == f"{plural}.wedsync.io"
    assert name == f"wedsync.io_{plural}.yaml"
    assert spec["group"] == "wedsync.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == KINDS[name]
    assert spec["names"]["shortNames"] == [SHORT_NAMES[name]]
    assert spec["names"]["categories"] == ["wedsync"]
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_schema_property_has_a_description(name: str) -> None:
    missing = [
        path
        for path, node in walk(root_schema(name))
        # The API server forbids anything but `type` on the root metadata schema.
        if path != "metadata"
        and not node.get("description", "").strip()
        # Scalar array items and map values are described by their array or map.
        and not (path.endswith((".[]", ".{}")) and node.get("type") != "object")
    ]
    assert missing == []


@pytest.mark.parametrize("name", sorted(KINDS))
def test_root_metadata_schema_is_left_to_the_api_server(name: str) -> None:
    schema = root_schema(name)
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert schema["required"] == ["spec"]


@pytest.mark.parametrize("name", sorted(KINDS))
def test_spec_has_no_floats_and_every_string_and_list_is_bounded(name: str) -> None:
    """Bounds keep the API server's CEL cost estimates small (and floats out of specs)."""
    unbounded = []
    for path, node in walk(at(root_schema(name), "spec"), "spec"):
        assert node.get("type") != "number", f"{path} is a float"
        if node.get("type") == "string" and "maxLength" not in node and "enum" not in node:
            unbounded.append(path)
        if node.get("x-kubernetes-int-or-string") and "maxLength" not in node:
            unbounded.append(path)
        if node.get("type") == "array" and "maxItems" not in node:
            unbounded.append(path)
    assert unbounded == []


@pytest.mark.parametrize("name", sorted(KINDS))
def test_enum_values_are_camel_case_except_roles(name: str) -> None:
    for path, node in walk(root_schema(name)):
        if path.endswith(".role"):
            assert node["enum"] == ["app", "cache", "database"]
        else:
            for value in node.get("enum", []):
                assert re.fullmatch(r"[A-Z][A-Za-z]*", value), f"{path}: {value}"


@pytest.mark.parametrize("name", sorted(KINDS))
def test_status_conditions_have_the_standard_shape(name: str) -> None:
    status = at(root_schema(name), "status")
    assert "x-kubernetes-preserve-unknown-fields" not in status
    assert status["properties"]["observedGeneration"]["format"] == "int64"
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["properties"]) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }
    assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert item["properties"]["lastTransitionTime"]["format"] == "date-time"
    assert item["properties"]["observedGeneration"]["format"] == "int64"
    assert "type" in item["required"]


@pytest.mark.parametrize("name", sorted(KINDS))
def test_status_lists_keyed_by_name_require_the_key(name: str) -> None:
    for path, node in walk(at(root_schema(name), "status"), "status"):
        if node.get("x-kubernetes-list-type") == "map":
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in node["items"]["required"], path


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        (
            WEDDING_DAY,
            {
                "Phase": ".status.phase",
                "Start": ".spec.start",
                "Zone": ".spec.timeZone",
                "Lead": ".spec.leadTime",
                "Weddings": ".spec.expectedWeddings",
                "Ready": '.status.conditions[?(@.type=="Ready")].status',
                "DayReady": '.status.conditions[?(@.type=="WeddingDayReady")].status',
                "Age": ".metadata.creationTimestamp",
            },
        ),
        (
            PLATFORM_SCALING,
            {
                "Mode": ".status.mode",
                "Ready": '.status.conditions[?(@.type=="Ready")].status',
                "DayReady": '.status.conditions[?(@.type=="WeddingDayReady")].status',
                "Replicas": ".status.replicaSummary",
                "Health": ".status.healthScore",
                "Age": ".metadata.creationTimestamp",
            },
        ),
    ],
)
def test_printer_columns_show_the_summary(name: str, columns: dict[str, str]) -> None:
    declared = crd(name)["spec"]["versions"][0]["additionalPrinterColumns"]
    assert {c["name"]: c["jsonPath"] for c in declared} == columns
    types_by_name = {c["name"]: c["type"] for c in declared}
    assert types_by_name["Age"] == "date"
    assert all(t in {"string", "integer", "date"} for t in types_by_name.values())


# ------------------------------------------------------------------------ CEL rules

CEL_RULES = {
    (WEDDING_DAY, "spec"): [
        "timeZone is required when start or end is a local time without a UTC offset "
        "(for example timeZone: Europe/London)",
        "end must be after start",
    ],
    (WEDDING_DAY, "spec.timeZone"): [TIME_ZONE_MESSAGE],
    (WEDDING_DAY, "spec.policySelector.matchExpressions.[]"): [
        "values must be non-empty for operators In and NotIn, and empty for Exists and DoesNotExist"
    ],
    (PLATFORM_SCALING, "spec"): [
        "metric names must be unique",
        "metrics[].targets must name targets of this policy",
    ],
    (PLATFORM_SCALING, "spec.targets"): ["target names must be unique"],
    (PLATFORM_SCALING, "spec.targets.[]"): [
        "minReplicas must not exceed maxReplicas",
        "weddingDay.minReplicas must not exceed maxReplicas",
    ],
    (PLATFORM_SCALING, "spec.metrics.[].target.value"): [
        'value must be a positive number: an integer such as 80 or a decimal string such as "0.5"'
    ],
    (PLATFORM_SCALING, "spec.metrics.[].weddingDayTarget.value"): [
        'value must be a positive number: an integer such as 60 or a decimal string such as "0.5"'
    ],
    (PLATFORM_SCALING, "spec.weddingDay.cacheWarming"): [
        "keyTemplate must contain the placeholder {key}"
    ],
    # The bounds: one rule per field, made in model/bounds.py (checked below).
    (WEDDING_DAY, "spec.start"): [bounds.YEAR_MESSAGE, bounds.DATE_MESSAGE],
    (WEDDING_DAY, "spec.end"): [bounds.YEAR_MESSAGE, bounds.DATE_MESSAGE],
    **{(FILES[kind], path): [b.message] for (kind, path), b in bounds.DURATIONS.items()},
}


def test_cel_rules_carry_the_agreed_messages() -> None:
    found = {
        (name, path): [rule["message"] for rule in node["x-kubernetes-validations"]]
        for name in KINDS
        for path, node in walk(root_schema(name))
        if "x-kubernetes-validations" in node
    }
    assert found == CEL_RULES


@pytest.mark.parametrize("name", sorted(KINDS))
def test_cel_rules_are_guarded_and_point_at_real_fields(name: str) -> None:
    for path, node in walk(root_schema(name)):
        for rule in node.get("x-kubernetes-validations", []):
            assert "\n" not in rule["message"]
            assert "messageExpression" not in rule
            field_path = rule.get("fieldPath")
            if field_path:
                at(node, field_path.lstrip("."))  # raises KeyError if absent
            if rule.get("reason"):
                assert rule["reason"] in {"FieldValueInvalid", "FieldValueRequired"}
            # Optional fields must be tested with has() before use.
            for used in re.findall(r"self\.([A-Za-z]+)", rule["rule"]):
                if used in node.get("properties", {}) and used not in node.get("required", []):
                    assert f"has(self.{used})" in rule["rule"], f"{path}: {used} unguarded"


@pytest.mark.parametrize(
    ("kind", "path"), sorted(bounds.DURATIONS), ids=[p for _, p in sorted(bounds.DURATIONS)]
)
def test_each_duration_is_bounded_by_the_models_own_rule(kind: str, path: str) -> None:
    bound = bounds.DURATIONS[(kind, path)]
    node = at(root_schema(FILES[kind]), path)

    assert node["x-kubernetes-validations"] == [{"rule": bound.cel_rule, "message": bound.message}]
    assert f"From {bound.low} to {bound.high}" in node["description"]
    assert node["maxLength"] == bounds.DURATION_MAX_LENGTH
    if "default" in node:
        assert bound.holds(model_duration(node["default"]))


@pytest.mark.parametrize("field", ["start", "end"])
def test_start_and_end_are_bounded_to_the_models_years(field: str) -> None:
    node = at(root_schema(WEDDING_DAY), f"spec.{field}")
    assert node["x-kubernetes-validations"] == [
        {"rule": bounds.YEAR_CEL_RULE, "message": bounds.YEAR_MESSAGE},
        {"rule": bounds.DATE_CEL_RULE, "message": bounds.DATE_MESSAGE},
    ]
    # The rule compares text: it reads the year only because the pattern starts with it.
    assert node["pattern"].startswith("^[0-9]{4}-")


def test_the_cel_duration_guard_refuses_only_what_every_bound_refuses() -> None:
    """duration() in CEL fails on values past ~2562047h (Go's limit): the guard in front
    of it must let through no text that could reach that, and refuse nothing in bounds."""
    guard = re.search(r"self\.matches\('([^']+)'\)", bounds.LEAD_TIME.cel_rule)
    assert guard
    parts = {
        unit: int(digits) for digits, unit in re.findall(r"\{1,(\d+)\}(ms|h|m|s)", guard.group(1))
    }
    assert set(parts) == {"h", "m", "s", "ms"}
    highest = max(b.maximum for b in bounds.DURATIONS.values())
    go_limit = timedelta(hours=2562047)
    densest = timedelta(0)  # the most duration one character of a passing text can add
    for unit, digits in parts.items():
        smallest_refused = model_duration(f"1{'0' * digits}{unit}")
        largest_passed = model_duration(f"{'9' * digits}{unit}")
        assert smallest_refused > highest, unit
        densest = max(densest, largest_passed / (digits + len(unit)))
        assert re.fullmatch(guard.group(1).strip("^$"), f"{'9' * digits}{unit}")
        assert not re.fullmatch(guard.group(1).strip("^$"), f"1{'0' * digits}{unit}")
    assert densest * bounds.DURATION_MAX_LENGTH < go_limit


# -------------------------------------------------------------------------- patterns


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("2h", True),
        ("90s", True),
        ("1h30m", True),
        ("500ms", True),
        ("2 hours", False),
        ("", False),
        ("1.5h", False),
        ("-1h", False),
        ("10", False),
    ],
)
def test_durations_are_go_style(text: str, ok: bool) -> None:
    durations = {
        path: node
        for name in KINDS
        for path, node in walk(root_schema(name))
        if node.get("pattern") == DURATION_PATTERN
    }
    assert set(durations) == {
        "spec.leadTime",
        "spec.windDown",
        "spec.prometheus.timeout",
        "spec.interval.normal",
        "spec.interval.weddingDay",
        "spec.weddingDay.cacheWarming.ttl",
        "spec.weddingDay.readinessDeadline",
        "spec.weddingDay.tierReadyTimeout",
        "spec.safety.redis.timeout",
        "spec.safety.postgres.maxReplicaLag",
        "spec.safety.postgres.timeout",
    }
    for node in durations.values():
        assert node["type"] == "string"
        assert bool(re.search(node["pattern"], text)) is ok
        if "default" in node:
            assert re.search(node["pattern"], node["default"])


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("2027-06-12T14:00:00+01:00", True),
        ("2027-06-12T13:00:00Z", True),
        ("2027-06-12T14:00:00", True),
        ("2027-06-12T14:00:00-05:30", True),
        ("2027-06-12 14:00:00", False),
        ("2027-06-12T14:00", False),
        ("2027-06-12T14:00:00.5Z", False),
        ("2027-13-12T14:00:00", False),
        ("2027-06-12T24:00:00", False),
        ("2027-06-12T14:00:00+0100", False),
    ],
)
def test_start_and_end_accept_rfc3339_offsets_and_local_times(text: str, ok: bool) -> None:
    for field in ("start", "end"):
        node = at(root_schema(WEDDING_DAY), f"spec.{field}")
        assert bool(re.search(node["pattern"], text)) is ok
        assert len(text) <= node["maxLength"] or not ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [("1", True), ("1.5", True), ("0.125", True), ("2.0001", False), ("1e3", False), (".5", False)],
)
def test_load_factor_is_a_decimal_string(text: str, ok: bool) -> None:
    node = at(root_schema(WEDDING_DAY), "spec.loadFactor")
    assert bool(re.search(node["pattern"], text)) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("0.1", True),
        ("0.05", True),
        ("2", True),
        ("50m", True),
        ("0.0001", False),
        ("-0.1", False),
        ("5%", False),
        ("1e-2", False),
        (".5", False),
    ],
)
@pytest.mark.parametrize("direction", ["scaleUp", "scaleDown"])
def test_tolerance_is_a_decimal_or_a_quantity_string(direction: str, text: str, ok: bool) -> None:
    node = at(root_schema(PLATFORM_SCALING), f"spec.behavior.{direction}.tolerance")
    assert bool(re.search(node["pattern"], text)) is ok


# ------------------------------------------------------- defaults agree with the model

DEFAULTS = [
    (WEDDING_DAY, "spec.leadTime", types.WeddingDay, "lead_time"),
    (WEDDING_DAY, "spec.windDown", types.WeddingDay, "wind_down"),
    (WEDDING_DAY, "spec.expectedWeddings", types.WeddingDay, "expected_weddings"),
    (WEDDING_DAY, "spec.expectedGuests", types.WeddingDay, "expected_guests"),
    (WEDDING_DAY, "spec.loadFactor", types.WeddingDay, "load_factor"),
    (WEDDING_DAY, "spec.cancelled", types.WeddingDay, "cancelled"),
    (PLATFORM_SCALING, "spec.prometheus.timeout", types.PrometheusSpec, "timeout"),
    (PLATFORM_SCALING, "spec.interval.normal", types.Intervals, "normal"),
    (PLATFORM_SCALING, "spec.interval.weddingDay", types.Intervals, "wedding_day"),
    (PLATFORM_SCALING, "spec.fallback.failureThreshold", types.Fallback, "failure_threshold"),
    (
        PLATFORM_SCALING,
        "spec.weddingDay.extraCapacityPercent",
        types.WeddingDayPolicy,
        "extra_capacity_percent",
    ),
    (
        PLATFORM_SCALING,
        "spec.weddingDay.freezeScaleDown",
        types.WeddingDayPolicy,
        "freeze_scale_down",
    ),
    (PLATFORM_SCALING, "spec.weddingDay.modeConfigMap", types.WeddingDayPolicy, "mode_config_map"),
    (
        PLATFORM_SCALING,
        "spec.weddingDay.cacheTtlMultiplier",
        types.WeddingDayPolicy,
        "cache_ttl_multiplier",
    ),
    (
        PLATFORM_SCALING,
        "spec.weddingDay.readinessDeadline",
        types.WeddingDayPolicy,
        "readiness_deadline",
    ),
    (
        PLATFORM_SCALING,
        "spec.weddingDay.tierReadyTimeout",
        types.WeddingDayPolicy,
        "tier_ready_timeout",
    ),
    (PLATFORM_SCALING, "spec.weddingDay.cacheWarming.enabled", types.CacheWarming, "enabled"),
    (PLATFORM_SCALING, "spec.weddingDay.cacheWarming.query", types.CacheWarming, "query"),
    (
        PLATFORM_SCALING,
        "spec.weddingDay.cacheWarming.keyTemplate",
        types.CacheWarming,
        "key_template",
    ),
    (PLATFORM_SCALING, "spec.weddingDay.cacheWarming.ttl", types.CacheWarming, "ttl"),
    (PLATFORM_SCALING, "spec.weddingDay.cacheWarming.batchSize", types.CacheWarming, "batch_size"),
    (
        PLATFORM_SCALING,
        "spec.weddingDay.silenceAlerts.matchers.[].isRegex",
        types.Matcher,
        "is_regex",
    ),
    (
        PLATFORM_SCALING,
        "spec.weddingDay.silenceAlerts.matchers.[].isEqual",
        types.Matcher,
        "is_equal",
    ),
    (PLATFORM_SCALING, "spec.safety.redis.maxOffsetLag", types.RedisSafety, "max_offset_lag"),
    (PLATFORM_SCALING, "spec.safety.redis.timeout", types.RedisSafety, "timeout"),
    (
        PLATFORM_SCALING,
        "spec.safety.postgres.maxReplicaLag",
        types.PostgresSafety,
        "max_replica_lag",
    ),
    (
        PLATFORM_SCALING,
        "spec.safety.postgres.maxReplicaLagBytes",
        types.PostgresSafety,
        "max_replica_lag_bytes",
    ),
    (PLATFORM_SCALING, "spec.safety.postgres.timeout", types.PostgresSafety, "timeout"),
    (PLATFORM_SCALING, "spec.hpaConflict", types.PlatformScaling, "hpa_conflict"),
    (PLATFORM_SCALING, "spec.paused", types.PlatformScaling, "paused"),
    (PLATFORM_SCALING, "spec.dryRun", types.PlatformScaling, "dry_run"),
]


@pytest.mark.parametrize(("name", "path", "cls", "attr"), DEFAULTS, ids=[d[1] for d in DEFAULTS])
def test_schema_defaults_agree_with_the_typed_model(
    name: str, path: str, cls: type, attr: str
) -> None:
    [model_field] = [f for f in dataclasses.fields(cls) if f.name == attr]
    expected = model_field.default
    default = at(root_schema(name), path)["default"]
    if isinstance(expected, timedelta):
        assert parse_duration(default) == expected
    elif isinstance(expected, float):
        assert float(default) == expected
    else:
        assert default == expected


def test_behavior_has_no_schema_defaults_so_the_operator_applies_hpas() -> None:
    behavior = at(root_schema(PLATFORM_SCALING), "spec.behavior")
    assert [path for path, node in walk(behavior) if "default" in node] == []
    assert "300s" in behavior["description"]


# ---------------------------------------------------------------------------- zones


def test_timezone_rule_lists_exactly_the_installed_iana_zones() -> None:
    check = subprocess.run(
        [sys.executable, str(TZ_SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr

    [rule] = at(root_schema(WEDDING_DAY), "spec.timeZone")["x-kubernetes-validations"]
    assert rule["message"] == TIME_ZONE_MESSAGE
    listed = re.findall(r"'([^']+)'", rule["rule"])
    zoneinfo.reset_tzpath(to=[])
    try:
        installed = zoneinfo.available_timezones()
    finally:
        zoneinfo.reset_tzpath()
    assert listed == sorted(installed)
    assert {"Europe/London", "America/New_York", "UTC"} <= set(listed)
    assert "Mars/Olympus_Mons" not in listed
    assert max(map(len, listed)) <= at(root_schema(WEDDING_DAY), "spec.timeZone")["maxLength"]


def test_timezone_script_rewrites_only_the_rule_line(tmp_path: Path) -> None:
    original = (CRDS / WEDDING_DAY).read_bytes()
    stale = re.sub(rb"'Europe/London', ", b"", original, count=1)
    assert stale != original
    copy = tmp_path / WEDDING_DAY
    copy.write_bytes(stale)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, str(TZ_SCRIPT), "--crd", str(copy), *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)

    assert run("--check").returncode == 1
    assert copy.read_bytes() == stale
    assert run().returncode == 0
    assert copy.read_bytes() == original
    assert run("--check").returncode == 0


def test_timezone_script_refuses_a_crd_without_the_rule(tmp_path: Path) -> None:
    copy = tmp_path / PLATFORM_SCALING
    shutil.copy(CRDS / PLATFORM_SCALING, copy)
    result = subprocess.run(
        [sys.executable, str(TZ_SCRIPT), "--crd", str(copy)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "found 0" in result.stderr
    assert copy.read_bytes() == (CRDS / PLATFORM_SCALING).read_bytes()


# ------------------------------------------------------------------------- examples

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
INVALID_FILES = sorted(INVALID.glob("*.yaml"))
BUILTIN_KINDS = {
    ("v1", "Namespace"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
}


@pytest.mark.parametrize("path", EXAMPLE_FILES + INVALID_FILES, ids=lambda p: p.name)
def test_examples_parse_as_yaml_and_use_declared_kinds(path: Path) -> None:
    for doc in documents(path):
        api_version, kind = doc["apiVersion"], doc["kind"]
        if api_version.startswith("wedsync.io/"):
            assert api_version == "wedsync.io/v1alpha1"
            assert kind in KINDS.values()
        else:
            assert (api_version, kind) in BUILTIN_KINDS
        if kind != "Namespace":
            assert doc["metadata"]["namespace"] == "wedsync"


def test_platform_example_creates_the_namespace_first_and_the_scaled_workloads() -> None:
    docs = documents(EXAMPLES / "platform.yaml")
    assert (docs[0]["kind"], docs[0]["metadata"]["name"]) == ("Namespace", "wedsync")
    workloads = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {
        ("Deployment", "web-suppliers"),
        ("Deployment", "web-couples"),
        ("StatefulSet", "redis-replica"),
        ("StatefulSet", "postgres-replica"),
    } <= workloads


def test_saturday_example_targets_the_platform_workloads() -> None:
    workloads = {(d["kind"], d["metadata"]["name"]) for d in documents(EXAMPLES / "platform.yaml")}
    days = [d for d in documents(EXAMPLES / "saturday.yaml") if d["kind"] == "WeddingDay"]
    [policy] = [d for d in documents(EXAMPLES / "saturday.yaml") if d["kind"] == "PlatformScaling"]
    assert policy["metadata"]["name"] == "platform"
    assert {(t["kind"], t["name"]) for t in policy["spec"]["targets"]} <= workloads
    assert len(days) == 3
    assert {d["spec"]["start"][:10] for d in days} == {"2027-06-12"}
    assert 80 in {d["spec"]["expectedWeddings"] for d in days}
    assert any("timeZone" not in d["spec"] for d in days)  # one given with an offset
    cpu = [m for m in policy["spec"]["metrics"] if m["target"]["type"] == "Utilization"]
    assert [(m["target"]["value"], m["weddingDayTarget"]["value"]) for m in cpu] == [(80, 60)]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_valid_examples_conform_to_the_schema(path: Path) -> None:
    for doc in documents(path):
        if doc["kind"] in KINDS.values():
            assert validate_object(doc) == [], doc["metadata"]["name"]


def test_invalid_examples_cover_each_broken_input() -> None:
    assert {p.stem for p in INVALID_FILES} == {
        # One per bound (model/bounds.py), named after the input an SRE could write.
        "lead-time-overflows",
        "wind-down-too-long",
        "start-before-horizon",
        "start-february-30",
        "end-at-calendar-end",
        "prometheus-timeout-zero",
        "interval-overflows",
        "wedding-interval-too-short",
        "cache-ttl-too-long",
        "readiness-deadline-too-long",
        "redis-timeout-too-long",
        "postgres-timeout-zero",
        "replica-lag-too-long",
        "end-before-start",
        "min-greater-than-max",
        "unknown-zone",
        "bad-duration",
        "duplicate-target",
        "wedding-min-above-max",
        "local-time-without-zone",
        "metric-unknown-target",
    }


def expectation(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# expect: (.+)", first)
    assert match, f"{path.name}: first line must be '# expect: <message>'"
    return match.group(1).strip()


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.name)
def test_each_invalid_example_declares_expected_message(path: Path) -> None:
    expected = expectation(path)
    [doc] = documents(path)
    assert doc["metadata"]["name"] == path.stem
    # The expectation must be something the CRD can say: a CEL message or a pattern error.
    crd_text = (CRDS / {v: k for k, v in KINDS.items()}[doc["kind"]]).read_text(encoding="utf-8")
    messages = [m for _, ms in CEL_RULES.items() for m in ms]
    pattern = re.fullmatch(r"should match '(.+)'", expected)
    # A field's own rule: the server names the field before the message.
    on_field = re.fullmatch(r'(spec\.[A-Za-z.]+): Invalid value: "([^"]*)": (.+)', expected)
    if on_field:
        field, value, message = on_field.groups()
        kind = FILES[doc["kind"]]
        assert message in CEL_RULES[(kind, field)], f"{field} has no rule saying {message!r}"
        node: Any = doc
        for key in field.split("."):
            node = node[key]
        assert node == value
        assert validate_object(doc) == []
        # And the model refuses it the same way: for objects stored before the rule.
        with pytest.raises(InvalidSpec) as info:
            parse_object(doc)
        assert [str(e) for e in info.value.errors if e.path == field], info.value
    elif pattern:
        assert pattern.group(1) in crd_text
        # The schema rejects it already, with that very pattern.
        assert any(expected in e for e in validate_object(doc))
    else:
        assert any(expected in m for m in messages)
        # Only a CEL rule can reject it: the OpenAPI part of the schema accepts it, so the
        # e2e test that applies it proves that very rule.
        assert validate_object(doc) == []
