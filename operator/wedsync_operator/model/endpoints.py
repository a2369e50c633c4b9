"""Where a policy may make the operator connect: the administrator's allowed endpoints.

A URL in a PlatformScaling (Prometheus, Alertmanager) or in a Secret it names (Redis,
Postgres) is a request sent from the operator's network position, so the operator's
administrator lists what may be reached (``--allow-endpoint``, Helm
``security.allowedEndpoints``). Link-local and cloud metadata addresses are refused
whatever the list says; the adapters apply that to every resolved address
(see docs/security.md).

A rule is ``[scheme://]host[:port]``: ``scheme`` a URL scheme or ``*`` (any; the default),
``host`` a name with ``*`` wildcards (``*.monitoring.svc``), an IP address, or a network in
CIDR notation (``10.0.0.0/8``, matched against literal IP hosts), ``port`` a number or
``*`` (any; the default). No rule at all allows every host that is not always refused.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from wedsync_operator.model.parse import FieldError, InvalidSpec
from wedsync_operator.model.types import PlatformScaling

__all__ = [
    "EgressPolicy",
    "Endpoint",
    "EndpointRule",
    "endpoints_of",
    "parse_rule",
    "refused_address",
    "resolve_endpoints",
]

DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "redis": 6379,
    "rediss": 6379,
    "postgres": 5432,
    "postgresql": 5432,
}

# Never reachable through a policy: instance metadata and other link-local services hand
# out cloud credentials. IPv4-mapped IPv6 forms are unwrapped before the check.
_ALWAYS_REFUSED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local: AWS, GCP, Azure, OpenStack metadata
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "168.63.129.16/32",  # Azure WireServer
        "0.0.0.0/32",  # "this host": connects to loopback on Linux
        "::/128",
    )
)


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str  # lower-case; an IPv6 address without brackets
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def endpoints_of(url: str) -> list[Endpoint]:
    """The hosts a URL or DSN names (a Postgres DSN may name several); ValueError if none.

    Credentials in the URL are dropped: an Endpoint can be shown and logged."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"the scheme {scheme or '(none)'!r} is not one the operator connects to")
    hosts = parts.netloc.rpartition("@")[2]
    found = []
    for item in hosts.split(","):
        host, port = _split_host_port(item)
        if not host:
            raise ValueError("the URL names no host")
        found.append(Endpoint(scheme, host, port if port is not None else DEFAULT_PORTS[scheme]))
    return found


def _split_host_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):  # [v6]:port
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if port_text and not port_text.isdigit():
        raise ValueError("the port is not a number")
    port = int(port_text) if port_text else None
    if port is not None and not 0 < port < 65536:
        raise ValueError("the port is out of range")
    return host.lower().rstrip("."), port


@dataclass(frozen=True)
class EndpointRule:
    scheme: str  # "*" for any
    host: str  # a glob, or an IP network in CIDR form
    port: int | None  # None for any

    def matches(self, endpoint: Endpoint) -> bool:
        if self.scheme != "*" and self.scheme != endpoint.scheme:
            return False
        if self.port is not None and self.port != endpoint.port:
            return False
        try:
            network = ipaddress.ip_network(self.host, strict=False)
        except ValueError:
            return fnmatch.fnmatchcase(endpoint.host, self.host)
        try:
            return ipaddress.ip_address(endpoint.host) in network
        except ValueError:
            return False  # a name never matches a network: its address is not known here

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{'*' if self.port is None else self.port}"


_RULE = re.compile(
    r"^(?:(?P<scheme>[a-z*]+)://)?(?P<host>\[[^\]]+\]|[^:/\s\[\]]+(?:/\d+)?)"
    r"(?::(?P<port>\d+|\*))?/?$"
)


def parse_rule(text: str) -> EndpointRule:
    """``[scheme://]host[:port]``; ValueError with the reason if it is not one."""
    given, text = text, text.strip().lower()
    try:  # a bare address or network, IPv6 ones included: any scheme, any port
        return EndpointRule("*", str(ipaddress.ip_network(text, strict=False)), None)
    except ValueError:
        pass
    m = _RULE.match(text)
    if m is None:
        raise ValueError(f"{given!r} is not [scheme://]host[:port]")
    scheme, host, port = m.group("scheme") or "*", m.group("host").strip("[]"), m.group("port")
    if scheme != "*" and scheme not in DEFAULT_PORTS:
        raise ValueError(f"{given!r}: the scheme must be one of {', '.join(DEFAULT_PORTS)} or *")
    return EndpointRule(scheme, host, None if port in (None, "*") else int(port))


def refused_address(address: str) -> str | None:
    """Why an IP address may never be reached through a policy, or None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in _ALWAYS_REFUSED):
        return f"{ip} is a link-local or cloud metadata address, which policies may never reach"
    return None


@dataclass(frozen=True)
class EgressPolicy:
    """The administrator's allowed endpoints and default Prometheus URL."""

    rules: tuple[EndpointRule, ...] = ()
    default_prometheus_url: str | None = None

    @classmethod
    def from_flags(
        cls, rules: Sequence[str], default_prometheus_url: str | None = None
    ) -> EgressPolicy:
        url = default_prometheus_url.rstrip("/") if default_prometheus_url else None
        if url is not None:
            endpoints_of(url)  # a malformed default fails at start, not at the first policy
        return cls(tuple(parse_rule(r) for r in rules), url)

    def refusal(self, url: str) -> str | None:
        """Why the operator must not connect to ``url``, in its own words, or None."""
        try:
            endpoints = endpoints_of(url)
        except ValueError as exc:
            return str(exc)
        for endpoint in endpoints:
            if (reason := refused_address(endpoint.host)) is not None:
                return reason
            if self.rules and not any(rule.matches(endpoint) for rule in self.rules):
                return f"{endpoint} is not among the operator's allowed endpoints"
        return None


def resolve_endpoints(policy: PlatformScaling, egress: EgressPolicy) -> PlatformScaling:
    """The policy with the default Prometheus URL filled in; InvalidSpec naming every URL
    field the administrator's endpoints do not allow (nothing is sent to those)."""
    errors: list[FieldError] = []
    prometheus = policy.prometheus
    if prometheus is not None and prometheus.url is None:
        if egress.default_prometheus_url is None:
            errors.append(
                FieldError(
                    "spec.prometheus.url",
                    "is required: the operator has no default Prometheus URL",
                )
            )
        else:
            prometheus = replace(prometheus, url=egress.default_prometheus_url)
    checks: list[tuple[str, str | None]] = [
        ("spec.prometheus.url", policy.prometheus.url if policy.prometheus else None),
    ]
    if (silences := policy.wedding_day.silence_alerts) is not None:
        checks.append(("spec.weddingDay.silenceAlerts.alertmanagerUrl", silences.alertmanager_url))
    for path, url in checks:
        if url is not None and (reason := egress.refusal(url)) is not None:
            errors.append(FieldError(path, reason))
    if errors:
        raise InvalidSpec("PlatformScaling", policy.meta.name, errors)
    return replace(policy, prometheus=prometheus) if prometheus is not policy.prometheus else policy
