#!/usr/bin/env bash
# Let the real node's pods reach a service that listens on 127.0.0.1:PORT of this machine, at
# 10.244.0.1:PORT (the host's address on the pod bridge). e2e/node/down.sh removes the rule.
#   e2e/node/expose.sh STATE_DIR PORT
set -euo pipefail
port=${2:?usage: expose.sh STATE_DIR PORT}
[ -d "${1:?}/node" ] || { echo "no real node in $1" >&2; exit 1; }
rule=(-d 10.244.0.1/32 -p tcp --dport "$port" -j DNAT --to-destination "127.0.0.1:$port")
iptables -t nat -C WEDSYNC-NODE "${rule[@]}" 2>/dev/null || iptables -t nat -A WEDSYNC-NODE "${rule[@]}"
