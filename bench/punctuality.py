"""Activation punctuality: is wedding-day mode on at start - leadTime, to the second?

N namespaces, each with one policy (one Deployment target at 1 replica, no metrics, the
default 30 s interval so that a mode switch can only come from the WeddingDay's timer,
never from a lucky tick) and one WeddingDay whose mode starts at a known whole second,
the N instants spread over ``--spread`` seconds. Two watches (PlatformScalings and
Deployments) time-stamp what the API server sends:

  (a) mode   status.mode becomes WeddingDay       - (start - leadTime)
  (b) patch  the target's replicas rise (1 → 2, the wedding-day floor ceil(1 x 1.2))

Late: more than 1 s after the instant. Missed: not switched 60 s after the last one.

    python bench/punctuality.py [--days 20] [--spread 120]
"""

from __future__ import annotations

import argparse
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import common
from common import Api, Watch, wait_until

from operator_fixture import deployment

LEAD_SECONDS = 60
LATE_SECONDS = 1.0
FMT = "%Y-%m-%dT%H:%M:%SZ"


def policy(ns: str, name: str, targets: Sequence[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "PlatformScaling",
        "metadata": {"name": name, "namespace": ns, "labels": {"policy": name}},
        "spec": {
            "targets": [
                {"kind": "Deployment", "name": t, "minReplicas": 1, "maxReplicas": 10}
                for t in targets
            ],
            **spec,
        },
    }


def day(ns: str, name: str, mode_start: datetime, policy_name: str | None) -> dict[str, Any]:
    start = mode_start + timedelta(seconds=LEAD_SECONDS)
    spec: dict[str, Any] = {
        "start": start.strftime(FMT),
        "end": (start + timedelta(hours=4)).strftime(FMT),
        "leadTime": f"{LEAD_SECONDS}s",
        "expectedWeddings": 1,
    }
    if policy_name is not None:
        spec["policySelector"] = {"matchLabels": {"policy": policy_name}}
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "WeddingDay",
        "metadata": {"name": name, "namespace": ns, "labels": {"bench": "day"}},
        "spec": spec,
    }


def target(ns: str, name: str, replicas: int = 1, paused: bool = False) -> dict[str, Any]:
    dep = deployment(name, replicas)
    dep["metadata"].update(namespace=ns, labels={"bench": "target"})
    # Paused: the Deployment controller makes no ReplicaSet, so no pods — /scale still
    # works. Used by the scale profile to measure the operator, not the scheduler.
    dep["spec"]["paused"] = paused
    return dep


def create_all(api: Api, objects: Iterable[dict[str, Any]], workers: int = 8) -> None:
    """POST each object (namespaced by its metadata), several at a time."""

    def path(obj: dict[str, Any]) -> str:
        group, _, version = obj["apiVersion"].rpartition("/")
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        plural = {
            "Namespace": "namespaces",
            "Deployment": "deployments",
            "PlatformScaling": "platformscalings",
            "WeddingDay": "weddingdays",
        }[obj["kind"]]
        ns = obj["metadata"].get("namespace")
        return f"{base}/namespaces/{ns}/{plural}" if ns else f"{base}/{plural}"

    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(lambda o: api.create(path(o), o), objects):
            pass


class Tracker:
    """First wedding-day-mode sighting per policy, first replica rise per target, and
    first mode phase written by each day (which tells a late day from a late policy)."""

    def __init__(self) -> None:
        self.mode_at: dict[tuple[str, str], float] = {}
        self.day_at: dict[tuple[str, str], float] = {}
        self.raised_at: dict[tuple[str, str], float] = {}
        self.initial: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()

    def on_policy(self, kind: str, obj: dict[str, Any], at: float) -> None:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if (obj.get("status") or {}).get("mode") == "WeddingDay":
            with self.lock:
                self.mode_at.setdefault(key, at)

    def on_day(self, kind: str, obj: dict[str, Any], at: float) -> None:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if (obj.get("status") or {}).get("phase") in ("Preparing", "Active"):
            with self.lock:
                self.day_at.setdefault(key, at)

    def on_target(self, kind: str, obj: dict[str, Any], at: float) -> None:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        replicas = int(obj["spec"].get("replicas") or 0)
        with self.lock:
            first = self.initial.setdefault(key, replicas)
            if replicas > first:
                self.raised_at.setdefault(key, at)

    def watches(self, api: Api) -> list[Watch]:
        return [
            Watch(api, "/apis/wedsync.io/v1alpha1/platformscalings", self.on_policy).start(),
            Watch(api, "/apis/wedsync.io/v1alpha1/weddingdays", self.on_day).start(),
            Watch(
                api,
                "/apis/apps/v1/deployments?labelSelector=" + urllib.parse.quote("bench=target"),
                self.on_target,
            ).start(),
        ]


@dataclass(frozen=True)
class Expected:
    policy: tuple[str, str]
    targets: tuple[tuple[str, str], ...]
    mode_start: float  # epoch seconds
    day: tuple[str, str] | None = None  # the WeddingDay that brings the mode


def slowest(tracker: Tracker, e: Expected, delay: float) -> dict[str, Any]:
    """One late activation: its policy, when it was due, and when its day wrote its mode
    phase (the day wakes its policies just before that write)."""
    day_at = tracker.day_at.get(e.day) if e.day else None
    return {
        "policy": "/".join(e.policy),
        "seconds": round(delay, 3),
        "due": datetime.fromtimestamp(e.mode_start, UTC).strftime(FMT),
        "day_phase_seconds": None if day_at is None else round(day_at - e.mode_start, 3),
    }


def outcome(tracker: Tracker, expected: Sequence[Expected], load: str) -> dict[str, Any]:
    mode, patch, missed_mode, missed_patch = [], [], 0, 0
    by_policy: list[tuple[float, Expected]] = []
    by_patch: list[tuple[float, Expected]] = []
    with tracker.lock:
        for e in expected:
            at = tracker.mode_at.get(e.policy)
            if at is None:
                missed_mode += 1
            else:
                mode.append(at - e.mode_start)
                by_policy.append((at - e.mode_start, e))
            rises = [tracker.raised_at.get(t) for t in e.targets]
            if any(r is None for r in rises):
                missed_patch += 1
            else:
                patch.append(max(r for r in rises if r is not None) - e.mode_start)
                by_patch.append((patch[-1], e))
    return {
        "activations": len(expected),
        "mode_switch_seconds": common.distribution(mode),
        "targets_patched_seconds": common.distribution(patch),
        "late_mode": sum(1 for d in mode if d > LATE_SECONDS),
        "late_patch": sum(1 for d in patch if d > LATE_SECONDS),
        "early_mode": sum(1 for d in mode if d < 0),
        "missed_mode": missed_mode,
        "missed_patch": missed_patch,
        # Which ones, and when their mode was due: an outlier is found in the operator
        # log only with its name and instant.
        "slowest_mode": [
            slowest(tracker, e, delay) for delay, e in sorted(by_policy, key=lambda d: -d[0])[:5]
        ],
        "slowest_patch": [
            slowest(tracker, e, delay) for delay, e in sorted(by_patch, key=lambda d: -d[0])[:5]
        ],
        "load": load,
    }


def wait_activations(tracker: Tracker, expected: Sequence[Expected], grace: float = 60) -> None:
    deadline = max(e.mode_start for e in expected) + grace

    def all_done() -> bool:
        with tracker.lock:
            return all(
                e.policy in tracker.mode_at and all(t in tracker.raised_at for t in e.targets)
                for e in expected
            )

    while time.time() < deadline and not all_done():
        time.sleep(0.5)


def report(title: str, r: dict[str, Any]) -> None:
    rows = []
    for part, label in (
        ("mode_switch_seconds", "(a) mode switched"),
        ("targets_patched_seconds", "(b) targets patched"),
    ):
        d = r[part]
        kind = "mode" if part.startswith("mode") else "patch"
        rows.append(
            [
                label,
                d["n"],
                d["min"],
                d["median"],
                d["p99"],
                d["max"],
                r[f"late_{kind}"],
                r[f"missed_{kind}"],
                r["load"],
            ]
        )
    common.print_table(
        title,
        ["measure", "n", "min", "median", "p99", "max", "late>1s", "missed", "load"],
        rows,
    )


def run(days: int = 20, spread: float = 120) -> dict[str, Any]:
    with common.bench_cluster("punctuality") as (cluster, work):
        api = Api(cluster)
        tracker = Tracker()
        watches = tracker.watches(api)
        operator = common.BenchOperator(cluster, work / "operator.log").start()
        try:
            namespaces = [f"punct-{i}" for i in range(days)]
            create_all(
                api,
                (
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
                    for ns in namespaces
                ),
            )
            create_all(api, (target(ns, "web") for ns in namespaces))
            create_all(api, (policy(ns, "platform", ["web"]) for ns in namespaces))
            wait_until(
                "every policy's first evaluation",
                lambda: (
                    sum(
                        1
                        for p in api.get("/apis/wedsync.io/v1alpha1/platformscalings")["items"]
                        if (p.get("status") or {}).get("mode") == "Normal"
                    )
                    == days
                ),
                timeout=120,
                interval=1.0,
            )
            # Whole seconds (the CRD's resolution), the first far enough ahead for the
            # operator to have started every day's timer.
            first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20 + days // 10)
            instants = [first + timedelta(seconds=int(i * spread / days)) for i in range(days)]
            create_all(
                api,
                (day(ns, "saturday", t, None) for ns, t in zip(namespaces, instants, strict=True)),
            )
            expected = [
                Expected((ns, "platform"), ((ns, "web"),), t.timestamp(), (ns, "saturday"))
                for ns, t in zip(namespaces, instants, strict=True)
            ]
            print(
                f"[punctuality] {days} days, mode starts {instants[0]:%H:%M:%S}.."
                f"{instants[-1]:%H:%M:%S} UTC ({common.load()})",
                flush=True,
            )
            wait_activations(tracker, expected)
            result = outcome(tracker, expected, common.load())
            result["spread_seconds"] = spread
        finally:
            operator.stop()
            for w in watches:
                w.stop()
        problems = operator.problems()
        if problems:
            result["operator_problems"] = common.tracebacks(operator.log()) or problems[:3]
    report(
        f"Activation punctuality, {days} WeddingDays over {spread:.0f} s: seconds after "
        "start - leadTime",
        result,
    )
    common.emit("punctuality", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--spread", type=float, default=120)
    args = parser.parse_args()
    result = run(args.days, args.spread)
    common.write_results("punctuality", {"punctuality": result})


if __name__ == "__main__":
    main()
