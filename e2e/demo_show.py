"""Formatting for `make demo`: reads kubectl's or Alertmanager's JSON on stdin.

kubectl get events -n NS -o json | python e2e/demo_show.py events SINCE
curl -s AM/api/v2/silences       | python e2e/demo_show.py silences
"""

from __future__ import annotations

import json
import sys
from typing import Any

OURS = ("WeddingDay", "PlatformScaling")


def events(items: list[dict[str, Any]], since: int) -> None:
    """Our objects' Events newer than resourceVersion ``since``, oldest first."""
    mine = [
        e
        for e in items
        if e["involvedObject"]["kind"] in OURS and int(e["metadata"]["resourceVersion"]) > since
    ]
    for e in sorted(mine, key=lambda e: int(e["metadata"]["resourceVersion"])):
        who = e["involvedObject"]["name"]
        print(f"   {e['type']:<7} {e['reason']:<17} {who:<9} {e['message']}")


def silences(items: list[dict[str, Any]]) -> None:
    """The active silences with their matchers."""
    for s in items:
        if s["status"]["state"] != "active":
            continue
        matchers = ", ".join(
            f"{m['name']}{'=' if m.get('isEqual', True) else '!='}{m['value']}"
            for m in s["matchers"]
        )
        print(f"   {s['id'][:8]}  until {s['endsAt']}  {matchers}")
        print(f"             {s['comment']}")


if __name__ == "__main__":
    data = json.load(sys.stdin)
    if sys.argv[1:2] == ["events"]:
        events(data["items"], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    elif sys.argv[1:2] == ["silences"]:
        silences(data)
    else:
        sys.exit(__doc__)
