#!/usr/bin/env bash
# `make demo`: a local cluster with the CRDs and the example Saturday applied, then the
# operator's plan for that Saturday. Leaves the cluster running (make cluster-down).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
state=${1:-$repo/.cluster}
eval "$("$repo/e2e/cluster/up.sh" "$state")"
source "$state/env"
export PATH="$WEDSYNC_BIN:$PATH"
cd "$repo"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "CRDs"
kubectl apply -f crds/
kubectl wait --for=condition=Established crd/weddingdays.wedsync.io crd/platformscalings.wedsync.io --timeout=30s
step "The platform: app Deployments, Redis and Postgres replica StatefulSets (pods on KWOK nodes)"
kubectl apply -f examples/platform.yaml
step "The Saturday: WeddingDays and the PlatformScaling policy"
kubectl apply -f examples/saturday.yaml
kubectl get wd,ps -n wedsync
kubectl get deploy,sts -n wedsync
step "What the operator will do on that Saturday (wedsync-operator plan)"
.venv/bin/wedsync-operator plan -f examples/saturday.yaml
step "Invalid objects are refused at kubectl apply"
for f in examples/invalid/*.yaml; do
  printf -- '- %s: ' "$(basename "$f")"
  kubectl apply --dry-run=server -f "$f" 2>&1 | tail -n 1 || true
done
step "Live: the operator pre-scales for a wedding whose lead time starts in 15 s"
.venv/bin/wedsync-operator run --standalone --metrics-port 0 \
  --liveness "http://127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')/healthz" \
  > "$state/operator.log" 2>&1 &
operator=$!
trap 'kill $operator 2>/dev/null; wait $operator 2>/dev/null' EXIT
start=$(date -u -d '+75 seconds' +%Y-%m-%dT%H:%M:%SZ)
end=$(date -u -d '+3 hours' +%Y-%m-%dT%H:%M:%SZ)
kubectl apply -f - <<YAML
apiVersion: wedsync.io/v1alpha1
kind: WeddingDay
metadata: {name: demo-now, namespace: wedsync}
spec: {start: "$start", end: "$end", leadTime: 1m, expectedWeddings: 3}
YAML
for _ in 1 2 3 4 5; do
  sleep 5
  kubectl get wd demo-now -n wedsync --no-headers -o custom-columns=DAY:.metadata.name,PHASE:.status.phase,NEXT:.status.nextTransition
  kubectl get ps platform -n wedsync --no-headers -o custom-columns=POLICY:.metadata.name,MODE:.status.mode,REPLICAS:.status.replicaSummary
done
kubectl get events -n wedsync --field-selector involvedObject.name=platform \
  -o custom-columns=REASON:.reason,MESSAGE:.message | tail -n 8
printf '\n(Prometheus is not part of the demo, so MetricsAvailable=False: the floors still apply.)\n'
printf '\nCluster left running: export KUBECONFIG=%s   (stop: e2e/cluster/down.sh %s)\n\n' "$state/kubeconfig" "$state"
