"""Where the API server is and how to prove who we are: the pod's service account, or a
kubeconfig (client certificates, a token, a token file, an exec plugin).

Read here instead of through the ``kubernetes`` clients' loaders: importing those loads
their generated models, 50 MiB of a process that never uses them
(docs/decisions/0002-memory.md). kopf logs in with the same credentials
(handlers/settings.py), so both clients talk to the same server as the same user.
Not supported: the legacy ``auth-provider`` plugins (removed from kubectl in 1.26) and
exec plugins that answer with a client certificate instead of a token.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import ssl
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# A projected service-account token rotates: read again this often (as client-go does).
TOKEN_FILE_SECONDS = 60.0
# An exec plugin's token is run again this long before it expires.
EXEC_MARGIN_SECONDS = 10.0
EXEC_TIMEOUT_SECONDS = 30.0


class CredentialsError(Exception):
    """No usable credentials: the message says which file or field."""


@dataclass(frozen=True)
class ExecPlugin:
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = "client.authentication.k8s.io/v1"
    base: str = "."  # a relative command resolves against the kubeconfig's folder


@dataclass
class Credentials:
    server: str
    ca_file: str | None = None
    ca_data: str | None = None  # PEM
    insecure: bool = False
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: str | None = None  # PEM
    key_data: str | None = None  # PEM
    token: str | None = None
    token_file: str | None = None
    exec_plugin: ExecPlugin | None = None
    tls_server_name: str | None = None
    proxy_url: str | None = None
    namespace: str | None = None
    # (token, monotonic time it is read or run again, wall-clock expiry or None)
    _cached: tuple[str, float, datetime | None] | None = field(default=None, repr=False)

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file, cadata=self.ca_data)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        with _pem_file(self.cert_data) as cert, _pem_file(self.key_data) as key:
            certfile = cert or self.cert_file
            if certfile:
                context.load_cert_chain(certfile, keyfile=key or self.key_file)
        return context

    @property
    def expiration(self) -> datetime | None:
        """When the last bearer token expires, if its source said so (an exec plugin)."""
        return self._cached[2] if self._cached else None

    async def bearer(self) -> str | None:
        """The bearer token, read or run again when its source may have renewed it."""
        if self._cached is not None and time.monotonic() < self._cached[1]:
            return self._cached[0]
        if self.token_file:
            token = await asyncio.to_thread(Path(self.token_file).read_text)
            self._cached = (token.strip(), time.monotonic() + TOKEN_FILE_SECONDS, None)
        elif self.exec_plugin is not None:
            self._cached = await _run_exec(self.exec_plugin)
        else:
            return self.token
        return self._cached[0]


@contextlib.contextmanager
def _pem_file(pem: str | None) -> Iterator[str | None]:
    """ssl loads a client certificate only from a file: one readable by us alone, removed
    once loaded."""
    if pem is None:
        yield None
        return
    fd, path = tempfile.mkstemp(prefix="wedsync-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(pem)
        yield path
    finally:
        os.unlink(path)


def load(kubeconfig: str | None = None, *, service_account: Path = SERVICE_ACCOUNT) -> Credentials:
    """The pod's service account when in a pod and no kubeconfig is given, else the
    kubeconfig: ``kubeconfig``, else ``$KUBECONFIG`` (files merged), else ~/.kube/config."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    if not kubeconfig and host and (service_account / "token").exists():
        return in_cluster(host, os.environ.get("KUBERNETES_SERVICE_PORT", "443"), service_account)
    paths = (
        [kubeconfig]
        if kubeconfig
        else [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
        or [str(Path.home() / ".kube" / "config")]
    )
    return from_kubeconfig([Path(p).expanduser() for p in paths])


def in_cluster(host: str, port: str, service_account: Path = SERVICE_ACCOUNT) -> Credentials:
    server_host = f"[{host}]" if ":" in host else host
    namespace = service_account / "namespace"
    return Credentials(
        server=f"https://{server_host}:{port}",
        ca_file=str(service_account / "ca.crt"),
        token_file=str(service_account / "token"),
        namespace=namespace.read_text().strip() if namespace.exists() else None,
    )


def from_kubeconfig(paths: list[Path]) -> Credentials:
    """The current context of the merged files: the first file to name an entry wins,
    as in kubectl; relative paths resolve against the file that holds them."""
    current: str | None = None
    clusters: dict[str, tuple[Mapping[str, Any], Path]] = {}
    users: dict[str, tuple[Mapping[str, Any], Path]] = {}
    contexts: dict[str, Mapping[str, Any]] = {}
    for path in paths:
        if not path.exists():
            if len(paths) == 1:
                raise CredentialsError(f"no kubeconfig at {path} and not in a pod")
            continue
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise CredentialsError(f"kubeconfig {path}: {exc}") from None
        if not isinstance(doc, Mapping):
            raise CredentialsError(f"kubeconfig {path}: not a mapping")
        current = current or doc.get("current-context")
        for entries, key, into in (
            (doc.get("clusters"), "cluster", clusters),
            (doc.get("users"), "user", users),
        ):
            for entry in entries or ():
                into.setdefault(str(entry.get("name")), (entry.get(key) or {}, path.parent))
        for entry in doc.get("contexts") or ():
            contexts.setdefault(str(entry.get("name")), entry.get("context") or {})
    if not current or current not in contexts:
        raise CredentialsError(f"kubeconfig {os.pathsep.join(map(str, paths))}: no current context")
    context = contexts[current]
    if context.get("cluster") not in clusters:
        raise CredentialsError(f"kubeconfig: context {current!r} names no known cluster")
    cluster, cluster_dir = clusters[context["cluster"]]
    user, user_dir = users.get(str(context.get("user")), ({}, Path(".")))
    if "auth-provider" in user:
        raise CredentialsError(
            f"kubeconfig: user {context.get('user')!r} uses an auth-provider plugin "
            "(removed from kubectl in 1.26); use an exec plugin"
        )
    if not cluster.get("server"):
        raise CredentialsError(f"kubeconfig: cluster {context['cluster']!r} has no server")
    return Credentials(
        server=str(cluster["server"]).rstrip("/"),
        ca_file=_path(cluster.get("certificate-authority"), cluster_dir),
        ca_data=_pem(cluster.get("certificate-authority-data")),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name") or None,
        proxy_url=cluster.get("proxy-url") or None,
        cert_file=_path(user.get("client-certificate"), user_dir),
        key_file=_path(user.get("client-key"), user_dir),
        cert_data=_pem(user.get("client-certificate-data")),
        key_data=_pem(user.get("client-key-data")),
        token=user.get("token") or None,
        token_file=_path(user.get("tokenFile"), user_dir),
        exec_plugin=_exec(user.get("exec"), user_dir),
        namespace=context.get("namespace") or None,
    )


def _path(value: Any, base: Path) -> str | None:
    return str(base / Path(value).expanduser()) if value else None


def _pem(value: Any) -> str | None:
    return base64.b64decode(value).decode() if value else None


def _exec(spec: Any, base: Path) -> ExecPlugin | None:
    if not spec:
        return None
    if not spec.get("command"):
        raise CredentialsError("kubeconfig: exec plugin without a command")
    return ExecPlugin(
        command=str(spec["command"]),
        args=tuple(str(a) for a in spec.get("args") or ()),
        env=tuple((str(e["name"]), str(e["value"])) for e in spec.get("env") or ()),
        api_version=str(spec.get("apiVersion") or ExecPlugin.api_version),
        base=str(base),
    )


async def _run_exec(plugin: ExecPlugin) -> tuple[str, float, datetime | None]:
    """Run the plugin as kubectl does (not interactive) and read its ExecCredential."""
    command = plugin.command
    if os.sep in command and not os.path.isabs(command):
        command = os.path.join(plugin.base, command)
    info = {
        "apiVersion": plugin.api_version,
        "kind": "ExecCredential",
        "spec": {"interactive": False},
    }
    env = {**os.environ, **dict(plugin.env), "KUBERNETES_EXEC_INFO": json.dumps(info)}
    try:
        proc = await asyncio.create_subprocess_exec(
            command,
            *plugin.args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise CredentialsError(f"exec plugin {plugin.command}: {exc}") from None
    try:
        async with asyncio.timeout(EXEC_TIMEOUT_SECONDS):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise CredentialsError(
            f"exec plugin {plugin.command}: no answer within {EXEC_TIMEOUT_SECONDS:.0f}s"
        ) from None
    if proc.returncode != 0:
        raise CredentialsError(
            f"exec plugin {plugin.command} exited {proc.returncode}: {err.decode()[-300:]}"
        )
    try:
        status = json.loads(out)["status"]
        token = str(status["token"])
    except (ValueError, KeyError, TypeError):
        raise CredentialsError(
            f"exec plugin {plugin.command}: no ExecCredential with status.token in its output"
        ) from None
    expires = _instant(status.get("expirationTimestamp"))
    if expires is None:
        return token, float("inf"), None  # no expiry given: valid for the process's life
    left = (expires - datetime.now(UTC)).total_seconds() - EXEC_MARGIN_SECONDS
    return token, time.monotonic() + max(left, 0.0), expires


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
