"""e2e fixtures: one real local control plane per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import Gauge

from cluster_fixture import (
    DEPLOYED,
    Cluster,
    build_binaries,
    deployed_cluster,
    start_cluster,
    unique_namespace,
)
from operator_fixture import OperatorProcess, ensure_crds
from services.prometheus import Exporter

E2E = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A running kube-apiserver + etcd + controller-manager + scheduler + KWOK.

    Skipped (with the build error as the reason) only when the binaries cannot be
    built; with WEDSYNC_REQUIRE_CLUSTER=1 (set by CI) that is a failure instead.

    With WEDSYNC_E2E_DEPLOYED=1 (`make e2e-kind`): the cluster KUBECONFIG points at, with
    the operator installed in it by the chart; only the tests that need no local
    processes run there (e2e/kind/run.sh names them).
    """
    if os.environ.get(DEPLOYED) == "1":
        yield deployed_cluster()
        return
    try:
        build_binaries()
    except (RuntimeError, OSError) as exc:
        if os.environ.get("WEDSYNC_REQUIRE_CLUSTER") == "1":
            pytest.fail(f"control-plane binaries could not be built: {exc}")
        pytest.skip(f"control-plane binaries could not be built: {exc}")
    yield from start_cluster(tmp_path_factory.mktemp("cluster"))


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    yield from unique_namespace(cluster, "t")


@pytest.fixture(scope="session")
def cpu(exporter: Exporter) -> Gauge:
    """The metric the e2e policies scale on; each test sets its own series (label ns)."""
    return exporter.gauge("wedsync_e2e_cpu_percent", "CPU utilization a test sets", ["ns"])


@pytest.fixture(scope="session")
def signal(exporter: Exporter) -> Gauge:
    """Any other input a test needs (label ``name``: requests, queue, api_p95...)."""
    return exporter.gauge("wedsync_e2e_signal", "An input a test sets", ["ns", "name"])


@pytest.fixture(scope="module")
def operator(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator process (standalone) for the tests of a module; it must neither block
    its event loop nor log a traceback."""
    ensure_crds(cluster)
    proc = OperatorProcess(cluster, tmp_path_factory.mktemp("operator") / "operator.log").start()
    try:
        yield proc
    finally:
        proc.stop()
    problems = proc.problems()
    assert not problems, f"see {proc.log_path}:\n" + "\n".join(problems)
