"""Wake-ups: a day switching phase wakes the policy loops it selects, and no others."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import ExitStack

from wedsync_operator.handlers.runtime import Wakeups
from wedsync_operator.model.types import LabelSelector, LabelSelectorRequirement


def _policies(
    wakeups: Wakeups, stack: ExitStack, **labels: Mapping[str, str]
) -> dict[str, asyncio.Event]:
    """Register one sleeping policy loop per keyword, with those labels."""

    def reader(found: Mapping[str, str]) -> Callable[[], Mapping[str, str]]:
        return lambda: found

    return {
        name: stack.enter_context(wakeups.registered(("ps", "ns", name), labels=reader(found)))
        for name, found in labels.items()
    }


def test_a_day_wakes_only_the_policies_its_selector_picks() -> None:
    wakeups = Wakeups()
    with ExitStack() as stack:
        events = _policies(wakeups, stack, web={"tier": "web"}, db={"tier": "db"}, bare={})
        other_ns = stack.enter_context(wakeups.registered(("ps", "elsewhere", "web")))
        day = stack.enter_context(wakeups.registered(("wd", "ns", "web")))

        wakeups.wake_policies("ns", LabelSelector(match_labels=(("tier", "web"),)))

        assert {n: e.is_set() for n, e in events.items()} == {
            "web": True,
            "db": False,
            "bare": False,
        }
        assert not other_ns.is_set()
        assert not day.is_set()  # only policy loops are woken


def test_an_empty_selector_or_none_wakes_every_policy_of_the_namespace() -> None:
    for selector in (LabelSelector(), None):
        wakeups = Wakeups()
        with ExitStack() as stack:
            events = _policies(wakeups, stack, web={"tier": "web"}, bare={})
            wakeups.wake_policies("ns", selector)
            assert all(e.is_set() for e in events.values())


def test_the_labels_are_read_when_the_day_wakes_not_when_the_policy_registered() -> None:
    wakeups = Wakeups()
    labels = {"tier": "db"}
    with wakeups.registered(("ps", "ns", "p"), labels=lambda: labels) as event:
        labels["tier"] = "web"  # relabelled while its loop sleeps
        expression = LabelSelectorRequirement(key="tier", operator="In", values=("web",))
        wakeups.wake_policies("ns", LabelSelector(match_expressions=(expression,)))
        assert event.is_set()


def test_a_stopped_loop_is_no_longer_woken() -> None:
    wakeups = Wakeups()
    with wakeups.registered(("ps", "ns", "p")) as event:
        pass
    wakeups.wake_policies("ns")
    wakeups.wake(("ps", "ns", "p"))
    assert not event.is_set()
    assert not wakeups.waiters  # nothing left behind by stopped loops
