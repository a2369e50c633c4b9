"""Wake-ups: a day switching phase wakes the policies it selects, and no others."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import kopf

from wedsync_operator.handlers.runtime import TrackedObjects
from wedsync_operator.model.types import LabelSelector, LabelSelectorRequirement

LOG = logging.getLogger(__name__)


def _body(namespace: str, name: str, labels: Mapping[str, str]) -> kopf.Body:
    return kopf.Body({"metadata": {"namespace": namespace, "name": name, "labels": dict(labels)}})


def _tracked(**labels: Mapping[str, str]) -> TrackedObjects:
    """One tracked policy per keyword in namespace ns, with those labels."""
    objects = TrackedObjects()
    for name, found in labels.items():
        objects.track(("ps", "ns", name), _body("ns", name, found), LOG)
    return objects


def test_a_day_wakes_only_the_policies_its_selector_picks() -> None:
    objects = _tracked(web={"tier": "web"}, db={"tier": "db"}, bare={})
    objects.track(("ps", "elsewhere", "web"), _body("elsewhere", "web", {"tier": "web"}), LOG)
    objects.track(("wd", "ns", "web"), _body("ns", "web", {"tier": "web"}), LOG)

    selected = objects.selected("ns", LabelSelector(match_labels=(("tier", "web"),)))

    # Only policies, only of the day's namespace.
    assert selected == [("ps", "ns", "web")]


def test_an_empty_selector_or_none_picks_every_policy_of_the_namespace() -> None:
    objects = _tracked(web={"tier": "web"}, bare={})
    for selector in (LabelSelector(), None):
        assert objects.selected("ns", selector) == [("ps", "ns", "bare"), ("ps", "ns", "web")]


def test_the_labels_are_read_when_the_day_wakes_not_when_the_policy_was_tracked() -> None:
    objects = _tracked(p={"tier": "db"})
    objects.track(("ps", "ns", "p"), _body("ns", "p", {"tier": "web"}), LOG)  # relabelled
    expression = LabelSelectorRequirement(key="tier", operator="In", values=("web",))

    assert objects.selected("ns", LabelSelector(match_expressions=(expression,))) == [
        ("ps", "ns", "p")
    ]


def test_an_untracked_policy_is_no_longer_picked_and_leaves_nothing_behind() -> None:
    objects = _tracked(p={})
    objects.untrack(("ps", "ns", "p"))

    assert objects.selected("ns") == []
    assert not objects.policies and len(objects) == 0
