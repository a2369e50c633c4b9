"""Where a policy may point the operator: allowed endpoints, refused addresses, the default
Prometheus URL (model/endpoints.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from wedsync_operator.model import InvalidSpec
from wedsync_operator.model.endpoints import (
    EgressPolicy,
    Endpoint,
    endpoints_of,
    parse_rule,
    refused_address,
    resolve_endpoints,
)
from wedsync_operator.model.parse import parse_platform_scaling

POLICY: dict[str, Any] = {
    "apiVersion": "wedsync.io/v1alpha1",
    "kind": "PlatformScaling",
    "metadata": {"name": "platform", "namespace": "wedsync"},
    "spec": {
        "targets": [{"kind": "Deployment", "name": "web", "maxReplicas": 20}],
        "metrics": [
            {
                "name": "cpu",
                "query": "avg(rate(cpu[1m]))",
                "target": {"type": "Utilization", "value": 80},
            }
        ],
        "prometheus": {"url": "http://prometheus.monitoring.svc:9090"},
    },
}


def _policy(**spec: Any) -> Any:
    obj = copy.deepcopy(POLICY)
    for key, value in spec.items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    return parse_platform_scaling(obj)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://prometheus:9090", [Endpoint("http", "prometheus", 9090)]),
        ("https://Prom.Example.COM", [Endpoint("https", "prom.example.com", 443)]),
        ("redis://:secret@redis-0.redis:6380/0", [Endpoint("redis", "redis-0.redis", 6380)]),
        ("rediss://redis", [Endpoint("rediss", "redis", 6379)]),
        (
            "postgresql://u:p@pg-a:5433,pg-b/db",
            [Endpoint("postgresql", "pg-a", 5433), Endpoint("postgresql", "pg-b", 5432)],
        ),
        ("http://[fe80::1]:9090", [Endpoint("http", "fe80::1", 9090)]),
    ],
)
def test_a_url_or_dsn_names_its_hosts_without_credentials(
    url: str, expected: list[Endpoint]
) -> None:
    assert endpoints_of(url) == expected
    assert all("secret" not in str(e) and "u:p" not in str(e) for e in expected)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://x", "http://", "http://h:99999"])
def test_urls_the_operator_never_connects_to_are_refused(url: str) -> None:
    assert EgressPolicy().refusal(url) is not None


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack instance metadata
        "169.254.0.1",
        "fe80::1",
        "fd00:ec2::254",
        "100.100.100.200",
        "168.63.129.16",
        "::ffff:169.254.169.254",  # the same, IPv4-mapped
        "0.0.0.0",
    ],
)
def test_link_local_and_metadata_addresses_are_always_refused(address: str) -> None:
    assert refused_address(address) is not None
    everything = EgressPolicy.from_flags(["*", "0.0.0.0/0", "::/0"])
    host = f"[{address}]" if ":" in address else address
    assert everything.refusal(f"http://{host}:80") is not None


@pytest.mark.parametrize("address", ["10.0.0.5", "127.0.0.1", "192.168.1.1", "2001:db8::1"])
def test_ordinary_addresses_are_not_refused_by_themselves(address: str) -> None:
    assert refused_address(address) is None


@pytest.mark.parametrize(
    ("rule", "url", "allowed"),
    [
        ("*.monitoring.svc", "http://prometheus.monitoring.svc:9090", True),
        ("*.monitoring.svc", "http://prometheus.kube-system.svc:9090", False),
        ("http://prometheus.monitoring.svc:9090", "http://prometheus.monitoring.svc:9090", True),
        ("http://prometheus.monitoring.svc:9090", "https://prometheus.monitoring.svc:9090", False),
        ("http://prometheus.monitoring.svc:9090", "http://prometheus.monitoring.svc:9091", False),
        ("prometheus.monitoring.svc:*", "https://prometheus.monitoring.svc:1", True),
        ("10.0.0.0/8", "http://10.1.2.3:9090", True),
        ("10.0.0.0/8", "http://11.1.2.3:9090", False),
        ("10.0.0.0/8", "http://ten.example:9090", False),  # a name is not an address
        ("redis://*.data.svc", "redis://:pw@redis.data.svc:6379/0", True),
        ("redis://*.data.svc", "postgresql://pg.data.svc/db", False),
        ("[::1]:9090", "http://[::1]:9090", True),
    ],
)
def test_an_allow_list_admits_only_the_endpoints_it_names(
    rule: str, url: str, allowed: bool
) -> None:
    assert (EgressPolicy.from_flags([rule]).refusal(url) is None) is allowed


@pytest.mark.parametrize("rule", ["http://", "ftp://host", "host:port", "a b", ""])
def test_a_malformed_rule_is_an_error_at_start(rule: str) -> None:
    with pytest.raises(ValueError):
        parse_rule(rule)


def test_no_rules_admit_any_host_that_is_not_always_refused() -> None:
    assert EgressPolicy().refusal("http://anything.example:1234") is None


def test_a_policy_without_a_prometheus_url_uses_the_operators_default() -> None:
    egress = EgressPolicy.from_flags([], "http://prometheus.monitoring.svc:9090/")

    resolved = resolve_endpoints(_policy(prometheus=None), egress)

    assert resolved.prometheus is not None
    assert resolved.prometheus.url == "http://prometheus.monitoring.svc:9090"


def test_a_policy_without_a_prometheus_url_and_no_default_is_invalid() -> None:
    with pytest.raises(InvalidSpec) as caught:
        resolve_endpoints(_policy(prometheus={"timeout": "2s"}), EgressPolicy())

    assert [str(e) for e in caught.value.errors] == [
        "spec.prometheus.url: is required: the operator has no default Prometheus URL"
    ]


def test_urls_outside_the_allow_list_are_invalid_with_their_field_paths() -> None:
    egress = EgressPolicy.from_flags(["*.monitoring.svc"])
    policy = _policy(
        prometheus={"url": "http://internal-admin.kube-system.svc:8080"},
        weddingDay={"silenceAlerts": {"alertmanagerUrl": "http://169.254.169.254"}},
    )

    with pytest.raises(InvalidSpec) as caught:
        resolve_endpoints(policy, egress)

    paths = [e.path for e in caught.value.errors]
    assert paths == ["spec.prometheus.url", "spec.weddingDay.silenceAlerts.alertmanagerUrl"]
    assert "not among the operator's allowed endpoints" in str(caught.value)
    assert "link-local or cloud metadata" in str(caught.value)


def test_an_allowed_policy_is_returned_unchanged() -> None:
    policy = _policy()

    assert resolve_endpoints(policy, EgressPolicy.from_flags(["*.monitoring.svc"])) is policy
