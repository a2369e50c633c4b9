#!/usr/bin/env bash
# `make e2e-kind`: the image and the Helm chart on a real kind cluster, for machines with
# Docker. It builds the image from the Dockerfile, loads it into kind, installs the chart
# (two replicas, peering, restricted Pod Security on the namespace) and runs the e2e
# tests that need no local processes in "deployed" mode (WEDSYNC_E2E_DEPLOYED=1):
#   e2e/test_deployed.py      the installed operator raises a wedding day's floor
#   e2e/test_crds_on_server.py the CRDs, examples and refusals on that API server
# The metric-driven, outage, restart and RBAC scenarios need a Prometheus on loopback and
# control over the operator's processes: they run on the local control plane (`make e2e`).
#
# Needs: docker, kind, kubectl on PATH; helm on PATH or built by e2e/cluster/build.sh;
# .venv (`make install`). Env: KIND_CLUSTER (default wedsync-e2e), KEEP_CLUSTER=1 to
# leave a cluster this script created running.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cluster=${KIND_CLUSTER:-wedsync-e2e}
image=wedsync-operator:e2e
release=wedsync-operator
namespace=wedsync-system

log() { printf '[e2e-kind %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
for tool in docker kind kubectl; do
  command -v "$tool" > /dev/null || { log "needs $tool on PATH"; exit 2; }
done
[ -x "$repo/.venv/bin/pytest" ] || { log "needs .venv: run make install"; exit 2; }
helm=$(command -v helm || echo "$("$repo/e2e/cluster/build.sh" | tail -n 1)/helm")

created=
if ! kind get clusters | grep -qx "$cluster"; then
  log "creating kind cluster $cluster"
  kind create cluster --name "$cluster" --config "$here/kind-config.yaml" --wait 180s
  created=1
fi
kubeconfig=$(mktemp)
cleanup() {
  rm -f "$kubeconfig"
  if [ -n "$created" ] && [ "${KEEP_CLUSTER:-}" != 1 ]; then kind delete cluster --name "$cluster"; fi
}
trap cleanup EXIT
kind get kubeconfig --name "$cluster" > "$kubeconfig"
export KUBECONFIG=$kubeconfig

log "building $image"
docker build -t "$image" "$repo"
kind load docker-image "$image" --name "$cluster"

log "installing the chart into $namespace (restricted Pod Security)"
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "$namespace" --overwrite \
  pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted
"$helm" upgrade --install "$release" "$repo/helm/wedsync-operator" --namespace "$namespace" \
  --set image.repository=wedsync-operator --set image.tag=e2e --set image.pullPolicy=Never \
  --set replicaCount=2 --wait --timeout 5m

log "running the deployed-mode e2e tests"
cd "$repo"
WEDSYNC_E2E_DEPLOYED=1 WEDSYNC_E2E_RELEASE=$release WEDSYNC_E2E_RELEASE_NAMESPACE=$namespace \
  .venv/bin/pytest -p no:cacheprovider e2e/test_deployed.py e2e/test_crds_on_server.py
