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
