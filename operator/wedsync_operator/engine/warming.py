"""Cache warming, the pure parts: keys, batches, TTLs, and what is reported in status.

The I/O (read rows from Postgres, write them to Redis) lives in
``handlers.datatier.warm_cache``; everything it decides is here so it can be tested alone.

Warming is idempotent by construction — each key is written with ``SET … EX``, which
overwrites — and :func:`warm_fingerprint` lets the caller record in status *what* was
warmed, so that a restart during the Preparing phase does not redo finished work.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, TypeVar

from wedsync_operator.engine.schedule import Phase, format_instant, phase_at, require_aware
from wedsync_operator.model.types import CacheWarming, WeddingDay

__all__ = [
    "KEY_PLACEHOLDER",
    "MAX_REPORTED_ERRORS",
    "WarmResult",
    "batches",
    "cache_key",
    "ttl_seconds",
    "warm_fingerprint",
    "warming_status",
]

KEY_PLACEHOLDER = "{key}"
# Status is no log: the first few errors say what went wrong, the count says how often.
MAX_REPORTED_ERRORS = 5

T = TypeVar("T")


def cache_key(template: str, key: str) -> str:
    """The Redis key for one row: ``{key}`` in the template replaced by the row's key.

    Plain substitution, not ``str.format``: other braces in the template (Redis Cluster
    hash tags such as ``couple:{{key}}``) and braces inside keys stay as they are.
    """
    if KEY_PLACEHOLDER not in template:
        raise ValueError(f"the key template {template!r} does not contain {KEY_PLACEHOLDER}")
    return template.replace(KEY_PLACEHOLDER, key)


def batches(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    """Consecutive chunks of at most ``size`` items, in order; none for no items."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    it = iter(items)
    while chunk := tuple(islice(it, size)):
        yield chunk


def ttl_seconds(ttl: timedelta) -> int:
    """A TTL for ``SET … EX``: whole seconds, rounded up, at least one."""
    seconds = ttl.total_seconds()
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a cache TTL must be positive, not {ttl}")
    return max(1, math.ceil(seconds))


def warm_fingerprint(warming: CacheWarming, couple_ids: Sequence[str], ttl: timedelta) -> str:
    """A short, stable digest of what a warming run writes.

    The same couples (in any order, duplicates ignored), query, key template and TTL give
    the same fingerprint; the caller keeps it in status next to the result and skips a
    run whose fingerprint already completed without errors.
    """
    digest = hashlib.sha256()
    for part in (
        warming.query,
        warming.key_template,
        str(ttl_seconds(ttl)),
        *sorted(set(couple_ids)),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class WarmResult:
    """What one warming run did. ``errors`` empty means every row read was written."""

    keys_written: int = 0
    rows_read: int = 0
    batches: int = 0
    duration_seconds: float = 0.0
    errors: tuple[str, ...] = field(default=())
    skipped_rows: int = 0  # rows without a key or payload (NULL)

    @property
    def complete(self) -> bool:
        return not self.errors

    @property
    def reason(self) -> str:
        if self.errors:
            return "CacheWarmingFailed"
        return "CacheWarmed"

    @property
    def message(self) -> str:
        text = (
            f"wrote {self.keys_written} of {self.rows_read} rows to Redis in "
            f"{self.batches} batch{'es' if self.batches != 1 else ''} "
            f"in {self.duration_seconds:.2f}s"
        )
        if self.skipped_rows:
            text += f", skipped {self.skipped_rows} without a key or payload"
        if self.errors:
            text += f"; {len(self.errors)} error(s), first: {self.errors[0]}"
        return text


def warming_status(result: WarmResult, fingerprint: str, finished_at: datetime) -> dict[str, Any]:
    """The status block for a warming run (``status.cacheWarming``); no secrets in it."""
    require_aware(finished_at, "finished_at")
    return {
        "fingerprint": fingerprint,
        "complete": result.complete,
        "keysWritten": result.keys_written,
        "rowsRead": result.rows_read,
        "skippedRows": result.skipped_rows,
        "batches": result.batches,
        # A string: no floats in status either (seconds with millisecond precision).
        "durationSeconds": f"{result.duration_seconds:.3f}",
        "errors": list(result.errors[:MAX_REPORTED_ERRORS]),
        "errorCount": len(result.errors),
        "finishedAt": format_instant(finished_at),
        "reason": result.reason,
        "message": result.message,
    }


def couples_to_warm(
    days: Iterable[WeddingDay], active_days: Iterable[str], now: datetime
) -> list[str] | None:
    """The couple ids of the policy's active days that are in their lead time, or None
    when no such day prepares: warming belongs to Preparing, before the guests arrive.
    An empty list still warms: a query without $1 selects the day's weddings itself."""
    active = set(active_days)
    preparing = [d for d in days if d.meta.name in active and phase_at(d, now) is Phase.PREPARING]
    if not preparing:
        return None
    return sorted({couple for day in preparing for couple in day.couple_ids})
