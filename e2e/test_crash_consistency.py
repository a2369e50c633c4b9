"""Crash consistency by construction: the operator SIGKILLed at random instants of an
activation, and restarted, ends exactly as an operator that was never killed.

Each round adds a policy over two tiers (a database target at 2 replicas, an app target
at 5) and a WeddingDay whose mode starts a few seconds later, kills the operator at a
seeded random offset of 0 to 1 s after that start, looks at what the kill left (nothing
written, the mode, a patch whose final write was lost, everything), restarts it and
waits for the policy to settle. After every round, every policy so far must show the
floors of the counts when its mode began — ceil(2 x 1.2) = 3 and ceil(5 x 1.2) = 6, never
the compounded 4 and 8 — one ScaledUp Event per scaling action, one WeddingDayModeOn
Event, one CacheWarmed Event and the couples in Redis, its key set in the shared mode
ConfigMap, and one live Alertmanager silence.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cluster_fixture import Cluster, wait_until
from operator_fixture import (
    OperatorProcess,
    apply,
    deployment,
    ensure_crds,
    events,
    replicas,
    status,
)
from services.alertmanager import AlertmanagerServer
from services.postgres import PostgresPair
from services.redis import RedisPair
from test_data_tier import secret
from test_operator import rfc3339

UNIFORM_KILLS = 20  # offsets spread over [0, 1) s
EXTRA_KILLS = 10  # at most: aimed at the window between a patch and its status write
BASELINES = {"db": 2, "web": 5}
FLOORS = {"db": 3, "web": 6}  # ceil(baseline x 1.2)
LEAD = 3.0  # seconds from the day's creation to its mode start
COUPLES = 20  # warmed into Redis at each activation


def seed() -> int:
    return int(os.environ.get("WEDSYNC_KILL_SEED") or random.SystemRandom().randrange(2**32))


def round_objects(i: int, alertmanager: AlertmanagerServer) -> list[dict[str, Any]]:
    """Two tiers and every side effect of a switch: silences, warming, the ConfigMap."""
    db, web = deployment(f"db-{i}", BASELINES["db"]), deployment(f"web-{i}", BASELINES["web"])
    policy = {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "PlatformScaling",
        "metadata": {"name": f"p-{i}", "labels": {"round": str(i)}},
        "spec": {
            "targets": [
                {"kind": "Deployment", "name": f"db-{i}", "role": "database", "maxReplicas": 10},
                {"kind": "Deployment", "name": f"web-{i}", "role": "app", "maxReplicas": 20},
            ],
            "interval": {"normal": "2s", "weddingDay": "2s"},
            "weddingDay": {
                "extraCapacityPercent": 20,
                "silenceAlerts": {"alertmanagerUrl": alertmanager.url},
                "cacheWarming": {
                    "enabled": True,
                    "redisSecretRef": {"name": "redis"},
                    "postgresSecretRef": {"name": "postgres"},
                    "ttl": "1h",
                },
            },
        },
    }
    return [db, web, policy]


def wedding_day(i: int, mode_start: datetime, couples: list[str]) -> dict[str, Any]:
    start = mode_start + timedelta(hours=2)  # the default lead time
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "WeddingDay",
        "metadata": {"name": f"d-{i}"},
        "spec": {
            "start": rfc3339(start),
            "end": rfc3339(start + timedelta(hours=1)),
            "policySelector": {"matchLabels": {"round": str(i)}},
            "coupleIds": couples,
        },
    }


def what_the_kill_left(cluster: Cluster, namespace: str, i: int) -> str:
    """Which step of the activation the kill interrupted, read while nothing runs."""
    st = status(cluster, namespace, "ps", f"p-{i}")
    if st.get("mode") != "WeddingDay":
        return "nothing written"
    recorded = {t["name"]: t.get("currentReplicas") for t in st.get("targets", [])}
    counts = {f"{n}-{i}": replicas(cluster, namespace, f"{n}-{i}") for n in BASELINES}
    raised = {t for t, c in counts.items() if c != BASELINES[t.split("-")[0]]}
    if any(recorded.get(t) != counts[t] for t in raised) or (raised and st.get("pendingEvents")):
        return "patched, final write lost"
    if not raised:
        return "mode written, nothing patched"
    return "all written"


def live_silences(alertmanager: AlertmanagerServer, namespace: str, policy: str) -> int:
    marker = f"[wedsync.io/policy={namespace}/{policy}]"
    return sum(
        1
        for s in alertmanager.silences()
        if s["status"]["state"] == "active" and marker in s["comment"]
    )


def settled(cluster: Cluster, namespace: str, i: int, alertmanager: AlertmanagerServer) -> bool:
    st = status(cluster, namespace, "ps", f"p-{i}")
    targets = {t["name"]: t for t in st.get("targets", [])}
    return (
        st.get("mode") == "WeddingDay"
        and not st.get("pendingEvents")
        and all(
            (t := targets.get(f"{n}-{i}")) is not None
            and t.get("currentReplicas") == FLOORS[n]
            and not t.get("pendingScale")
            for n in FLOORS
        )
        and live_silences(alertmanager, namespace, f"p-{i}") == 1
        and (st.get("cacheWarming") or {}).get("complete") is True
    )


def check_round(
    cluster: Cluster,
    namespace: str,
    i: int,
    alertmanager: AlertmanagerServer,
) -> None:
    """What a run without kills leaves, for policy ``p-{i}``."""
    for n, floor in FLOORS.items():
        assert replicas(cluster, namespace, f"{n}-{i}") == floor, (i, n)
    st = status(cluster, namespace, "ps", f"p-{i}")
    for t in st["targets"]:
        n = t["name"].split("-")[0]
        assert (t["baselineReplicas"], t["floor"]) == (BASELINES[n], FLOORS[n]), (i, t)
    reasons = Counter(
        (e["reason"], e["message"].split(":")[0], int(e.get("count") or 1))
        for e in events(cluster, namespace, f"p-{i}")
    )
    assert reasons[("ScaledUp", f"scale db-{i} 2 → 3", 1)] == 1, reasons
    assert reasons[("ScaledUp", f"scale web-{i} 5 → 6", 1)] == 1, reasons
    assert sum(n for (r, _, _), n in reasons.items() if r == "ScaledUp") == 2, reasons
    assert sum(n for (r, _, _), n in reasons.items() if r == "WeddingDayModeOn") == 1, reasons
    assert sum(n for (r, _, _), n in reasons.items() if r == "CacheWarmed") == 1, reasons
    assert st["cacheWarming"]["keysWritten"] == COUPLES, st["cacheWarming"]
    assert live_silences(alertmanager, namespace, f"p-{i}") == 1


@pytest.mark.timeout(900)
def test_sigkill_at_random_instants_of_an_activation_never_compounds_the_floor_or_loses_an_event(
    cluster: Cluster,
    namespace: str,
    alertmanager: AlertmanagerServer,
    redis_pair: RedisPair,
    postgres_pair: PostgresPair,
    tmp_path: Path,
) -> None:
    ensure_crds(cluster)
    couples = [c.couple_id for c in postgres_pair.seed_core_fields(COUPLES, prefix=namespace)]
    apply(
        cluster,
        namespace,
        secret("redis", "url", redis_pair.url),
        secret("postgres", "dsn", postgres_pair.primary_dsn),
    )
    rng_seed = seed()
    print(f"kill offsets seeded with WEDSYNC_KILL_SEED={rng_seed}")
    rng = random.Random(rng_seed)
    # One offset in each 50 ms slice of the second, in a random order: spread for sure.
    offsets = [(k + rng.random()) / UNIFORM_KILLS for k in range(UNIFORM_KILLS)]
    rng.shuffle(offsets)
    left: list[tuple[float, str]] = []
    operators: list[OperatorProcess] = []

    def start() -> OperatorProcess:
        proc = OperatorProcess(cluster, tmp_path / f"operator-{len(operators)}.log").start()
        operators.append(proc)
        return proc

    def one_round(i: int, offset: float) -> str:
        apply(cluster, namespace, *round_objects(i, alertmanager))
        wait_until(
            f"p-{i} evaluated in normal mode",
            lambda: status(cluster, namespace, "ps", f"p-{i}").get("mode") == "Normal",
            timeout=30,
            interval=0.1,
        )
        mode_start = datetime.fromtimestamp(
            int(time.time() + LEAD) + 1, tz=UTC
        )  # whole seconds, as the spec says it
        apply(cluster, namespace, wedding_day(i, mode_start, couples))
        time.sleep(max(0.0, mode_start.timestamp() + offset - time.time()))
        operators[-1].kill()
        found = what_the_kill_left(cluster, namespace, i)
        left.append((offset, found))
        print(f"round {i}: killed {offset * 1000:4.0f} ms after the mode start: {found}")
        start()
        try:
            wait_until(
                f"p-{i} settled after the restart",
                lambda: settled(cluster, namespace, i, alertmanager),
                timeout=30,
                interval=0.2,
            )
        except AssertionError as exc:
            st = status(cluster, namespace, "ps", f"p-{i}")
            silences = live_silences(alertmanager, namespace, f"p-{i}")
            raise AssertionError(f"{exc}: {silences} silence(s), status {st}") from None
        check_round(cluster, namespace, i, alertmanager)
        return found

    start()
    try:
        for i, offset in enumerate(offsets):
            one_round(i, offset)
        # The window between a patch and the write that records it is a few round trips
        # wide: if no uniform offset fell in it, bisect towards it between the latest
        # kill that found nothing patched and the earliest that found everything written.
        for i in range(UNIFORM_KILLS, UNIFORM_KILLS + EXTRA_KILLS):
            if any(found == "patched, final write lost" for _, found in left):
                break
            early = [
                o for o, f in left if f in ("nothing written", "mode written, nothing patched")
            ]
            late = [o for o, f in left if f == "all written"]
            lo, hi = max(early, default=0.0), min(late, default=1.0)
            one_round(i, (lo + hi) / 2 if lo < hi else rng.uniform(0.0, 1.0))
        # Every earlier round too, after all the restarts since: none moved anything.
        mode_cm = cluster.get_json("configmap", "wedsync-mode", "-n", namespace)["data"]
        for j in range(len(left)):
            check_round(cluster, namespace, j, alertmanager)
        assert mode_cm["mode"] == "WeddingDay"
        assert {mode_cm.get(f"p-{j}.mode") for j in range(len(left))} == {"WeddingDay"}
        client = redis_pair.primary.client()
        assert all(client.get(f"couple:{c}:core") is not None for c in couples)
    finally:
        for proc in operators:
            proc.stop()
    print("what the kills left:", dict(Counter(found for _, found in left)))
    assert len(left) >= UNIFORM_KILLS
    assert any(found == "patched, final write lost" for _, found in left), left
    problems = [p for proc in operators for p in proc.problems()]
    assert problems == [], problems
