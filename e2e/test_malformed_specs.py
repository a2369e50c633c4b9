"""Malformed WeddingDays and PlatformScalings on a real API server, beside a healthy
policy, with the operator running and restarted (issue 15).

Each manifest is refused by the server naming its field, or accepted and then flagged by
the operator on the object itself (a day Failed, a policy Ready=False/InvalidSpec, with
the field path). Some are written while the CRDs lack the bounds' rules, as objects
stored before a CRD upgrade are. Through all of it the operator logs no traceback, and
the healthy policy enters wedding-day mode on time after a restart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_fixture import REPO, Cluster, wait_until
from operator_fixture import (
    OperatorProcess,
    apply,
    conditions,
    deployment,
    ensure_crds,
    events,
    replicas,
    status,
    wait_replicas,
)
from wedsync_operator.model import bounds

INTERVAL = 2  # seconds, both intervals of the healthy policy
WD = "WeddingDay"
PS = "PlatformScaling"


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    spec: dict[str, Any]
    field: str  # the path the server or the operator must name


def _day(**spec: Any) -> dict[str, Any]:
    # No policySelector: a bad day selects every policy, the healthy one included.
    return {"start": "2027-06-12T14:00:00Z", "end": "2027-06-12T23:00:00Z", **spec}


def _policy(**spec: Any) -> dict[str, Any]:
    return {"targets": [{"kind": "Deployment", "name": "other", "maxReplicas": 4}], **spec}


def _without(spec: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != key}


PROM = "http://127.0.0.1:9"
DAY_CASES = [
    ("lead-overflow", _day(leadTime="99999999999h"), "spec.leadTime"),
    ("lead-8-days", _day(leadTime="192h"), "spec.leadTime"),
    ("lead-words", _day(leadTime="2 hours"), "spec.leadTime"),
    ("lead-int", _day(leadTime=5), "spec.leadTime"),
    ("lead-negative", _day(leadTime="-1h"), "spec.leadTime"),
    ("lead-fraction", _day(leadTime="1.5h"), "spec.leadTime"),
    ("lead-empty", _day(leadTime=""), "spec.leadTime"),
    ("lead-days-unit", _day(leadTime="1d"), "spec.leadTime"),
    ("lead-too-long-text", _day(leadTime="1h" * 20), "spec.leadTime"),
    ("wind-overflow", _day(windDown="99999999999h"), "spec.windDown"),
    ("wind-200h", _day(windDown="200h"), "spec.windDown"),
    ("end-9999", _day(end="9999-12-31T23:00:00Z", windDown="48h"), "spec.end"),
    ("end-2200", _day(end="2200-01-01T00:00:00Z"), "spec.end"),
    ("start-1999", _day(start="1999-12-31T23:00:00Z"), "spec.start"),
    ("start-year-0", _day(start="0000-01-01T00:00:00Z"), "spec.start"),
    ("start-month-13", _day(start="2027-13-01T00:00:00Z"), "spec.start"),
    ("start-words", _day(start="next saturday"), "spec.start"),
    ("start-number", _day(start=20270612), "spec.start"),
    ("start-fraction", _day(start="2027-06-12T14:00:00.5Z"), "spec.start"),
    ("start-february-30", _day(start="2027-02-30T14:00:00Z"), "spec.start"),
    ("end-april-31", _day(end="2027-04-31T14:00:00Z"), "spec.end"),
    ("start-february-29-2027", _day(start="2027-02-29T14:00:00"), "spec.start"),
    ("start-missing", _without(_day(), "start"), "spec.start"),
    ("end-missing", _without(_day(), "end"), "spec.end"),
    ("end-before-start", _day(end="2027-06-12T12:00:00Z"), "spec.end"),
    # Accepted by the server (one offset, one local time): the operator compares them.
    (
        "end-before-start-mixed",
        _day(start="2027-06-12T15:00:00+01:00", end="2027-06-12T13:00:00", timeZone="UTC"),
        "spec.end",
    ),
    # Accepted by the server: 01:30 never happens in London that night.
    (
        "start-in-dst-gap",
        _day(start="2027-03-28T01:30:00", end="2027-03-28T05:00:00", timeZone="Europe/London"),
        "spec.start",
    ),
    ("zone-mars", _day(timeZone="Mars/Olympus_Mons"), "spec.timeZone"),
    ("zone-directory", _day(timeZone="Europe"), "spec.timeZone"),
    ("zone-long", _day(timeZone="x" * 80), "spec.timeZone"),
    ("weddings-zero", _day(expectedWeddings=0), "spec.expectedWeddings"),
    ("weddings-words", _day(expectedWeddings="many"), "spec.expectedWeddings"),
    ("guests-negative", _day(expectedGuests=-5), "spec.expectedGuests"),
    ("guests-past-int32", _day(expectedGuests=2**40), "spec.expectedGuests"),
    ("load-exponent", _day(loadFactor="1e3"), "spec.loadFactor"),
    ("load-float", _day(loadFactor=1.5), "spec.loadFactor"),
    ("load-negative", _day(loadFactor="-1"), "spec.loadFactor"),
    ("load-unicode", _day(loadFactor="\u0661.\u0665"), "spec.loadFactor"),
    (
        "selector-operator",
        _day(policySelector={"matchExpressions": [{"key": "a", "operator": "Near"}]}),
        "spec.policySelector.matchExpressions[0].operator",
    ),
    (
        "selector-no-values",
        _day(policySelector={"matchExpressions": [{"key": "a", "operator": "In"}]}),
        "spec.policySelector.matchExpressions[0]",
    ),
    ("couples-not-list", _day(coupleIds="abc"), "spec.coupleIds"),
    ("couple-too-long", _day(coupleIds=["x" * 100]), "spec.coupleIds[0]"),
    ("cancelled-words", _day(cancelled="yes"), "spec.cancelled"),
    ("unknown-field", _day(colour="blue"), "spec.colour"),
]
POLICY_CASES = [
    ("interval-overflow", _policy(interval={"normal": "99999999999h"}), "spec.interval.normal"),
    ("interval-zero", _policy(interval={"normal": "0s"}), "spec.interval.normal"),
    ("interval-half-second", _policy(interval={"weddingDay": "500ms"}), "spec.interval.weddingDay"),
    ("interval-2h", _policy(interval={"normal": "2h"}), "spec.interval.normal"),
    (
        "prom-timeout-zero",
        _policy(prometheus={"url": PROM, "timeout": "0s"}),
        "spec.prometheus.timeout",
    ),
    (
        "prom-timeout-overflow",
        _policy(prometheus={"url": PROM, "timeout": "99999999999h"}),
        "spec.prometheus.timeout",
    ),
    ("prom-timeout-61s", _policy(prometheus={"url": PROM, "timeout": "61s"}), "spec.prometheus"),
    ("prom-url-ftp", _policy(prometheus={"url": "ftp://prometheus"}), "spec.prometheus.url"),
    ("targets-empty", _policy(targets=[]), "spec.targets"),
    ("targets-missing", _without(_policy(), "targets"), "spec.targets"),
    (
        "max-zero",
        _policy(targets=[{"kind": "Deployment", "name": "a", "maxReplicas": 0}]),
        "spec.targets[0].maxReplicas",
    ),
    (
        "min-above-max",
        _policy(targets=[{"kind": "Deployment", "name": "a", "minReplicas": 9, "maxReplicas": 3}]),
        "spec.targets[0]",
    ),
    (
        "duplicate-targets",
        _policy(
            targets=[
                {"kind": "Deployment", "name": "a", "maxReplicas": 3},
                {"kind": "Deployment", "name": "a", "maxReplicas": 3},
            ]
        ),
        "spec.targets",
    ),
    (
        "role-queue",
        _policy(targets=[{"kind": "Deployment", "name": "a", "role": "queue", "maxReplicas": 3}]),
        "spec.targets[0].role",
    ),
    (
        "kind-lowercase",
        _policy(targets=[{"kind": "deployment", "name": "a", "maxReplicas": 3}]),
        "spec.targets[0].kind",
    ),
    (
        "target-name-unicode",
        _policy(targets=[{"kind": "Deployment", "name": "wéb", "maxReplicas": 3}]),
        "spec.targets[0].name",
    ),
    (
        "metric-negative",
        _policy(
            prometheus={"url": PROM},
            metrics=[{"name": "cpu", "query": "up", "target": {"type": "Value", "value": "-3"}}],
        ),
        "spec.metrics[0].target.value",
    ),
    (
        "metric-type",
        _policy(
            prometheus={"url": PROM},
            metrics=[{"name": "cpu", "query": "up", "target": {"type": "Percent", "value": 5}}],
        ),
        "spec.metrics[0].target.type",
    ),
    (
        # Accepted (the operator may have a default URL); this one has none: flagged.
        "metrics-without-prometheus",
        _policy(metrics=[{"name": "cpu", "query": "up", "target": {"type": "Value", "value": 1}}]),
        "spec.prometheus.url",
    ),
    (
        "extra-capacity-5000",
        _policy(weddingDay={"extraCapacityPercent": 5000}),
        "spec.weddingDay.extraCapacityPercent",
    ),
    (
        "ttl-multiplier-zero",
        _policy(weddingDay={"cacheTtlMultiplier": 0}),
        "spec.weddingDay.cacheTtlMultiplier",
    ),
    (
        "readiness-1000h",
        _policy(weddingDay={"readinessDeadline": "1000h"}),
        "spec.weddingDay.readinessDeadline",
    ),
    (
        "cache-ttl-zero",
        _policy(weddingDay={"cacheWarming": {"ttl": "0s"}}),
        "spec.weddingDay.cacheWarming.ttl",
    ),
    (
        "redis-timeout-1h",
        _policy(safety={"redis": {"secretRef": {"name": "r"}, "timeout": "1h"}}),
        "spec.safety.redis.timeout",
    ),
    (
        "postgres-lag-2h",
        _policy(safety={"postgres": {"secretRef": {"name": "p"}, "maxReplicaLag": "2h"}}),
        "spec.safety.postgres.maxReplicaLag",
    ),
    (
        "postgres-timeout-zero",
        _policy(safety={"postgres": {"secretRef": {"name": "p"}, "timeout": "0ms"}}),
        "spec.safety.postgres.timeout",
    ),
    (
        "stabilization-4000",
        _policy(behavior={"scaleUp": {"stabilizationWindowSeconds": 4000}}),
        "spec.behavior.scaleUp.stabilizationWindowSeconds",
    ),
    (
        "period-zero",
        _policy(
            behavior={"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 0}]}}
        ),
        "spec.behavior.scaleDown.policies[0].periodSeconds",
    ),
    ("failure-threshold-zero", _policy(fallback={"failureThreshold": 0}), "spec.fallback"),
    ("hpa-conflict-fight", _policy(hpaConflict="Fight"), "spec.hpaConflict"),
    ("paused-words", _policy(paused="yes"), "spec.paused"),
    (
        "max-past-int32",
        _policy(targets=[{"kind": "Deployment", "name": "a", "maxReplicas": 2**31}]),
        "spec.targets[0].maxReplicas",
    ),
]
CASES = [Case(f"wd-{n}", WD, s, f) for n, s, f in DAY_CASES] + [
    Case(f"ps-{n}", PS, s, f) for n, s, f in POLICY_CASES
]
# Written while the CRDs lack the bounds' rules: the issue's own poison objects.
LEGACY = [
    Case("legacy-lead-overflow", WD, _day(leadTime="99999999999h"), "spec.leadTime"),
    Case("legacy-end-9999", WD, _day(end="9999-12-31T23:00:00Z", windDown="48h"), "spec.end"),
    Case("legacy-start-0001", WD, _day(start="0001-01-01T00:00:00Z"), "spec.start"),
    Case(
        "legacy-interval", PS, _policy(interval={"normal": "99999999999h"}), "spec.interval.normal"
    ),
    Case(
        "legacy-prom-timeout",
        PS,
        _policy(prometheus={"url": PROM, "timeout": "0s"}),
        "spec.prometheus.timeout",
    ),
]


def _manifest(case: Case) -> dict[str, Any]:
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": case.kind,
        "metadata": {"name": case.name},
        "spec": case.spec,
    }


def _without_bound_rules(path: Path) -> dict[str, Any]:
    """The CRD as it was before the bounds: the rules model/bounds.py makes removed."""
    crd = yaml.safe_load(path.read_text(encoding="utf-8"))
    ours = {bounds.YEAR_MESSAGE} | {b.message for b in bounds.DURATIONS.values()}

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            rules = [
                r for r in node.get("x-kubernetes-validations", []) if r["message"] not in ours
            ]
            if "x-kubernetes-validations" in node:
                node["x-kubernetes-validations"] = rules
                if not rules:
                    del node["x-kubernetes-validations"]
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(crd)
    return dict(crd)


@pytest.fixture
def legacy_objects(cluster: Cluster, namespace: str) -> Iterator[list[Case]]:
    """The legacy cases, stored through CRDs without the rules; the CRDs restored after."""
    ensure_crds(cluster)
    old = [
        _without_bound_rules(REPO / "crds" / name)
        for name in ("wedsync.io_weddingdays.yaml", "wedsync.io_platformscalings.yaml")
    ]
    try:
        cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(old))
        # The API server takes a moment to serve the new schema: retry until accepted.
        wait_until(
            "the CRDs without the bound rules to accept the legacy objects",
            lambda: (
                cluster.kubectl(
                    "apply",
                    "-n",
                    namespace,
                    "-f",
                    "-",
                    input=yaml.safe_dump_all([_manifest(c) for c in LEGACY]),
                    check=False,
                ).returncode
                == 0
            ),
            timeout=30,
        )
    finally:
        ensure_crds(cluster)
    # The rules are back: a new object with the same fault is refused again.
    wait_until(
        "the bound rules to be served again",
        lambda: (
            cluster.kubectl(
                "apply",
                "-n",
                namespace,
                "-f",
                "-",
                input=yaml.safe_dump(_manifest(Case("probe", WD, _day(leadTime="200h"), ""))),
                check=False,
            ).returncode
            != 0
        ),
        timeout=30,
    )
    yield LEGACY


def _flag(cluster: Cluster, namespace: str, case: Case) -> str | None:
    """The operator's verdict on an accepted object, or None while it has none."""
    if case.kind == WD:
        st = status(cluster, namespace, "wd", case.name)
        ready = {c["type"]: c for c in st.get("conditions", [])}.get("Ready") or {}
        if st.get("phase") == "Failed" and ready.get("reason") in (
            "InvalidSpec",
            "ScheduleInvalid",
        ):
            return f"{ready['reason']}: {st.get('message')}"
        return None
    ready = conditions(cluster, namespace, "ps", case.name).get("Ready") or {}
    if ready.get("status") == "False" and ready.get("reason") == "InvalidSpec":
        return f"InvalidSpec: {ready['message']}"
    return None


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_malformed_specs_are_refused_or_flagged_and_never_delay_a_healthy_policy(
    cluster: Cluster,
    namespace: str,
    legacy_objects: list[Case],
    tmp_path: Path,
) -> None:
    assert len(CASES) + len(legacy_objects) >= 60
    leap = {"apiVersion": "wedsync.io/v1alpha1", "kind": WD, "metadata": {"name": "leap-day"}}
    leap["spec"] = _day(start="2028-02-29T14:00:00Z", end="2028-02-29T23:00:00Z")
    apply(cluster, namespace, leap)  # a real 29 February passes the date rule
    apply(cluster, namespace, deployment("web", 1))
    healthy = {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": PS,
        "metadata": {"name": "healthy"},
        "spec": {
            "targets": [
                {
                    "kind": "Deployment",
                    "name": "web",
                    "minReplicas": 1,
                    "maxReplicas": 5,
                    "weddingDay": {"minReplicas": 3},
                }
            ],
            "interval": {"normal": f"{INTERVAL}s", "weddingDay": f"{INTERVAL}s"},
        },
    }
    apply(cluster, namespace, healthy)
    operator = OperatorProcess(cluster, tmp_path / "operator.log").start()
    try:
        # Every malformed manifest, each on its own (one refusal must not hide another).
        refused: dict[str, str] = {}
        accepted: list[Case] = list(legacy_objects)
        for case in CASES:
            result = cluster.kubectl(
                "apply",
                "-n",
                namespace,
                "-f",
                "-",
                input=yaml.safe_dump(_manifest(case)),
                check=False,
            )
            if result.returncode == 0:
                accepted.append(case)
            else:
                refused[case.name] = result.stderr.strip()
        unnamed = {n: e for n, e in refused.items() if _case(n).field not in e}
        assert not unnamed, f"refused without naming the field: {unnamed}"

        # The operator flags each accepted one on the object itself, with the field.
        verdicts = wait_until(
            "every accepted malformed object flagged",
            lambda: _all_flagged(cluster, namespace, accepted),
            timeout=60,
        )
        # What each input gets, for whoever reads the test's output (-s).
        for name, why in [*refused.items(), *verdicts.items()]:
            print(f"{name}: {'flagged' if name in verdicts else 'refused'}: {why.splitlines()[-1]}")
        unnamed = {n: v for n, v in verdicts.items() if _case(n, accepted).field not in v}
        assert not unnamed, f"flagged without naming the field: {unnamed}"
        reasons = {e["reason"] for c in accepted for e in events(cluster, namespace, c.name)}
        assert "InvalidSpec" in reasons
        assert replicas(cluster, namespace, "web") == 1  # in normal mode, nothing to do

        # A restart lists the namespace's days again, the poisoned ones among them.
        operator.stop()
        operator = OperatorProcess(cluster, tmp_path / "operator.log").start()

        lead = 20
        mode_start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=lead + 15)
        day = {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": WD,
            "metadata": {"name": "saturday"},
            "spec": {
                "start": _rfc3339(mode_start + timedelta(seconds=lead)),
                "end": _rfc3339(mode_start + timedelta(hours=2)),
                "leadTime": f"{lead}s",
            },
        }
        apply(cluster, namespace, day)
        wait_replicas(
            cluster,
            namespace,
            "web",
            3,
            timeout=(mode_start - datetime.now(UTC)).total_seconds() + 2 * INTERVAL + 8,
        )
        late = (datetime.now(UTC) - mode_start).total_seconds()
        assert late >= -1, f"scaled {-late:.1f}s before the mode began"
        st = status(cluster, namespace, "ps", "healthy")
        assert st["mode"] == "WeddingDay" and st["activeWeddingDays"] == ["saturday"]
        assert conditions(cluster, namespace, "ps", "healthy")["Ready"]["status"] == "True"
        # The flags survive the restart (the restarted operator read them the same way).
        assert all(_flag(cluster, namespace, c) for c in accepted)
    finally:
        operator.stop()
    problems = operator.problems()
    assert not problems, f"see {operator.log_path}:\n" + "\n".join(problems)
    assert "Traceback" not in operator.log()


def _case(name: str, extra: list[Case] | None = None) -> Case:
    return next(c for c in [*CASES, *(extra or [])] if c.name == name)


def _all_flagged(cluster: Cluster, namespace: str, accepted: list[Case]) -> dict[str, str] | None:
    found = {c.name: _flag(cluster, namespace, c) for c in accepted}
    flagged = {n: v for n, v in found.items() if v is not None}
    return flagged if len(flagged) == len(found) else None


def test_each_case_has_its_own_name() -> None:
    names = [c.name for c in [*CASES, *LEGACY]]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9-]{1,63}", n) for n in names)
