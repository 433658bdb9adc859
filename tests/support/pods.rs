//! Pods of the real-node tests: containers that pass the `restricted` Pod
//! Security Standard, a web server behind a Service, and scripts run to
//! completion in their own pods.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, LogParams, PostParams};
use serde_json::{Value, json};

use super::{poll, real_node, restricted_security_context};

/// Pods on the real node start real processes: allow for the first start.
pub const POD_DEADLINE: Duration = Duration::from_secs(120);

pub fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("valid object literal")
}

pub fn python_image() -> String {
    std::env::var("TRACEVAL_PYTHON_IMAGE")
        .expect("TRACEVAL_PYTHON_IMAGE is not set: start the cluster with tests/cluster/up")
}

/// A container that passes the `restricted` standard: non-root uid 1000, no
/// privilege escalation, no capabilities, RuntimeDefault seccomp, read-only
/// root with an emptyDir at /tmp.
pub fn restricted_container(name: &str, command: Vec<&str>) -> Value {
    json!({
        "name": name,
        "image": python_image(),
        "imagePullPolicy": "Never",
        "command": command,
        "securityContext": restricted_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]
    })
}

pub fn pod(name: &str, labels: Value, restart: &str, container: Value) -> Pod {
    from_json(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
            "volumes": [{"name": "tmp", "emptyDir": {}}]
        }
    }))
}

/// A web server pod (python's http.server on 8080 serving a page that names
/// its namespace) behind the Service `web` on port 80.
pub async fn web_server(client: &kube::Client, ns: &str) {
    let script =
        "echo \"hello from $NS\" > /tmp/index.html && cd /tmp && exec python3 -m http.server 8080";
    let mut container = restricted_container("web", vec!["sh", "-c", script]);
    container["env"] = json!([{"name": "NS", "value": ns}]);
    container["ports"] = json!([{"containerPort": 8080}]);
    container["readinessProbe"] = json!({"tcpSocket": {"port": 8080}, "periodSeconds": 1});
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.create(
        &PostParams::default(),
        &pod("web", json!({"app": "web"}), "Always", container),
    )
    .await
    .expect("create the web pod (admitted under the restricted standard)");
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let service: Service = from_json(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
    }));
    services
        .create(&PostParams::default(), &service)
        .await
        .expect("create the web Service");
    poll(
        "the web pod to be Ready on the real node",
        POD_DEADLINE,
        || async {
            let p = pods.get("web").await.ok()?;
            let ready = p
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            ready.then_some(())
        },
    )
    .await;
}

/// Runs a Python script to completion in a pod on the real node and returns
/// its output (the pod must succeed).
pub async fn run_script(
    client: &kube::Client,
    ns: &str,
    name: &str,
    labels: Value,
    script: &str,
) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.create(
        &PostParams::default(),
        &pod(
            name,
            labels,
            "Never",
            restricted_container(name, vec!["python3", "-c", script]),
        ),
    )
    .await
    .expect("create the script pod");
    let phase = poll(&format!("pod {name} to finish"), POD_DEADLINE, || async {
        let phase = pods.get(name).await.ok()?.status?.phase?;
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    })
    .await;
    let logs = pods
        .logs(name, &LogParams::default())
        .await
        .expect("read the pod's log through the kubelet");
    let p = pods.get(name).await.expect("get pod");
    assert_eq!(
        p.spec.and_then(|s| s.node_name).as_deref(),
        Some(real_node().as_str()),
        "pod {name} ran on the real node"
    );
    assert_eq!(phase, "Succeeded", "pod {name} failed; its log:\n{logs}");
    logs
}

/// GETs `url` and prints the body, or `blocked` when four tries over about
/// twelve seconds all time out or are refused: a pod counts as blocked only
/// when it stays blocked, not for the moment after it starts, before the
/// firewall has synced its address.
pub fn fetch_script(url: &str) -> String {
    format!(
        r#"
import time, urllib.request
for attempt in range(4):
    try:
        print("body:", urllib.request.urlopen("{url}", timeout=2).read().decode().strip())
        break
    except OSError as e:
        error = e
        time.sleep(1)
else:
    print("blocked:", type(error).__name__, error)
"#
    )
}
