//! Shared helpers of the integration tests that run against the real local
//! control plane started by `tests/cluster/up` (KUBECONFIG must point at it).
#![allow(dead_code)] // each test binary uses a different subset

pub mod operator;
pub mod operator_proc;
pub mod procs;

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

impl TempNamespace {
    pub async fn create(client: &Client, prefix: &str) -> Self {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let mut ns = Namespace::default();
        ns.metadata.generate_name = Some(format!("{prefix}-"));
        ns.metadata.labels = Some([("traceval.dev/test".to_string(), "true".to_string())].into());
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
