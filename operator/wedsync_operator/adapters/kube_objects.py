"""What the operator reads of a Kubernetes object: replica counts and autoscaler bounds,
as the plain observations of model/observations.py."""

from __future__ import annotations

from typing import Any

from wedsync_operator.model.observations import HOLD_ANNOTATION, Autoscaler, Scale


def scale_of(body: Any) -> Scale:
    """The replica counts of a /scale answer, or of a Deployment or StatefulSet itself
    (same field names)."""
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    return Scale(
        replicas=int(spec.get("replicas") or 0),
        status_replicas=int(status.get("replicas") or 0),
        resource_version=str((body.get("metadata") or {}).get("resourceVersion") or ""),
    )


def hpa_target(hpa: Any) -> tuple[str, str]:
    """(kind, name) of the scale target a HorizontalPodAutoscaler owns."""
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    return str(ref.get("kind")), str(ref.get("name"))


def autoscaler_of(body: Any) -> Autoscaler:
    """An HPA or a ScaledObject (same shape: scaleTargetRef, a min and a max)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    kind = str(body.get("kind") or "HorizontalPodAutoscaler")
    keda = kind == "ScaledObject"
    low = spec.get("minReplicaCount" if keda else "minReplicas")
    high = spec.get("maxReplicaCount" if keda else "maxReplicas")
    owner = next(
        (
            str(o.get("name"))
            for o in meta.get("ownerReferences") or ()
            if o.get("kind") == "ScaledObject"
            and str(o.get("apiVersion", "")).startswith("keda.sh/")
        ),
        None,
    )
    return Autoscaler(
        kind=kind,
        name=str(meta.get("name")),
        target=hpa_target(body),
        min_replicas=None if low is None else int(low),
        max_replicas=int(100 if high is None and keda else high or 1),
        hold=(meta.get("annotations") or {}).get(HOLD_ANNOTATION),
        scaled_object=owner,
        resource_version=str(meta.get("resourceVersion") or ""),
    )
