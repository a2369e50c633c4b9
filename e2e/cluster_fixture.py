"""Bring the real local control plane up for a test session (e2e/cluster/*.sh)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "e2e" / "cluster"
# Set by e2e/kind/run.sh: test the operator the chart installed in the KUBECONFIG cluster.
DEPLOYED = "WEDSYNC_E2E_DEPLOYED"


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    bin_dir: Path
    state: Path

    @property
    def server(self) -> str:
        values = dict(
            line.split("=", 1) for line in (self.state / "env").read_text().splitlines() if line
        )
        return f"https://127.0.0.1:{values['API_PORT']}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            list(args), input=input, capture_output=True, text=True, env=self.env(), timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {proc.returncode}\nstdout: {proc.stdout}\n"
                f"stderr: {proc.stderr}"
            )
        return proc

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, input=input, check=check, timeout=timeout)

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.bin_dir / "helm"), *args, check=check)


def wait_until(
    what: str, probe: Callable[[], Any], timeout: float = 60, interval: float = 0.5
) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def build_binaries() -> Path:
    """Build (or reuse) the binaries; the folder is build.sh's last output line."""
    proc = subprocess.run([str(SCRIPTS / "build.sh")], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"e2e/cluster/build.sh exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def deployed_cluster() -> Cluster:
    """The cluster of $KUBECONFIG with the kubectl on PATH (deployed mode: kind).

    Only ``kubectl`` and ``get_json`` work there: ``server`` and ``state`` describe the
    local control plane, which deployed mode does not start."""
    kubeconfig, kubectl = os.environ.get("KUBECONFIG"), shutil.which("kubectl")
    if not kubeconfig or not kubectl:
        raise RuntimeError(f"{DEPLOYED}=1 needs KUBECONFIG set and kubectl on PATH")
    return Cluster(
        kubeconfig=Path(kubeconfig), bin_dir=Path(kubectl).parent, state=Path(kubeconfig).parent
    )


def start_cluster(state: Path) -> Iterator[Cluster]:
    bin_dir = build_binaries()
    proc = subprocess.run(
        [str(SCRIPTS / "up.sh"), str(state)], capture_output=True, text=True, timeout=600
    )
    try:
        if proc.returncode != 0:
            raise RuntimeError(f"e2e/cluster/up.sh failed:\n{proc.stderr[-4000:]}")
        yield Cluster(kubeconfig=state / "kubeconfig", bin_dir=bin_dir, state=state)
    finally:
        subprocess.run([str(SCRIPTS / "down.sh"), str(state)], capture_output=True, timeout=120)


def unique_namespace(cluster: Cluster, prefix: str) -> Iterator[str]:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    wait_until(
        f"default ServiceAccount in {name}",
        lambda: cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
    )
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
