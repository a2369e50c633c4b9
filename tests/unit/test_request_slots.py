"""The API client's connection slots: the requests of a policy loop that a WeddingDay
woke get the next free slots before every ordinary request already waiting, including
the requests it had queued before it was woken."""

from __future__ import annotations

import asyncio

import pytest

from wedsync_operator.adapters.kube_slots import RequestSlots, Urgency


async def _request(
    slots: RequestSlots, urgency: Urgency | None, name: str, order: list[str]
) -> None:
    async with slots.slot(urgency):
        order.append(name)
        await asyncio.sleep(0)


async def _queue(
    slots: RequestSlots, requests: list[tuple[str, Urgency | None]], order: list[str]
) -> tuple[asyncio.Event, list[asyncio.Task[None]]]:
    """One request holds the only slot until the returned event; the others queue."""
    release = asyncio.Event()

    async def holder() -> None:
        async with slots.slot(None):
            order.append("holder")
            await release.wait()

    tasks = [asyncio.create_task(holder())]
    await asyncio.sleep(0)
    for name, urgency in requests:
        tasks.append(asyncio.create_task(_request(slots, urgency, name, order)))
        await asyncio.sleep(0)
    return release, tasks


async def test_urgent_requests_overtake_ordinary_ones_waiting_for_a_slot() -> None:
    slots, order = RequestSlots(1), list[str]()
    woken = Urgency(urgent=True)
    release, tasks = await _queue(
        slots, [("tick-1", None), ("tick-2", Urgency()), ("woken", woken), ("tick-3", None)], order
    )
    release.set()
    await asyncio.gather(*tasks)

    assert order == ["holder", "woken", "tick-1", "tick-2", "tick-3"]


async def test_a_loop_woken_while_its_requests_wait_has_them_moved_ahead() -> None:
    slots, order = RequestSlots(1), list[str]()
    loop = Urgency()
    release, tasks = await _queue(
        slots, [("other-1", None), ("mine-1", loop), ("other-2", None), ("mine-2", loop)], order
    )

    slots.hurry(loop)  # a day it selects switched phase meanwhile
    release.set()
    await asyncio.gather(*tasks)

    assert order == ["holder", "mine-1", "mine-2", "other-1", "other-2"]
    assert loop.urgent


async def test_no_more_than_the_slot_count_run_at_once() -> None:
    slots = RequestSlots(3)
    running = peak = 0

    async def request() -> None:
        nonlocal running, peak
        async with slots.slot(None):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.001)
            running -= 1

    await asyncio.gather(*(request() for _ in range(20)))

    assert peak == 3


async def test_a_cancelled_waiter_neither_takes_nor_loses_a_slot() -> None:
    slots, order = RequestSlots(1), list[str]()
    release, (holder, gone, after) = await _queue(
        slots, [("gone", Urgency(urgent=True)), ("after", None)], order
    )
    gone.cancel()
    release.set()
    await holder
    await after
    with pytest.raises(asyncio.CancelledError):
        await gone

    assert order == ["holder", "after"]
    async with asyncio.timeout(1):  # the slot came back: a new request runs at once
        await _request(slots, None, "later", order)
    assert order == ["holder", "after", "later"]


async def test_while_an_urgent_request_runs_only_a_few_ordinary_ones_start() -> None:
    slots = RequestSlots(4, ordinary_while_urgent=1)
    running: list[str] = []
    done = asyncio.Event()

    async def request(name: str, urgency: Urgency | None) -> None:
        async with slots.slot(urgency):
            running.append(name)
            await done.wait()

    tasks = [asyncio.create_task(request("woken", Urgency(urgent=True)))]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(request(f"tick-{i}", None)) for i in range(3)]
    for _ in range(3):
        await asyncio.sleep(0)

    assert running == ["woken", "tick-0"]  # two slots stay free: held back
    done.set()
    await asyncio.gather(*tasks)
    assert sorted(running) == ["tick-0", "tick-1", "tick-2", "woken"]


async def test_ordinary_requests_take_every_slot_again_once_the_urgent_ones_end() -> None:
    slots = RequestSlots(3, ordinary_while_urgent=1)
    running: list[str] = []
    urgent_done, done = asyncio.Event(), asyncio.Event()

    async def request(name: str, urgency: Urgency | None, until: asyncio.Event) -> None:
        async with slots.slot(urgency):
            running.append(name)
            await until.wait()

    tasks = [asyncio.create_task(request("woken", Urgency(urgent=True), urgent_done))]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(request(f"tick-{i}", None, done)) for i in range(3)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert running == ["woken", "tick-0"]

    urgent_done.set()
    for _ in range(3):
        await asyncio.sleep(0)

    assert running == ["woken", "tick-0", "tick-1", "tick-2"]
    done.set()
    await asyncio.gather(*tasks)


async def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    slots = RequestSlots(1)
    order: list[str] = []
    release, tasks = await _queue(slots, [("gone", None), ("next", None)], order)
    tasks[1].cancel()
    release.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == ["holder", "next"]
