"""The CRDs on a real API server: examples are accepted, broken objects are refused at
`kubectl apply` with a readable message, and `kubectl explain` documents the fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster_fixture import REPO, Cluster
from operator_fixture import ensure_crds

INVALID = sorted((REPO / "examples" / "invalid").glob("*.yaml"))


@pytest.fixture(scope="module")
def crds(cluster: Cluster) -> Cluster:
    ensure_crds(cluster)
    return cluster


@pytest.fixture(scope="module")
def saturday(crds: Cluster) -> Cluster:
    """The example platform and Saturday, applied as a user would (namespace wedsync)."""
    crds.kubectl("apply", "-f", str(REPO / "examples" / "platform.yaml"))
    crds.kubectl("apply", "-f", str(REPO / "examples" / "saturday.yaml"))
    return crds


def _expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: '"
    return first.removeprefix("# expect: ")


def test_example_saturday_is_accepted_by_the_api_server(saturday: Cluster) -> None:
    days = saturday.get_json("weddingdays", "-n", "wedsync")["items"]
    policy = saturday.get_json("platformscaling", "platform", "-n", "wedsync")

    assert len(days) == 3
    # Schema defaults are applied by the server.
    assert all(d["spec"]["windDown"] for d in days)
    assert policy["spec"]["interval"] == {"normal": "30s", "weddingDay": "10s"}


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_object_is_refused_at_apply_with_a_readable_message(
    saturday: Cluster, path: Path
) -> None:
    result = saturday.kubectl("apply", "-f", str(path), check=False)

    assert result.returncode != 0, f"{path.name} was accepted"
    assert _expected(path) in result.stderr


def test_kubectl_explain_documents_the_fields(crds: Cluster) -> None:
    lead = crds.kubectl("explain", "weddingday.spec.leadTime").stdout
    floor = crds.kubectl("explain", "platformscaling.spec.targets.weddingDay").stdout

    assert "DESCRIPTION" in lead and "2h" in lead
    assert "minReplicas" in floor and "extraCapacityPercent" in floor


def test_short_names_and_category_list_both_kinds(saturday: Cluster) -> None:
    by_category = saturday.kubectl("get", "wedsync", "-A", "-o", "name").stdout
    by_short = saturday.kubectl("get", "wd,ps", "-A", "-o", "name").stdout

    assert sorted(by_category.split()) == sorted(by_short.split())
    assert "weddingday.wedsync.io/" in by_short
    assert "platformscaling.wedsync.io/" in by_short
