#!/usr/bin/env bash
# Install the Debian packages that `make demo` and `make test` need, if any is missing:
# the real Prometheus, Alertmanager, Redis and PostgreSQL 15 they start on loopback, and the
# tools the cluster scripts call. Quiet and quick when everything is there already.
#   hack/install-deps.sh          what `make demo` needs
#   hack/install-deps.sh --node   also what `make image` and the real node need (`make test`):
#                                 Docker (builds only), containerd, runc, CNI plugins, debootstrap
set -euo pipefail
command -v go > /dev/null || { echo "Go (>= 1.26) is required to build the local control plane" >&2; exit 1; }

need=()
for tool in openssl:openssl curl:curl pgrep:procps; do
  command -v "${tool%%:*}" > /dev/null || need+=("${tool##*:}")
done
python3 -c 'import venv, ensurepip' 2> /dev/null || need+=(python3-venv)
[ -x /usr/bin/prometheus ] || need+=(prometheus)
[ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
[ -x /usr/bin/redis-server ] || need+=(redis-server)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
if [ "${1:-}" = --node ]; then
  for tool in dockerd:docker.io containerd:containerd runc:runc debootstrap:debootstrap iptables:iptables ip:iproute2; do
    PATH=$PATH:/usr/sbin:/sbin command -v "${tool%%:*}" > /dev/null || need+=("${tool##*:}")
  done
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
fi
[ ${#need[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo > /dev/null || {
    echo "missing Debian packages: ${need[*]}; install them as root: apt-get install ${need[*]}" >&2
    exit 1
  }
  sudo=(sudo)
fi
echo "[deps] installing Debian packages: ${need[*]}" >&2
"${sudo[@]}" apt-get update -q
# The packages' own services are not used (the tests and the demo start their own), and a
# machine without an init system cannot start them anyway.
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${need[@]}"
