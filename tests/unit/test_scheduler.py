"""The one agenda and the one loop (aiokits/): what is due when, urgent work first, a
bounded pool, a key never worked on twice at once."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from wedsync_operator.aiokits.agenda import Agenda
from wedsync_operator.aiokits.scheduler import Due, Scheduler


def test_keys_come_due_in_time_order() -> None:
    agenda: Agenda[str] = Agenda()
    agenda.schedule("b", 20)
    agenda.schedule("a", 10)
    agenda.schedule("c", 30)

    assert agenda.next_at() == 10
    assert agenda.pop_due(25, limit=10) == [("a", False), ("b", False)]
    assert agenda.pop_due(25, limit=10) == []
    assert agenda.pop_due(30, limit=10) == [("c", False)]
    assert len(agenda) == 0 and agenda.next_at() is None


def test_urgent_keys_go_ahead_of_routine_ones_that_are_due_earlier() -> None:
    agenda: Agenda[str] = Agenda()
    for i in range(5):
        agenda.schedule(f"routine-{i}", i)
    agenda.schedule("activation", 9, urgent=True)

    assert agenda.pop_due(10, limit=2) == [("activation", True), ("routine-0", False)]


def test_a_new_time_replaces_the_old_one() -> None:
    agenda: Agenda[str] = Agenda()
    agenda.schedule("a", 10)
    agenda.schedule("a", 50)

    assert agenda.pop_due(20, limit=10) == []
    assert agenda.due_at("a") == 50


def test_schedule_by_keeps_an_earlier_time() -> None:
    agenda: Agenda[str] = Agenda()
    agenda.schedule("a", 10)
    agenda.schedule_by("a", 50)
    agenda.schedule_by("b", 50)
    agenda.schedule_by("b", 5)

    assert agenda.due_at("a") == 10
    assert agenda.due_at("b") == 5


def test_a_wake_up_is_not_undone_by_the_routine_rescheduling_after_it() -> None:
    agenda: Agenda[str] = Agenda()
    agenda.schedule("p", 1, urgent=True)
    agenda.schedule("p", 30)  # the periodic time, written after the wake-up

    assert agenda.pop_due(1, limit=1) == [("p", True)]


def test_a_cancelled_key_never_comes_due() -> None:
    agenda: Agenda[str] = Agenda()
    agenda.schedule("a", 1)
    agenda.cancel("a")

    assert agenda.pop_due(100, limit=10) == []
    assert agenda.next_at() is None


def test_ten_thousand_keys_pop_in_order() -> None:
    agenda: Agenda[int] = Agenda()
    for i in reversed(range(10_000)):
        agenda.schedule(i, float(i))

    assert [k for k, _ in agenda.pop_due(10_000, limit=10_000)] == list(range(10_000))


async def test_work_runs_when_due_and_is_rescheduled_by_what_it_returns() -> None:
    runs: list[float] = []

    async def work(key: str, urgent: bool) -> float | None:
        runs.append(time.monotonic())
        return time.time() + 0.05 if len(runs) < 3 else None

    scheduler: Scheduler[str] = Scheduler(work, workers=2)
    loop = asyncio.create_task(scheduler.run())
    scheduler.now("p")
    await asyncio.sleep(0.3)
    loop.cancel()

    assert len(runs) == 3
    assert all(b - a >= 0.04 for a, b in itertools.pairwise(runs))
    assert "p" not in scheduler.agenda


async def test_the_loop_wakes_at_once_for_work_due_earlier_than_its_sleep() -> None:
    started = asyncio.Event()

    async def work(key: str, urgent: bool) -> float | None:
        started.set()
        return None

    scheduler: Scheduler[str] = Scheduler(work, workers=1)
    scheduler.at("later", time.time() + 3600)
    loop = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.05)  # the loop now sleeps towards the hour
    t0 = time.monotonic()
    scheduler.now("soon")
    await asyncio.wait_for(started.wait(), 1)
    loop.cancel()

    assert time.monotonic() - t0 < 0.1


async def test_at_most_workers_pieces_of_work_run_at_once_and_urgent_ones_first() -> None:
    order: list[str] = []
    running = 0
    most = 0

    async def work(key: str, urgent: bool) -> float | None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        order.append(key)
        await asyncio.sleep(0.02)
        running -= 1
        return None

    scheduler: Scheduler[str] = Scheduler(work, workers=3)
    past = time.time() - 100
    for i in range(12):
        scheduler.at(f"routine-{i:02d}", past + i)
    scheduler.now("activation")
    loop = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.3)
    loop.cancel()

    assert most == 3
    assert order[0] == "activation"
    assert order[1:] == sorted(order[1:])
    assert len(order) == 13


async def test_a_key_due_again_while_it_runs_runs_once_more_after_not_alongside() -> None:
    concurrent = 0
    most = 0
    runs = 0
    release = asyncio.Event()

    async def work(key: str, urgent: bool) -> float | None:
        nonlocal concurrent, most, runs
        concurrent += 1
        most = max(most, concurrent)
        runs += 1
        if runs == 1:
            await release.wait()
        concurrent -= 1
        return None

    scheduler: Scheduler[str] = Scheduler(work, workers=4)
    loop = asyncio.create_task(scheduler.run())
    scheduler.now("p")
    await asyncio.sleep(0.05)
    scheduler.now("p")  # a wake-up during the run
    scheduler.now("p")  # and another: coalesced
    release.set()
    await asyncio.sleep(0.1)
    loop.cancel()

    assert most == 1
    assert runs == 2


async def test_work_that_raises_is_tried_again_and_does_not_stop_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: dict[str, int] = {"bad": 0, "good": 0}

    async def work(key: str, urgent: bool) -> float | None:
        calls[key] += 1
        if key == "bad":
            raise RuntimeError("boom")
        return None

    scheduler: Scheduler[str] = Scheduler(work, workers=2, retry_seconds=0.05)
    loop = asyncio.create_task(scheduler.run())
    scheduler.now("bad")
    scheduler.now("good")
    await asyncio.sleep(0.2)
    loop.cancel()

    assert calls["good"] == 1
    assert calls["bad"] >= 2
    assert "work on bad failed" in caplog.text


async def test_a_forgotten_key_is_not_put_back_by_the_work_it_was_doing() -> None:
    release = asyncio.Event()

    async def work(key: str, urgent: bool) -> float | None:
        await release.wait()
        return time.time()  # would be due again at once

    scheduler: Scheduler[str] = Scheduler(work, workers=1)
    loop = asyncio.create_task(scheduler.run())
    scheduler.now("deleted")
    await asyncio.sleep(0.02)
    scheduler.forget("deleted")
    release.set()
    await asyncio.sleep(0.05)
    loop.cancel()

    assert "deleted" not in scheduler.agenda
    assert scheduler.busy == 0


async def test_work_is_told_whether_a_wake_up_or_its_routine_time_brought_it() -> None:
    seen: dict[str, bool] = {}

    async def work(key: str, urgent: bool) -> float | None:
        seen[key] = urgent
        return None

    scheduler: Scheduler[str] = Scheduler(work, workers=2)
    scheduler.at("periodic", time.time())
    scheduler.now("woken")
    loop = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.05)
    loop.cancel()

    assert seen == {"periodic": False, "woken": True}


async def test_no_work_starts_while_the_gate_is_closed_and_due_work_runs_once_it_opens() -> None:
    ran: list[str] = []

    async def work(key: str, urgent: bool) -> float | None:
        ran.append(key)
        return None

    gate = asyncio.Event()
    scheduler: Scheduler[str] = Scheduler(work, workers=2, gate=gate)
    loop = asyncio.create_task(scheduler.run())
    scheduler.now("day")
    await asyncio.sleep(0.1)
    assert ran == [] and "day" in scheduler.agenda

    gate.set()
    await asyncio.sleep(0.1)
    gate.clear()
    scheduler.now("later")
    await asyncio.sleep(0.1)
    loop.cancel()

    assert ran == ["day"] and "later" in scheduler.agenda


async def test_forget_all_empties_the_agenda_and_keeps_running_work_off_it() -> None:
    release = asyncio.Event()

    async def work(key: str, urgent: bool) -> float | None:
        await release.wait()
        return time.time()

    scheduler: Scheduler[str] = Scheduler(work, workers=1)
    loop = asyncio.create_task(scheduler.run())
    scheduler.now("running")
    await asyncio.sleep(0.05)
    scheduler.at("waiting", time.time() + 60)
    scheduler.forget_all()
    release.set()
    await asyncio.sleep(0.05)
    loop.cancel()

    assert len(scheduler.agenda) == 0 and scheduler.busy == 0


async def test_finish_waits_for_the_running_work_and_keeps_the_key_off_the_agenda() -> None:
    ended: list[str] = []

    async def work(key: str, urgent: bool) -> float | None:
        await asyncio.sleep(0.1)
        ended.append(key)
        return time.time()

    scheduler: Scheduler[str] = Scheduler(work, workers=2)
    loop = asyncio.create_task(scheduler.run())
    scheduler.now("policy")
    await asyncio.sleep(0.02)
    await scheduler.finish("policy", grace=5.0)
    assert ended == ["policy"]  # it ended before finish returned
    await asyncio.sleep(0.05)
    loop.cancel()

    assert "policy" not in scheduler.agenda and scheduler.busy == 0


async def test_finish_cancels_work_that_outlasts_its_timeout() -> None:
    cancelled = asyncio.Event()

    async def work(key: str, urgent: bool) -> float | None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return None

    scheduler: Scheduler[str] = Scheduler(work, workers=1)
    loop = asyncio.create_task(scheduler.run())
    scheduler.now("stuck")
    await asyncio.sleep(0.02)
    await scheduler.finish("stuck", grace=0.05)
    loop.cancel()

    assert cancelled.is_set() and scheduler.busy == 0


async def test_work_that_returns_an_urgent_due_time_goes_ahead_of_routine_work_due_earlier() -> (
    None
):
    order: list[str] = []
    first = time.time() + 0.05

    async def work(key: str, urgent: bool) -> float | Due | None:
        order.append(key)
        if key == "day" and len(order) == 1:
            return Due(first + 0.01, urgent=True)  # its phase change, known in advance
        await asyncio.sleep(0.02)
        return None

    scheduler: Scheduler[str] = Scheduler(work, workers=1)
    scheduler.now("day", urgent=False)
    for n in range(5):  # a backlog of first turns, all due before the phase change
        scheduler.at(f"policy-{n}", first)
    loop = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.3)
    loop.cancel()

    assert order[:2] == ["day", "policy-0"]
    assert order.index("day", 1) == 2  # right after the turn in progress at its instant
