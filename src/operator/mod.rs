//! The TracedService controller: watches, reconciles and reports status.
//! Objects are built in `resources`; nothing is built here.

pub mod apply;
pub mod caches;
pub mod cleanup;
pub mod client_metrics;
pub mod conditions;
pub mod dereference;
pub mod drift;
pub mod error;
pub mod evaluationtask;
pub mod finalizer;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod status;
pub mod stores;
pub mod watch_backoff;

#[cfg(test)]
mod cached_tests;
#[cfg(test)]
mod drift_tests;
#[cfg(test)]
mod mock_tests;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use kube::core::DeserializeGuard;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, WatchStreamExt, controller, reflector, watcher};
use kube::{Api, Client, Resource};
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
    /// What this process saw of each child after its own apply.
    pub ledger: drift::Ledger,
    /// The TracedService controllers' children caches, per scope.
    pub service_caches: stores::Scoped<caches::ServiceCaches>,
    /// The EvaluationTask controllers' children caches, per scope.
    pub task_caches: stores::Scoped<caches::TaskCaches>,
    /// TracedServices whose (unwatched) volumes this process has checked.
    volumes_checked: Mutex<HashSet<String>>,
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
            ledger: drift::Ledger::default(),
            service_caches: stores::Scoped::default(),
            task_caches: stores::Scoped::default(),
            volumes_checked: Mutex::new(HashSet::new()),
        }
    }

    /// The TracedService children caches covering `namespace`, once they
    /// have listed; `None` without a watching controller (then every child
    /// is applied and cleanup lists).
    pub async fn service_caches(&self, namespace: &str) -> Option<Arc<caches::ServiceCaches>> {
        let caches = self.service_caches.get(namespace)?;
        caches.ready().await.then_some(caches)
    }

    /// The EvaluationTask children caches covering `namespace`, once listed.
    pub async fn task_caches(&self, namespace: &str) -> Option<Arc<caches::TaskCaches>> {
        let caches = self.task_caches.get(namespace)?;
        caches.ready().await.then_some(caches)
    }

    /// Whether this is the first time this process checks the volumes of `key`.
    pub fn first_volume_check(&self, key: &str) -> bool {
        self.volumes_checked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned())
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

/// A TracedService controller and the caches of its children.
pub struct ServiceController {
    controller: Controller<DeserializeGuard<TracedService>>,
    caches: Arc<caches::ServiceCaches>,
    namespace: Option<String>,
}

impl ServiceController {
    /// Stops on SIGINT/SIGTERM.
    #[must_use]
    pub fn shutdown_on_signal(self) -> Self {
        Self {
            controller: self.controller.shutdown_on_signal(),
            ..self
        }
    }
}

/// The TracedService controller, watching one namespace or all, with every
/// child kind owned (metadata-only or slimmed caches) so drift and deletions
/// of children trigger a reconcile.
pub fn controller(client: Client, namespace: Option<&str>) -> ServiceController {
    let config = watcher::Config::default().any_semantic();
    let (reader, writer) = reflector::store();
    let main = reflector(
        writer,
        watcher(
            scoped_api::<DeserializeGuard<TracedService>>(&client, namespace),
            config,
        )
        .backoff(crate::operator::watch_backoff::WatchBackoff::default())
        .modify(|ts: &mut DeserializeGuard<TracedService>| stores::slim(ts.meta_mut())),
    )
    .applied_objects();
    let (caches, triggers) = caches::ServiceCaches::watch(&client, namespace);
    let controller = Controller::for_stream(main, reader)
        .with_config(controller_config())
        // The merged trigger stream pauses on every watch error: with
        // kube's default that pause grows to ~50 s after an API server
        // restart (tests/reliability/faults.rs).
        .trigger_backoff(crate::operator::watch_backoff::WatchBackoff::default())
        .owns_stream(triggers.deployments)
        .owns_stream(triggers.services)
        .owns_stream(triggers.network_policies)
        .owns_stream(triggers.claims);
    ServiceController {
        controller,
        caches,
        namespace: namespace.map(str::to_owned),
    }
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

/// Runs `controller` until its shutdown trigger fires; its caches serve
/// the reconciles of its scope.
pub async fn drive(controller: ServiceController, ctx: Arc<Context>) {
    ctx.service_caches
        .register(controller.namespace.as_deref(), controller.caches.clone());
    controller
        .controller
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
