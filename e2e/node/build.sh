#!/usr/bin/env bash
# Build (or reuse) the real node's binaries into a cache folder; prints it on the last line:
#   kubelet  from k8s.io/kubernetes at the control plane's version (modules/kubelet)
#   pause    the pod sandbox's process (pause/), a static binary
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
bin=$cache_root/node/r1-k8s-$KUBERNETES_VERSION
mkdir -p "$bin"
export CGO_ENABLED=0
if [ ! -x "$bin/kubelet" ]; then
  nlog "building kubelet $KUBERNETES_VERSION (a minute once the control plane is built)"
  t=$(date +%s)
  ver=${KUBERNETES_VERSION#v}; ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=${ver%%.*}"
    ldflags+=" -X $pkg.gitMinor=$(echo "$ver" | cut -d. -f2) -X $pkg.gitTreeState=clean"
  done
  (cd "$node_here/modules/kubelet" &&
    go build -trimpath -tags notest -ldflags "-s -w $ldflags" -o "$bin/kubelet.tmp" k8s.io/kubernetes/cmd/kubelet)
  mv "$bin/kubelet.tmp" "$bin/kubelet"
  nlog "kubelet built in $(( $(date +%s) - t ))s"
fi
if [ ! -x "$bin/pause" ]; then
  (cd "$node_here/pause" && go build -trimpath -ldflags "-s -w" -o "$bin/pause" .)
fi
echo "$bin"
