"""KEDA as the benches run it: its operator and metrics adapter (``services.keda``) on a
bench cluster, the adapter registered as ``external.metrics.k8s.io`` the way
prometheus-adapter is (``hpa.py``), and the ScaledObjects the benches give it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hpa
from common import Api, Cluster, wait_until

from operator_fixture import ensure_keda_crds
from services.keda import KedaAdapter, KedaOperator, build


class Keda:
    """KEDA's operator and adapter on ``cluster``, the adapter serving external metrics."""

    def __init__(self, cluster: Cluster, api: Api, work: Path) -> None:
        built = build(adapter=True)
        ensure_keda_crds(cluster, built)
        self.operator = KedaOperator(built, work / "keda", cluster.kubeconfig).start()
        try:
            self.adapter = KedaAdapter(self.operator).start()
            for obj in hpa.registration(self.adapter.port):
                cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))
            wait_until(
                "external.metrics.k8s.io to be Available from KEDA's adapter",
                lambda: hpa.available(api, self.adapter.port),
                timeout=120,
                interval=1.0,
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if hasattr(self, "adapter"):
            self.adapter.stop()
        self.operator.stop()


def scaled_object(
    ns: str, name: str, trigger: dict[str, Any], polling: int | None = None
) -> dict[str, Any]:
    """A ScaledObject over the Deployment ``name``, between 2 and 20 replicas;
    ``polling``: its pollingInterval, KEDA's default (30 s) when None."""
    spec: dict[str, Any] = {
        "scaleTargetRef": {"name": name},
        "minReplicaCount": 2,
        "maxReplicaCount": 20,
        "triggers": [trigger],
    }
    if polling is not None:
        spec["pollingInterval"] = polling
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def prometheus_trigger(server: str, query: str, threshold: int) -> dict[str, Any]:
    """``metricType: Value``: the HPA's rule, desired = ceil(current x value / threshold)."""
    return {
        "type": "prometheus",
        "metricType": "Value",
        "metadata": {"serverAddress": server, "query": query, "threshold": str(threshold)},
    }
