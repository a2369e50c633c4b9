"""Thin async Kubernetes client: /scale of any scalable kind, our CRs' /status, the mode
ConfigMap, HorizontalPodAutoscalers. Every call is bounded by a timeout and failures
surface as ``KubeError`` with a CamelCase reason; retries are the caller's decision.

Replicas change only through the target's ``/scale`` subresource with an absolute count
in a JSON merge patch (no resourceVersion): an interrupted evaluation that runs again
writes the same number, so it is harmless (CONVENTIONS.md, "Reliability habits").

Beside it: request limiting (kube_slots.py), what is read of an object (kube_objects.py),
watch caches (kube_watch.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp

from wedsync_operator.adapters.kube_credentials import Credentials, CredentialsError, load
from wedsync_operator.adapters.kube_objects import (
    autoscaler_of,
    hpa_target,
    refusal_of,
    scale_of,
    scheduling_of,
)
from wedsync_operator.adapters.kube_slots import RequestSlots, Urgency
from wedsync_operator.model.observations import Autoscaler, Refusal, Scale, Scheduling

GROUP = "wedsync.io"
VERSION = "v1alpha1"
MERGE_PATCH = "application/merge-patch+json"
# As kopf cuts them: longer Event messages are refused by some API servers.
MAX_EVENT_MESSAGE = 1024
# Requests in flight to the API server at once, and ordinary ones while urgent ones wait
# or run. Why: docs/decisions/0003-request-slots.md
CONNECTIONS = 32
ORDINARY_WHILE_URGENT = 8
# A watch ends server-side after its timeoutSeconds; this much longer, the client gives
# up on a connection that went silently dead.
WATCH_MARGIN_SECONDS = 30
HPA_PATH = "/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers"
SCALED_OBJECT_PATH = "/apis/keda.sh/v1alpha1/namespaces/{namespace}/scaledobjects"


# None: a request made outside any policy loop (day phases, start-up lists): ordinary.
_URGENCY: contextvars.ContextVar[Urgency | None] = contextvars.ContextVar("urgency", default=None)


class KubeError(Exception):
    def __init__(self, reason: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status

    @property
    def not_found(self) -> bool:
        return self.status == 404


def api_base(api_version: str) -> str:
    # Core kinds live under /api/v1, every other group under /apis/<group>/<version>.
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


class KubeClient:
    """Credentials from kube_credentials.py (service account, kubeconfig, token refresh);
    requests through one aiohttp session of our own.

    Not kubernetes_asyncio's client: it read the proxy environment and ~/.netrc in a
    thread on every request, most of the operator's CPU at 200 policies (py-spy).
    As kopf's own client does, the proxy environment is not read; a kubeconfig
    ``proxy-url`` is honoured.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: float = 10.0,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.credentials = credentials
        self._host = credentials.server
        self._timeout = timeout
        self._plurals: dict[tuple[str, str], str] = {}
        context = context or credentials.ssl_context()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=CONNECTIONS),
            trust_env=False,
        )
        # Watches (adapters/kube_watch.py) hold a connection each for minutes.
        self._watch_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=0), trust_env=False
        )
        # Requests wait here for a connection; the timeout starts once one is free, so
        # it measures the API server, not a burst of our own requests.
        self._slots = RequestSlots(CONNECTIONS, ORDINARY_WHILE_URGENT)

    @contextlib.contextmanager
    def on_behalf_of(self, urgency: Urgency) -> Iterator[None]:
        """Requests made inside (and in tasks started inside) wait for a connection in
        ``urgency``'s class (docs/decisions/0003-request-slots.md)."""
        token = _URGENCY.set(urgency)
        try:
            yield
        finally:
            _URGENCY.reset(token)

    def hurry(self, urgency: Urgency) -> None:
        """``urgency``'s requests, queued now or later, go ahead of all ordinary ones."""
        self._slots.hurry(urgency)

    @classmethod
    async def connect(
        cls, *, request_timeout: float = 10.0, kubeconfig: str | None = None
    ) -> KubeClient:
        """In-cluster service account if present, else the kubeconfig (KUBECONFIG)."""

        def read() -> tuple[Credentials, ssl.SSLContext]:
            credentials = load(kubeconfig)
            return credentials, credentials.ssl_context()

        try:
            credentials, context = await asyncio.to_thread(read)
        except (CredentialsError, OSError) as exc:  # ssl.SSLError is an OSError
            raise KubeError("KubernetesCredentials", str(exc)) from None
        return cls(credentials, timeout=request_timeout, context=context)

    async def close(self) -> None:
        await self._session.close()
        await self._watch_session.close()
        # A TLS connection closes over a few loop iterations (aiohttp's "graceful
        # shutdown"): a watch cut short mid-stream is still closing here.
        await asyncio.sleep(0.1)

    async def _authorization(self) -> dict[str, str]:
        """The Authorization header, if any. Reads a rotated service-account token or runs
        an exec plugin again first (bounded by its own timeout)."""
        try:
            token = await self.credentials.bearer()
        except (CredentialsError, OSError) as exc:
            raise KubeError("KubernetesCredentials", str(exc)) from None
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _route(self) -> dict[str, Any]:
        """How a request reaches the server: a kubeconfig proxy-url, a TLS server name."""
        return {
            "proxy": self.credentials.proxy_url,
            "server_hostname": self.credentials.tls_server_name,
        }

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str | None = None,
        query: list[tuple[str, str]] | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        data = None if body is None else json.dumps(body)
        if data is not None and not content_type:
            headers["Content-Type"] = "application/json"
        async with self._slots.slot(_URGENCY.get()):
            try:
                async with asyncio.timeout(self._timeout):
                    headers.update(await self._authorization())
                    async with self._session.request(
                        method,
                        self._host + path,
                        params=query,
                        data=data,
                        headers=headers,
                        **self._route(),
                    ) as response:
                        # Bytes: json reads UTF-8 itself; text() would guess the charset.
                        raw = await response.read()
            except TimeoutError:
                raise KubeError(
                    "KubernetesTimeout", f"{method} {path}: no answer within {self._timeout}s"
                ) from None
            except (aiohttp.ClientError, OSError) as exc:  # refused, TLS, DNS, reset
                raise KubeError("KubernetesUnreachable", f"{method} {path}: {exc}") from None
        if response.status >= 300:
            raise KubeError(
                _reason(response.status),
                f"{method} {path}: {_message(raw, response.reason)}",
                response.status,
            )
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            raise KubeError(
                "KubernetesError", f"{method} {path}: the answer is not JSON: {raw[:200]!r}"
            ) from None

    async def plural(self, api_version: str, kind: str) -> str:
        """The resource name of a kind, from API discovery (cached: it does not change)."""
        key = (api_version, kind)
        if key not in self._plurals:
            found = await self.request("GET", api_base(api_version))
            for res in found.get("resources", []):
                if "/" not in res["name"]:
                    self._plurals[(api_version, res["kind"])] = res["name"]
            if key not in self._plurals:
                raise KubeError(
                    "UnknownKind", f"the API server has no kind {kind} in {api_version}", 404
                )
        return self._plurals[key]

    async def _scale_path(self, api_version: str, kind: str, namespace: str, name: str) -> str:
        plural = await self.plural(api_version, kind)
        return f"{api_base(api_version)}/namespaces/{namespace}/{plural}/{name}/scale"

    async def get_scale(self, api_version: str, kind: str, namespace: str, name: str) -> Scale:
        path = await self._scale_path(api_version, kind, namespace, name)
        return scale_of(await self.request("GET", path))

    async def list_one(self, path: str, name: str) -> Any | None:
        """One object of a collection by name through LIST (RBAC: list, no get), or None."""
        query = [("fieldSelector", f"metadata.name={name}"), ("limit", "1")]
        found = await self.request("GET", path, query=query)
        items = found.get("items") or ()
        return items[0] if items else None

    async def set_replicas(
        self, api_version: str, kind: str, namespace: str, name: str, replicas: int
    ) -> Scale:
        """Returns the /scale the API server answers with (its new version)."""
        path = await self._scale_path(api_version, kind, namespace, name)
        body = await self.request(
            "PATCH", path, {"spec": {"replicas": replicas}}, content_type=MERGE_PATCH
        )
        return scale_of(body)

    async def pod_scheduling(self, namespace: str, selector: str) -> Scheduling:
        """The Pending pods a selector matches (RBAC: list on pods)."""
        found = await self.request(
            "GET",
            f"/api/v1/namespaces/{namespace}/pods",
            query=[("labelSelector", selector), ("fieldSelector", "status.phase=Pending")],
        )
        return scheduling_of(found.get("items") or ())

    async def statefulset_refusal(self, namespace: str, name: str) -> Refusal | None:
        """Why a StatefulSet's controller last failed to create a pod (RBAC: list on
        events), which it says only in an Event."""
        involved = f"involvedObject.kind=StatefulSet,involvedObject.name={name},reason=FailedCreate"
        found = await self.request(
            "GET", f"/api/v1/namespaces/{namespace}/events", query=[("fieldSelector", involved)]
        )
        return refusal_of(found.get("items") or ())

    async def patch_status(self, plural: str, namespace: str, name: str, status: Any) -> None:
        """Merge-patch the /status of one of our own objects."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}/status"
        await self.request("PATCH", path, {"status": status}, content_type=MERGE_PATCH)

    async def list_own(self, plural: str, namespace: str, *, page: int = 500) -> list[Any]:
        """Every object of one of our kinds in a namespace, a page at a time."""
        items, _ = await self.list_all(
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}", page=page
        )
        return items

    async def list_all(self, path: str, *, page: int = 500) -> tuple[list[Any], str]:
        """Every object of a collection, a page at a time, and the list's
        resourceVersion (where a watch of the same collection starts)."""
        items: list[Any] = []
        token = ""
        while True:
            query = [("limit", str(page))] + ([("continue", token)] if token else [])
            found = await self.request("GET", path, query=query)
            items.extend(found.get("items") or ())
            meta = found.get("metadata") or {}
            token = meta.get("continue") or ""
            if not token:
                return items, str(meta.get("resourceVersion") or "")

    async def watch(
        self, path: str, resource_version: str, *, timeout_seconds: int
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of a collection from ``resource_version`` on (bookmarks included),
        until the API server ends the watch after ``timeout_seconds``.

        A watch holds its connection for minutes: it has its own connections, not one
        of the request slots, and is bounded by its own timeout (the server's, plus a
        margin for a silently dead connection). Raises ``KubeError`` as requests do.
        """
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        headers = {"Accept": "application/json"}
        # aiohttp's own timeout, not asyncio.timeout: this generator yields between
        # reads, and a cancellation it schedules could land in the consumer's code.
        timeout = aiohttp.ClientTimeout(
            total=timeout_seconds + WATCH_MARGIN_SECONDS, connect=self._timeout
        )
        try:
            async with asyncio.timeout(self._timeout):
                headers.update(await self._authorization())
            async with self._watch_session.get(
                self._host + path, params=query, headers=headers, timeout=timeout, **self._route()
            ) as response:
                if response.status >= 300:
                    raw = await response.read()
                    raise KubeError(
                        _reason(response.status),
                        f"WATCH {path}: {_message(raw, response.reason)}",
                        response.status,
                    )
                # One JSON document per line; a line can be longer than aiohttp's
                # readline limit (an object with large annotations), so split here.
                pending = b""
                async for chunk in response.content.iter_any():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield json.loads(line)
        except TimeoutError:
            raise KubeError(
                "KubernetesTimeout", f"WATCH {path}: no answer or no end in time"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise KubeError("KubernetesUnreachable", f"WATCH {path}: {exc}") from None
        except ValueError:
            raise KubeError("KubernetesError", f"WATCH {path}: an event is not JSON") from None

    async def apply_config_map(
        self,
        namespace: str,
        name: str,
        data: dict[str, str | None],
        labels: dict[str, str],
        *,
        create: bool = True,
    ) -> Any:
        """Create the ConfigMap (unless ``create`` is False: NotFound) or merge-patch its
        data (idempotent; a None value removes its key); returns the ConfigMap as the API
        server holds it after the write."""
        path = f"/api/v1/namespaces/{namespace}/configmaps"
        body = {"metadata": {"name": name, "labels": labels}, "data": data}
        try:
            return await self.request("PATCH", f"{path}/{name}", body, content_type=MERGE_PATCH)
        except KubeError as exc:
            if not exc.not_found or not create:
                raise
            created = {k: v for k, v in data.items() if v is not None}
            try:
                return await self.request(
                    "POST",
                    path,
                    {"apiVersion": "v1", "kind": "ConfigMap", **body, "data": created},
                )
            except KubeError as race:
                # Another policy of the namespace created it in between: patch theirs.
                if race.reason != "Conflict":
                    raise
                return await self.request("PATCH", f"{path}/{name}", body, content_type=MERGE_PATCH)

    async def patch_config_map_at(
        self, namespace: str, name: str, data: dict[str, str | None], resource_version: str
    ) -> Any:
        """Merge-patch a ConfigMap's data only if it is still at ``resource_version``
        (KubeError ``Conflict`` otherwise): a value computed from what the ConfigMap held
        never overwrites a change made since."""
        path = f"/api/v1/namespaces/{namespace}/configmaps/{name}"
        body = {"metadata": {"resourceVersion": resource_version}, "data": data}
        return await self.request("PATCH", path, body, content_type=MERGE_PATCH)

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
    ) -> None:
        """Post a core/v1 Event under a fixed name; one the API server already holds
        under that name counts as posted, so a post repeated after a restart leaves one."""
        if len(message) > MAX_EVENT_MESSAGE:
            half = MAX_EVENT_MESSAGE // 2 - 2
            message = f"{message[:half]}...{message[-half:]}"
        now = datetime.now(UTC).isoformat()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {**involved, "namespace": namespace},
            "type": type_,
            "reason": reason,
            "message": message,
            "action": reason,
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.request("POST", f"/api/v1/namespaces/{namespace}/events", body)
        except KubeError as exc:
            if exc.status != 409:  # AlreadyExists: posted before, by us
                raise

    async def secret_value(self, namespace: str, name: str, key: str) -> str:
        """One key of a named Secret (RBAC: get on named Secrets only, no list)."""
        secret = await self.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        data = (secret.get("data") or {}).get(key)
        if data is None:
            raise KubeError("SecretKeyMissing", f"Secret {namespace}/{name} has no key {key!r}")
        return base64.b64decode(data).decode()

    async def get_scaled_object(self, namespace: str, name: str) -> Any:
        return await self.request("GET", f"{SCALED_OBJECT_PATH.format(namespace=namespace)}/{name}")

    async def patch_autoscaler_min(
        self,
        scaler: Autoscaler,
        namespace: str,
        value: int | None,
        annotation: dict[str, str | None],
    ) -> Any:
        """Write the minimum and the hold annotation in one merge PATCH (atomic on the
        server), only if the object is still at the version read (``Conflict`` else): a
        value decided from what it held never overwrites a change made since."""
        keda = scaler.kind == "ScaledObject"
        base = SCALED_OBJECT_PATH if keda else HPA_PATH
        body = {
            "metadata": {"resourceVersion": scaler.resource_version, "annotations": annotation},
            "spec": {("minReplicaCount" if keda else "minReplicas"): value},
        }
        path = f"{base.format(namespace=namespace)}/{scaler.name}"
        return await self.request("PATCH", path, body, content_type=MERGE_PATCH)

    async def autoscalers(self, namespace: str) -> list[Autoscaler]:
        found = await self.request("GET", HPA_PATH.format(namespace=namespace))
        return [
            autoscaler_of({"kind": "HorizontalPodAutoscaler", **hpa})
            for hpa in found.get("items", [])
        ]

    async def hpa_owners(self, namespace: str) -> dict[tuple[str, str], str]:
        """(kind, name) of each scale target owned by a HorizontalPodAutoscaler → HPA name."""
        found = await self.request("GET", HPA_PATH.format(namespace=namespace))
        return {hpa_target(hpa): hpa["metadata"]["name"] for hpa in found.get("items", [])}


def _reason(status: int) -> str:
    return {
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        422: "Invalid",
        429: "TooManyRequests",
    }.get(status, "KubernetesError")


def _message(raw: bytes, reason: str | None) -> str:
    """The API server's Status message, else the HTTP reason."""
    try:
        return str(json.loads(raw or b"{}").get("message") or reason)
    except (ValueError, AttributeError):
        return str(reason)
