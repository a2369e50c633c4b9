#!/usr/bin/env bash
# `make demo`: the operator at work on a fresh local cluster, in a few minutes.
#   e2e/demo.sh [STATE_DIR]        (default .cluster/; `make demo-down` stops everything)
# It starts the local control plane, real Prometheus, Alertmanager, Redis and PostgreSQL on
# loopback with a small load generator, and the operator in the background; then shows the
# plan for the example Saturday, the objects the API server refuses, metric-driven scaling
# up and (stabilised) down, a wedding day pre-scaling every tier, the mode ConfigMap, the
# silences and the Events. Everything keeps running until `make demo-down`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
state=${1:-$repo/.cluster}
py=$repo/.venv/bin/python
ns=wedsync

if [ -t 1 ]; then bold=$'\033[1m' off=$'\033[0m'; else bold='' off=''; fi
n=0
step() { n=$((n + 1)); printf '\n%s== %d. %s%s\n' "$bold" "$n" "$*" "$off"; }
note() { printf '   %s\n' "$@"; }
die() {
  printf 'demo: ERROR: %s\n  operator log: %s\n  services log: %s\n' "$*" \
    "$state/logs/operator.log" "$state/logs/services.log" >&2
  exit 1
}
# wait_until SECONDS WHAT COMMAND...: every wait has a deadline.
wait_until() {
  local seconds=$1 limit=$(( $(date +%s) + $1 )) what=$2; shift 2
  until "$@" > /dev/null 2>&1; do
    [ "$(date +%s)" -lt "$limit" ] || die "timed out after ${seconds} s waiting for $what"
    sleep 1
  done
}
started() { # name command...: in the background, in a process group of its own
  local name=$1; shift
  setsid nohup "$@" > "$state/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$state/pids/$name.pid"
}
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
replicas() { kubectl get "$1" -n "$ns" -o jsonpath='{.spec.replicas}'; }
replicas_are() { [ "$(replicas "$1")" = "$2" ]; }
condition() { kubectl get ps platform -n "$ns" -o jsonpath="{.status.conditions[?(@.type==\"$1\")].status}"; }
condition_is() { [ "$(condition "$1")" = "$2" ]; }
warmed() { [ "$(kubectl get ps platform -n "$ns" -o jsonpath='{.status.cacheWarming.complete}')" = true ]; }
load() { echo "$1" > "$state/services/load"; }
events() { kubectl get events -n "$ns" -o json | "$py" e2e/demo_show.py events "${1:-0}"; }
now_rv() { kubectl get --raw "/api/v1/namespaces/$ns/events?limit=1" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])'; }

# ------------------------------------------------------------------------------------
step "A fresh local Kubernetes (kube-apiserver, etcd, controller-manager, scheduler, KWOK nodes)"
note "The first run builds it from Go modules (minutes); later runs reuse the build."
"$repo/e2e/cluster/down.sh" "$state" 2> /dev/null  # a demo always starts from a clean state
eval "$("$repo/e2e/cluster/up.sh" "$state")"
# shellcheck source=/dev/null
source "$state/env"
export KUBECONFIG PATH="$WEDSYNC_BIN:$PATH"  # the kubectl built with the server: no skew
cd "$repo"
kubectl get nodes

step "Services on loopback: Prometheus, Alertmanager, Redis, PostgreSQL, a web app and its load"
mkdir -p "$state/services"
started services "$py" e2e/demo_services.py "$state/services"
wait_until 120 "the services (log: $state/logs/services.log)" test -f "$state/services/services.json"
svc() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$state/services/services.json" "$1"; }
prometheus=$(svc prometheus); alertmanager=$(svc alertmanager)
note "Prometheus    $prometheus  (scrapes the web app every second)" \
  "Alertmanager  $alertmanager" \
  "Redis         a primary and a replica; PostgreSQL: a primary and a streaming replica" \
  "load          $state/services/load: requests per second the generator sends the web app"
load 20

step "The CRDs and the platform: app Deployments, Redis and Postgres replica StatefulSets"
kubectl apply -f crds/
kubectl wait --for=condition=Established crd/weddingdays.wedsync.io crd/platformscalings.wedsync.io --timeout=30s
kubectl apply -f examples/platform.yaml
kubectl create secret generic redis -n "$ns" --from-literal=url="$(svc redis)"
kubectl create secret generic postgres-primary -n "$ns" --from-literal=dsn="$(svc postgresPrimary)"
kubectl create secret generic postgres-replica -n "$ns" --from-literal=dsn="$(svc postgresReplica)"
kubectl get deploy,sts -n "$ns"

step "Before a big Saturday: what the operator will do (wedsync-operator plan, offline)"
"$repo/.venv/bin/wedsync-operator" plan -f examples/saturday.yaml

step "Invalid objects are refused at kubectl apply, with the field named"
for f in examples/invalid/*.yaml; do
  printf '   %-32s ' "$(basename "$f")"
  if kubectl apply --dry-run=server -f "$f" > /dev/null 2> "$state/refused"; then
    die "$f was accepted"
  fi
  tail -n 1 "$state/refused" | cut -c 1-160
done

step "The operator, in the background (log: $state/logs/operator.log)"
metrics_port=$(free_port); health_port=$(free_port)
PYTHONUNBUFFERED=1 started operator "$repo/.venv/bin/wedsync-operator" run --standalone -n "$ns" \
  --metrics-port "$metrics_port" --liveness "http://127.0.0.1:$health_port/healthz"
wait_until 60 "the operator's liveness probe" curl -fsS --max-time 2 "http://127.0.0.1:$health_port/healthz"
note "metrics: http://127.0.0.1:$metrics_port/metrics"

step "A policy over the three tiers, scaling web-couples on requests per second"
kubectl apply -f - <<YAML
apiVersion: wedsync.io/v1alpha1
kind: PlatformScaling
metadata: {name: platform, namespace: $ns, labels: {app.kubernetes.io/part-of: wedsync}}
spec:
  targets:
  - {kind: StatefulSet, name: postgres-replica, role: database, minReplicas: 1, maxReplicas: 3}
  - {kind: StatefulSet, name: redis-replica, role: cache, minReplicas: 1, maxReplicas: 4}
  - {kind: Deployment, name: web-couples, role: app, minReplicas: 2, maxReplicas: 12,
     weddingDay: {minReplicas: 4}}
  metrics:
  - name: requests
    query: sum(rate(demo_http_requests_total[15s]))
    target: {type: AverageValue, value: "10"}        # 10 requests/s per replica
    weddingDayTarget: {value: "7.5"}
    targets: [web-couples]
  prometheus: {url: "$prometheus", timeout: 2s}
  interval: {normal: 10s, weddingDay: 5s}
  behavior: {scaleDown: {stabilizationWindowSeconds: 30}}   # 300 s by default, as the HPA
  weddingDay:
    extraCapacityPercent: 20
    readinessDeadline: 0s   # ready by the start: this demo's lead time is only 30 s
    cacheWarming:
      enabled: true
      redisSecretRef: {name: redis, key: url}
      postgresSecretRef: {name: postgres-replica, key: dsn}
      query: >-
        SELECT couple_id::text AS key, row_to_json(c)::text AS payload
        FROM core_fields c WHERE couple_id::text = ANY(\$1::text[])
      keyTemplate: "couple:{key}:core"
    silenceAlerts:
      alertmanagerUrl: "$alertmanager"
      matchers: [{name: namespace, value: $ns}, {name: severity, value: critical, isEqual: false}]
  # No Postgres check: postgres-replica's pods are KWOK's, and the one real replica here
  # could never be two replicas streaming (the pre-scale would wait for it 10 minutes).
  safety:
    redis: {secretRef: {name: redis, key: url}, minReplicasInSync: 1}
YAML
wait_until 60 "the policy's first evaluation (Ready=True)" condition_is Ready True
wait_until 60 "the first samples (MetricsAvailable=True)" condition_is MetricsAvailable True
kubectl get ps -n "$ns"
since=$(now_rv)

step "Metric-driven scaling: 20 → 60 requests/s, then back to 20"
note "At 60 requests/s and 10 per replica, web-couples needs 6 replicas (HPA maths)."
load 60; t0=$(date +%s)
wait_until 90 "web-couples at 6 replicas" replicas_are deploy/web-couples 6
note "scaled up to 6, $(( $(date +%s) - t0 )) s after the load rose (15 s rate window, 10 s interval)"
load 20; t0=$(date +%s)
note "Load back to 20/s: the scale-down waits out the 30 s stabilization window."
wait_until 120 "web-couples back at 2 replicas" replicas_are deploy/web-couples 2
note "scaled down to 2, $(( $(date +%s) - t0 )) s after the load fell"
events "$since"
since=$(now_rv)

step "A wedding day: starts in 40 s, lead time 30 s, so wedding-day mode begins in 10 s"
start=$(date -u -d '+40 seconds' +%Y-%m-%dT%H:%M:%SZ)
end=$(date -u -d '+15 minutes' +%Y-%m-%dT%H:%M:%SZ)
kubectl apply -f - <<YAML
apiVersion: wedsync.io/v1alpha1
kind: WeddingDay
metadata: {name: demo-now, namespace: $ns}
spec:
  start: "$start"
  end: "$end"
  leadTime: 30s
  windDown: 5m
  expectedWeddings: 3
  coupleIds: [couple-00000, couple-00001, couple-00002, couple-00003, couple-00004]
YAML
note "Floors: ceil(baseline × 1.2), and at least weddingDay.minReplicas:" \
  "postgres-replica 1 → 2, redis-replica 1 → 2, web-couples 2 → max(3, 4) = 4"
wait_until 60 "postgres-replica at 2" replicas_are sts/postgres-replica 2
wait_until 30 "redis-replica at 2" replicas_are sts/redis-replica 2
wait_until 30 "web-couples at 4" replicas_are deploy/web-couples 4
wait_until 60 "the cache warmed" warmed
wait_until 30 "the silences" condition_is AlertsSilenced True
kubectl get wd,ps -n "$ns"
kubectl get deploy,sts -n "$ns"

step "The mode, published for applications (ConfigMap wedsync-mode)"
note "Each policy writes its own keys (platform.*); the plain keys merge every policy's."
kubectl get configmap wedsync-mode -n "$ns" -o go-template='{{range $k, $v := .data}}   {{$k}}: {{$v}}{{"\n"}}{{end}}'

step "Non-critical alerts silenced in Alertmanager while the mode is on"
curl -fsS --max-time 5 "$alertmanager/api/v2/silences" | "$py" e2e/demo_show.py silences

step "The Events of this wedding day, oldest first (kubectl describe shows them too)"
events "$since"
note "" "Scheduled           the day was accepted; its window resolved to UTC" \
  "Preparing           the day entered its lead time: wedding-day mode began" \
  "WeddingDayModeOn    the policy switched its targets, thresholds and interval to the mode's" \
  "ScaledUp            one per tier, each once the tier before was ready: database, cache, app" \
  "CacheWarmed         the couples' rows read from the Postgres replica into Redis"
if kubectl get events -n "$ns" --field-selector type=Warning -o name | grep -q .; then
  kubectl get events -n "$ns" --field-selector type=Warning
  die "a Warning Event was posted: the demo expects none"
fi

step "Look around (the operator and the services keep running)"
cat <<EOF
   export KUBECONFIG=$KUBECONFIG
   export PATH=$WEDSYNC_BIN:\$PATH   # the kubectl built with the server
   kubectl get wd,ps -n $ns
   kubectl describe ps platform -n $ns
   echo 60 > $state/services/load   # raise the load again
   tail -f $state/logs/operator.log
   curl -s http://127.0.0.1:$metrics_port/metrics | grep ^wedsync_operator_
   Prometheus UI: $prometheus
   make demo-down$( [ "$state" = "$repo/.cluster" ] || printf ' CLUSTER_DIR=%s' "$state")   # stop everything
EOF
