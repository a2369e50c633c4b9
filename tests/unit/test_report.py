"""engine/report.py: the conditions and status an evaluation reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wedsync_operator.engine.report import (
    MetricsReport,
    generation_unseen,
    invalid_status,
    policy_conditions,
    silence_report,
    spec_is_unseen,
    warming_report,
)
from wedsync_operator.model import parse_platform_scaling
from wedsync_operator.model.status import PolicyStatus, WarmingStatus

NOW = datetime(2026, 6, 6, 12, 0, tzinfo=UTC)


def policy() -> Any:
    return parse_platform_scaling(
        {
            "apiVersion": "wedsync.io/v1alpha1",
            "kind": "PlatformScaling",
            "metadata": {"name": "p", "namespace": "ns", "generation": 3},
            "spec": {
                "targets": [{"kind": "Deployment", "name": "web", "maxReplicas": 5}],
                "metrics": [
                    {
                        "name": "rps",
                        "query": "q",
                        "target": {"type": "AverageValue", "value": "1"},
                    }
                ],
                "prometheus": {"url": "http://prometheus:9090"},
            },
        }
    )


def by_type(conditions: list[dict[str, Any]]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in conditions}


def test_an_unreadable_target_makes_ready_false_naming_it() -> None:
    found = by_type(
        policy_conditions(policy(), [], {"web": "not found"}, [], MetricsReport({}, {}), 3)
    )
    assert found["Ready"] == ("False", "TargetUnavailable", "web: not found")


def test_a_failed_metric_gives_its_reason_and_message() -> None:
    metrics = MetricsReport({"rps": None}, {"rps": ("PrometheusTimeout", "no answer in 5s")})
    found = by_type(policy_conditions(policy(), [], {}, [], metrics, 3))
    assert found["MetricsAvailable"] == ("False", "PrometheusTimeout", "rps: no answer in 5s")


def test_a_metric_without_a_sample_is_no_samples() -> None:
    found = by_type(policy_conditions(policy(), [], {}, [], MetricsReport({"rps": None}, {}), 3))
    assert found["MetricsAvailable"][:2] == ("False", "NoSamples")


def test_an_hpa_owning_a_target_limits_scaling() -> None:
    notes = ["web is owned by HPA web"]
    found = by_type(policy_conditions(policy(), [], {}, notes, MetricsReport({"rps": 1.0}, {}), 3))
    assert found["ScalingLimited"] == ("True", "HPAOwnsTarget", "web is owned by HPA web")
    assert found["MetricsAvailable"][0] == "True"


def test_an_invalid_spec_warns_once_per_generation() -> None:
    status, message, warn = invalid_status(
        ["spec.targets: required"], PolicyStatus.parse({}), 3, NOW
    )
    assert warn and message == "spec.targets: required"
    assert status["conditions"][0]["reason"] == "InvalidSpec"
    _, _, again = invalid_status(["spec.targets: required"], PolicyStatus.parse(status), 3, NOW)
    assert not again


def test_only_a_spec_change_is_unseen_not_a_status_write() -> None:
    body = {"metadata": {"generation": 2}, "status": {"observedGeneration": 2}}
    assert not spec_is_unseen(body)
    assert spec_is_unseen({"metadata": {"generation": 3}, "status": {"observedGeneration": 2}})
    assert generation_unseen(PolicyStatus.parse({}), 1)


def test_a_warming_outcome_posts_one_event_not_one_per_retry() -> None:
    block = {"reason": "WarmingFailed", "message": "Redis down"}
    assert warming_report(None, block, "p", "uid") is not None
    assert warming_report(WarmingStatus.parse(block), dict(block), "p", "uid") is None


def test_a_silence_failure_warns_once_and_success_counts_the_silences() -> None:
    cond, event = silence_report(
        None, "AlertmanagerTimeout: 5s", PolicyStatus.parse({}), "p", "u", 1
    )
    assert (cond["status"], cond["reason"]) == ("False", "AlertmanagerError")
    assert event is not None and event.reason == "SilenceFailed"
    reported = PolicyStatus.parse({"conditions": [cond]})
    assert silence_report(None, "AlertmanagerTimeout: 5s", reported, "p", "u", 1)[1] is None
    ok, none = silence_report(["a", "b"], None, reported, "p", "u", 1)
    assert (ok["status"], ok["reason"], none) == ("True", "SilencesActive", None)


def test_a_hand_edited_status_reads_as_empty_fields() -> None:
    seen = PolicyStatus.parse({"consecutiveFailures": "many", "targets": "web", "silences": 3})
    assert (seen.consecutive_failures, dict(seen.targets), seen.silences) == (0, {}, ())
