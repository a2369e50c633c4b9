"""The mode ConfigMap when several policies of a namespace publish to one.

Each policy owns a key set of its own (``<policy>.mode``, ``<policy>.since``, …) and
writes only those; the unprefixed keys (``mode``, ``since``, ``until``, ``reason``,
``activeWeddingDays``, ``cacheTtlMultiplier``, ``policies``) are a merged view of every
key set: wedding-day mode while any policy is in it, from the earliest ``since`` to the
latest ``until``, the largest TTL multiplier. The handler computes the view from the
ConfigMap as the API server returned it and writes it only if nothing changed in between
(resourceVersion), so the last write always reflects every policy's keys.

Pure: the handler passes the ConfigMap's data and ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from wedsync_operator.engine.mode import Mode, ModeResolution
from wedsync_operator.engine.schedule import format_instant, require_aware

__all__ = ["FIELDS", "MERGED_KEYS", "forgotten_keys", "merged_view", "policy_keys"]

FIELDS = ("mode", "since", "until", "reason", "activeWeddingDays", "cacheTtlMultiplier")
MERGED_KEYS = (*FIELDS, "policies")
# Which reason names the merged mode when policies are in different phases of it.
_REASON_RANK = ("WeddingDayActive", "WeddingDayPreparing", "WeddingDayWindingDown")


def policy_keys(policy: str, mode: ModeResolution, ttl_multiplier: int) -> dict[str, str]:
    """The key set one policy writes: its own mode under ``<policy>.<field>``."""
    values = {
        "mode": mode.mode.value,
        "since": format_instant(mode.since) if mode.since else "",
        "until": format_instant(mode.until) if mode.until else "",
        "reason": mode.reason,
        "activeWeddingDays": ",".join(mode.active_days),
        "cacheTtlMultiplier": str(ttl_multiplier if mode.on else 1),
    }
    return {f"{policy}.{field}": value for field, value in values.items()}


def forgotten_keys(policy: str) -> dict[str, None]:
    """The merge patch that removes a deleted policy's key set."""
    return {f"{policy}.{field}": None for field in FIELDS}


def _key_sets(data: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Every policy's key set found in the data (a policy name may hold dots; a field
    never does). Keys that are no policy's field are somebody else's and ignored."""
    sets: dict[str, dict[str, str]] = {}
    for key, value in data.items():
        policy, dot, field = key.rpartition(".")
        if dot and policy and field in FIELDS:
            sets.setdefault(policy, {})[field] = value
    return sets


def _instant(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _in_mode(fields: Mapping[str, str], now: datetime) -> bool:
    # A key set past its ``until`` is stale (its policy was deleted in the mode, say):
    # it no longer holds the namespace in the mode.
    if fields.get("mode") != Mode.WEDDING_DAY.value:
        return False
    until = _instant(fields.get("until") or "")
    return until is None or now < until


def merged_view(data: Mapping[str, str], now: datetime) -> dict[str, str]:
    """The unprefixed keys: the namespace's mode as every policy's key set says it."""
    require_aware(now, "now")
    sets = _key_sets(data)
    on = {p: f for p, f in sets.items() if _in_mode(f, now)}
    if not on:
        return {
            "mode": Mode.NORMAL.value,
            "since": "",
            "until": "",
            "reason": "NoActiveWeddingDay",
            "activeWeddingDays": "",
            "cacheTtlMultiplier": "1",
            "policies": ",".join(sorted(sets)),
        }
    sinces = [t for f in on.values() if (t := _instant(f.get("since") or "")) is not None]
    untils = [t for f in on.values() if (t := _instant(f.get("until") or "")) is not None]
    reasons = {f.get("reason") for f in on.values()}
    reason = next((r for r in _REASON_RANK if r in reasons), "WeddingDayActive")
    days = sorted(
        {d for f in on.values() for d in (f.get("activeWeddingDays") or "").split(",") if d}
    )
    multipliers = []
    for f in on.values():
        try:
            multipliers.append(int(f.get("cacheTtlMultiplier") or "1"))
        except ValueError:
            multipliers.append(1)
    return {
        "mode": Mode.WEDDING_DAY.value,
        "since": format_instant(min(sinces)) if sinces else "",
        "until": format_instant(max(untils)) if untils else "",
        "reason": reason,
        "activeWeddingDays": ",".join(days),
        "cacheTtlMultiplier": str(max(multipliers)),
        "policies": ",".join(sorted(sets)),
    }
