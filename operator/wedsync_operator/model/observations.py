"""What the adapters observe, as plain data the engine decides on: a target's replica
counts, an autoscaler's bounds, a data store's replication state, Alertmanager's
silences; and the annotation the operator writes on autoscalers it does not own.
Adapters build these and import nothing of the engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from wedsync_operator.model.types import Matcher

# Where the operator records, on an autoscaler, the minimum its user had (engine/hpafloor.py).
HOLD_ANNOTATION = "wedsync.io/min-replicas-hold"
# Alertmanager's silence states; an expired silence silences nothing.
LIVE_STATES = frozenset({"active", "pending"})


class Store(StrEnum):
    REDIS = "Redis"
    POSTGRES = "Postgres"


@dataclass(frozen=True)
class RedisReplica:
    """One ``slaveN:`` line of the primary's ``INFO replication``."""

    ip: str
    port: int
    state: str  # online | wait_bgsave | send_bulk | ...
    offset: int  # the replication offset the replica last acknowledged
    lag: int  # seconds since the replica's last acknowledgement

    @property
    def address(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class RedisReplication:
    """The fields of ``INFO replication`` that the gate reads."""

    role: str  # master | slave
    connected_slaves: int
    master_repl_offset: int
    replicas: tuple[RedisReplica, ...] = ()
    # Only on a replica: whether its link to its own primary is up.
    master_link_status: str | None = None


@dataclass(frozen=True)
class PgReplica:
    """One row of the primary's ``pg_stat_replication``.

    The ``*_lag_bytes`` fields are ``pg_wal_lsn_diff(pg_current_wal_lsn(), *_lsn)``:
    how far each position trails what the primary has written. ``None`` where Postgres
    shows NULL — a position not reported yet, or a role without ``pg_monitor`` (which
    sees the row but not its columns).
    """

    application_name: str
    client_addr: str | None
    state: str | None  # startup | catchup | streaming | backup | stopping
    sent_lag_bytes: int | None
    write_lag_bytes: int | None
    flush_lag_bytes: int | None
    replay_lag_bytes: int | None
    replay_lag: timedelta | None  # NULL once an idle replica has caught up

    @property
    def name(self) -> str:
        if self.application_name and self.client_addr:
            return f"{self.application_name} ({self.client_addr})"
        return self.application_name or self.client_addr or "(unnamed replica)"


@dataclass(frozen=True)
class Silence:
    """A silence as Alertmanager reports it (``GET /api/v2/silences``)."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    state: str  # active | pending | expired

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


@dataclass(frozen=True)
class Scale:
    replicas: int  # spec.replicas: what is asked for
    status_replicas: int  # status.replicas: what exists
    # The object's version when read: tells a newer copy from an older one in the watch
    # cache (adapters/kube_watch.py).
    resource_version: str = ""
    # Of a Deployment or StatefulSet: its available replicas. None from a /scale answer,
    # which does not say (engine/readiness.py then counts status.replicas).
    ready_replicas: int | None = None
    # The pods' label selector, as /scale's status.selector spells it.
    selector: str = ""
    # A Deployment's ReplicaFailure condition (a quota refused a pod, ...), else "".
    failure: str = ""

    @property
    def available(self) -> int:
        """Available replicas; a kind read only through /scale does not say: what exists."""
        return self.status_replicas if self.ready_replicas is None else self.ready_replicas

    @property
    def settled(self) -> bool:
        """A watched workload with every replica it asks for available, and no more."""
        return (
            self.ready_replicas is not None
            and self.ready_replicas >= self.replicas
            and self.status_replicas <= self.replicas
        )


@dataclass(frozen=True)
class Scheduling:
    """What the pods of a target short of ready replicas say: how many are Pending
    and the scheduler's reason for one it could not place."""

    pending: int
    unschedulable: str = ""  # PodScheduled=False: "0/2 nodes are available: ..."


@dataclass(frozen=True)
class Refusal:
    """A StatefulSet's latest FailedCreate Event (it has no ReplicaFailure condition):
    why its controller could not create a pod ("... exceeded quota: ..."), last seen when."""

    message: str
    at: datetime


@dataclass(frozen=True)
class Autoscaler:
    """What RaiseMinReplicas reads of an HPA or a KEDA ScaledObject: its bounds, the
    operator's hold annotation, and (for an HPA) the ScaledObject that writes it."""

    kind: str  # HorizontalPodAutoscaler | ScaledObject
    name: str
    target: tuple[str, str]  # (kind, name) of the scale target
    min_replicas: int | None  # None: unset (the API's default applies)
    max_replicas: int
    hold: str | None  # the raw hold annotation (engine/hpafloor.py)
    scaled_object: str | None = None  # the ScaledObject that owns this HPA
    resource_version: str = ""

    @property
    def default_min(self) -> int:
        # autoscaling/v2 defaults minReplicas to 1; KEDA defaults minReplicaCount to 0.
        return 0 if self.kind == "ScaledObject" else 1
