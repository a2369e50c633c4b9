"""Scale: many policies and a season of WeddingDays on one operator process.

Layout (defaults = the issue's size): 100 namespaces x 10 PlatformScaling = 1,000
policies, each with 3 Deployment targets (3,000 Deployments) and one PromQL metric held
at its target, at the default intervals (30 s normal, 10 s wedding-day); 10 WeddingDays
per policy (10,000), each selecting its policy by label. The season days fall on
Saturdays over the next 26 weeks; ``--burst`` of the policies get their tenth day as
"this Saturday": created after the idle window, mode starts spread over
``--burst-spread`` seconds from 45 s later, and timed as in punctuality.py.

The Deployments are paused: the Deployment controller makes no ReplicaSets, hence no
pods, so the 2 cores go to the API server and the operator rather than to scheduling
thousands of KWOK pods; ``/scale`` reads and patches are unaffected.

Reported: operator RSS (VmRSS) and CPU (utime+stime per wall second) while idle (only
periodic evaluations) and during the burst, evaluations per second sustained (from
wedsync_operator_evaluations_total) against the configured rate, late and missed
activations, and how long the operator took to evaluate every policy after start.

    python bench/scale.py [--namespaces 100] [--policies-per-namespace 10]
                          [--days-per-policy 10] [--burst 200] [--idle-window 60]
                          [--startup-timeout 900]

Then the restart phase (``--restart-days``, 0 to skip): the operator is SIGKILLed, that
many days whose mode starts 20-40 s later are created, and a new process starts 2 s after
the kill; reported are how long until it has evaluated every policy again, its RSS, and
how punctual those activations were.

If the operator has not evaluated every policy within ``--startup-timeout`` seconds of
starting, the bench reports how far it got (policies evaluated, CPU, RSS) and stops
there: a size the operator cannot start at is a result, not something to extrapolate.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import common
from common import (
    Api,
    metric_sum,
    operator_samples,
    proc_cpu_seconds,
    proc_rss_bytes,
    status_writes,
)
from punctuality import (
    Expected,
    Tracker,
    create_all,
    day,
    outcome,
    policy,
    report,
    target,
    wait_activations,
)

from operator_fixture import memory_limit
from services.prometheus import Exporter, PrometheusServer

GAUGE = "wedsync_bench_load"
rng = random.Random(11)


def season_day(ns: str, name: str, policy_name: str, today: datetime) -> dict[str, Any]:
    # A Saturday 1-26 weeks ahead, 09:00-13:00 UTC start: never inside the bench.
    days_to_saturday = (5 - today.weekday()) % 7 or 7
    saturday = today + timedelta(days=days_to_saturday + 7 * rng.randrange(26))
    mode_start = saturday.replace(hour=9 + rng.randrange(4), minute=0, second=0, microsecond=0)
    return day(ns, name, mode_start, policy_name)


Sample = tuple[float, float, float, float, float, float, float]
GC = "wedsync_operator_gc_pause_seconds"


def sample(operator: common.BenchOperator, apiserver: int) -> Sample:
    """(wall time, operator CPU seconds, evaluations so far, status writes so far,
    API server CPU seconds, full collections so far, seconds they stopped the loop)."""
    pid = operator.process.pid if operator.process else 0
    samples = operator_samples(operator.metrics_port)
    evaluations = metric_sum(samples, "wedsync_operator_evaluations_total")
    return (
        time.time(),
        proc_cpu_seconds(pid),
        evaluations,
        status_writes(samples),
        proc_cpu_seconds(apiserver),
        samples.get(f"{GC}_count{{generation=2}}", 0.0),
        samples.get(f"{GC}_sum{{generation=2}}", 0.0),
    )


def gc_pauses(samples: dict[str, float]) -> dict[str, dict[str, float]]:
    """The operator's garbage-collector pauses so far, per generation: how many, their
    total, and how many stopped the event loop longer than 0.5 s and 1 s."""
    name = GC
    out: dict[str, dict[str, float]] = {}
    for generation in ("0", "1", "2"):
        count = samples.get(f"{name}_count{{generation={generation}}}", 0.0)
        out[generation] = {
            "count": count,
            "seconds": round(samples.get(f"{name}_sum{{generation={generation}}}", 0.0), 2),
            "over_0.5_s": count
            - samples.get(f"{name}_bucket{{generation={generation},le=0.5}}", 0.0),
            "over_1_s": count
            - samples.get(f"{name}_bucket{{generation={generation},le=1.0}}", 0.0),
        }
    return out


def rates(a: Sample, b: Sample) -> dict[str, float]:
    wall = b[0] - a[0]
    return {
        "seconds": round(wall, 1),
        "cpu_percent_of_one_core": round(100 * (b[1] - a[1]) / wall, 1),
        "evaluations_per_second": round((b[2] - a[2]) / wall, 2),
        "status_writes_per_second": round((b[3] - a[3]) / wall, 2),
        "apiserver_cpu_percent_of_one_core": round(100 * (b[4] - a[4]) / wall, 1),
        "full_collections": b[5] - a[5],
        "full_collection_seconds": round(b[6] - a[6], 2),
    }


def run(
    namespaces: int = 100,
    per_namespace: int = 10,
    days_per_policy: int = 10,
    burst: int = 200,
    burst_spread: float = 60,
    idle_window: float = 60,
    startup_timeout: float = 900,
    restart_days: int = 50,
) -> dict[str, Any]:
    policies = [(f"scale-{i}", f"p-{j}") for i in range(namespaces) for j in range(per_namespace)]
    burst = min(burst, len(policies))
    today = datetime.now(UTC)
    result: dict[str, Any] = {
        "ran": {
            "namespaces": namespaces,
            "policies": len(policies),
            "deployments": 3 * len(policies),
            "wedding_days": days_per_policy * len(policies),
            "burst_activations": burst,
            "deployments_paused": True,
        }
    }
    with common.bench_cluster("scale") as (cluster, work):
        api = Api(cluster)
        exporter = Exporter().start()
        exporter.gauge(GAUGE, "held at the policies' target", []).set(80)
        prometheus = PrometheusServer([exporter.target], work / "prometheus").start()
        tracker = Tracker()
        watches = tracker.watches(api)
        operator = common.BenchOperator(cluster, work / "operator.log")
        try:
            prometheus.wait_until_scraped()
            started = time.monotonic()
            create_all(
                api,
                (
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
                    for n in sorted({ns for ns, _ in policies})
                ),
            )
            create_all(
                api,
                (
                    target(ns, f"{p}-{t}", 1, paused=True)
                    for ns, p in policies
                    for t in ("web", "cache", "db")
                ),
            )
            metric = [
                {
                    "name": "load",
                    "query": f"max({GAUGE})",
                    "target": {"type": "Utilization", "value": 80},
                }
            ]
            # One mode ConfigMap per policy: policies sharing a namespace would otherwise
            # write the same one (default `wedsync-mode`) with different modes.
            create_all(
                api,
                (
                    policy(
                        ns,
                        p,
                        [f"{p}-web", f"{p}-cache", f"{p}-db"],
                        metrics=metric,
                        prometheus={"url": prometheus.url},
                        weddingDay={"modeConfigMap": f"{p}-mode"},
                    )
                    for ns, p in policies
                ),
            )
            season = days_per_policy - 1
            create_all(
                api,
                (
                    season_day(ns, f"{p}-d{k}", p, today)
                    for n, (ns, p) in enumerate(policies)
                    for k in range(season + (0 if n < burst else 1))
                ),
            )
            result["create_seconds"] = round(time.monotonic() - started, 1)
            print(
                f"[scale] created {result['ran']} in {result['create_seconds']} s "
                f"({common.load()})",
                flush=True,
            )

            operator.start()
            started = time.monotonic()
            pid = operator.process.pid if operator.process else 0
            apiserver = int((cluster.state / "pids" / "kube-apiserver.pid").read_text())

            season_days = days_per_policy * len(policies) - burst
            startup = wait_startup(api, operator, len(policies), season_days, startup_timeout)
            result["startup"] = startup
            if not startup["completed"]:
                return finish(result, operator, burst, burst_spread)
            time.sleep(30)  # past the start-up wave: the first evaluations bunch together

            a = sample(operator, apiserver)
            time.sleep(idle_window)
            b = sample(operator, apiserver)
            result["idle"] = {
                **rates(a, b),
                "rss_bytes": proc_rss_bytes(pid),
                "configured_evaluations_per_second": round(len(policies) / 30, 2),
                "load": common.load(),
            }
            print(f"[scale] idle {result['idle']}", flush=True)

            first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=45)
            chosen = policies[:burst]
            instants = [
                first + timedelta(seconds=int(i * burst_spread / burst)) for i in range(burst)
            ]
            create_all(
                api,
                (
                    day(ns, f"{p}-saturday", t, p)
                    for (ns, p), t in zip(chosen, instants, strict=True)
                ),
            )
            expected = expectations(chosen, instants, "saturday")
            time.sleep(max(0.0, first.timestamp() - time.time()))
            c = sample(operator, apiserver)
            peak_rss = proc_rss_bytes(pid)
            while time.time() < instants[-1].timestamp() + 10:
                time.sleep(1)
                peak_rss = max(peak_rss, proc_rss_bytes(pid))
            d = sample(operator, apiserver)
            wait_activations(tracker, expected)
            result["burst"] = {**rates(c, d), "rss_bytes_peak": peak_rss, "load": common.load()}
            result["gc_pauses"] = gc_pauses(operator_samples(operator.metrics_port))
            print(f"[scale] garbage-collector pauses {result['gc_pauses']}", flush=True)
            result["activations"] = outcome(tracker, expected, common.load())
            # The restart's days go to policies the burst left without one.
            if restart_days and len(policies) > burst:
                result["restart"] = restart(
                    api, operator, tracker, policies[burst:], restart_days, len(policies)
                )
                print(f"[scale] restart {result['restart']}", flush=True)
        finally:
            operator.stop()
            for w in watches:
                w.stop()
            prometheus.stop()
            exporter.stop()
    return finish(result, operator, burst, burst_spread)


def expectations(
    chosen: list[tuple[str, str]], instants: list[datetime], suffix: str
) -> list[Expected]:
    """What each chosen policy's day ``<policy>-<suffix>`` must bring at its instant: the
    mode, and a rise of its three targets."""
    return [
        Expected(
            (ns, p),
            tuple((ns, f"{p}-{t}") for t in ("web", "cache", "db")),
            t0.timestamp(),
            (ns, f"{p}-{suffix}"),
        )
        for (ns, p), t0 in zip(chosen, instants, strict=True)
    ]


def evaluated_since(api: Api, since: datetime) -> int:
    """Policies whose status says they were evaluated at ``since`` or later (the first
    evaluation of a process always writes status)."""
    found = api.get("/apis/wedsync.io/v1alpha1/platformscalings")["items"]
    cut = since.replace(microsecond=0)
    return sum(
        1
        for p in found
        if (at := (p.get("status") or {}).get("lastEvaluationTime"))
        and datetime.fromisoformat(at.replace("Z", "+00:00")) >= cut
    )


def restart(
    api: Api,
    operator: common.BenchOperator,
    tracker: Tracker,
    candidates: list[tuple[str, str]],
    count: int,
    policies: int,
) -> dict[str, Any]:
    """SIGKILL the operator, create ``count`` days whose mode starts 20-40 s later, start
    a new process 2 s after the kill; how long until every policy is evaluated again,
    and how punctual the activations that fall due meanwhile are."""
    chosen = candidates[:count]
    operator.kill()
    killed = time.time()
    base = datetime.fromtimestamp(killed, UTC).replace(microsecond=0)
    instants = [
        base + timedelta(seconds=20 + int(i * 20 / max(len(chosen), 1))) for i in range(len(chosen))
    ]
    create_all(
        api,
        (day(ns, f"{p}-restart", t, p) for (ns, p), t in zip(chosen, instants, strict=True)),
    )
    time.sleep(max(0.0, killed + 2 - time.time()))
    operator.start()
    started, started_at = time.monotonic(), datetime.now(UTC)
    pid = operator.process.pid if operator.process else 0
    evaluated, seconds = 0, None
    peak_rss = 0
    while time.monotonic() - started < 120:
        peak_rss = max(peak_rss, proc_rss_bytes(pid))
        evaluated = evaluated_since(api, started_at)
        if evaluated >= policies:
            seconds = round(time.monotonic() - started, 1)
            break
        time.sleep(1)
    expected = expectations(chosen, instants, "restart")
    wait_activations(tracker, expected)
    return {
        "days": len(chosen),
        "mode_starts_after_kill_seconds": [20, 40],
        "started_after_kill_seconds": 2,
        "policies_evaluated": evaluated,
        "policies_evaluated_seconds": seconds,
        "rss_bytes_peak": max(peak_rss, proc_rss_bytes(pid)),
        "activations": outcome(tracker, expected, common.load()),
    }


def wait_startup(
    api: Api, operator: common.BenchOperator, policies: int, days: int, timeout: float
) -> dict[str, Any]:
    """Until every policy has a status.mode (its first evaluation) and every day has
    written its first phase, or ``timeout``. The days count too: on a first start their
    10,000 first status writes share the API server with the policies for minutes, and
    an "idle" window measured inside them measures that, not the steady state."""
    started = time.monotonic()
    pid = operator.process.pid if operator.process else 0
    cpu0 = proc_cpu_seconds(pid)
    done = phases = 0
    policies_at = None
    while time.monotonic() - started < timeout:
        if done < policies:
            items = api.get("/apis/wedsync.io/v1alpha1/platformscalings")["items"]
            done = sum(1 for i in items if (i.get("status") or {}).get("mode"))
            if done == policies:
                policies_at = time.monotonic() - started
        # The operator's own count: cheaper than listing 10,000 days every 5 s. Its
        # event loop may be too busy to answer within 10 s: then look again.
        with contextlib.suppress(OSError):
            phases = int(
                metric_sum(
                    operator_samples(operator.metrics_port),
                    "wedsync_operator_wedding_day_transitions_total",
                )
            )
        if done == policies and phases >= days:
            break
        time.sleep(5)
    elapsed = time.monotonic() - started
    out = {
        "completed": done == policies and phases >= days,
        "seconds": round(elapsed, 1),
        "policies_evaluated": done,
        "policies_evaluated_seconds": round(policies_at, 1) if policies_at else None,
        "days_phased": phases,
        "cpu_percent_of_one_core": round(100 * (proc_cpu_seconds(pid) - cpu0) / elapsed, 1),
        "rss_bytes": proc_rss_bytes(pid),
        "load": common.load(),
    }
    print(f"[scale] start-up {out}", flush=True)
    return out


# Where each phase records its RSS: the chart's limit must hold at the highest.
PEAKS = (
    ("startup", "rss_bytes"),
    ("idle", "rss_bytes"),
    ("burst", "rss_bytes_peak"),
    ("restart", "rss_bytes_peak"),
)


def finish(
    result: dict[str, Any], operator: common.BenchOperator, burst: int, burst_spread: float
) -> dict[str, Any]:
    problems = operator.problems()
    if problems:
        result["operator_problems"] = common.tracebacks(operator.log()) or problems[:3]
        result["operator_problem_count"] = len(problems)
    ran, startup = result["ran"], result["startup"]
    rows: list[list[Any]] = [
        [
            f"start-up (every policy evaluated after {startup['policies_evaluated_seconds']} s"
            ", every day phased)"
            if startup["completed"]
            else f"start-up: INCOMPLETE, {startup['policies_evaluated']}/{ran['policies']} "
            f"policies evaluated, {startup['days_phased']}/{ran['wedding_days']} days phased",
            startup["seconds"],
            startup["cpu_percent_of_one_core"],
            "-",
            "-",
            "-",
            round(startup["rss_bytes"] / 2**20),
            startup["load"],
        ]
    ]
    if "idle" in result:
        idle = result["idle"]
        rows.append(
            [
                "idle (periodic evaluations)",
                idle["seconds"],
                idle["cpu_percent_of_one_core"],
                f"{idle['evaluations_per_second']} (configured "
                f"{idle['configured_evaluations_per_second']})",
                idle.get("status_writes_per_second", "-"),
                idle.get("apiserver_cpu_percent_of_one_core", "-"),
                round(idle["rss_bytes"] / 2**20),
                idle["load"],
            ]
        )
    if "burst" in result:
        busy = result["burst"]
        rows.append(
            [
                "burst of activations",
                busy["seconds"],
                busy["cpu_percent_of_one_core"],
                busy["evaluations_per_second"],
                busy.get("status_writes_per_second", "-"),
                busy.get("apiserver_cpu_percent_of_one_core", "-"),
                round(busy["rss_bytes_peak"] / 2**20),
                busy["load"],
            ]
        )
    common.print_table(
        f"Scale: {ran['policies']} policies x 3 targets ({ran['deployments']} paused "
        f"Deployments), {ran['wedding_days']} WeddingDays"
        + (f", {burst} activations in {burst_spread:.0f} s" if "burst" in result else "")
        + f"; objects created in {result['create_seconds']} s",
        [
            "phase",
            "seconds",
            "CPU % of a core",
            "evaluations/s",
            "status writes/s",
            "API server CPU %",
            "RSS MiB",
            "load",
        ],
        rows,
    )
    if "activations" in result:
        report("Scale: burst activations, seconds after start - leadTime", result["activations"])
    peak = max(result[k].get(f) or 0 for k, f in PEAKS if k in result)
    limit = memory_limit()
    result["memory"] = {
        "rss_peak_bytes": peak,
        "chart_limit_bytes": limit,
        "under_chart_limit": peak < limit,
    }
    print(
        f"RSS peak over every phase: {round(result['memory']['rss_peak_bytes'] / 2**20)} MiB; "
        f"the chart's default limit: {round(limit / 2**20)} MiB",
        flush=True,
    )
    if "restart" in result:
        again = result["restart"]
        print(
            f"restart (SIGKILL, new process 2 s later): {again['policies_evaluated']}/"
            f"{ran['policies']} policies evaluated after {again['policies_evaluated_seconds']} s,"
            f" RSS peak {round(again['rss_bytes_peak'] / 2**20)} MiB",
            flush=True,
        )
        report("Scale: activations around the restart", again["activations"])
    common.emit("scale", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--policies-per-namespace", type=int, default=10)
    parser.add_argument("--days-per-policy", type=int, default=10)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--burst-spread", type=float, default=60)
    parser.add_argument("--idle-window", type=float, default=60)
    parser.add_argument("--startup-timeout", type=float, default=900)
    parser.add_argument("--restart-days", type=int, default=50)
    args = parser.parse_args()
    result = run(
        args.namespaces,
        args.policies_per_namespace,
        args.days_per_policy,
        args.burst,
        args.burst_spread,
        args.idle_window,
        args.startup_timeout,
        args.restart_days,
    )
    common.write_results("scale", {"scale": result})


if __name__ == "__main__":
    main()
