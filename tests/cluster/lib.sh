# Shared helpers of tests/cluster/{build,up,down}. Sourced, not executed.
# shellcheck shell=bash

CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$CLUSTER_DIR/versions.env"

# The binary cache is keyed by the versions and the dependency lock files of
# the tool modules, so a change of either rebuilds, and nothing else does.
cache_key() {
  cat "$CLUSTER_DIR/versions.env" "$CLUSTER_DIR"/tools/*/go.mod "$CLUSTER_DIR"/tools/*/go.sum |
    sha256sum | cut -c1-12
}

CACHE_ROOT="${TRACEVAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/traceval}"
BIN_DIR="$CACHE_ROOT/cluster-${KUBE_VERSION}-$(cache_key)/bin"
STATE_DIR="${TRACEVAL_CLUSTER_STATE:-${XDG_RUNTIME_DIR:-/tmp}/traceval-cluster}"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The real node's names and addresses, derived from the port base so that
# clusters with different TRACEVAL_PORT_BASE values never share one.
PORT_BASE="${TRACEVAL_PORT_BASE:-17000}"
NET_ID=$(((PORT_BASE / 100) % 250))
NODE_NAME=traceval-node
NODE_NS="tv-node-$PORT_BASE"         # kubelet, containerd, kube-proxy, CoreDNS, kube-router, pods
SINK_NS="tv-sink-$PORT_BASE"         # the node's default route ends here: nothing leaves
HOST_IF="tvh$PORT_BASE"              # host end of the link to the node
HOST_IP="10.250.$NET_ID.1"           # the apiserver listens here (and pods reach it here)
NODE_IP="10.250.$NET_ID.2"
SINK_NODE_IP="10.250.$NET_ID.5" SINK_IP="10.250.$NET_ID.6"
POD_CIDR="10.251.$NET_ID.0/24"
SERVICE_CIDR=10.96.0.0/16
CLUSTER_DNS=10.96.0.10
NODE_DIR="$STATE_DIR/node"
# Runs a command inside the node's network namespace. nsenter, not
# `ip netns exec`: the latter remounts /sys and hides the cgroup mounts.
in_node() { nsenter --net="/run/netns/$NODE_NS" -- "$@"; }
