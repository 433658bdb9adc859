//! The operator: one controller per kind, each in its own folder
//! (`tracedservice/`, `evaluationtask/`) with its own pipeline steps, context
//! and metrics, and the machinery they share here: [`run`], the shared
//! [`Context`] (client, events, failure counts, what was seen after each
//! apply), error classes and retries, the watch caches ([`stores`]), drift,
//! leader election, the HTTP server and the metrics registry. Objects are
//! built in `resources`; nothing is built here.

pub mod apply;
pub mod args;
pub mod cleanup;
pub mod client_metrics;
pub mod conditions;
pub mod drift;
pub mod error;
pub mod evaluationtask;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod retry;
pub mod stores;
pub mod tracedservice;

#[cfg(test)]
mod drift_tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kube::runtime::controller;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client};
use thiserror::Error;

use crate::resources::evaluationtask::EvaluationOptions;
use crate::resources::meta::MANAGER;
use crate::resources::tracedservice::BuildOptions;

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

/// What the reconciles of both controllers share; each controller's own
/// part (settings, caches, metrics) is in its folder.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Publishes events.
    pub recorder: Recorder,
    /// Consecutive transient failures per object, for backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// What this process saw of each child after its own apply.
    pub seen_after_apply: drift::SeenAfterApply,
}

impl Context {
    /// A context for `client`; `instance` names this operator in events.
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: MANAGER.to_owned(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            failures: Mutex::new(HashMap::new()),
            seen_after_apply: drift::SeenAfterApply::default(),
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
    let service_metrics = Arc::new(tracedservice::metrics::ServiceMetrics::default());
    let evaluation_metrics = Arc::new(evaluationtask::metrics::EvaluationMetrics::new());
    let mut registry = metrics::Registry::default();
    registry.register_reconciles(
        &service_metrics.reconciles,
        "tracedservice",
        "TracedService",
    );
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
        metrics,
        ready: ready.clone(),
    };
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(config.http_addr, state, async {
        let _ = http_stopped.await;
    }));
    let namespaces = config.namespaces.clone();
    let shared = Arc::new(Context::new(client.clone(), config.instance));
    let ctx = Arc::new(tracedservice::ServiceContext::new(
        shared.clone(),
        config.options,
        config.trace_ui,
        service_metrics,
    ));
    let evaluation_ctx = Arc::new(evaluationtask::EvaluationContext::new(
        shared,
        config.evaluation,
        evaluation_metrics,
    ));
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
            tracedservice::drive(
                tracedservice::controller(client.clone(), None).shutdown_on_signal(),
                ctx,
            )
            .await;
        } else {
            tracing::info!(?namespaces, "watching TracedServices");
            futures::future::join_all(namespaces.iter().map(|ns| {
                tracedservice::drive(
                    tracedservice::controller(client.clone(), Some(ns)).shutdown_on_signal(),
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

/// Reconciles running at once per controller: as many as the API floor's
/// requests in flight (bench row 1), so a burst of N new objects does not
/// open N connections and time out Service IP allocation.
pub const CONCURRENCY: u16 = 32;
/// Trailing-edge debounce of reconcile requests: the watch events of one
/// reconcile's own writes (children, status) fold into one follow-up.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// The controller settings of both controllers.
pub fn controller_config() -> controller::Config {
    controller::Config::default()
        .concurrency(CONCURRENCY)
        .debounce(DEBOUNCE)
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
