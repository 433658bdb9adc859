# The real node's network, sourced by tests/cluster/up and down.
# shellcheck shell=bash
#
#   host (HOST_IP) ──veth── node netns (NODE_IP, bridge tvbr0 with the pods,
#                            default route ─veth─ sink netns, which drops all)
#
# The host keeps its routes and rules: what is added on the host side is one
# veth end with a /30 address and a route to the pods through the node (as
# on a real cluster, the apiserver reaches pods: `kubectl get --raw
# .../pods/P:port/proxy/...`, webhooks). The node namespace has no way out but
# the host's HOST_IP (the apiserver, bound there) and the sink, so no pod
# packet can leave the machine.

node_network_up() {
  if [[ -e "/run/netns/$NODE_NS" ]] && ip link show "$HOST_IF" >/dev/null 2>&1; then
    ip route replace "$POD_CIDR" via "$NODE_IP" dev "$HOST_IF"
    return 0
  fi
  node_network_down
  log "creating the node's network namespace $NODE_NS ($NODE_IP, pods $POD_CIDR)"
  # The first `ip netns add` on a machine makes /run/netns and bind-mounts it
  # onto itself; down undoes that when it was us (and no namespace is left).
  if ! mountpoint -q /run/netns; then
    if [[ -d /run/netns ]]; then echo existed; else echo absent; fi >"$STATE_DIR/netns-dir-made"
  fi
  ip netns add "$NODE_NS"
  ip netns add "$SINK_NS"
  ip link add "$HOST_IF" type veth peer name eth0 netns "$NODE_NS"
  ip addr add "$HOST_IP/30" dev "$HOST_IF"
  ip link set "$HOST_IF" up
  ip link add sink0 netns "$NODE_NS" type veth peer name eth0 netns "$SINK_NS"
  in_node ip addr add "$NODE_IP/30" dev eth0
  in_node ip addr add "$SINK_NODE_IP/30" dev sink0
  in_node ip link set lo up
  in_node ip link set eth0 up
  in_node ip link set sink0 up
  in_node ip route add default via "$SINK_IP"
  ip route replace "$POD_CIDR" via "$NODE_IP" dev "$HOST_IF"
  nsenter --net="/run/netns/$SINK_NS" -- ip addr add "$SINK_IP/30" dev eth0
  nsenter --net="/run/netns/$SINK_NS" -- ip link set lo up
  nsenter --net="/run/netns/$SINK_NS" -- ip link set eth0 up
  # Per-namespace: the node routes pod traffic, and bridged traffic passes
  # iptables (kube-proxy's Services, kube-router's policies).
  in_node sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 \
    net.bridge.bridge-nf-call-ip6tables=1
}

# Deleting the namespaces deletes everything in them: both veth pairs (so the
# host end too), the pods' bridge, and every iptables/nftables rule and ipset
# kube-proxy and kube-router made.
node_network_down() {
  local ns
  for ns in "$NODE_NS" "$SINK_NS"; do
    [[ -e "/run/netns/$ns" ]] && ip netns delete "$ns"
  done
  if ip link show "$HOST_IF" >/dev/null 2>&1; then ip link delete "$HOST_IF"; fi
  local made="$STATE_DIR/netns-dir-made"
  if [[ -f "$made" ]] && [[ -z "$(ls -A /run/netns 2>/dev/null)" ]]; then
    while mountpoint -q /run/netns; do umount /run/netns || break; done
    if [[ "$(cat "$made")" == absent ]]; then rmdir /run/netns 2>/dev/null || true; fi
    rm -f "$made"
  fi
  return 0
}
