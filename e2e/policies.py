"""Policies and inputs for the e2e tests that drive a target from exporter series
(label ``ns`` per test namespace, ``name`` per input)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Gauge

from services.prometheus import PrometheusServer


def series(namespace: str, name: str) -> str:
    return f'max(wedsync_e2e_signal{{ns="{namespace}",name="{name}"}})'


def set_signal(
    signal: Gauge, prometheus: PrometheusServer, namespace: str, name: str, value: float
) -> None:
    signal.labels(ns=namespace, name=name).set(value)
    prometheus.wait_for_value(series(namespace, name), lambda v: v == value, timeout=15)


def per_replica(namespace: str, name: str, value: int) -> dict[str, Any]:
    """A metric whose proposal is ceil(observed / value), whatever the current count."""
    return {
        "name": name,
        "query": series(namespace, name),
        "target": {"type": "AverageValue", "value": value},
    }


def scaling(
    namespace: str,
    prometheus: PrometheusServer,
    metrics: list[dict[str, Any]],
    *,
    max_replicas: int = 20,
    interval: str = "1s",
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "PlatformScaling",
        "metadata": {"name": "platform"},
        "spec": {
            "targets": [
                {"kind": "Deployment", "name": "web", "minReplicas": 1, "maxReplicas": max_replicas}
            ],
            "metrics": metrics,
            "prometheus": {"url": prometheus.url, "timeout": "2s"},
            "interval": {"normal": interval, "weddingDay": interval},
            **spec,
        },
    }


def day_in_its_mode(name: str = "today", **spec: Any) -> dict[str, Any]:
    """A WeddingDay that began ten minutes ago and ends in an hour: its policies are in
    wedding-day mode from the moment it is applied."""
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "apiVersion": "wedsync.io/v1alpha1",
        "kind": "WeddingDay",
        "metadata": {"name": name},
        "spec": {
            "start": (now - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            **spec,
        },
    }
