"""Decision engine speed: decisions per second of the pure ``decide`` on one core.

A realistic policy: 3 targets (database, cache, app tiers), 2 metrics each reaching the
app target and one the cache, a scale-down stabilization window holding 5 minutes of
per-evaluation recommendations (30 s interval → 10; we give 60 to be pessimistic) and
recent scale events, in both modes. No cluster: this isolates the engine's CPU cost from
the I/O of an evaluation.

    python bench/engine.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import common

from wedsync_operator.engine.mode import NORMAL_MODE, Mode, ModeResolution
from wedsync_operator.engine.replicas import Recommendation, ScaleEvent, TargetState, decide
from wedsync_operator.model import parse_platform_scaling

POLICY: dict[str, Any] = {
    "apiVersion": "wedsync.io/v1alpha1",
    "kind": "PlatformScaling",
    "metadata": {"name": "platform", "namespace": "wedsync"},
    "spec": {
        "targets": [
            {
                "kind": "Deployment",
                "name": "web",
                "role": "app",
                "minReplicas": 2,
                "maxReplicas": 30,
                "weddingDay": {"minReplicas": 6},
            },
            {
                "kind": "StatefulSet",
                "name": "redis-replica",
                "role": "cache",
                "minReplicas": 1,
                "maxReplicas": 6,
            },
            {
                "kind": "StatefulSet",
                "name": "postgres-replica",
                "role": "database",
                "minReplicas": 1,
                "maxReplicas": 4,
            },
        ],
        "metrics": [
            {
                "name": "cpu",
                "query": "avg(cpu)",
                "targets": ["web", "redis-replica"],
                "target": {"type": "Utilization", "value": 80},
                "weddingDayTarget": {"value": 60},
            },
            {
                "name": "rps",
                "query": "sum(rate(http_requests_total[1m]))",
                "targets": ["web"],
                "target": {"type": "AverageValue", "value": 100},
            },
        ],
        "prometheus": {"url": "http://prometheus:9090"},
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
    },
}


def states(now: datetime) -> dict[str, TargetState]:
    recs = tuple(
        Recommendation(at=now - timedelta(seconds=5 * i), replicas=4 + i % 3) for i in range(60)
    )
    events = tuple(ScaleEvent(at=now - timedelta(seconds=40 * i), delta=1) for i in range(4))
    return {
        "web": TargetState(current=5, baseline=5, recommendations=recs, events=events),
        "redis-replica": TargetState(current=2, recommendations=recs[:20]),
        "postgres-replica": TargetState(current=1),
    }


def rate(mode: ModeResolution, seconds: float) -> tuple[int, float]:
    policy = parse_platform_scaling(POLICY)
    now = datetime(2027, 6, 12, 12, 0, tzinfo=UTC)
    st = states(now)
    samples = {"cpu": 91.5, "rps": 612.0}
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(100):
            decide(policy, st, samples, mode, 0, {}, now)
        count += 100
        if time.perf_counter() >= deadline:
            break
    return count, time.perf_counter() - started


def run(seconds: float = 5.0) -> dict[str, Any]:
    # Pin to one core so the figure means "per core" even while others share the machine.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    wedding = ModeResolution(
        mode=Mode.WEDDING_DAY,
        active_days=("saturday",),
        since=datetime(2027, 6, 12, 9, 0, tzinfo=UTC),
        until=None,
        load_factor=1.5,
        reason="WeddingDayActive",
        message="bench",
    )
    rows, result = [], {}
    for label, mode in (("normal", NORMAL_MODE), ("wedding-day", wedding)):
        rate(mode, 0.3)  # warm caches and the interpreter's specializations
        count, elapsed = rate(mode, seconds)
        per_second = count / elapsed
        result[label] = {
            "decisions_per_second": round(per_second),
            "microseconds_per_decision": round(1e6 / per_second, 1),
            "load": common.load(),
        }
        rows.append([label, f"{per_second:,.0f}", f"{1e6 / per_second:.1f}", common.load()])
    common.print_table(
        "Decision engine: decide() over 3 targets x 2 metrics, 60-entry history, one core",
        ["mode", "decisions/s", "us/decision", "load (1/5/15 min)"],
        rows,
    )
    common.emit("engine", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    result = run(args.seconds)
    common.write_results("engine", {"engine": result})


if __name__ == "__main__":
    main()
