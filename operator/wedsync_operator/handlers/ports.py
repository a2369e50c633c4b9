"""The outside world as the evaluation sees it: the API server, the targets' replicas,
the metrics source, the data stores and the alert silencer. The adapters satisfy these
structurally; unit tests give the evaluation in-memory fakes (tests/unit/test_evaluation.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from wedsync_operator.adapters.kube_slots import Urgency
from wedsync_operator.adapters.postgres_store import CacheRows
from wedsync_operator.adapters.prometheus import PrometheusError
from wedsync_operator.model.observations import (
    Autoscaler,
    PgReplica,
    RedisReplication,
    Refusal,
    Scale,
    Scheduling,
    Silence,
)

__all__ = [
    "Cluster",
    "DataStores",
    "MetricsSource",
    "MetricsSources",
    "PostgresStore",
    "RedisStore",
    "ScaleClient",
    "Silencer",
    "Silencers",
]


class Cluster(Protocol):
    """The API server, for what is not a target's replicas (adapters/kube.py)."""

    def on_behalf_of(self, urgency: Urgency) -> AbstractContextManager[None]: ...

    def hurry(self, urgency: Urgency) -> None: ...

    async def patch_status(self, plural: str, namespace: str, name: str, status: Any) -> None: ...

    async def list_own(self, plural: str, namespace: str, *, page: int = 500) -> list[Any]: ...

    async def create_event(
        self,
        namespace: str,
        name: str,
        involved: dict[str, str],
        *,
        type_: str,
        reason: str,
        message: str,
        component: str,
    ) -> None: ...

    async def apply_config_map(
        self,
        namespace: str,
        name: str,
        data: dict[str, str | None],
        labels: dict[str, str],
        *,
        create: bool = True,
    ) -> Any: ...

    async def patch_config_map_at(
        self, namespace: str, name: str, data: dict[str, str | None], resource_version: str
    ) -> Any: ...

    async def secret_value(self, namespace: str, name: str, key: str) -> str: ...

    async def pod_scheduling(self, namespace: str, selector: str) -> Scheduling: ...

    async def statefulset_refusal(self, namespace: str, name: str) -> Refusal | None: ...

    async def get_scaled_object(self, namespace: str, name: str) -> Any: ...

    async def patch_autoscaler_min(
        self,
        scaler: Autoscaler,
        namespace: str,
        value: int | None,
        annotation: dict[str, str | None],
    ) -> Any: ...

    async def autoscalers(self, namespace: str) -> list[Autoscaler]: ...


class ScaleClient(Protocol):
    """Targets' replicas and the autoscalers that own them (adapters/kube_watch.py)."""

    async def scale(self, api_version: str, kind: str, namespace: str, name: str) -> Scale: ...

    async def set_replicas(
        self, api_version: str, kind: str, namespace: str, name: str, replicas: int
    ) -> None: ...

    async def autoscalers(self, namespace: str) -> list[Autoscaler]: ...

    def record_autoscaler(self, namespace: str, body: Any) -> None: ...


class MetricsSource(Protocol):
    """Named instant queries: each a value, None (no usable sample) or its error."""

    async def query_many(
        self, queries: Mapping[str, str]
    ) -> dict[str, float | PrometheusError | None]: ...


class MetricsSources(Protocol):
    """The metrics source of a policy's ``prometheus`` block."""

    def __call__(self, url: str, *, timeout: float, bearer_token: str | None) -> MetricsSource: ...


class RedisStore(Protocol):
    async def replication(self, *, timeout_s: float) -> RedisReplication: ...

    async def write_batch(
        self, items: Sequence[tuple[str, str]], ttl_seconds: int, *, timeout_s: float
    ) -> int: ...


class PostgresStore(Protocol):
    async def replication(self, *, timeout_s: float) -> list[PgReplica]: ...

    async def cache_rows(
        self, query: str, couple_ids: Sequence[str], *, timeout_s: float
    ) -> CacheRows: ...


class DataStores(Protocol):
    """One store per URL/DSN, made on first use (adapters/clients.py)."""

    def redis_link(self, url: str) -> RedisStore: ...

    async def postgres_link(self, dsn: str) -> PostgresStore: ...


class Silencer(Protocol):
    """Alertmanager's silences (adapters/alertmanager.py); raises AlertmanagerError."""

    async def list_silences(self) -> list[Silence]: ...

    async def create_silence(self, payload: Mapping[str, Any]) -> str: ...

    async def expire_silence(self, silence_id: str) -> None: ...


class Silencers(Protocol):
    def __call__(self, url: str, *, timeout: float) -> Silencer: ...
