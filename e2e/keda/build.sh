#!/usr/bin/env bash
# Build KEDA's operator from KEDA's Go module, once, into a cache folder outside the repo,
# through the wrapper module in module/. Prints the folder on the last line of stdout. Its
# CRDs come from the same module (crds/ there). The metrics adapter (cmd/adapter) is built
# only with WEDSYNC_KEDA_ADAPTER=1 (bench/keda.py): the tests' ScaledObjects use KEDA's cpu
# trigger, which the HPA reads as a resource metric.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's|^require github.com/kedacore/keda/v2 \(v[0-9.]*\)$|\1|p' "$here/module/go.mod")
cache_root=${WEDSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wedsync-operator}
bin="$cache_root/keda/$version"
# The same module cache as the e2e tests that read KEDA's CRD.
export GOMODCACHE=${GOMODCACHE:-$cache_root/gomod} GOFLAGS=-mod=mod CGO_ENABLED=0
log() { printf '[keda %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
progress() {
  awk -v what="$1" '{ n++; if (n % 200 == 0) { printf "[keda] %s: %d packages compiled\n", what, n > "/dev/stderr"; fflush("/dev/stderr") } }'
}
mkdir -p "$bin"
start=$(date +%s)
# As KEDA's Makefile: its version stamped into the binaries.
ldflags="-s -w -X github.com/kedacore/keda/v2/version.Version=$version -X github.com/kedacore/keda/v2/version.GitCommit=module"
if [ ! -x "$bin/keda" ]; then
  log "building KEDA $version operator (first build takes many minutes; output in $bin/build-operator.log)"
  (cd "$here/module" &&
    go build -v -trimpath -ldflags "$ldflags" -o "$bin/keda.tmp" github.com/kedacore/keda/v2/cmd/operator 2>&1 | tee "$bin/build-operator.log" | progress operator) &&
    mv "$bin/keda.tmp" "$bin/keda"  # an interrupted build leaves no binary that looks done
fi
if [ -n "${WEDSYNC_KEDA_ADAPTER:-}" ] && [ ! -x "$bin/keda-adapter" ]; then
  log "building KEDA $version metrics adapter (output in $bin/build-adapter.log)"
  (cd "$here/module" &&
    go build -v -trimpath -ldflags "$ldflags" -o "$bin/keda-adapter.tmp" github.com/kedacore/keda/v2/cmd/adapter 2>&1 | tee "$bin/build-adapter.log" | progress adapter) &&
    mv "$bin/keda-adapter.tmp" "$bin/keda-adapter"
fi
if [ ! -d "$bin/crds" ]; then
  dir=$(cd "$here/module" && go mod download -json "github.com/kedacore/keda/v2@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  mkdir -p "$bin/crds.tmp" && cp "$dir"/config/crd/bases/*.yaml "$bin/crds.tmp/" && mv "$bin/crds.tmp" "$bin/crds"
fi
for b in keda crds ${WEDSYNC_KEDA_ADAPTER:+keda-adapter}; do [ -e "$bin/$b" ] || { log "missing $bin/$b after build"; exit 1; }; done
log "KEDA ready in $bin ($(( $(date +%s) - start ))s)"
echo "$bin"
