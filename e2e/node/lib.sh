# Shared by e2e/node/*.sh (sourced): the cache folder, logging, and a private Docker daemon
# that exists only while an image is built (own socket and data root; no bridge, no
# iptables rules, so it changes nothing on the machine and leaves nothing running).
# shellcheck shell=bash
node_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$node_here/../.." && pwd)
# shellcheck source=../cluster/versions.env
source "$repo/e2e/cluster/versions.env"
cache_root=${WEDSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wedsync-operator}
images=$cache_root/images
mkdir -p "$images"
# The Debian release the base image is made from, and the pause image's name in containerd.
DEBIAN_SUITE=bookworm
BASE_IMAGE=wedsync.local/python:3.11-$DEBIAN_SUITE
PAUSE_IMAGE=wedsync.local/pause:1

nlog() { printf '[node %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { nlog "ERROR: $*"; exit 1; }
as_root() { [ "$(id -u)" -eq 0 ] || die "needs root (containers, mounts, a bridge): run as root or with sudo"; }

docker_sock=/run/wedsync-operator/docker.sock
docker_pid=/run/wedsync-operator/docker.pid
docker_data=$cache_root/docker
# The Debian CLI that matches the Debian daemon (another docker on PATH may be newer).
dk() { /usr/bin/docker -H "unix://$docker_sock" "$@"; }

docker_start() {
  command -v dockerd > /dev/null || die "dockerd missing: run hack/install-deps.sh --node"
  mkdir -p /run/wedsync-operator "$docker_data"
  if [ -f "$docker_pid" ] && kill -0 "$(cat "$docker_pid")" 2>/dev/null; then return 0; fi
  # Paths dockerd (and the containerd it runs) make outside its roots: removed after.
  local path
  for path in /etc/docker /opt/containerd; do
    [ -e "$path" ] || echo "$path"
  done > /run/wedsync-operator/docker.created
  # No bridge, rules or forwarding: builds need no network, and dockerd would otherwise turn
  # on IP forwarding for the whole machine and leave it on.
  nlog "starting a private dockerd (socket $docker_sock, data $docker_data)"
  setsid nohup dockerd --host "unix://$docker_sock" --pidfile "$docker_pid" \
    --data-root "$docker_data" --exec-root /run/wedsync-operator/docker \
    --bridge none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
    --storage-driver overlay2 > "$cache_root/dockerd.log" 2>&1 < /dev/null &
  local i
  for i in $(seq 1 60); do dk version > /dev/null 2>&1 && return 0; sleep 0.5; done
  die "dockerd did not start: $(tail -n 5 "$cache_root/dockerd.log")"
}

docker_stop() {
  local pid i
  pid=$(cat "$docker_pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  unmount_under "$docker_data" /run/wedsync-operator/docker
  if [ -f /run/wedsync-operator/docker.created ]; then
    xargs -r rm -rf < /run/wedsync-operator/docker.created
  fi
  rm -rf /run/wedsync-operator/docker "$docker_pid" "$docker_sock" /run/wedsync-operator/docker.created
  remove_empty_run_dirs
}

# Folders dockerd and containerd make in /run even when told to work elsewhere (shim
# sockets, plugins): removed once empty, so that nothing is left behind.
remove_empty_run_dirs() {
  rmdir /run/containerd/s /run/containerd /run/docker/plugins /run/docker 2>/dev/null || true
  [ -e /run/wedsync-operator/node.lock ] || [ -S "$docker_sock" ] || rmdir /run/wedsync-operator 2>/dev/null || true
}

# Unmount everything mounted below the given folders, deepest first.
unmount_under() {
  local dir m
  for dir in "$@"; do
    awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r |
      while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
}
