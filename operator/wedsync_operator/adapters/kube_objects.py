"""What the operator reads of a Kubernetes object: replica counts and autoscaler bounds,
as the plain observations of model/observations.py."""

from __future__ import annotations

from typing import Any

from wedsync_operator.model.observations import (
    HOLD_ANNOTATION,
    Autoscaler,
    Refusal,
    Scale,
    Scheduling,
)
from wedsync_operator.model.status import instant


def scale_of(body: Any) -> Scale:
    """The replica counts of a /scale answer, or of a Deployment or StatefulSet itself
    (same field names; only the workload says how many are available)."""
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    # A /scale answer says kind Scale; a listed or watched workload may say no kind.
    workload = body.get("kind") != "Scale"
    failure = next(
        (
            str(c.get("message") or c.get("reason") or "ReplicaFailure")
            for c in status.get("conditions") or ()
            if c.get("type") == "ReplicaFailure" and c.get("status") == "True"
        ),
        "",
    )
    return Scale(
        replicas=int(spec.get("replicas") or 0),
        status_replicas=int(status.get("replicas") or 0),
        resource_version=str((body.get("metadata") or {}).get("resourceVersion") or ""),
        # The API omits a zero count, so a workload without the field has none available.
        ready_replicas=int(status.get("availableReplicas") or 0) if workload else None,
        selector=label_selector(spec.get("selector"))
        if workload
        else str(status.get("selector") or ""),
        failure=failure,
    )


def label_selector(selector: Any) -> str:
    """A LabelSelector object as the string ``labelSelector=`` takes."""
    if not isinstance(selector, dict):
        return ""
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or ():
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            terms.append(str(key))
        elif op == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)


def scheduling_of(pods: Any) -> Scheduling:
    """The Pending pods of a list, and the scheduler's message for one it could not place."""
    pending = [p for p in pods if (p.get("status") or {}).get("phase") == "Pending"]
    unschedulable = next(
        (
            str(c.get("message") or c.get("reason") or "Unschedulable")
            for p in pending
            for c in (p.get("status") or {}).get("conditions") or ()
            if c.get("type") == "PodScheduled" and c.get("status") == "False"
        ),
        "",
    )
    return Scheduling(pending=len(pending), unschedulable=unschedulable)


def refusal_of(events: Any) -> Refusal | None:
    """The latest of a workload's FailedCreate Events, if any."""
    latest: Refusal | None = None
    for e in events:
        series = e.get("series") or {}
        at = (
            instant(series.get("lastObservedTime"))
            or instant(e.get("lastTimestamp"))
            or instant(e.get("eventTime"))
            or instant((e.get("metadata") or {}).get("creationTimestamp"))
        )
        if at is not None and (latest is None or at > latest.at):
            latest = Refusal(str(e.get("message") or "FailedCreate"), at)
    return latest


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
