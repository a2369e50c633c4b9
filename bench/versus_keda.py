"""Side by side with KEDA on the same cluster and the same metric.

KEDA's operator and its metrics adapter, built from KEDA's Go module at the release pinned
in ``e2e/keda/module/go.mod`` (``e2e/keda/build.sh``, adapter included), run as processes
on the bench's local control plane with KEDA's CRDs from the same module
(``keda_autoscaler.py``). The adapter takes over ``external.metrics.k8s.io`` from
prometheus-adapter once the HPA scenarios are done (one APIService per group version),
registered the same way (see ``hpa.py``).

Reaction latency: the latency bench's scenarios (operator at 30 s, 2 s and wedding-day
10 s; the HPA through prometheus-adapter), then a ScaledObject with a ``prometheus``
trigger on the same series, at KEDA's default ``pollingInterval`` (30 s) and at 2 s, the
operator's fastest interval in this bench. The trigger's ``metricType: Value`` gives the
HPA's rule the other scenarios use: desired = ceil(current x value / threshold).

A scheduled event (``schedule``): KEDA's ``cron`` trigger, the closest it has to a wedding
day, against a WeddingDay with the same window in the same zone (America/New_York, so
neither reads UTC by accident), each raising its own Deployment from 2 to 6 replicas. The
window starts at a whole minute (cron's resolution) a few minutes ahead; the WeddingDay's
leadTime is 60 s so the bench does not wait the default 2 h. Measured from the API server
(a watch): when each Deployment was asked for 6 and when it had 6 available, against the
window's start and, for the operator, against start - leadTime. A DST transition cannot
be reached in real time on a given day: KEDA's and the operator's processes read the real
clock, so the DST half of the comparison is not measured here.

    python bench/versus_keda.py [--reps 6] [--normal-reps 3] [--wedding-reps 3]
        [--keda-reps 6] [--days 3] [--no-latency] [--no-schedule]
"""

from __future__ import annotations

import argparse
import threading
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import common
import latency
from common import Api, Watch, wait_until
from keda_autoscaler import Keda, scaled_object
from punctuality import target

from services.prometheus import Exporter, PrometheusServer

ZONE = "America/New_York"
LEAD_SECONDS = 60
FLOOR = 6  # the replicas both ask for during the window
GAUGE = "wedsync_bench_requests"


def cron_object(ns: str, start: datetime, end: datetime) -> dict[str, Any]:
    """A ScaledObject whose cron trigger asks for FLOOR replicas from start to end
    (local wall times in ZONE; cron has minute resolution)."""
    trigger = {
        "type": "cron",
        "metadata": {
            "timezone": ZONE,
            "start": f"{start.minute} {start.hour} * * *",
            "end": f"{end.minute} {end.hour} * * *",
            "desiredReplicas": str(FLOOR),
        },
    }
    return scaled_object(ns, "keda-web", trigger)


def wedding(ns: str, server: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """A policy that holds wedsync-web at 2 (100 per replica, the series reads 100) and
    floors it at FLOOR in the mode, and its WeddingDay: the same window, local times."""
    local = "%Y-%m-%dT%H:%M:%S"
    return [
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "PlatformScaling",
            "metadata": {"name": "platform", "namespace": ns},
            "spec": {
                "targets": [
                    {
                        "kind": "Deployment",
                        "name": "wedsync-web",
                        "minReplicas": 2,
                        "maxReplicas": 20,
                        "weddingDay": {"minReplicas": FLOOR},
                    }
                ],
                "metrics": [
                    {
                        "name": "requests",
                        "query": f'max({GAUGE}{{ns="{ns}"}})',
                        "target": {"type": "AverageValue", "value": 100},
                    }
                ],
                "prometheus": {"url": server, "timeout": "2s"},
            },
        },
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "day", "namespace": ns},
            "spec": {
                "start": start.strftime(local),
                "end": end.strftime(local),
                "timeZone": ZONE,
                "leadTime": f"{LEAD_SECONDS}s",
                "expectedWeddings": 1,
            },
        },
    ]


class Capacity:
    """Per (namespace, Deployment): when spec.replicas first reached FLOOR, and when
    availableReplicas did."""

    def __init__(self) -> None:
        self.asked: dict[tuple[str, str], float] = {}
        self.available: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()

    def on_event(self, kind: str, obj: dict[str, Any], at: float) -> None:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        with self.lock:
            if int(obj["spec"].get("replicas") or 0) >= FLOOR:
                self.asked.setdefault(key, at)
            if int((obj.get("status") or {}).get("availableReplicas") or 0) >= FLOOR:
                self.available.setdefault(key, at)


def schedule(days: int = 3) -> dict[str, Any]:
    """``days`` windows at once, each with a cron ScaledObject and a WeddingDay."""
    results: dict[str, Any] = {"zone": ZONE, "lead_time_seconds": LEAD_SECONDS, "days": days}
    with common.bench_cluster("keda-cron") as (cluster, work):
        api = Api(cluster)
        exporter = Exporter().start()
        gauge = exporter.gauge(GAUGE, "requests the bench sets", ["ns"])
        prometheus = PrometheusServer([exporter.target], work / "prometheus").start()
        operator = common.BenchOperator(cluster, work / "operator.log").start()
        capacity = Capacity()
        watch = Watch(
            api, "/apis/apps/v1/deployments?labelSelector=bench%3Dtarget", capacity.on_event
        )
        autoscalers: Keda | None = None
        try:
            watch.start()
            prometheus.wait_until_scraped()
            autoscalers = Keda(cluster, api, work)
            zone = ZoneInfo(ZONE)
            # The next whole minute with room for the set-up and the 60 s lead before it.
            now = datetime.now(zone)
            start = (now + timedelta(seconds=150)).replace(second=0, microsecond=0)
            start += timedelta(minutes=1)
            end = start + timedelta(minutes=10)
            namespaces = [f"cron-{i}" for i in range(days)]
            for ns in namespaces:
                api.create("/api/v1/namespaces", {"metadata": {"name": ns}})
                gauge.labels(ns=ns).set(100)
                for name in ("keda-web", "wedsync-web"):
                    api.create(f"/apis/apps/v1/namespaces/{ns}/deployments", target(ns, name, 2))
                api.create(
                    f"/apis/keda.sh/v1alpha1/namespaces/{ns}/scaledobjects",
                    cron_object(ns, start, end),
                )
                for obj in wedding(ns, prometheus.url, start, end):
                    plural = obj["kind"].lower() + "s"
                    api.create(f"/apis/wedsync.io/v1alpha1/namespaces/{ns}/{plural}", obj)
            assert datetime.now(zone) < start - timedelta(seconds=LEAD_SECONDS), "set-up too slow"
            print(
                f"[keda] {days} windows from {start.isoformat()} ({ZONE}), "
                f"lead {LEAD_SECONDS}s ({common.load()})",
                flush=True,
            )
            keys = [(ns, n) for ns in namespaces for n in ("keda-web", "wedsync-web")]
            wait_until(
                "every Deployment to have its window's replicas available",
                lambda: all(k in capacity.available for k in keys),
                timeout=(start - datetime.now(zone)).total_seconds() + 180,
                interval=1.0,
            )
        finally:
            if autoscalers is not None:
                autoscalers.stop()
            watch.stop()
            operator.stop()
            prometheus.stop()
            exporter.stop()
            problems = operator.problems()
            if problems:
                results["operator_problems"] = common.tracebacks(operator.log()) or problems[:3]
    at = start.timestamp()
    mode = at - LEAD_SECONDS
    for name, who in (("keda-web", "keda_cron"), ("wedsync-web", "weddingday")):
        asked = [capacity.asked[(ns, name)] - at for ns in namespaces]
        ready = [capacity.available[(ns, name)] - at for ns in namespaces]
        results[who] = {
            "asked_minus_start_seconds": common.distribution(asked),
            "available_minus_start_seconds": common.distribution(ready),
        }
    results["weddingday"]["asked_minus_mode_start_seconds"] = common.distribution(
        [capacity.asked[(ns, "wedsync-web")] - mode for ns in namespaces]
    )
    results["load"] = common.load()
    report_schedule(results)
    return results


def report_schedule(r: dict[str, Any]) -> None:
    rows = []
    for who, label in (("keda_cron", "KEDA cron trigger"), ("weddingday", "WeddingDay")):
        for part, d in r[who].items():
            rows.append(
                [label, part.removesuffix("_seconds"), d["n"], d["min"], d["median"], d["max"]]
            )
            label = ""
    common.print_table(
        f"A scheduled window ({r['zone']}): seconds relative to the window's start "
        "(negative: before it)",
        ["scheduler", "instant", "n", "min", "median", "max"],
        rows,
    )
    common.emit("keda-schedule", r)


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=6, help="operator at a 2 s interval")
    parser.add_argument("--normal-reps", type=int, default=3, help="at 30 s, and for the HPA")
    parser.add_argument("--wedding-reps", type=int, default=3)
    parser.add_argument("--keda-reps", type=int, default=6, help="per KEDA polling interval")
    parser.add_argument("--only", nargs="*", help="scenario names, e.g. hpa-15s keda-30s")
    parser.add_argument("--days", type=int, default=3, help="scheduled windows, run at once")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--no-schedule", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if not args.no_latency:
        results["latency"] = latency.run(
            args.reps, args.normal_reps, args.wedding_reps, True, args.only, args.keda_reps
        )
    if not args.no_schedule:
        results["schedule"] = schedule(args.days)
    common.write_results("keda", results)


if __name__ == "__main__":
    main()
