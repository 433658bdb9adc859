//! The real node `tests/cluster/up` starts (tests/cluster/node/): a real
//! kubelet runs containers from the locally built images, pods resolve names
//! through the cluster DNS (and nothing outside it), reach each other through
//! ClusterIP Services, and NetworkPolicy is enforced. Every pod here runs on
//! the real node in a namespace that enforces the `restricted` Pod Security
//! Standard, so the real admission plugin checks it.

#[path = "../support/mod.rs"]
mod support;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, PostParams};
use serde_json::json;
use support::pods::{fetch_script, from_json, run_script, web_server};
use support::{DEADLINE, TempNamespace, client, poll, real_node};

#[tokio::test]
async fn the_real_node_is_ready_and_runs_a_real_kubelet() {
    let client = client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes
        .get(&real_node())
        .await
        .expect("the real node is registered");
    let labels = node.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("traceval.dev/node").map(String::as_str),
        Some("real")
    );
    let annotations = node.metadata.annotations.clone().unwrap_or_default();
    assert!(
        !annotations.contains_key("kwok.x-k8s.io/node"),
        "kwok must never manage the real node: {annotations:?}"
    );
    let status = node.status.expect("node status");
    let ready = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .expect("a Ready condition");
    assert_eq!(ready.status, "True", "{ready:?}");
    let info = status.node_info.expect("node info");
    let server = client.apiserver_version().await.expect("apiserver version");
    assert_eq!(
        info.kubelet_version, server.git_version,
        "kubelet built from the same module"
    );
    assert!(
        info.container_runtime_version.starts_with("containerd://"),
        "{}",
        info.container_runtime_version
    );
}

#[tokio::test]
async fn pods_resolve_cluster_dns_reach_a_service_and_get_the_restricted_sandbox() {
    let client = client().await;
    let ns = TempNamespace::create_on_real_node(&client, "node-dns").await;
    web_server(&client, &ns.name).await;
    let script = format!(
        r#"
import os, socket, time, urllib.request
print("service-ip:", socket.gethostbyname("web.{ns}.svc.cluster.local"))
# A pod's first packets can be dropped until kube-router has synced it
# (there is no policy in this namespace): retry for about 12 s.
for attempt in range(6):
    try:
        print("body:", urllib.request.urlopen("http://web/index.html", timeout=2).read().decode().strip())
        break
    except OSError:
        time.sleep(1)
try:
    socket.gethostbyname("pypi.org")
    print("outside: resolved")
except socket.gaierror:
    print("outside: not resolved")
try:
    open("/written", "w")
    print("root: writable")
except OSError:
    print("root: read-only")
open("/tmp/written", "w").write("x")
print("tmp: writable")
print("uid:", os.getuid())
"#,
        ns = ns.name
    );
    let out = run_script(
        &client,
        &ns.name,
        "client",
        json!({"role": "client"}),
        &script,
    )
    .await;

    let services: Api<Service> = Api::namespaced(client.clone(), &ns.name);
    let cluster_ip = services
        .get("web")
        .await
        .expect("web Service")
        .spec
        .and_then(|s| s.cluster_ip)
        .expect("a ClusterIP");
    assert!(
        out.contains(&format!("service-ip: {cluster_ip}\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("body: hello from {}\n", ns.name)),
        "{out}"
    );
    assert!(
        out.contains("outside: not resolved\n"),
        "no name outside the cluster resolves: {out}"
    );
    assert!(out.contains("root: read-only\n"), "{out}");
    assert!(out.contains("tmp: writable\n"), "{out}");
    assert!(out.contains("uid: 1000\n"), "{out}");
}

/// Runs the fetch from fresh client pods (`<prefix>-1`, `-2`, ...) until its
/// outcome is `want` (`"body:"` or `"blocked:"`) and returns that output.
/// kube-router programs a policy, and a new pod's address in a policy's
/// sets, when it syncs them, so the first pods after a change may still see
/// the old state; the outcome must settle within the deadline.
async fn settles(client: &kube::Client, ns: &str, prefix: &str, role: &str, want: &str) -> String {
    let mut attempt = 0;
    poll(
        &format!("{prefix}: the fetch to be {want}"),
        DEADLINE,
        || {
            attempt += 1;
            let name = format!("{prefix}-{attempt}");
            async move {
                let out = run_script(
                    client,
                    ns,
                    &name,
                    json!({"role": role}),
                    &fetch_script("http://web/index.html"),
                )
                .await;
                out.starts_with(want).then_some(out)
            }
        },
    )
    .await
}

#[tokio::test]
async fn network_policy_is_enforced_on_ingress_and_egress() {
    let client = client().await;
    let ns = TempNamespace::create_on_real_node(&client, "node-netpol").await;
    web_server(&client, &ns.name).await;
    let before = settles(&client, &ns.name, "before", "client", "body:").await;
    assert!(
        before.starts_with("body: hello from"),
        "open before any policy: {before}"
    );

    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns.name);
    let only_allowed: NetworkPolicy = from_json(json!({
        "metadata": {"name": "web-ingress"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "allowed"}}}]}]
        }
    }));
    policies
        .create(&PostParams::default(), &only_allowed)
        .await
        .expect("create the ingress policy");
    let denied = settles(&client, &ns.name, "denied", "client", "blocked:").await;
    assert!(denied.starts_with("blocked:"), "{denied}");
    let allowed = settles(&client, &ns.name, "allowed", "allowed", "body:").await;
    assert!(
        allowed.starts_with("body: hello from"),
        "the allowed source gets through: {allowed}"
    );

    // Egress: a client whose policy allows DNS only cannot reach the server.
    let dns_only: NetworkPolicy = from_json(json!({
        "metadata": {"name": "egress-dns-only"},
        "spec": {
            "podSelector": {"matchLabels": {"role": "allowed"}},
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]
        }
    }));
    policies
        .create(&PostParams::default(), &dns_only)
        .await
        .expect("create the egress policy");
    let egress_denied = settles(&client, &ns.name, "egress", "allowed", "blocked:").await;
    assert!(egress_denied.starts_with("blocked:"), "{egress_denied}");
}
