"""Reaction latency: a metric crosses its target at t0; how long until the /scale patch?

Each repetition has its own namespace, Deployment, policy and exporter series, so no
repetition inherits another's stabilization or rate-limit history. After the policy has
settled (ratio 1.0, replicas stable) the bench waits a random fraction of the interval —
so t0 falls at a uniformly random phase of the evaluation loop, as a real load spike
would — then sets the gauge to twice the target and times:

  scrape   t0 → the new value is first returned by Prometheus (scrape every 1 s; the
           bench polls every 50 ms, and the operator's own query counts if earlier)
  wait     → the first evaluation query that is answered with the new value (recorded
           by a proxy between the operator and Prometheus)
  patch    → the Deployment's spec.replicas changes (watch event): the rest of that
           evaluation — /scale reads, decide, the /scale patch

The HPA comparison runs kube-controller-manager's HPA on the same metric through
prometheus-adapter (external.metrics.k8s.io), when that can be built (see hpa.py); with
``keda_reps`` (bench/versus_keda.py), KEDA's ScaledObjects follow, through KEDA's adapter.

    python bench/latency.py [--reps 5] [--normal-reps 3] [--wedding-reps 3] [--no-hpa]
"""

from __future__ import annotations

import argparse
import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import common
import hpa
import keda_autoscaler
from common import Api, Cluster, Proxy, Watch, wait_until

from operator_fixture import deployment
from services.prometheus import Exporter, PrometheusServer

GAUGE = "wedsync_bench_cpu_percent"
LABEL = "bench=latency"
rng = random.Random(7)  # seeded: the same phases on every run


@dataclass(frozen=True)
class Scenario:
    name: str
    reps: int
    interval: float  # the evaluation (or HPA sync) period in force
    target: int  # the metric's target in the mode in force
    kind: str  # "operator", "hpa" or "keda"
    normal: str = "30s"
    wedding: str = "10s"
    wedding_day: bool = False
    polling: int = 30  # a ScaledObject's pollingInterval


@dataclass
class Sample:
    t0: float
    visible: float
    query: float | None
    patch: float | None
    replicas: tuple[int, int]


class Replicas:
    """spec.replicas of every bench Deployment over time, from one watch."""

    def __init__(self) -> None:
        self.changes: dict[str, list[tuple[float, int]]] = {}
        self.lock = threading.Lock()

    def on_event(self, kind: str, obj: dict[str, Any], at: float) -> None:
        ns = obj["metadata"]["namespace"]
        value = int(obj["spec"].get("replicas") or 0)
        with self.lock:
            seen = self.changes.setdefault(ns, [])
            if not seen or seen[-1][1] != value:
                seen.append((at, value))

    def first_change(self, ns: str, since: float, away_from: int) -> tuple[float, int] | None:
        with self.lock:
            return next(
                ((t, v) for t, v in self.changes.get(ns, []) if t >= since and v != away_from),
                None,
            )


def policy(ns: str, url: str, s: Scenario) -> dict[str, Any]:
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "PlatformScaling",
        "metadata": {"name": "platform", "namespace": ns},
        "spec": {
            "targets": [{"kind": "Deployment", "name": "web", "minReplicas": 2, "maxReplicas": 20}],
            "metrics": [
                {
                    "name": "cpu",
                    "query": f'max({GAUGE}{{ns="{ns}"}})',
                    "target": {"type": "Utilization", "value": 80},
                    "weddingDayTarget": {"value": 60},
                }
            ],
            "prometheus": {"url": url, "timeout": "2s"},
            "interval": {"normal": s.normal, "weddingDay": s.wedding},
        },
    }


def wedding_day(ns: str) -> dict[str, Any]:
    # Already Active: the mode (and its interval and target) is in force from the start.
    now = datetime.now(UTC).replace(microsecond=0)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "WeddingDay",
        "metadata": {"name": "today", "namespace": ns},
        "spec": {
            "start": (now - timedelta(minutes=1)).strftime(fmt),
            "end": (now + timedelta(hours=2)).strftime(fmt),
            "expectedWeddings": 1,
        },
    }


def settled(api: Api, ns: str, s: Scenario) -> int | None:
    """The replica count once the policy (or HPA) has evaluated and holds still."""
    replicas = int(api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web")["spec"]["replicas"])
    if s.kind in ("hpa", "keda"):
        name = "web" if s.kind == "hpa" else "keda-hpa-web"  # KEDA names the HPA it makes
        try:
            found = api.get(f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/{name}")
        except RuntimeError:  # not made yet
            return None
        status = found.get("status") or {}
        active = any(
            c["type"] == "ScalingActive" and c["status"] == "True"
            for c in status.get("conditions", [])
        )
        return replicas if active and status.get("currentMetrics") else None
    status = (
        api.get(f"/apis/wedsync.io/v1alpha1/namespaces/{ns}/platformscalings/platform").get(
            "status"
        )
        or {}
    )
    targets = status.get("targets") or []
    mode_ok = status.get("mode") == ("WeddingDay" if s.wedding_day else "Normal")
    if (
        mode_ok
        and targets
        and targets[0].get("desiredReplicas") == replicas == targets[0].get("currentReplicas")
    ):
        return replicas
    return None


def one(
    api: Api,
    prometheus: PrometheusServer,
    proxy: Proxy,
    watch: Replicas,
    set_gauge: Callable[[str, float], None],
    ns: str,
    s: Scenario,
    base: int,
    delay: float,
) -> Sample:
    time.sleep(delay)
    value = 2.0 * s.target
    needle = f'ns="{ns}"'
    t0 = time.time()
    set_gauge(ns, value)
    polled = prometheus.wait_for_value(
        f'max({GAUGE}{{ns="{ns}"}})', lambda v: v == value, timeout=30, interval=0.05
    )
    assert polled == value
    polled_at = time.time()
    deadline = time.monotonic() + 3 * s.interval + 30
    change = None
    while change is None and time.monotonic() < deadline:
        change = watch.first_change(ns, t0, base)
        time.sleep(0.05)
    # The first query after t0 that was answered with the new value; its arrival is when
    # the evaluation (or the HPA sync through the adapter) started reading metrics.
    queries = [q for q in proxy.matching(needle, t0) if q.value == value]
    query = queries[0].at if queries else None
    visible = min(polled_at, query) if query is not None else polled_at
    return Sample(
        t0=t0,
        visible=visible,
        query=query,
        patch=change[0] if change else None,
        replicas=(base, change[1] if change else base),
    )


def run_scenario(
    cluster: Cluster,
    api: Api,
    prometheus: PrometheusServer,
    proxy: Proxy,
    watch: Replicas,
    set_gauge: Callable[[str, float], None],
    s: Scenario,
) -> list[Sample]:
    namespaces = [f"lat-{s.name}-{i}" for i in range(s.reps)]
    for ns in namespaces:
        api.create("/api/v1/namespaces", {"metadata": {"name": ns}})
        set_gauge(ns, s.target)  # ratio 1.0: nothing to do until t0
        dep = deployment("web", 2)
        dep["metadata"]["labels"] = {"bench": "latency"}
        api.create(f"/apis/apps/v1/namespaces/{ns}/deployments", dep)
        if s.kind == "hpa":
            api.create(
                f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
                hpa.autoscaler(ns, GAUGE, s.target),
            )
            continue
        if s.kind == "keda":
            query = f'max({GAUGE}{{ns="{ns}"}})'
            api.create(
                f"/apis/keda.sh/v1alpha1/namespaces/{ns}/scaledobjects",
                keda_autoscaler.scaled_object(
                    ns,
                    "web",
                    keda_autoscaler.prometheus_trigger(proxy.url, query, s.target),
                    s.polling,
                ),
            )
            continue
        if s.wedding_day:
            api.create(f"/apis/wedsync.io/v1alpha1/namespaces/{ns}/weddingdays", wedding_day(ns))
        api.create(
            f"/apis/wedsync.io/v1alpha1/namespaces/{ns}/platformscalings", policy(ns, proxy.url, s)
        )
    bases: dict[str, int] = {}
    for ns in namespaces:

        def probe(ns: str = ns) -> int | None:
            return settled(api, ns, s)

        bases[ns] = wait_until(f"{ns} to settle", probe, timeout=180, interval=1.0)
    time.sleep(1.0)  # the last settling patch must not be taken for a reaction
    delays = {ns: rng.uniform(0, s.interval) for ns in namespaces}
    samples: list[Sample] = []
    lock = threading.Lock()

    def worker(ns: str) -> None:
        sample = one(api, prometheus, proxy, watch, set_gauge, ns, s, bases[ns], delays[ns])
        with lock:
            samples.append(sample)

    threads = [threading.Thread(target=worker, args=(ns,)) for ns in namespaces]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ns in namespaces:
        api.request("DELETE", f"/api/v1/namespaces/{ns}")
    return samples


def summarize(s: Scenario, samples: list[Sample], load: str) -> dict[str, Any]:
    done = [x for x in samples if x.patch is not None]
    total = [x.patch - x.t0 for x in done if x.patch is not None]
    scrape = [x.visible - x.t0 for x in done]
    wait = [x.query - x.visible for x in done if x.query is not None]
    patch = [x.patch - x.query for x in done if x.patch is not None and x.query is not None]
    return {
        "kind": s.kind,
        "interval_seconds": s.interval,
        "repetitions": len(samples),
        "reacted": len(done),
        "replicas": sorted({f"{a}->{b}" for a, b in (x.replicas for x in samples)}),
        "total_seconds": common.distribution(total),
        "scrape_seconds": common.distribution(scrape),
        "wait_for_evaluation_seconds": common.distribution(wait),
        "query_to_patch_seconds": common.distribution(patch),
        "load": load,
    }


def run(
    reps: int = 6,
    normal_reps: int = 3,
    wedding_reps: int = 3,
    with_hpa: bool = True,
    only: list[str] | None = None,
    keda_reps: int = 0,
) -> dict[str, Any]:
    scenarios = [
        Scenario("normal-30s", normal_reps, 30, 80, "operator"),
        Scenario("normal-2s", reps, 2, 80, "operator", normal="2s"),
        Scenario("wedding-10s", wedding_reps, 10, 60, "operator", wedding_day=True),
    ]
    results: dict[str, Any] = {}
    with common.bench_cluster("latency") as (cluster, work):
        api = Api(cluster)
        exporter = Exporter().start()
        gauge = exporter.gauge(GAUGE, "CPU utilization the bench sets", ["ns"])
        prometheus = PrometheusServer([exporter.target], work / "prometheus").start()
        proxy = Proxy(prometheus.url).start()
        replicas = Replicas()
        watch = Watch(
            api,
            "/apis/apps/v1/deployments?labelSelector=" + urllib.parse.quote(LABEL),
            replicas.on_event,
        ).start()
        operator = common.BenchOperator(cluster, work / "operator.log").start()
        adapter: hpa.Adapter | None = None
        autoscalers: keda_autoscaler.Keda | None = None

        def measure(s: Scenario) -> None:
            if only and s.name not in only:
                return
            print(f"[latency] {s.name}: {s.reps} repetitions ({common.load()})", flush=True)
            samples = run_scenario(
                cluster,
                api,
                prometheus,
                proxy,
                replicas,
                lambda ns, v: gauge.labels(ns=ns).set(v),
                s,
            )
            results[s.name] = summarize(s, samples, common.load())

        try:
            prometheus.wait_until_scraped()
            if with_hpa:
                adapter, why = hpa.start(cluster, api, proxy.url, work / "adapter", GAUGE)
                if adapter is not None:
                    scenarios.append(Scenario("hpa-15s", normal_reps, 15, 80, "hpa"))
                else:
                    results["hpa_not_run"] = why
            for s in scenarios:
                measure(s)
            if keda_reps:
                if adapter is not None:  # KEDA's adapter takes external.metrics.k8s.io over
                    adapter.stop()
                    adapter = None
                autoscalers = keda_autoscaler.Keda(cluster, api, work)
                # The HPA KEDA makes syncs every 15 s: that is the loop t0 falls into.
                for poll in (30, 2):
                    measure(Scenario(f"keda-{poll}s", keda_reps, 15, 80, "keda", polling=poll))
        finally:
            if autoscalers is not None:
                autoscalers.stop()
            if adapter is not None:
                adapter.stop()
            operator.stop()
            watch.stop()
            proxy.stop()
            prometheus.stop()
            exporter.stop()
            problems = operator.problems()
            if problems:
                results["operator_problems"] = common.tracebacks(operator.log()) or problems[:3]
    report(results)
    return results


def report(results: dict[str, Any]) -> None:
    rows = []
    for name, r in results.items():
        if not isinstance(r, dict) or "total_seconds" not in r:
            continue
        for part in (
            "total_seconds",
            "scrape_seconds",
            "wait_for_evaluation_seconds",
            "query_to_patch_seconds",
        ):
            d = r[part]
            rows.append(
                [
                    name if part == "total_seconds" else "",
                    part.removesuffix("_seconds"),
                    d["n"],
                    d["min"],
                    d["median"],
                    d["p95"],
                    d["max"],
                    r["load"] if part == "total_seconds" else "",
                ]
            )
    common.print_table(
        "Reaction latency, seconds from the metric crossing (t0) to the /scale patch",
        ["scenario", "part", "n", "min", "median", "p95", "max", "load"],
        rows,
    )
    if "hpa_not_run" in results:
        print(f"  HPA not measured: {results['hpa_not_run']}")
    common.emit("latency", results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=6, help="repetitions at a 2 s interval")
    parser.add_argument("--normal-reps", type=int, default=3, help="at 30 s, and for the HPA")
    parser.add_argument("--wedding-reps", type=int, default=3)
    parser.add_argument("--no-hpa", action="store_true")
    parser.add_argument("--only", nargs="*", help="scenario names, e.g. normal-2s hpa-15s")
    args = parser.parse_args()
    result = run(args.reps, args.normal_reps, args.wedding_reps, not args.no_hpa, args.only)
    common.write_results("latency", {"latency": result})


if __name__ == "__main__":
    main()
