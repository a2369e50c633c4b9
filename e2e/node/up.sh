#!/usr/bin/env bash
# Add a real node to the local cluster in STATE_DIR (started by e2e/cluster/up.sh): Debian's
# containerd and a kubelet built from k8s.io/kubernetes, joined to the local API server as
# node "wedsync-node", tainted wedsync.io/real-node=true:NoSchedule so that only pods that
# tolerate it land there (everything else stays on KWOK nodes).
#   e2e/node/up.sh STATE_DIR            (e2e/cluster/up.sh calls it with WEDSYNC_REAL_NODE=1)
#   e2e/node/expose.sh STATE_DIR PORT   let pods reach a loopback port at 10.244.0.1:PORT
#   e2e/node/down.sh STATE_DIR          (e2e/cluster/down.sh calls it)
# Pods get addresses on a bridge this script makes (wsync0, 10.244.0.0/24; no masquerade,
# no forwarding); the `kubernetes` Service (10.96.0.1:443) is DNATed to the API server's
# loopback port. Images: the tarballs of `make image` (e2e/node/image.sh) and the pause
# image, imported into containerd. One real node per machine (a lock in /run/wedsync-operator).
# Everything it changes on the machine is undone by down.sh.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
state=$(cd "${1:?usage: up.sh STATE_DIR}" && pwd)
as_root
[ -f "$state/env" ] || die "no running cluster in $state (e2e/cluster/up.sh first)"
api_port=$(sed -n 's/^API_PORT=//p' "$state/env")
n=$state/node
lock=/run/wedsync-operator/node.lock
node_name=wedsync-node
bridge=wsync0 subnet=10.244.0.0/24 gateway=10.244.0.1
deadline=$(( $(date +%s) + ${WEDSYNC_NODE_TIMEOUT:-180} ))
kubectl() { command kubectl --kubeconfig "$state/admin.kubeconfig" --request-timeout=5s "$@"; }
fail() { nlog "ERROR: $*"; "$node_here/down.sh" "$state" || true; nlog "logs are in $state/logs"; exit 1; }

for tool in containerd ctr runc iptables ip openssl; do
  command -v "$tool" > /dev/null || die "$tool missing: run hack/install-deps.sh --node"
done
[ -x /usr/lib/cni/bridge ] || die "CNI plugins missing: run hack/install-deps.sh --node"
tarballs=("$images"/wedsync-operator-*.tar)
[ -f "${tarballs[0]}" ] && [ -f "$images/pause.tar" ] || die "no images in $images: run make image first"
mkdir -p /run/wedsync-operator
if [ -f "$lock" ] && [ "$(cat "$lock")" != "$state" ] && [ -d "$(cat "$lock")/node" ]; then
  die "the real node already runs for $(cat "$lock"); stop it with e2e/node/down.sh $(cat "$lock")"
fi
if [ -d "$n" ]; then "$node_here/down.sh" "$state"; fi
ip link show "$bridge" > /dev/null 2>&1 && die "a bridge $bridge exists already (another real node?)"
echo "$state" > "$lock"
bin=$("$node_here/build.sh" | tail -n 1)
mkdir -p "$n"/{pki,cni,cni-ipam,containerd,kubelet,pod-logs,volume-plugins} "$state"/{logs,pids}

# What down.sh restores: the kernel settings the kubelet tunes, and which iptables chains,
# network namespaces and folders existed before.
for key in vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward; do
  echo "$key=$(sysctl -n "$key")"
done > "$n/sysctl.saved"
for table in filter nat mangle; do
  iptables -t "$table" -S | awk -v t="$table" '$1 == "-N" { print t, $2 }'
done > "$n/iptables-chains.saved"
for table in filter nat mangle; do
  ip6tables -t "$table" -S 2>/dev/null | awk -v t="$table" '$1 == "-N" { print t, $2 }'
done > "$n/ip6tables-chains.saved"
ls /run/netns 2>/dev/null > "$n/netns.saved" || true
# (the kubelet's device-plugin socket and container log links have fixed paths).
for dir in /run/netns /var/log/containers /var/log/pods /run/containerd /var/lib/kubelet; do
  [ -e "$dir" ] || echo "$dir"
done > "$n/dirs-created"

# ------------------------------------------------------------------ network
nlog "bridge $bridge ($gateway/24); the kubernetes Service -> 127.0.0.1:$api_port"
ip link add "$bridge" type bridge
ip addr add "$gateway/24" dev "$bridge"
ip link set "$bridge" up
# Only this interface may carry packets to loopback addresses (the DNAT below); the setting
# goes away with the bridge.
sysctl -qw "net.ipv4.conf.$bridge.route_localnet=1"
iptables -t nat -N WEDSYNC-NODE
iptables -t nat -A PREROUTING -i "$bridge" -j WEDSYNC-NODE
iptables -t nat -A WEDSYNC-NODE -d 10.96.0.1/32 -p tcp --dport 443 -j DNAT --to-destination "127.0.0.1:$api_port"
# isGateway false: the bridge has its address already, and the plugin would otherwise turn
# on IP forwarding for the whole machine.
cat > "$n/cni/10-wedsync.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "wedsync", "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": false, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$n/cni-ipam",
            "ranges": [[{"subnet": "$subnet", "gateway": "$gateway"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}}]}
JSON

# ------------------------------------------------------------------ certificates
pki=$state/pki
openssl genrsa -out "$n/pki/kubelet.key" 2048 2>/dev/null
openssl req -new -key "$n/pki/kubelet.key" -subj "/O=system:nodes/CN=system:node:$node_name" \
  -out "$n/pki/kubelet.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s,IP:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$node_name" "$gateway" > "$n/pki/kubelet.ext"
openssl x509 -req -in "$n/pki/kubelet.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
  -days 30 -extfile "$n/pki/kubelet.ext" -out "$n/pki/kubelet.crt" 2>/dev/null
cat > "$n/kubelet.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: "$pki/ca.crt"}}]
users: [{name: node, user: {client-certificate: "$n/pki/kubelet.crt", client-key: "$n/pki/kubelet.key"}}]
contexts: [{name: local, context: {cluster: local, user: node}}]
current-context: local
KUBECONFIG

# ------------------------------------------------------------------ containerd
cat > "$n/containerd.toml" <<TOML
version = 2
root = "$n/containerd/root"
state = "$n/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$n/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$n/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # The VM's capability bounding set lacks CAP_SYS_RESOURCE: an oom_score_adj below the
  # runtime's own fails every sandbox.
  restrict_oom_score_adj = true
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$n/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$n/cni"
TOML
start() { # name command...
  local name=$1; shift
  setsid nohup "$@" > "$state/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$state/pids/$name.pid"
}
alive() { kill -0 "$(cat "$state/pids/$1.pid")" 2>/dev/null || fail "$1 exited: $(tail -n 5 "$state/logs/$1.log")"; }
wait_for() { # what command...
  local what=$1; shift
  until "$@" > /dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for $what"
    sleep 0.5
  done
}
ctrn() { ctr --address "$n/containerd.sock" --namespace k8s.io "$@"; }
nlog "starting containerd"
start containerd containerd --config "$n/containerd.toml"
wait_for containerd ctrn version
alive containerd
t=$(date +%s)
for tar in "$images/pause.tar" "${tarballs[@]}"; do
  ctrn images import "$tar" > /dev/null || fail "importing $tar failed"
done
nlog "images imported in $(( $(date +%s) - t ))s: $(ctrn images ls -q | grep -v '^sha256' | tr '\n' ' ')"

# ------------------------------------------------------------------ kubelet
cat > "$n/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Served on the bridge only, to holders of a certificate of the cluster CA (the API server).
address: $gateway
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
tlsCertFile: $n/pki/kubelet.crt
tlsPrivateKeyFile: $n/pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$n/containerd.sock
# This machine: cgroup v1 (hybrid) with cgroupfs; swap may be on.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: $n/pod-logs
volumePluginDir: $n/volume-plugins
registerWithTaints: [{key: wedsync.io/real-node, value: "true", effect: NoSchedule}]
maxPods: 20
# The imported images cannot be pulled again: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}
clusterDomain: cluster.local
YAML
nlog "starting kubelet as node $node_name"
start kubelet "$bin/kubelet" --config "$n/kubelet.yaml" --kubeconfig "$n/kubelet.kubeconfig" \
  --root-dir "$n/kubelet" --cert-dir "$n/pki" --hostname-override "$node_name" \
  --node-ip "$gateway" --node-labels "wedsync.io/real-node=true" --v=1
wait_for "node $node_name" kubectl get node "$node_name"
alive kubelet
wait_for "node $node_name Ready" kubectl wait --for=condition=Ready "node/$node_name" --timeout=2s
alive kubelet
alive containerd
cat >> "$state/env" <<ENV
REAL_NODE=$node_name
REAL_NODE_HOST=$gateway
CONTAINERD_ADDRESS=$n/containerd.sock
ENV
nlog "node $node_name Ready (taint wedsync.io/real-node=true:NoSchedule); pods reach this host at $gateway"
