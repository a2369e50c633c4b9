"""What docs/status-and-conditions.md promises, each shown on a real kube-apiserver with
a real Prometheus: several metrics (the largest wins), HPA rate policies over successive
evaluations, a WeddingDay written in a zone that is not UTC, windows across DST changes,
the health score, per-direction tolerances and a target someone scaled to zero.

One operator process serves the module; each test has its own namespace and its own
series in the exporter (labels ``ns`` and ``name``). Inputs are AverageValue metrics, so
that a proposal does not depend on the replica count it produced (a synthetic value
does not fall as replicas rise).
"""

from __future__ import annotations

import itertools
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import Gauge

from cluster_fixture import Cluster, wait_until
from operator_fixture import (
    OperatorProcess,
    apply,
    conditions,
    deployment,
    replicas,
    status,
    wait_replicas,
)
from policies import day_in_its_mode, per_replica, scaling, series, set_signal
from services.prometheus import PrometheusServer

SCRAPE = 1.0  # the test Prometheus scrapes every second


def web_status(cluster: Cluster, namespace: str) -> dict[str, Any]:
    return dict(status(cluster, namespace, "ps", "platform")["targets"][0])


def test_several_metrics_drive_one_target_and_the_largest_proposal_wins(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    signal: Gauge,
) -> None:
    set_signal(signal, prometheus, namespace, "requests", 400)  # 100 per replica → 4
    set_signal(signal, prometheus, namespace, "connections", 100)  # 50 per replica → 2
    apply(cluster, namespace, deployment("web", 2))
    # No scale-down window: only "the largest proposal wins" can keep a count up.
    apply(
        cluster,
        namespace,
        scaling(
            namespace,
            prometheus,
            [per_replica(namespace, "requests", 100), per_replica(namespace, "connections", 50)],
            behavior={"scaleDown": {"stabilizationWindowSeconds": 0}},
        ),
    )
    wait_replicas(cluster, namespace, "web", 4, timeout=10)
    # The driving metric is the one the decision names.
    assert "requests 400" in web_status(cluster, namespace)["message"]

    set_signal(signal, prometheus, namespace, "connections", 300)  # → 6, above requests' 4
    wait_replicas(cluster, namespace, "web", 6, timeout=5 + SCRAPE)
    assert "connections 300" in web_status(cluster, namespace)["message"]

    # requests rises, but to 5: the larger proposal (connections' 6) still holds.
    set_signal(signal, prometheus, namespace, "requests", 500)
    time.sleep(3 * 1 + SCRAPE)  # three evaluations
    assert replicas(cluster, namespace, "web") == 6
    assert web_status(cluster, namespace)["desiredReplicas"] == 6

    # connections falls to 2: requests' 5 is now the larger one.
    set_signal(signal, prometheus, namespace, "connections", 100)
    wait_replicas(cluster, namespace, "web", 5, timeout=5 + SCRAPE)
    assert "requests 500" in web_status(cluster, namespace)["message"]


def observe_replicas(
    cluster: Cluster, namespace: str, until: int, timeout: float
) -> list[tuple[float, int]]:
    """Each distinct replica count of web with when it was first seen, until ``until``."""
    seen: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = replicas(cluster, namespace, "web")
        if not seen or seen[-1][1] != count:
            seen.append((time.monotonic(), count))
        if count == until:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"web never reached {until}: {[c for _, c in seen]}")


@pytest.mark.parametrize(
    ("select", "wanted", "steps"),
    [
        # Max: the larger of +2 pods and +50% per 4 s (rounded up), as HPA.
        ("Max", 20, [2, 4, 6, 9, 14, 20]),
        # Min: the smaller of the two.
        ("Min", 8, [2, 3, 5, 7, 8]),
    ],
)
def test_scale_up_policies_limit_a_large_jump_over_successive_evaluations(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    signal: Gauge,
    select: str,
    wanted: int,
    steps: list[int],
) -> None:
    period = 4
    set_signal(signal, prometheus, namespace, "requests", wanted * 100)
    apply(cluster, namespace, deployment("web", 2))
    apply(
        cluster,
        namespace,
        scaling(
            namespace,
            prometheus,
            [per_replica(namespace, "requests", 100)],
            behavior={
                "scaleUp": {
                    "selectPolicy": select,
                    "policies": [
                        {"type": "Pods", "value": 2, "periodSeconds": period},
                        {"type": "Percent", "value": 50, "periodSeconds": period},
                    ],
                }
            },
        ),
    )

    seen = observe_replicas(cluster, namespace, wanted, timeout=len(steps) * (period + 2) + 10)

    # The first step may land before the first look: every later one is seen as it lands.
    counts = [count for _, count in seen]
    assert counts in (steps, steps[1:]), counts
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(seen[1:])]
    assert len(gaps) >= len(steps) - 3
    # One period between steps, less what the poll and the evaluation tick can shift.
    assert min(gaps) >= period - 1, gaps
    limited = [
        e["message"]
        for e in cluster.get_json("events", "-n", namespace)["items"]
        if "the scale-up policies allow" in e["message"]
    ]
    assert limited, "no Event says the rate policies held a step back"
    assert f"selectPolicy {select}" in limited[0]


def test_a_wedding_day_in_local_time_of_a_non_utc_zone_activates_at_its_instant(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    signal: Gauge,
) -> None:
    set_signal(signal, prometheus, namespace, "requests", 200)
    apply(cluster, namespace, deployment("web", 2))
    apply(
        cluster,
        namespace,
        scaling(namespace, prometheus, [per_replica(namespace, "requests", 100)]),
    )
    zone = "Asia/Kolkata"  # UTC+05:30: a zone read as UTC would be 5.5 hours off
    mode_start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
    start = mode_start + timedelta(seconds=20)
    local = start.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M:%S")
    later = (start + timedelta(hours=1)).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M:%S")
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "mumbai"},
            "spec": {"start": local, "end": later, "timeZone": zone, "leadTime": "20s"},
        },
    )

    switched = wait_until(
        "wedding-day mode",
        lambda: (
            status(cluster, namespace, "ps", "platform").get("mode") == "WeddingDay"
            and datetime.now(UTC)
        ),
        timeout=40,
        interval=0.1,
    )

    lateness = (switched - mode_start).total_seconds()
    assert -0.2 <= lateness <= 1.5, f"mode switched {lateness:+.2f}s from start - leadTime"
    day = status(cluster, namespace, "wd", "mumbai")
    assert day["phase"] == "Preparing"
    assert day["startTime"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    wait_replicas(cluster, namespace, "web", 3, timeout=5)  # pre-scaled: ceil(2 x 1.2)


@pytest.mark.parametrize(
    ("zone", "start", "end", "lead", "wind", "resolved"),
    [
        # Europe/London falls back at 02:00 BST on 2027-10-31: 7 wall hours are 8 real.
        (
            "Europe/London",
            "2027-10-30T20:00:00",
            "2027-10-31T03:00:00",
            "2h",
            "1h",
            (
                "2027-10-30T19:00:00Z",
                "2027-10-31T03:00:00Z",
                "2027-10-30T17:00:00Z",
                "2027-10-31T04:00:00Z",
            ),
        ),
        # Inside the repeated hour: start takes the first 01:15 (BST), end the second
        # 01:45 (GMT), so the window is never shorter than meant.
        (
            "Europe/London",
            "2027-10-31T01:15:00",
            "2027-10-31T01:45:00",
            "30m",
            "30m",
            (
                "2027-10-31T00:15:00Z",
                "2027-10-31T01:45:00Z",
                "2027-10-30T23:45:00Z",
                "2027-10-31T02:15:00Z",
            ),
        ),
        # America/New_York springs forward at 02:00 EST on 2027-03-14: 6 wall hours are 5.
        (
            "America/New_York",
            "2027-03-13T22:00:00",
            "2027-03-14T04:00:00",
            "2h",
            "1h",
            (
                "2027-03-14T03:00:00Z",
                "2027-03-14T08:00:00Z",
                "2027-03-14T01:00:00Z",
                "2027-03-14T09:00:00Z",
            ),
        ),
    ],
)
def test_a_day_across_a_dst_change_is_resolved_to_the_right_instants_in_status(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    zone: str,
    start: str,
    end: str,
    lead: str,
    wind: str,
    resolved: tuple[str, str, str, str],
) -> None:
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "WeddingDay",
            "metadata": {"name": "across-dst"},
            "spec": {
                "start": start,
                "end": end,
                "timeZone": zone,
                "leadTime": lead,
                "windDown": wind,
            },
        },
    )

    day = wait_until(
        "the resolved window in status",
        lambda: (st := status(cluster, namespace, "wd", "across-dst")).get("modeEnd") and st,
        timeout=20,
    )

    window = (day["startTime"], day["endTime"], day["modeStart"], day["modeEnd"])
    assert window == resolved
    assert day["phase"] == "Scheduled"
    assert day["nextTransition"] == resolved[2]


def health_gauge(operator: OperatorProcess, namespace: str) -> float | None:
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as rsp:
        text = rsp.read().decode()
    line = f'wedsync_operator_health_score{{namespace="{namespace}",policy="platform"}} '
    return next((float(x[len(line) :]) for x in text.splitlines() if x.startswith(line)), None)


def test_health_queries_give_a_score_and_advice_that_follow_their_inputs(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    signal: Gauge,
) -> None:
    set_signal(signal, prometheus, namespace, "requests", 200)
    set_signal(signal, prometheus, namespace, "api_p95", 0.1)
    set_signal(signal, prometheus, namespace, "cache_hit", 0.99)
    apply(cluster, namespace, deployment("web", 2))
    apply(
        cluster,
        namespace,
        scaling(
            namespace,
            prometheus,
            [per_replica(namespace, "requests", 100)],
            health={
                "apiP95SecondsQuery": series(namespace, "api_p95"),
                "cacheHitRatioQuery": series(namespace, "cache_hit"),
            },
        ),
    )
    healthy = wait_until(
        "a health score in status",
        lambda: (st := status(cluster, namespace, "ps", "platform")).get("healthScore") and st,
        timeout=20,
    )
    assert healthy["healthScore"] == 100
    assert healthy.get("recommendations", []) == []

    # API p95 0.9 s scores 13 (0.2 s good, 1 s bad); with the cache at 100 and the
    # weights 0.25 and 0.20: (0.25 x 13 + 0.20 x 100) / 0.45 = 51.7 → 52.
    set_signal(signal, prometheus, namespace, "api_p95", 0.9)
    wait_until("the new score on /metrics", lambda: health_gauge(operator, namespace) == 52)
    # Status carries it with the next write that matters (a scale here), as documented.
    set_signal(signal, prometheus, namespace, "requests", 300)
    wait_replicas(cluster, namespace, "web", 3, timeout=5 + SCRAPE)
    degraded = wait_until(
        "the new score in status",
        lambda: (st := status(cluster, namespace, "ps", "platform"))["healthScore"] == 52 and st,
        timeout=5,
    )
    assert degraded["recommendations"] == [
        "API p95 is 0.9 s (goal ≤ 0.2 s): add app replicas or check slow endpoints"
    ]


def test_a_tolerance_per_direction_set_in_the_spec_reaches_the_decision(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    signal: Gauge,
) -> None:
    # Kept by the API server (a field the schema lacked would be pruned without a word)
    # and applied: 84 against 80 is inside HPA's default 10% but outside 1% up.
    set_signal(signal, prometheus, namespace, "load", 84)
    apply(cluster, namespace, deployment("web", 4))
    utilization = {
        "name": "load",
        "query": series(namespace, "load"),
        "target": {"type": "Utilization", "value": 80},
    }
    apply(
        cluster,
        namespace,
        scaling(
            namespace,
            prometheus,
            [utilization],
            max_replicas=5,
            behavior={
                "scaleUp": {"tolerance": "0.01"},
                "scaleDown": {"tolerance": "0.5", "stabilizationWindowSeconds": 0},
            },
        ),
    )
    wait_replicas(cluster, namespace, "web", 5, timeout=10)  # ceil(4 x 1.05)

    # 44 against 80 (ratio 0.55) would mean 3 at HPA's 10%; inside 50% down it holds.
    set_signal(signal, prometheus, namespace, "load", 44)
    time.sleep(3 * 1 + SCRAPE)
    assert replicas(cluster, namespace, "web") == 5
    held = web_status(cluster, namespace)
    assert held["reason"] == "WithinTolerance"
    assert "load 44 is within 50% of its target 80" in held["message"]


def test_a_target_scaled_to_zero_by_hand_is_left_alone_even_on_a_wedding_day(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    signal: Gauge,
) -> None:
    set_signal(signal, prometheus, namespace, "requests", 300)
    apply(cluster, namespace, deployment("web", 0))
    policy = scaling(namespace, prometheus, [per_replica(namespace, "requests", 100)])
    policy["spec"]["targets"][0].update(minReplicas=2, weddingDay={"minReplicas": 4})
    apply(cluster, namespace, policy)
    apply(cluster, namespace, day_in_its_mode())
    wait_until(
        "wedding-day mode",
        lambda: status(cluster, namespace, "ps", "platform").get("mode") == "WeddingDay",
        timeout=20,
    )
    time.sleep(3 * 1)  # three evaluations in the mode

    # As HPA: 0 with minReplicas 2 means someone switched autoscaling off for it.
    assert replicas(cluster, namespace, "web") == 0
    off = web_status(cluster, namespace)
    assert (off["reason"], off.get("floor")) == ("ScalingDisabled", None), off
    limited = conditions(cluster, namespace, "ps", "platform")["ScalingLimited"]
    assert (limited["status"], limited["reason"]) == ("True", "ScalingDisabled")

    # Handed back with 1 replica, it gets the wedding-day floor at once.
    cluster.kubectl("scale", "deployment", "web", "--replicas=1", "-n", namespace)
    wait_replicas(cluster, namespace, "web", 4, timeout=10)
    assert web_status(cluster, namespace)["reason"] == "WeddingDayFloor"
