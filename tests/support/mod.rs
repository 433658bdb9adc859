//! Shared helpers of the integration tests that run against the real local
//! control plane started by `tests/cluster/up` (KUBECONFIG must point at it).
#![allow(dead_code)] // each test binary uses a different subset

pub mod operator;
pub mod operator_proc;
pub mod pods;
pub mod procs;
pub mod s3;

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, Config};

/// How long a test waits for the cluster to converge before it fails.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// A client for the cluster in `KUBECONFIG`. Fails the test with a clear
/// message when the cluster is not up: these tests never skip silently.
pub async fn client() -> Client {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG is not set: start the local cluster with `eval \"$(tests/cluster/up)\"`"
    );
    let config = Config::infer().await.expect("kubeconfig from KUBECONFIG");
    Client::try_from(config).expect("kube client")
}

/// Polls `check` every 200 ms until it returns `Some`, or panics with `what`
/// after `deadline`. This is the only way tests wait: never a bare sleep.
pub async fn poll<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A throw-away namespace, deleted (without waiting) when dropped, also
/// when the test panics. Creation waits for its `default` ServiceAccount, so
/// pods can be created right away.
pub struct TempNamespace {
    pub name: String,
}

/// A container `securityContext` that passes the `restricted` Pod Security
/// Standard: non-root uid 1000, no privilege escalation, no capabilities,
/// RuntimeDefault seccomp, read-only root.
pub fn restricted_security_context() -> serde_json::Value {
    serde_json::json!({
        "runAsNonRoot": true,
        "runAsUser": 1000,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"}
    })
}

/// Name of the real node (`tests/cluster/up` exports it). Fails the test
/// when the cluster was started without it.
pub fn real_node() -> String {
    std::env::var("TRACEVAL_NODE_NAME").expect(
        "TRACEVAL_NODE_NAME is not set: this test needs the real node; start the cluster with `eval \"$(tests/cluster/up)\"` (TRACEVAL_REAL_NODE=1, the default)",
    )
}

/// The operator/evaluator image of this test binary's `traceval`, built
/// and imported into the real node by `tests/cluster/image` (once per build
/// of the binary; seconds when it is there already).
pub fn traceval_image() -> String {
    real_node();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cluster/image");
    let out = std::process::Command::new(script)
        .arg(env!("CARGO_BIN_EXE_traceval"))
        .output()
        .expect("run tests/cluster/image");
    assert!(
        out.status.success(),
        "tests/cluster/image failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 image name")
        .trim()
        .to_owned()
}

impl TempNamespace {
    pub async fn create(client: &Client, prefix: &str) -> Self {
        Self::create_with(client, prefix, [].into(), [].into()).await
    }

    /// A namespace whose pods run on the real node (the PodNodeSelector
    /// annotation `tests/cluster/up` documents) under the `restricted` Pod
    /// Security Standard, so the real admission plugin checks every pod.
    pub async fn create_on_real_node(client: &Client, prefix: &str) -> Self {
        real_node();
        let labels = [(
            "pod-security.kubernetes.io/enforce".to_string(),
            "restricted".to_string(),
        )];
        let annotations = [(
            "scheduler.alpha.kubernetes.io/node-selector".to_string(),
            "traceval.dev/node=real".to_string(),
        )];
        Self::create_with(client, prefix, labels.into(), annotations.into()).await
    }

    async fn create_with(
        client: &Client,
        prefix: &str,
        mut labels: std::collections::BTreeMap<String, String>,
        annotations: std::collections::BTreeMap<String, String>,
    ) -> Self {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let mut ns = Namespace::default();
        ns.metadata.generate_name = Some(format!("{prefix}-"));
        labels.insert("traceval.dev/test".to_string(), "true".to_string());
        ns.metadata.labels = Some(labels);
        ns.metadata.annotations = (!annotations.is_empty()).then_some(annotations);
        let created = namespaces
            .create(&PostParams::default(), &ns)
            .await
            .expect("create test namespace");
        let name = created.metadata.name.expect("generated namespace name");
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
        poll("the default ServiceAccount", DEADLINE, || async {
            accounts.get_opt("default").await.ok().flatten()
        })
        .await;
        TempNamespace { name }
    }
}

impl Drop for TempNamespace {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop cannot await; delete from a short-lived runtime on its own thread.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async move {
                    if let Ok(config) = Config::infer().await
                        && let Ok(client) = Client::try_from(config)
                    {
                        let api: Api<Namespace> = Api::all(client);
                        let _ = api.delete(&name, &DeleteParams::background()).await;
                    }
                });
            }
        });
        let _ = done.join();
    }
}
