"""API economy: Kubernetes API requests and PromQL queries per evaluation.

``apiserver_request_total`` has no user label, so the operator's share is taken as a
difference of two equally long windows on the same cluster: a quiet one with the
operator stopped (controller-manager, scheduler and KWOK keep their own background
traffic) and one with only the operator added. The bench itself sends nothing but its
``/metrics`` reads in either window. Steady state: every metric sits at its target, so
an evaluation reads and decides but patches nothing (a change adds one /scale PATCH and
one Event POST per changed target).

Then, on the same cluster with the operator stopped, what each kind of request costs the
API server: its process CPU over ``--requests`` requests of one kind (8 at a time), divided
by their number. A write of a custom resource is far dearer than a read of a built-in one:
that is why the operator writes a policy's status only when something significant changed.

    python bench/api_economy.py [--policies 10] [--window 30] [--requests 1000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import common
from common import (
    Api,
    Proxy,
    metric_sum,
    operator_samples,
    proc_cpu_seconds,
    status_writes,
    wait_until,
)
from punctuality import create_all, policy, target

from services.prometheus import Exporter, PrometheusServer

NS = "economy"
GAUGE = "wedsync_bench_load"


def window(api: Api, seconds: float) -> dict[tuple[str, str, str], float]:
    before = api.request_counts()
    time.sleep(seconds)
    after = api.request_counts()
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}


def request_cost(
    api: Api, apiserver_pid: int, names: list[str], requests: int
) -> dict[str, dict[str, float]]:
    """API server CPU and wall time per request, for each kind the operator sends."""
    ps = f"/apis/wedsync.io/v1alpha1/namespaces/{NS}/platformscalings"
    scale = f"/apis/apps/v1/namespaces/{NS}/deployments"
    statuses = {n: api.get(f"{ps}/{n}")["status"] for n in names}
    merge = "application/merge-patch+json"
    t0 = datetime.now(UTC)

    def stamp(i: int) -> str:
        return (t0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def status_patch(i: int) -> None:
        n = names[i % len(names)]
        body = {"status": {**statuses[n], "lastEvaluationTime": stamp(i)}}
        api.request("PATCH", f"{ps}/{n}/status", body, merge)

    kinds: dict[str, Callable[[int], Any]] = {
        "GET deployments/scale": lambda i: api.get(f"{scale}/{names[i % len(names)]}-web/scale"),
        "LIST horizontalpodautoscalers": lambda i: api.get(
            f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers"
        ),
        "PATCH deployments/scale (same count)": lambda i: api.request(
            "PATCH", f"{scale}/{names[i % len(names)]}-web/scale", {"spec": {"replicas": 2}}, merge
        ),
        "GET platformscalings": lambda i: api.get(f"{ps}/{names[i % len(names)]}"),
        "PATCH platformscalings/status (whole status)": status_patch,
        "PATCH platformscalings/status (evaluation time only)": lambda i: api.request(
            "PATCH",
            f"{ps}/{names[i % len(names)]}/status",
            {"status": {"lastEvaluationTime": stamp(i)}},
            merge,
        ),
    }
    out: dict[str, dict[str, float]] = {}
    with ThreadPoolExecutor(8) as pool:
        for kind, send in kinds.items():
            list(pool.map(send, range(20)))  # connections up, caches warm
            cpu, wall = proc_cpu_seconds(apiserver_pid), time.monotonic()
            list(pool.map(send, range(requests)))
            out[kind] = {
                "cpu_ms": round(1000 * (proc_cpu_seconds(apiserver_pid) - cpu) / requests, 2),
                "wall_ms": round(1000 * (time.monotonic() - wall) / requests, 2),
            }
    return out


def run(policies: int = 10, seconds: float = 30, requests: int = 1000) -> dict[str, Any]:
    with common.bench_cluster("economy") as (cluster, work):
        api = Api(cluster)
        exporter = Exporter().start()
        gauge = exporter.gauge(GAUGE, "a load figure the bench holds at its target", ["m"])
        gauge.labels(m="a").set(80)
        gauge.labels(m="b").set(100)
        prometheus = PrometheusServer([exporter.target], work / "prometheus").start()
        proxy = Proxy(prometheus.url).start()
        operator = common.BenchOperator(cluster, work / "operator.log")
        try:
            prometheus.wait_until_scraped()
            create_all(api, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}])
            names = [f"p{i}" for i in range(policies)]
            create_all(
                api,
                (
                    target(NS, f"{n}-{t}", 2, paused=True)
                    for n in names
                    for t in ("web", "cache", "db")
                ),
            )
            metrics = [
                {
                    "name": "a",
                    "query": f'max({GAUGE}{{m="a"}})',
                    "target": {"type": "Utilization", "value": 80},
                },
                {
                    "name": "b",
                    "query": f'max({GAUGE}{{m="b"}})',
                    "target": {"type": "AverageValue", "value": 50},
                },
            ]
            create_all(
                api,
                (
                    policy(
                        NS,
                        n,
                        [f"{n}-web", f"{n}-cache", f"{n}-db"],
                        metrics=metrics,
                        prometheus={"url": proxy.url},
                        interval={"normal": "2s"},
                        weddingDay={"modeConfigMap": f"{n}-mode"},
                    )
                    for n in names
                ),
            )
            # Settle: controllers finish with the new objects before the quiet window.
            time.sleep(10)
            load_quiet = common.load()
            quiet = window(api, seconds)
            operator.start()
            wait_until(
                "every policy's first evaluation",
                lambda: all(
                    (p.get("status") or {}).get("mode") == "Normal"
                    for p in api.get(f"/apis/wedsync.io/v1alpha1/namespaces/{NS}/platformscalings")[
                        "items"
                    ]
                ),
                timeout=120,
                interval=1.0,
            )
            time.sleep(5)  # past the start-up lists and the first status writes
            before = operator_samples(operator.metrics_port)
            queries_before = len(proxy.queries)
            busy = window(api, seconds)
            after = operator_samples(operator.metrics_port)
            load_busy = common.load()
        finally:
            operator.stop()
            proxy.stop()
            prometheus.stop()
            exporter.stop()
        pid = int((cluster.state / "pids" / "kube-apiserver.pid").read_text())
        load_cost = common.load()
        cost = request_cost(api, pid, names, requests)

    evaluations = metric_sum(after, "wedsync_operator_evaluations_total") - metric_sum(
        before, "wedsync_operator_evaluations_total"
    )
    query_count = metric_sum(
        after, "wedsync_operator_prometheus_query_duration_seconds_count"
    ) - metric_sum(before, "wedsync_operator_prometheus_query_duration_seconds_count")
    per_key: dict[str, float] = {}
    for key in sorted(set(busy) | set(quiet)):
        verb, resource, sub = key
        if not resource:  # /metrics, /healthz...: the bench's own reads, not the operator
            continue
        extra = busy.get(key, 0.0) - quiet.get(key, 0.0)
        if abs(extra) >= 0.5:
            per_key[f"{verb} {resource}{'/' + sub if sub else ''}"] = extra
    total = sum(per_key.values())
    result: dict[str, Any] = {
        "policies": policies,
        "targets_per_policy": 3,
        "metrics_per_policy": 2,
        "window_seconds": seconds,
        "evaluations": evaluations,
        "api_requests_per_evaluation": round(total / evaluations, 2) if evaluations else None,
        "by_request": {k: round(v / evaluations, 2) for k, v in per_key.items()}
        if evaluations
        else {},
        "prometheus_queries_per_evaluation": round(query_count / evaluations, 2)
        if evaluations
        else None,
        "proxy_queries_per_evaluation": round(
            (len(proxy.queries) - queries_before) / evaluations, 2
        )
        if evaluations
        else None,
        "background_requests_in_quiet_window": round(sum(v for k, v in quiet.items() if k[1])),
        "status_writes_per_evaluation": round(
            (status_writes(after) - status_writes(before)) / evaluations, 2
        )
        if evaluations
        else None,
        "apiserver_cost_per_request": cost,
        "load": {"quiet": load_quiet, "operator": load_busy, "cost": load_cost},
    }
    rows: list[list[Any]] = [
        [k, round(v / evaluations, 2) if evaluations else "-"] for k, v in per_key.items()
    ]
    rows.append(["TOTAL API requests / evaluation", result["api_requests_per_evaluation"]])
    rows.append(["PromQL queries / evaluation", result["prometheus_queries_per_evaluation"]])
    common.print_table(
        f"API economy: {policies} policies x 3 targets x 2 metrics, 2 s interval, "
        f"{evaluations:.0f} evaluations in {seconds:.0f} s (load {load_busy})",
        ["request (verb resource/subresource)", "per evaluation"],
        rows,
    )
    common.print_table(
        f"API server CPU per request, {requests} of each, 8 at a time (load {load_cost})",
        ["request", "CPU ms", "wall ms"],
        [[k, v["cpu_ms"], v["wall_ms"]] for k, v in cost.items()],
    )
    common.emit("api_economy", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=10)
    parser.add_argument("--window", type=float, default=30)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    result = run(args.policies, args.window, args.requests)
    common.write_results("api-economy", {"api_economy": result})


if __name__ == "__main__":
    main()
