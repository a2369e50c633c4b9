#!/usr/bin/env bash
# Start a real local Kubernetes control plane: etcd, kube-apiserver (TLS on 127.0.0.1,
# RBAC, service-account token signing), kube-controller-manager, kube-scheduler and KWOK
# with fake nodes. Everything lives in one state folder (default: .cluster/ in the repo)
# and listens on free loopback ports, so two runs with different folders cannot collide.
#
#   e2e/cluster/up.sh [STATE_DIR]      # prints `export KUBECONFIG=...` on success
#   e2e/cluster/down.sh [STATE_DIR]
#
# Env: WEDSYNC_NODES (fake nodes, default 3), WEDSYNC_CLUSTER_TIMEOUT (seconds for the
# components to come up once the binaries exist, default 120; the first build is not counted),
# WEDSYNC_APISERVER_PROFILING=1 (serve /debug/pprof for `kubectl get --raw`, for bench/),
# WEDSYNC_REAL_NODE=1 (add a real kubelet node for the operator's image: e2e/node/up.sh).
# A state folder left by an earlier run that failed or was interrupted is stopped (its pid
# files, then any process still naming the folder) and started afresh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=$(mkdir -p "${1:-$repo/.cluster}" && cd "${1:-$repo/.cluster}" && pwd)
nodes=${WEDSYNC_NODES:-3}
profiling=false; [ "${WEDSYNC_APISERVER_PROFILING:-0}" = 1 ] && profiling=true

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# A failed start stops what it started (the folder and its logs stay for reading).
fail() { log "ERROR: $*"; "$here/down.sh" --stop "$state" || true; log "logs are in $state/logs"; exit 1; }

if [ -f "$state/kubeconfig" ] && "$here/down.sh" --check "$state" 2>/dev/null; then
  log "already running in $state"
  echo "export KUBECONFIG=$state/kubeconfig"
  exit 0
fi

if [ -n "$(ls -A "$state")" ]; then
  log "stopping what an earlier, unfinished run left in $state"
  "$here/down.sh" "$state"
  mkdir -p "$state"
fi

bin=$("$here/build.sh" | tail -n 1)
export PATH="$bin:$PATH"
# The deadline starts after the build: a first build takes many minutes.
deadline=$(( $(date +%s) + ${WEDSYNC_CLUSTER_TIMEOUT:-120} ))
mkdir -p "$state"/{pki,logs,pids,etcd}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
etcd_port=$(free_port); etcd_peer=$(free_port); api_port=$(free_port)
sched_port=$(free_port); kwok_port=$(free_port)

# ------------------------------------------------------------------ certificates
pki=$state/pki
sign() { # name subject [san]
  local name=$1 subj=$2 san=${3:-} ext
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  ext=$pki/$name.ext
  if [ -n "$san" ]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" > "$ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' > "$ext"
  fi
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 365 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
}
if [ ! -f "$pki/ca.crt" ]; then
  log "generating certificates"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" \
    -days 365 -subj "/CN=wedsync-local-ca" 2>/dev/null
  sign apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  sign admin "/O=system:masters/CN=wedsync-admin"
  sign controller-manager "/CN=system:kube-controller-manager"
  sign scheduler "/CN=system:kube-scheduler"
  sign kwok "/O=system:masters/CN=kwok-controller"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
fi

kubeconfig() { # name user
  cat > "$state/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $pki/$2.crt
    client-key: $pki/$2.key
contexts:
- name: local
  context: {cluster: local, user: $2}
current-context: local
EOF
}
for who in admin controller-manager scheduler kwok; do kubeconfig "$who" "$who"; done

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
# Every probe has its own timeout, so the deadline is checked even when a port hangs.
admin() { kubectl --kubeconfig "$state/admin.kubeconfig" --request-timeout=5s "$@"; }

# ------------------------------------------------------------------------ start
log "starting etcd on 127.0.0.1:$etcd_port"
start etcd etcd --name wedsync --data-dir "$state/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-cluster "wedsync=http://127.0.0.1:$etcd_peer" \
  --unsafe-no-fsync --quota-backend-bytes 4294967296 --log-level warn
wait_for etcd curl -fsS --max-time 2 "http://127.0.0.1:$etcd_port/health"

log "starting kube-apiserver on https://127.0.0.1:$api_port"
start kube-apiserver kube-apiserver \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" \
  --authorization-mode Node,RBAC \
  --service-cluster-ip-range 10.96.0.0/16 \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$pki/sa.pub" \
  --service-account-signing-key-file "$pki/sa.key" \
  --endpoint-reconciler-type none \
  --allow-privileged=true \
  --kubelet-client-certificate "$pki/admin.crt" --kubelet-client-key "$pki/admin.key" \
  --kubelet-preferred-address-types InternalIP \
  --profiling="$profiling"
alive kube-apiserver
wait_for "kube-apiserver /readyz" admin get --raw /readyz

log "starting kube-controller-manager and kube-scheduler"
start kube-controller-manager kube-controller-manager \
  --kubeconfig "$state/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$state/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$state/controller-manager.kubeconfig" \
  --service-account-private-key-file "$pki/sa.key" \
  --root-ca-file "$pki/ca.crt" \
  --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
  --use-service-account-credentials=true \
  --leader-elect=false --secure-port 0
start kube-scheduler kube-scheduler \
  --kubeconfig "$state/scheduler.kubeconfig" \
  --authentication-kubeconfig "$state/scheduler.kubeconfig" \
  --authorization-kubeconfig "$state/scheduler.kubeconfig" \
  --leader-elect=false --bind-address 127.0.0.1 --secure-port "$sched_port"

log "starting kwok with $nodes fake nodes"
start kwok kwok \
  --kubeconfig "$state/kwok.kubeconfig" \
  --config "$bin/kwok-stages.yaml" \
  --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds 40 \
  --server-address "127.0.0.1:$kwok_port"
alive kube-controller-manager; alive kube-scheduler; alive kwok

for i in $(seq 1 "$nodes"); do
  admin apply -f - > /dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
EOF
done
wait_for "fake nodes Ready" admin wait --for=condition=Ready node --all --timeout=2s
# Pods need the namespace's default ServiceAccount (made by the controller manager).
wait_for "default ServiceAccount" admin get serviceaccount default -n default

cp "$state/admin.kubeconfig" "$state/kubeconfig"
cat > "$state/env" <<EOF
KUBECONFIG=$state/kubeconfig
WEDSYNC_BIN=$bin
API_PORT=$api_port
EOF
# The optional real node (kubelet + containerd, for the operator's pods): e2e/node/up.sh.
if [ "${WEDSYNC_REAL_NODE:-0}" = 1 ]; then
  "$repo/e2e/node/up.sh" "$state" || fail "the real node did not start"
fi
log "ready: $(admin version 2>/dev/null | grep -i server) — $nodes nodes"
echo "export KUBECONFIG=$state/kubeconfig"
