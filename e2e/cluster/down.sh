#!/usr/bin/env bash
# Stop the local control plane started by up.sh and remove its state folder.
#   e2e/cluster/down.sh [STATE_DIR]          stop and delete
#   e2e/cluster/down.sh --check [STATE_DIR]  exit 0 only if every component is running
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
check=false
if [ "${1:-}" = "--check" ]; then check=true; shift; fi
state=${1:-$(cd "$here/../.." && pwd)/.cluster}
components=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)

if $check; then
  for c in "${components[@]}"; do
    kill -0 "$(cat "$state/pids/$c.pid" 2>/dev/null)" 2>/dev/null || exit 1
  done
  exit 0
fi

[ -d "$state" ] || exit 0
# Stop in reverse order of start: clients first, etcd last.
for c in "${components[@]}"; do
  pid=$(cat "$state/pids/$c.pid" 2>/dev/null) || continue
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
done
for c in "${components[@]}"; do
  pid=$(cat "$state/pids/$c.pid" 2>/dev/null) || continue
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
done
rm -rf "$state"
echo "[cluster] stopped and removed $state" >&2
