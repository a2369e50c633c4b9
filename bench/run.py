"""Run a bench profile and write bench/results/<date>-<profile>.json.

  quick (make bench):      engine, reaction latency (incl. the HPA), punctuality (20
                           days), API economy: a few minutes, each on its own cluster.
  full  (make bench-full): the same with more repetitions and 200 days, then the scale
                           bench (1,000 policies, 10,000 WeddingDays).

Every figure is printed with the load average next to it: the machine has 2 cores shared
with other work, so read the numbers as "on this machine, at that load".

    python bench/run.py quick|full [--skip NAME ...]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import api_economy
import common
import engine
import latency
import punctuality
import scale

PROFILES: dict[str, list[tuple[str, Callable[[], dict[str, Any]]]]] = {
    "quick": [
        ("engine", lambda: engine.run(5)),
        ("latency", lambda: latency.run(reps=6, normal_reps=3, wedding_reps=3)),
        ("punctuality", lambda: punctuality.run(20, 60)),
        ("api_economy", lambda: api_economy.run(10, 30)),
    ],
    "full": [
        ("engine", lambda: engine.run(10)),
        ("latency", lambda: latency.run(reps=10, normal_reps=6, wedding_reps=6)),
        ("punctuality", lambda: punctuality.run(200, 120)),
        ("api_economy", lambda: api_economy.run(50, 60)),
        ("scale", lambda: scale.run()),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", choices=sorted(PROFILES))
    parser.add_argument("--skip", nargs="*", default=[], help="bench names to leave out")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    affinity = os.sched_getaffinity(0)
    for name, bench in PROFILES[args.profile]:
        if name in args.skip:
            continue
        started = time.monotonic()
        print(f"\n=== {name} (load {common.load()}) ===", flush=True)
        try:
            results[name] = bench()
        except Exception as exc:  # one broken bench must not lose the others' figures
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            print(f"[{name}] failed: {results[name]['error']}", flush=True)
        finally:
            os.sched_setaffinity(0, affinity)  # engine pins itself to one core
        results[name]["wall_seconds"] = round(time.monotonic() - started, 1)
    common.write_results(args.profile, results)
    if any("error" in r for r in results.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
