"""The operator's own Prometheus metrics (CONVENTIONS.md "Metrics").

Names carry the ``wedsync_operator_`` prefix and base units; labels never hold a PromQL
string, a UID or a timestamp. Served on ``:8080/metrics`` by ``serve``.
"""

from __future__ import annotations

import gc
import time
from contextlib import suppress

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    start_http_server,
)

from wedsync_operator import __version__

REGISTRY = CollectorRegistry(auto_describe=True)
_P = "wedsync_operator"

EVALUATIONS = Counter(
    f"{_P}_evaluations_total",
    "PlatformScaling evaluations, by result (ok, invalid, paused, error).",
    ["result"],
    registry=REGISTRY,
)
EVALUATION_ERRORS = Counter(
    f"{_P}_evaluation_errors_total",
    "Errors met during evaluations, by CamelCase reason.",
    ["reason"],
    registry=REGISTRY,
)
EVALUATION_DURATION = Histogram(
    f"{_P}_evaluation_duration_seconds",
    "Time of one PlatformScaling evaluation: queries, reads, decision, patches.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
PROMETHEUS_QUERY_DURATION = Histogram(
    f"{_P}_prometheus_query_duration_seconds",
    "Time of one PromQL instant query, by outcome.",
    ["outcome"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
STATUS_WRITES = Counter(
    f"{_P}_status_writes_total",
    "PlatformScaling status after an evaluation: written, or skipped (nothing significant "
    "changed since the last write, which is younger than the refresh period).",
    ["result"],
    registry=REGISTRY,
)
SCALE_OPERATIONS = Counter(
    f"{_P}_scale_operations_total",
    "Replica changes written through /scale, by direction and tier role.",
    ["direction", "role"],
    registry=REGISTRY,
)
MODE = Gauge(
    f"{_P}_mode",
    "1 while the policy is in wedding-day mode, 0 otherwise.",
    ["namespace", "policy"],
    registry=REGISTRY,
)
DESIRED_REPLICAS = Gauge(
    f"{_P}_desired_replicas",
    "Replicas the operator decided for a target.",
    ["namespace", "policy", "target"],
    registry=REGISTRY,
)
CURRENT_REPLICAS = Gauge(
    f"{_P}_current_replicas",
    "Replicas a target had when last evaluated (from /scale).",
    ["namespace", "policy", "target"],
    registry=REGISTRY,
)
WEDDING_DAY_READY = Gauge(
    f"{_P}_wedding_day_ready",
    "1 while a policy in wedding-day mode has its capacity ready (WeddingDayReady), "
    "0 while it does not; absent outside the mode.",
    ["namespace", "policy"],
    registry=REGISTRY,
)
READINESS_DEADLINE = Gauge(
    f"{_P}_readiness_deadline_timestamp_seconds",
    "While in wedding-day mode: the earliest readiness deadline of the active days "
    "(start - readinessDeadline), as a Unix time.",
    ["namespace", "policy"],
    registry=REGISTRY,
)
MODE_DUE = Gauge(
    f"{_P}_mode_due_timestamp_seconds",
    "When the policy's current wedding-day mode window began or its next one begins "
    "(start - leadTime of the earliest day ahead), as a Unix time; absent with no day ahead.",
    ["namespace", "policy"],
    registry=REGISTRY,
)
SAFETY_GATE_BLOCKED = Gauge(
    f"{_P}_safety_gate_blocked",
    "1 while a stateful target's scale-down is deferred by its safety gate, 0 otherwise.",
    ["namespace", "policy", "target"],
    registry=REGISTRY,
)
HEALTH_SCORE = Gauge(
    f"{_P}_health_score",
    "Platform health score 0-100 computed for a policy.",
    ["namespace", "policy"],
    registry=REGISTRY,
)
WEDDING_DAY_TRANSITIONS = Counter(
    f"{_P}_wedding_day_transitions_total",
    "WeddingDay phase changes, by the phase entered.",
    ["phase"],
    registry=REGISTRY,
)
BUILD_INFO = Info(f"{_P}_build", "Version of the running operator.", registry=REGISTRY)
BUILD_INFO.info({"version": __version__})

# Known label sets start at 0, so rate()/increase() see the first event too (a series
# born at 1 has no earlier sample to increase from).
for _result in ("ok", "invalid", "paused", "error"):
    EVALUATIONS.labels(result=_result)
for _direction in ("up", "down"):
    for _role in ("app", "cache", "database"):
        SCALE_OPERATIONS.labels(direction=_direction, role=_role)


GC_PAUSE = Histogram(
    f"{_P}_gc_pause_seconds",
    "Pauses of Python's cyclic garbage collector, by generation: the event loop stands "
    "still meanwhile, and with ten thousand objects watched a full collection is long.",
    ["generation"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
_gc_started: list[float] = []


def _on_gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc_started[:] = [time.perf_counter()]
    elif _gc_started:
        GC_PAUSE.labels(str(info.get("generation", ""))).observe(
            time.perf_counter() - _gc_started.pop()
        )


TARGET_READS = Counter(
    f"{_P}_target_reads_total",
    "Reads of a target's replicas or of a namespace's HPAs, by where they were answered: "
    "a watch cache, or the API server (no cache, or one not current).",
    ["source"],
    registry=REGISTRY,
)
for _source in ("cache", "api"):
    TARGET_READS.labels(source=_source)


def observe_target_read(source: str) -> None:
    TARGET_READS.labels(source=source).inc()


def observe_query(seconds: float, outcome: str) -> None:
    PROMETHEUS_QUERY_DURATION.labels(outcome=outcome).observe(seconds)


def forget_policy(namespace: str, policy: str, targets: list[str]) -> None:
    """Drop a deleted policy's series so dashboards do not show ghosts."""
    for gauge in (MODE, HEALTH_SCORE, WEDDING_DAY_READY, READINESS_DEADLINE, MODE_DUE):
        with suppress(KeyError):
            gauge.remove(namespace, policy)
    for target in targets:
        for gauge in (DESIRED_REPLICAS, CURRENT_REPLICAS, SAFETY_GATE_BLOCKED):
            with suppress(KeyError):
                gauge.remove(namespace, policy, target)


def serve(port: int, addr: str = "0.0.0.0") -> None:
    """Serve /metrics from a background thread (prometheus_client's own server)."""
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)
    start_http_server(port, addr=addr, registry=REGISTRY)
