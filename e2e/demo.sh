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
printf '\nCluster left running: export KUBECONFIG=%s   (stop: make cluster-down)\n' "$state/kubeconfig"
