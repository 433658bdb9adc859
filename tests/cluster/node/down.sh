# Tears the real node down, sourced by tests/cluster/down: every pod
# sandbox (through the CRI, so containerd removes the pods' network
# namespaces and mounts), the node's processes and container shims, what
# kubelet mounted, the cgroups it made, the host sysctls it rewrote, and the
# network namespaces (which take the bridge, the veths and every rule with
# them). Safe to run twice and after a failed `up`.
# shellcheck shell=bash

CONTAINERD_SOCK="$NODE_DIR/containerd/containerd.sock"

# Stops a recorded process if it is still the one we started.
stop_recorded() { # <name>...: returns the PIDs signalled in STOPPED
  local name f pid exe
  for name in "$@"; do
    f="$STATE_DIR/pids/$name.pid"
    [[ -f "$f" ]] || continue
    pid="$(cat "$f")"
    exe="$(cat "$STATE_DIR/pids/$name.exe" 2>/dev/null || true)"
    if kill -0 "$pid" 2>/dev/null && [[ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" == "$(readlink -f "$exe")" ]]; then
      kill "$pid" 2>/dev/null || true
      STOPPED+=("$pid")
    fi
    rm -f "$f"
  done
}

wait_gone() { # <seconds> <pid>...
  local deadline=$((SECONDS + $1)) pid; shift
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then kill -9 "$pid" 2>/dev/null || true; break; fi
      sleep 0.1
    done
  done
}

crictl() { in_node "$BIN_DIR/crictl" --runtime-endpoint "unix://$CONTAINERD_SOCK" --timeout 20s "$@"; }

# The network namespace paths of the node's pod sandboxes (/run/netns/cni-*).
node_pod_netns() {
  local id
  for id in $(crictl pods -q 2>/dev/null); do
    crictl inspectp -o json "$id" 2>/dev/null | python3 -c '
import json, sys
spec = json.load(sys.stdin).get("info", {}).get("runtimeSpec", {})
for ns in spec.get("linux", {}).get("namespaces", []):
    if ns.get("type") == "network" and ns.get("path"):
        print(ns["path"])' || true
  done
}

# Every process left in the pods' cgroups (a container whose shim is gone).
node_cgroup_procs() {
  find /sys/fs/cgroup/pids/"traceval-$PORT_BASE" -name cgroup.procs -exec cat {} + 2>/dev/null || true
}

# The node's container shims: their command line names our containerd socket.
node_shims() {
  local p
  for p in /proc/[0-9]*; do
    { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "-address $CONTAINERD_SOCK " && echo "${p#/proc/}"
  done
  return 0
}

node_down() {
  [[ -d "$NODE_DIR" || -e "/run/netns/$NODE_NS" ]] || return 0
  STOPPED=()
  # kubelet first, so it does not restart what is removed below.
  stop_recorded kube-router coredns kube-proxy kubelet
  wait_gone 20 "${STOPPED[@]}"
  local pod_netns=()
  if [[ -S "$CONTAINERD_SOCK" ]] && [[ -x "$BIN_DIR/crictl" ]]; then
    # The pods' network namespaces, in case a sandbox cannot be removed.
    mapfile -t pod_netns < <(node_pod_netns)
    crictl rmp --all --force >/dev/null 2>"$STATE_DIR/logs/crictl.log" ||
      log "warning: crictl could not remove every pod sandbox; see $STATE_DIR/logs/crictl.log"
  fi
  STOPPED=()
  stop_recorded containerd
  wait_gone 20 "${STOPPED[@]}"
  local shims
  mapfile -t shims < <(node_shims)
  if ((${#shims[@]})); then
    kill "${shims[@]}" 2>/dev/null || true
    wait_gone 10 "${shims[@]}"
  fi
  local procs
  mapfile -t procs < <(node_cgroup_procs)
  if ((${#procs[@]})); then
    log "warning: killing ${#procs[@]} process(es) left in the pods' cgroups"
    kill -9 "${procs[@]}" 2>/dev/null || true
    wait_gone 10 "${procs[@]}"
  fi
  local ns
  for ns in "${pod_netns[@]}"; do
    [[ "$ns" == /run/netns/* || "$ns" == /var/run/netns/* ]] || continue
    [[ -e "$ns" ]] || continue
    umount "$ns" 2>/dev/null || true
    rm -f "$ns"
  done
  # What kubelet and containerd mounted under the node's directory (volumes,
  # overlay rootfs, shm), deepest first.
  local m
  if [[ -d "$NODE_DIR" ]]; then
    { findmnt -rn -o TARGET | grep -F "$NODE_DIR/" || true; } | sort -r | while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: could not unmount $m"
    done
  fi
  # The pods' cgroups (kubelet's cgroupRoot), in every hierarchy.
  local root
  for root in /sys/fs/cgroup/*/"traceval-$PORT_BASE" /sys/fs/cgroup/"traceval-$PORT_BASE"; do
    [[ -d "$root" ]] && find "$root" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # Host sysctls kubelet rewrote, back to what they were before its first start.
  if [[ -f "$NODE_DIR/host-sysctls" ]]; then
    sysctl -qw $(cat "$NODE_DIR/host-sysctls") >/dev/null
  fi
  # kubelet's fixed log symlink directory, and the CNI result cache.
  local l
  for l in /var/log/containers/*; do
    [[ -L "$l" && "$(readlink "$l")" == "$NODE_DIR/"* ]] && rm -f "$l"
  done
  grep -lF "\"traceval-$PORT_BASE\"" /var/lib/cni/results/* 2>/dev/null | xargs -r rm -f || true
  node_network_down
}
