"""The cluster scripts as a newcomer meets them: a slow first build, an interrupted start.

These start their own control planes with the real scripts (not the session's cluster)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from cluster_fixture import SCRIPTS, build_binaries, wait_until


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _naming(state: Path) -> list[str]:
    """Processes whose command line names a file in ``state``."""
    found = subprocess.run(
        ["pgrep", "-a", "-f", f"{state}/[A-Za-z]"], capture_output=True, text=True
    ).stdout
    return found.splitlines()


def _up(scripts: Path, state: Path, timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(scripts / "up.sh"), str(state)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )


def _down(state: Path) -> None:
    subprocess.run([str(SCRIPTS / "down.sh"), str(state)], capture_output=True, timeout=120)


def test_the_start_deadline_counts_from_after_a_slow_first_build(tmp_path: Path) -> None:
    # The real up.sh and down.sh beside a build.sh that takes longer than the deadline,
    # as a first build from Go modules does (many minutes against a 120 s deadline).
    bin_dir = build_binaries()
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    for name in ("up.sh", "down.sh"):
        shutil.copy2(SCRIPTS / name, scripts / name)
    (scripts / "build.sh").write_text(f"#!/usr/bin/env bash\nsleep 35\necho {bin_dir}\n")
    (scripts / "build.sh").chmod(0o755)
    state = tmp_path / "cluster"
    try:
        proc = _up(scripts, state, timeout=180, WEDSYNC_CLUSTER_TIMEOUT="30")

        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "ready:" in proc.stderr
    finally:
        _down(state)
    assert _naming(state) == []


def test_a_start_after_an_interrupted_one_stops_its_leftovers_and_comes_up(
    tmp_path: Path,
) -> None:
    state = tmp_path / "cluster"
    first = subprocess.Popen(
        [str(SCRIPTS / "up.sh"), str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        pid_file = state / "pids" / "kube-apiserver.pid"
        wait_until("the first start to reach the API server", pid_file.exists, timeout=60)
        etcd = int((state / "pids" / "etcd.pid").read_text())
        # Interrupted as Ctrl-C would: the script dies, the components it started live on.
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert _running(etcd)

        second = _up(SCRIPTS, state, timeout=120)

        assert second.returncode == 0, second.stderr[-3000:]
        assert "stopping what an earlier, unfinished run left" in second.stderr
        assert not _running(etcd)
        kubectl = [str(build_binaries() / "kubectl"), "--kubeconfig", str(state / "kubeconfig")]
        nodes = subprocess.run(
            [*kubectl, "get", "nodes", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert nodes.stdout.count("node/") == 3, nodes.stderr
    finally:
        if first.poll() is None:
            first.kill()
        _down(state)
    deadline = time.monotonic() + 10
    while _naming(state) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _naming(state) == []
