"""hpaConflict under SIGKILL at random instants: an HPA-owned target's minimum is raised
exactly once at the mode start and given back exactly at its end, whatever instant the
operator dies at.

Each round adds a Deployment at 2 replicas under an HPA (min 2), a policy whose
wedding-day floor for it is 5, and a WeddingDay whose mode starts a few seconds later.
The operator is killed at a seeded random offset after the mode start and restarted: the
HPA must then hold 5 with the user's 2 recorded, and the policy must show one
AutoscalerMinRaised Event. The day is then deleted, the operator killed at a random offset
after that and restarted: the HPA must be back at exactly 2 with no record left, and one
AutoscalerMinRestored Event. ``WEDSYNC_KILL_SEED`` replays a run.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cluster_fixture import Cluster, wait_until
from operator_fixture import OperatorProcess, apply, deployment, ensure_crds, events, status
from test_crash_consistency import seed, wedding_day
from test_hpa import hpa, hpa_min

ROUNDS = 6  # offsets spread over [0, 1) s after the mode start, one per slice
END_SPREAD = 0.6  # seconds after the day's deletion that the end-of-mode kill falls in
LEAD = 3.0  # seconds from the day's creation to its mode start


def round_objects(i: int) -> list[dict[str, Any]]:
    policy = {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "PlatformScaling",
        "metadata": {"name": f"p-{i}", "labels": {"round": str(i)}},
        "spec": {
            "targets": [
                {
                    "kind": "Deployment",
                    "name": f"web-{i}",
                    "maxReplicas": 20,
                    "weddingDay": {"minReplicas": 5},
                }
            ],
            "interval": {"normal": "2s", "weddingDay": "2s"},
        },
    }
    return [deployment(f"web-{i}", 2), hpa(f"web-{i}", f"web-{i}", 2), policy]


def reasons(cluster: Cluster, namespace: str, policy: str) -> Counter[str]:
    counted: Counter[str] = Counter()
    for e in events(cluster, namespace, policy):
        counted[e["reason"]] += int(e.get("count") or 1)
    return counted


@pytest.mark.timeout(900)
def test_sigkill_at_random_instants_raises_the_hpa_min_once_and_restores_it_exactly(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    ensure_crds(cluster)
    rng_seed = seed()
    print(f"kill offsets seeded with WEDSYNC_KILL_SEED={rng_seed}")
    rng = random.Random(rng_seed)
    starts = [(k + rng.random()) / ROUNDS for k in range(ROUNDS)]
    rng.shuffle(starts)
    ends = [rng.random() * END_SPREAD for _ in range(ROUNDS)]
    operators: list[OperatorProcess] = []

    def start() -> None:
        operators.append(
            OperatorProcess(cluster, tmp_path / f"operator-{len(operators)}.log").start()
        )

    def kill_at(at: float, name: str) -> tuple[int, str | None]:
        """SIGKILL at instant ``at``; returns what the kill left on the HPA."""
        time.sleep(max(0.0, at - time.time()))
        operators[-1].kill()
        return hpa_min(cluster, namespace, name)

    def one_round(i: int, offset: float, end_offset: float) -> None:
        name, policy = f"web-{i}", f"p-{i}"
        apply(cluster, namespace, *round_objects(i))
        wait_until(
            f"{policy} evaluated in normal mode",
            lambda: status(cluster, namespace, "ps", policy).get("mode") == "Normal",
            timeout=30,
            interval=0.1,
        )
        mode_start = datetime.fromtimestamp(int(time.time() + LEAD) + 1, tz=UTC)
        apply(cluster, namespace, wedding_day(i, mode_start, []))
        found = kill_at(mode_start.timestamp() + offset, name)
        print(f"round {i}: killed {offset * 1000:4.0f} ms after the mode start: {found}")
        start()
        wait_until(
            f"{name}'s min raised to the floor after the restart",
            lambda: hpa_min(cluster, namespace, name)[0] == 5,
            timeout=30,
            interval=0.2,
        )
        hold = json.loads(hpa_min(cluster, namespace, name)[1] or "{}")
        assert (hold["original"], hold["applied"]) == (2, 5), hold
        assert hold["holders"] == {f"{namespace}/{policy}": 5}, hold
        wait_until(
            f"{policy}'s raise Event",
            lambda: reasons(cluster, namespace, policy)["AutoscalerMinRaised"] >= 1,
            timeout=15,
        )

        deleted = time.time()
        cluster.kubectl("delete", "wd", f"d-{i}", "-n", namespace, "--wait=false")
        found = kill_at(deleted + end_offset, name)
        print(f"round {i}: killed {end_offset * 1000:4.0f} ms after the day went: {found}")
        start()
        wait_until(
            f"{name}'s min given back after the restart",
            lambda: hpa_min(cluster, namespace, name) == (2, None),
            timeout=30,
            interval=0.2,
        )
        wait_until(
            f"{policy}'s restore Event",
            lambda: reasons(cluster, namespace, policy)["AutoscalerMinRestored"] >= 1,
            timeout=15,
        )
        time.sleep(2.5)  # one more evaluation: nothing is raised or restored twice
        counted = reasons(cluster, namespace, policy)
        assert counted["AutoscalerMinRaised"] == 1, counted
        assert counted["AutoscalerMinRestored"] == 1, counted
        assert hpa_min(cluster, namespace, name) == (2, None)

    start()
    try:
        for i, (offset, end_offset) in enumerate(zip(starts, ends, strict=True)):
            one_round(i, offset, end_offset)
    finally:
        operators[-1].stop()
