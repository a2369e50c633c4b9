#!/usr/bin/env bash
# Stop the local control plane started by up.sh (and what the demo started beside it: the
# operator, the loopback services) and remove its state folder.
#   e2e/cluster/down.sh [STATE_DIR]          stop and delete
#   e2e/cluster/down.sh --stop [STATE_DIR]   stop, keep the folder (its logs) for reading
#   e2e/cluster/down.sh --check [STATE_DIR]  exit 0 only if every component is running
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=delete
case "${1:-}" in
  --check) mode=check; shift ;;
  --stop) mode=stop; shift ;;
esac
state=${1:-$(cd "$here/../.." && pwd)/.cluster}
state=${state%/}
components=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)

if [ "$mode" = check ]; then
  for c in "${components[@]}"; do
    kill -0 "$(cat "$state/pids/$c.pid" 2>/dev/null)" 2>/dev/null || exit 1
  done
  exit 0
fi

[ -d "$state" ] || exit 0

# The real node first (e2e/node/up.sh): its pods are stopped through the API server, and
# it undoes its changes to the machine (mounts, iptables rules, the bridge, sysctls).
[ ! -d "$state/node" ] || "$here/../node/down.sh" "$state" || true

# Each pid file names a process-group leader (started with setsid): stop the whole group.
stop() { # seconds-to-wait pid...
  local wait=$1 pid; shift
  for pid in "$@"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for _ in $(seq 1 $(( wait * 10 ))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
}
pids_of() { local f; for f in "$@"; do [ -f "$f" ] && cat "$f"; done; return 0; }

# Clients of the cluster first (the demo's operator and services: they stop their own
# children, Postgres included, so they get longer), then the components, etcd last.
extra=()
for f in "$state"/pids/*.pid; do
  [ -e "$f" ] || continue
  name=$(basename "$f" .pid)
  [[ " ${components[*]} " == *" $name "* ]] || extra+=("$f")
done
[ ${#extra[@]} -eq 0 ] || stop 30 $(pids_of "${extra[@]}")
for c in "${components[@]}"; do stop 5 $(pids_of "$state/pids/$c.pid"); done

# Whatever escaped the pid files (an interrupted start, a daemonised child) still names
# the folder on its command line (etcd's data dir, the certificates, the kubeconfigs) or
# runs in it (Redis rewrites its command line). Folders kept elsewhere for the state
# (the demo's Postgres data: its user cannot enter a private state folder) are listed in
# the state's `sweep` file and treated the same.
folders=("$state")
if [ -f "$state/sweep" ]; then
  while IFS= read -r extra; do [ -n "$extra" ] && folders+=("${extra%/}"); done < "$state/sweep"
fi
stragglers() {
  local folder p
  {
    for folder in "${folders[@]}"; do
      pgrep -f -- "$folder/[A-Za-z]" || true
      pgrep -f -- "$folder\$" || true
    done
    for p in /proc/[0-9]*; do
      for folder in "${folders[@]}"; do
        case "$(readlink "$p/cwd" 2>/dev/null)" in "$folder" | "$folder"/*) echo "${p#/proc/}" ;; esac
      done
    done
  } | sort -u | grep -vx -e "$$" -e "$PPID" || true
}
left=$(stragglers)
if [ -n "$left" ]; then
  echo "[cluster] stopping processes left from an earlier run: $(echo $left)" >&2
  kill -TERM $left 2>/dev/null || true
  sleep 2
  left=$(stragglers)
  [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
fi

if [ "$mode" = delete ]; then
  for extra in "${folders[@]:1}"; do rm -rf "$extra"; done
  rm -rf "$state"
  echo "[cluster] stopped and removed $state" >&2
else
  rm -f "$state"/pids/*.pid
  echo "[cluster] stopped; logs kept in $state/logs" >&2
fi
