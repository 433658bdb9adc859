# The real node, sourced by tests/cluster/up once the control plane is up:
# containerd (Debian) + runc + CNI bridge, kubelet and kube-proxy (built from
# k8s.io/kubernetes), CoreDNS (cluster DNS, no forwarding) and kube-router's
# NetworkPolicy firewall, all in the node's network namespace
# (node/network.sh), with locally built images imported (node/images.sh).
#
# cgroup v1: this machine mounts the v1 hierarchies (hybrid), and the
# machine's own processes hold the v1 memory hierarchy, so kubelet runs with
# failCgroupV1: false. Upstream deprecates v1 (containerd 2.2 says it goes by
# May 2029); a v2-only machine would drop that setting.
# shellcheck shell=bash

source "$CLUSTER_DIR/node/images.sh"

NODE_PKI="$PKI/node"
CONTAINERD_SOCK="$NODE_DIR/containerd/containerd.sock"
KUBELET_ROOT="$NODE_DIR/kubelet"
# Kernel settings kubelet rewrites on the host (they are not per network
# namespace); saved before its first start and restored by down.
KUBELET_SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops)

# Writes stdin to a file only when its content differs: a running kube-proxy
# exits when its configuration file changes, so a second `up` rewriting the
# same content must not touch it.
put() { # <file>
  local tmp="$1.tmp"
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

node_kubeconfig() { # <file> <cert name>
  put "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: traceval
  cluster: {server: "https://$HOST_IP:$APISERVER_PORT", certificate-authority: "$PKI/ca.crt"}
users:
- name: u
  user: {client-certificate: "$NODE_PKI/$2.crt", client-key: "$NODE_PKI/$2.key"}
contexts:
- name: traceval
  context: {cluster: traceval, user: u}
current-context: traceval
EOF
}

node_config() {
  mkdir -p "$NODE_DIR"/{containerd,cni/net.d,cni/ipam,kubelet,pod-logs,runc} "$NODE_PKI"
  local saved="$NODE_DIR/host-sysctls"
  if [[ ! -f "$saved" ]]; then
    for s in "${KUBELET_SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")"; done >"$saved.tmp"
    mv "$saved.tmp" "$saved"
  fi
  # Node identities: the Node authorizer wants system:node:<name> in
  # system:nodes; kube-proxy's default binding is to user system:kube-proxy.
  # CoreDNS and kube-router read cluster-wide objects with their own names.
  PKI_DIR="$NODE_PKI" gen_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "extendedKeyUsage=clientAuth"
  PKI_DIR="$NODE_PKI" gen_cert kube-proxy "/CN=system:kube-proxy" "extendedKeyUsage=clientAuth"
  PKI_DIR="$NODE_PKI" gen_cert node-addons "/O=system:masters/CN=traceval-node-addons" "extendedKeyUsage=clientAuth"
  for c in kubelet kube-proxy node-addons; do node_kubeconfig "$NODE_DIR/$c.kubeconfig" "$c"; done

  # kubelet's cgroupRoot must exist in every hierarchy; a new cpuset cgroup
  # starts with no CPUs and memory nodes, so it gets its parent's.
  local h cg="traceval-$PORT_BASE"
  for h in /sys/fs/cgroup/*/; do mkdir -p "$h$cg"; done
  if [[ -f /sys/fs/cgroup/cpuset/cpuset.cpus ]]; then
    cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$cg/cpuset.cpus"
    cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$cg/cpuset.mems"
  fi

  put "$NODE_DIR/containerd/config.toml" <<EOF
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = "$CONTAINERD_SOCK.debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # The process lacks CAP_SYS_RESOURCE: without this every sandbox fails
  # with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$NODE_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni/net.d"
EOF

  put "$NODE_DIR/cni/net.d/10-traceval.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "traceval-$PORT_BASE",
  "plugins": [
    {"type": "bridge", "bridge": "tvbr0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$NODE_DIR/cni/ipam",
              "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

  # Pods resolve through the cluster DNS only: nothing of the host's
  # resolver reaches them.
  put "$NODE_DIR/resolv.conf" </dev/null
  put "$NODE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /traceval-$PORT_BASE
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
podLogsDir: $NODE_DIR/pod-logs
resolvConf: $NODE_DIR/resolv.conf
clusterDNS: [$CLUSTER_DNS]
clusterDomain: cluster.local
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
rotateCertificates: false
# Images cannot be pulled again (there is no registry): never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "200Mi", nodefs.available: "1%", imagefs.available: "1%"}
maxPods: 110
EOF

  put "$NODE_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$NODE_DIR/kube-proxy.kubeconfig"}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
nodePortAddresses: ["$NODE_IP/32"]
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the machine's global conntrack limit alone.
conntrack: {maxPerCore: 0}
EOF

  # No forward plugin: a name outside the cluster gets NXDOMAIN from the
  # catch-all block (CoreDNS picks the most specific zone's block; within a
  # block, template would run before kubernetes).
  put "$NODE_DIR/Corefile" <<EOF
cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    errors
    health 127.0.0.1:8080
    ready 127.0.0.1:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $NODE_DIR/node-addons.kubeconfig traceval
        pods insecure
    }
    cache 30
    loadbalance
}
.:53 {
    errors
    template ANY ANY {
        rcode NXDOMAIN
    }
}
EOF
}

node_ctr() { in_node ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
# Imports each image once per containerd root (the root is part of the
# cluster state, so a fresh `up` imports again; that takes seconds).
node_import_images() {
  local tar done_list="$NODE_DIR/containerd/imported"
  touch "$done_list"
  while read -r tar; do
    grep -qxF "$tar" "$done_list" && continue
    log "importing $(basename "$tar") into the node's containerd"
    node_ctr images import "$tar" >/dev/null
    echo "$tar" >>"$done_list"
  done < <(node_images)
}

node_ready() {
  [[ "$("${kubectl[@]}" get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

node_up() {
  node_config
  start_in_node containerd /usr/bin/containerd --config "$NODE_DIR/containerd/config.toml"
  wait_for containerd in_node ctr --address "$CONTAINERD_SOCK" version
  node_import_images

  start_in_node kubelet "$BIN_DIR/kubelet" --config "$NODE_DIR/kubelet.yaml" \
    --kubeconfig "$NODE_DIR/kubelet.kubeconfig" --root-dir "$KUBELET_ROOT" \
    --cert-dir "$KUBELET_ROOT/pki" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
    --node-labels "traceval.dev/node=real"
  start_in_node kube-proxy "$BIN_DIR/kube-proxy" --config "$NODE_DIR/kube-proxy.yaml"
  wait_for kubelet node_ready
  start_in_node coredns "$BIN_DIR/coredns" -conf "$NODE_DIR/Corefile"
  # kube-router finds itself by its Node object: started once that exists.
  # The firewall only: no BGP router, no service proxy (kube-proxy is it),
  # no CNI (the bridge plugin is it).
  start_in_node kube-router "$BIN_DIR/kube-router" --kubeconfig "$NODE_DIR/node-addons.kubeconfig" \
    --hostname-override "$NODE_NAME" --run-firewall=true --run-router=false \
    --run-service-proxy=false --enable-cni=false --enable-ipv6=false \
    --health-port 20244 --metrics-port 0
  # The cluster DNS Service fronts CoreDNS on the node's address (CoreDNS
  # runs beside kubelet, not as a pod).
  "${kubectl[@]}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $CLUSTER_DNS
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: traceval.dev-cluster-up}
addressType: IPv4
endpoints: [{addresses: ["$NODE_IP"], conditions: {ready: true}}]
ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
EOF
  wait_for coredns in_node curl -fsS --max-time 2 http://127.0.0.1:8181/ready
  wait_for kube-proxy in_node curl -fsS --max-time 2 http://127.0.0.1:10256/healthz
  wait_for kube-router in_node curl -fsS --max-time 2 http://127.0.0.1:20244/healthz
}

# The package index, the trace store and the LLM stand-in as pods
# (node/addons.yaml).
node_addons() {
  sed -e "s|\${PYPI_IMAGE}|$PYPI_IMAGE|g" -e "s|\${JAEGER_IMAGE}|$JAEGER_IMAGE|g" \
    -e "s|\${PYTHON_IMAGE}|$PYTHON_IMAGE|g" -e "s|\${RCLONE_IMAGE}|$RCLONE_IMAGE|g" \
    "$CLUSTER_DIR/node/addons.yaml" |
    "${kubectl[@]}" apply -f - >/dev/null
  # The S3 server's access keys: made once per cluster, never printed.
  if ! "${kubectl[@]}" -n traceval-storage get secret s3-credentials >/dev/null 2>&1; then
    "${kubectl[@]}" -n traceval-storage create secret generic s3-credentials \
      --from-literal=akId="tv$(openssl rand -hex 8)" --from-literal=akSecret="$(openssl rand -hex 20)" >/dev/null
  fi
  local cm
  for cm in jaeger:jaeger.yaml llm-standin:llm_standin.py; do
    "${kubectl[@]}" -n traceval-system create configmap "${cm%%:*}" --from-file "$CLUSTER_DIR/${cm#*:}" \
      --dry-run=client -o yaml | "${kubectl[@]}" apply -f - >/dev/null
  done
  wait_for kubelet "${kubectl[@]}" -n traceval-system wait --for condition=Available --timeout 2s \
    deployment/pypi deployment/jaeger deployment/llm-standin
  wait_for kubelet "${kubectl[@]}" -n traceval-storage wait --for condition=Available --timeout 2s deployment/s3
  wait_for kube-proxy curl_ok "http://$NODE_IP:30686/api/v3/services"
}
