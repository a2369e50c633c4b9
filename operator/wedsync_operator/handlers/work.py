"""What the scheduler runs for each kind of key (docs/decisions/0001-one-scheduler.md)."""

from __future__ import annotations

from wedsync_operator.aiokits.scheduler import Due
from wedsync_operator.handlers.platformscaling import platformscaling_step
from wedsync_operator.handlers.runtime import Key, Runtime
from wedsync_operator.handlers.weddingday import weddingday_step

# Pieces of work at once: each is mostly waiting on the API server, whose own limit
# (adapters/kube.py, 32 requests in flight) is the real bound.
WORKERS = 64


async def run_one(runtime: Runtime, key: Key, urgent: bool) -> float | Due | None:
    """One piece of work for ``key`` (``urgent``: a wake-up brought it); when it is next
    due (wall clock), or None."""
    kind, namespace, name = key
    if kind == "wd":
        return await weddingday_step(runtime, namespace, name)
    if kind == "ps":
        return await platformscaling_step(runtime, namespace, name, urgent)
    return None
