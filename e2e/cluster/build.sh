#!/usr/bin/env bash
# Build the local control plane's binaries from official Go modules, once, into a cache
# folder outside the repo. Prints the folder on the last line of stdout.
#   kube-apiserver, kube-controller-manager, kube-scheduler,
#   kubectl (matching the server, the machine's may be older) (k8s.io/kubernetes, wrapper module)
#   etcd                                                      (go.etcd.io/etcd/server/v3, wrapper module)
#   kwok, helm                                                (go install at a pinned version)
# A rebuild happens only when a pinned version changes (the folder name carries them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache_root=${WEDSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wedsync-operator}
bin="$cache_root/bin/r$BUILD_RECIPE-k8s-$KUBERNETES_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"
mkdir -p "$bin"

export CGO_ENABLED=0
log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# go build -v prints one line per compiled package; show a running count instead of
# thousands of lines so a first build (many minutes) visibly moves.
progress() {
  awk -v what="$1" '{ n++; if (n % 200 == 0) { printf "[build] %s: %d packages compiled\n", what, n > "/dev/stderr"; fflush("/dev/stderr") } }'
}

build_kubernetes() {
  local ver=${KUBERNETES_VERSION#v} major minor date ldflags=""
  major=${ver%%.*}; minor=${ver#*.}; minor=${minor%%.*}
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  # Without these stamps the binaries report v0.0.0-master, which kubectl, kwokctl and
  # Helm's kubeVersion checks read.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  (cd "$here/modules/kubernetes" &&
    go build -v -trimpath -tags notest -ldflags "-s -w $ldflags" -o "$bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubectl 2>&1 | progress kubernetes)
}

build_etcd() {
  (cd "$here/modules/etcd" &&
    go build -v -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3 2>&1 | progress etcd)
}

go_install() { # name module@version [ldflags]
  GOBIN="$bin" go install -v -trimpath -ldflags "-s -w ${3:-}" "$2" 2>&1 | progress "$1"
}

helm_ldflags() {
  # As Helm's own Makefile: its version, and the Kubernetes version of the client
  # modules it was built with (what `helm template` reports as .Capabilities.KubeVersion).
  local gomod minor v=helm.sh/helm/v3
  gomod=$(cd "$bin" && GOFLAGS=-mod=mod go mod download -json "$v@$HELM_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  minor=$(sed -n 's|^\s*k8s.io/client-go v0\.\([0-9]*\)\..*|\1|p' "$gomod" | head -n 1)
  printf '%s' "-X $v/internal/version.version=$HELM_VERSION -X $v/internal/version.gitTreeState=clean \
    -X $v/pkg/lint/rules.k8sVersionMajor=1 -X $v/pkg/lint/rules.k8sVersionMinor=$minor \
    -X $v/pkg/chartutil.k8sVersionMajor=1 -X $v/pkg/chartutil.k8sVersionMinor=$minor"
}

need() { [ -x "$bin/$1" ] || return 0; return 1; }

start=$(date +%s)
if need kube-apiserver || need kube-controller-manager || need kube-scheduler || need kubectl; then
  log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $KUBERNETES_VERSION (first build takes many minutes)"
  build_kubernetes
fi
if need etcd; then log "building etcd $ETCD_VERSION"; build_etcd; fi
if need kwok; then log "building kwok $KWOK_VERSION"; go_install kwok "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"; fi
if need helm; then log "building helm $HELM_VERSION"; go_install helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "$(helm_ldflags)"; fi
# Standalone kwok needs Stage configs; they ship in its Go module (kustomize/stage/...):
# nodes initialize Ready and renew their Lease, pods go Running/Ready and are deleted.
if [ ! -f "$bin/kwok-stages.yaml" ]; then
  kwok_dir=$(cd "$bin" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  stage=$kwok_dir/kustomize/stage
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cat "$stage/$f"; printf '\n---\n'
  done > "$bin/kwok-stages.yaml.tmp"
  mv "$bin/kwok-stages.yaml.tmp" "$bin/kwok-stages.yaml"
fi
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok helm kwok-stages.yaml; do
  [ -e "$bin/$b" ] || { log "missing $bin/$b after build"; exit 1; }
done
log "binaries ready in $bin ($(( $(date +%s) - start ))s)"
echo "$bin"
