//! The TracedService controller: watches, reconciles and reports status.
//! Objects are built in `resources`; nothing is built here.

pub mod apply;
pub mod cleanup;
pub mod client_metrics;
pub mod conditions;
pub mod dereference;
pub mod error;
pub mod evaluationtask;
pub mod finalizer;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod status;
pub mod watch_backoff;

#[cfg(test)]
mod mock_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::core::DeserializeGuard;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client};
use thiserror::Error;

use crate::api::TracedService;
use crate::resources::BuildOptions;
use crate::resources::evaluation::EvaluationOptions;
use crate::resources::meta::MANAGER;

pub use self::error::{Error, ErrorClass};

/// Settings of `traceval operator`.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// Address of the `/metrics`, `/healthz` and `/readyz` server.
    pub http_addr: SocketAddr,
    /// Builder settings.
    pub options: BuildOptions,
    /// Trace UI link template with `{service}`, `{namespace}`, `{name}`.
    pub trace_ui: Option<String>,
    /// Name of this operator instance in events (the pod name).
    pub instance: Option<String>,
    /// Namespaces to watch; all when empty.
    pub namespaces: Vec<String>,
    /// Lease to elect a leader through; no election when `None`.
    pub leader_election: Option<leader::LeaseConfig>,
    /// Settings of the EvaluationTask builders (evaluator image, defaults).
    pub evaluation: EvaluationOptions,
}

/// Shared state of the reconciles.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Publishes events.
    pub recorder: Recorder,
    /// Builder settings.
    pub options: BuildOptions,
    /// Trace UI link template.
    pub trace_ui: Option<String>,
    /// Reconcile metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Consecutive transient failures per object, for backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context for `client`.
    pub fn new(
        client: Client,
        options: BuildOptions,
        trace_ui: Option<String>,
        instance: Option<String>,
        metrics: Arc<metrics::Metrics>,
    ) -> Self {
        let reporter = Reporter {
            controller: MANAGER.to_owned(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            options,
            trace_ui,
            metrics,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a transient failure of `key` and returns how many in a row.
    pub fn record_failure(&self, key: &str) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let count = failures.entry(key.to_owned()).or_insert(0);
        *count = count.saturating_add(1);
        *count
    }

    /// Resets the failure count of `key` after a success.
    pub fn forget_failures(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

/// Why the operator stopped.
#[derive(Debug, Error)]
pub enum RunError {
    /// No usable kubeconfig or in-cluster config.
    #[error("cannot create a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// The HTTP server failed.
    #[error("the /metrics and /healthz server failed: {0}")]
    Http(#[source] std::io::Error),
    /// Another replica took the Lease, or it could not be renewed in time.
    #[error("lost leadership; exiting so that a fresh replica can take over")]
    LostLeadership,
}

/// Runs the controller and the HTTP server until SIGINT/SIGTERM.
pub async fn run(config: OperatorConfig) -> Result<(), RunError> {
    let requests = client_metrics::ClientMetrics::default();
    let client = client_metrics::client(&requests)
        .await
        .map_err(RunError::Client)?;
    let evaluation_metrics = Arc::new(evaluationtask::metrics::EvaluationMetrics::new());
    let mut registry = metrics::Metrics::default();
    registry.register_reconciles(
        &evaluation_metrics.reconciles,
        "evaluationtask",
        "EvaluationTask",
    );
    registry.register_collector(Box::new(evaluation_metrics.clone()));
    registry.register_collector(Box::new(requests));
    let metrics = Arc::new(registry);
    let ready = Arc::new(AtomicBool::new(false));
    let state = http::HttpState {
        metrics: metrics.clone(),
        ready: ready.clone(),
    };
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(config.http_addr, state, async {
        let _ = http_stopped.await;
    }));
    let namespaces = config.namespaces.clone();
    let ctx = Arc::new(Context::new(
        client.clone(),
        config.options,
        config.trace_ui,
        config.instance,
        metrics,
    ));
    let evaluation_ctx = Arc::new(evaluationtask::EvaluationContext {
        shared: ctx.clone(),
        options: config.evaluation,
        metrics: evaluation_metrics,
    });
    ready.store(true, Ordering::Relaxed);
    let evaluation_controllers = async {
        let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
            vec![None]
        } else {
            namespaces.iter().map(|ns| Some(ns.as_str())).collect()
        };
        futures::future::join_all(scopes.into_iter().map(|ns| {
            evaluationtask::drive(
                evaluationtask::controller(client.clone(), ns).shutdown_on_signal(),
                evaluation_ctx.clone(),
            )
        }))
        .await;
    };
    let service_controllers = async {
        if namespaces.is_empty() {
            tracing::info!("watching TracedServices in all namespaces");
            drive(controller(client.clone(), None).shutdown_on_signal(), ctx).await;
        } else {
            tracing::info!(?namespaces, "watching TracedServices");
            futures::future::join_all(namespaces.iter().map(|ns| {
                drive(
                    controller(client.clone(), Some(ns)).shutdown_on_signal(),
                    ctx.clone(),
                )
            }))
            .await;
        }
    };
    let controllers = async {
        futures::future::join(service_controllers, evaluation_controllers).await;
    };
    let result = match config.leader_election {
        None => {
            controllers.await;
            Ok(())
        }
        Some(lease) => {
            let elector = leader::LeaderElector::new(client.clone(), lease);
            tokio::select! {
                () = elector.acquire() => {
                    tokio::select! {
                        () = controllers => {
                            elector.release().await;
                            Ok(())
                        }
                        () = elector.hold() => Err(RunError::LostLeadership),
                    }
                }
                () = shutdown_signal() => Ok(()),
            }
        }
    };
    tracing::info!("controller stopped");
    let _ = stop_http.send(());
    result?;
    match server.await {
        Ok(result) => result.map_err(RunError::Http),
        Err(join) => Err(RunError::Http(std::io::Error::other(join))),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// The TracedService controller, watching one namespace or all, with every
/// child kind owned so drift and deletions of children trigger a reconcile.
pub fn controller(
    client: Client,
    namespace: Option<&str>,
) -> Controller<DeserializeGuard<TracedService>> {
    let config = watcher::Config::default().any_semantic();
    let services: Api<DeserializeGuard<TracedService>> = scoped_api(&client, namespace);
    Controller::new(services, config.clone())
        .trigger_backoff(watch_backoff::WatchBackoff::default())
        .owns(scoped_api::<Deployment>(&client, namespace), config.clone())
        .owns(scoped_api::<Service>(&client, namespace), config.clone())
        .owns(
            scoped_api::<NetworkPolicy>(&client, namespace),
            config.clone(),
        )
        .owns(
            scoped_api::<PersistentVolumeClaim>(&client, namespace),
            config,
        )
}

/// An API of namespaced objects in `namespace`, or in all namespaces.
pub fn scoped_api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs `controller` until its shutdown trigger fires.
pub async fn drive(controller: Controller<DeserializeGuard<TracedService>>, ctx: Arc<Context>) {
    controller
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(log_reconcile)
        .await;
}

/// Logs the outcome of one reconcile; failures are logged (and retried)
/// by the error policies, so this is debug output.
pub async fn log_reconcile<T: std::fmt::Display, A, E: std::fmt::Display>(
    result: Result<(T, A), E>,
) {
    match result {
        Ok((object, _)) => tracing::debug!(%object, "reconciled"),
        Err(error) => tracing::debug!(%error, "reconcile failed"),
    }
}
