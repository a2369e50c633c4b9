#!/usr/bin/env bash
# Stop the real node of STATE_DIR (e2e/node/up.sh) and undo what it changed on the machine:
# its pods and containers, mounts, network namespaces, cgroups, the iptables chains (its
# own and the kubelet's), the bridge, the kernel settings the kubelet tuned, the folders it
# made. e2e/cluster/down.sh calls it first, while the API server still answers.
#   e2e/node/down.sh STATE_DIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
state=$(cd "${1:?usage: down.sh STATE_DIR}" 2>/dev/null && pwd) || exit 0
n=$state/node
[ -d "$n" ] || exit 0
as_root
node_name=wedsync-node bridge=wsync0
ctrn() { timeout 10 ctr --address "$n/containerd.sock" --namespace k8s.io "$@"; }
kubectl() { timeout 15 kubectl --kubeconfig "$state/admin.kubeconfig" --request-timeout=5s "$@"; }
pid_of() { cat "$state/pids/$1.pid" 2>/dev/null || true; }
stop_pid() { # seconds pid
  local pid=$2 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 $(( $1 * 10 ))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# 1. Pods: no new ones, and the kubelet stops the running ones itself (CNI teardown,
#    volumes). Needs the API server; a dead one leaves the work to step 2.
kubelet_pid=$(pid_of kubelet)
if [ -n "$kubelet_pid" ] && kill -0 "$kubelet_pid" 2>/dev/null && kubectl get node "$node_name" > /dev/null 2>&1; then
  kubectl cordon "$node_name" > /dev/null 2>&1 || true
  kubectl delete pods -A --field-selector "spec.nodeName=$node_name" --grace-period=0 --force \
    --wait=false > /dev/null 2>&1 || true
  for _ in $(seq 1 60); do
    [ -z "$(ctrn tasks ls -q 2>/dev/null)" ] && break
    sleep 0.5
  done
fi
stop_pid 10 "$kubelet_pid"

# 2. Whatever still runs: killed through containerd, then containerd itself.
if [ -S "$n/containerd.sock" ]; then
  for task in $(ctrn tasks ls -q 2>/dev/null); do ctrn tasks kill -s SIGKILL "$task" > /dev/null 2>&1 || true; done
  sleep 1
  for task in $(ctrn tasks ls -q 2>/dev/null); do ctrn tasks delete -f "$task" > /dev/null 2>&1 || true; done
fi
stop_pid 10 "$(pid_of containerd)"
# Shims (their command line names the socket in the state folder) and their children.
for pid in $(pgrep -f -- "$n/" || true); do
  pkill -KILL -P "$pid" 2>/dev/null || true
  kill -KILL "$pid" 2>/dev/null || true
done
rm -f "$state/pids/kubelet.pid" "$state/pids/containerd.pid"

# 3. Mounts (container root filesystems, volumes, /dev/shm) and the sandboxes' network
#    namespaces created since up.sh.
unmount_under "$n"
for ns in $(ls /run/netns 2>/dev/null); do
  grep -qx "$ns" "$n/netns.saved" 2>/dev/null && continue
  [[ $ns == cni-* ]] || continue
  umount "/run/netns/$ns" 2>/dev/null || true
  rm -f "/run/netns/$ns"
done

# 4. The kubelet's cgroups (pods, QoS classes), deepest first.
for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
  [ -d "$root" ] && find "$root" -depth -type d -exec rmdir {} + 2>/dev/null || true
done

# 5. iptables: this script's chain and any the kubelet made (KUBE-*), with the rules that
#    jump to them.
drop_chains() { # iptables|ip6tables saved-list
  local cmd=$1 saved=$2 table chain rule rules
  for table in filter nat mangle; do
    for chain in $("$cmd" -t "$table" -S 2>/dev/null | awk '$1 == "-N" { print $2 }'); do
      grep -qx "$table $chain" "$saved" 2>/dev/null && continue
      [[ $chain == KUBE-* || $chain == WEDSYNC-NODE ]] || continue
      # Jumps from built-in chains are plain (-A INPUT -j CHAIN): word splitting is safe.
      mapfile -t rules < <("$cmd" -t "$table" -S 2>/dev/null | grep -e "-j $chain\$" -e "-j $chain " | grep '^-A' || true)
      for rule in "${rules[@]}"; do
        # shellcheck disable=SC2086
        "$cmd" -t "$table" ${rule/-A/-D} 2>/dev/null || true
      done
      "$cmd" -t "$table" -F "$chain" 2>/dev/null || true
      "$cmd" -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
}
drop_chains iptables "$n/iptables-chains.saved"
drop_chains ip6tables "$n/ip6tables-chains.saved"

# 6. The bridge (its route_localnet setting goes with it), then the kernel settings.
ip link del "$bridge" 2>/dev/null || true
if [ -f "$n/sysctl.saved" ]; then
  while IFS='=' read -r key value; do
    [ "$(sysctl -n "$key")" = "$value" ] || sysctl -qw "$key=$value" || true
  done < "$n/sysctl.saved"
fi

# 7. The Node object, the links the kubelet made in /var/log/containers, the folders up.sh
#    found absent.
kubectl delete node "$node_name" --wait=false > /dev/null 2>&1 || true
for link in /var/log/containers/*; do
  [ -L "$link" ] && [[ $(readlink "$link") == "$n"/* ]] && rm -f "$link"
done
if [ -f "$n/dirs-created" ]; then
  xargs -r rm -rf < "$n/dirs-created"
fi
sed -i '/^REAL_NODE=\|^REAL_NODE_HOST=\|^CONTAINERD_ADDRESS=/d' "$state/env" 2>/dev/null || true
if [ "$(cat /run/wedsync-operator/node.lock 2>/dev/null)" = "$state" ]; then rm -f /run/wedsync-operator/node.lock; fi
remove_empty_run_dirs
rm -rf "$n"
nlog "real node stopped; the machine is as before"
