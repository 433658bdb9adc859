//! The TracedService controller: watches TracedServices and their children,
//! reconciles them as a pipeline of steps (`dereference → validate → build →
//! apply → cleanup → update_status`) and reports status. Objects are built in
//! `resources::tracedservice`; nothing is built here.

pub mod apply;
pub mod caches;
pub mod cleanup;
pub mod conditions;
pub mod dereference;
pub mod finalizer;
pub mod metrics;
pub mod pod_failures;
pub mod reconcile;
pub mod status;

#[cfg(test)]
mod cached_tests;
#[cfg(test)]
mod mock_tests;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use kube::core::DeserializeGuard;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Client, Resource};

use self::caches::ServiceCaches;
use self::metrics::ServiceMetrics;
use super::stores::watch_backoff;
use super::{Context, controller_config, log_reconcile, scoped_api, stores};
use crate::api::TracedService;
use crate::resources::tracedservice::BuildOptions;

/// State of the TracedService reconciles: the shared part and this
/// controller's own settings, caches and metrics.
pub struct ServiceContext {
    /// Client, event recorder, failure counts and what was seen after each
    /// apply, shared with the EvaluationTask controller.
    pub shared: Arc<Context>,
    /// Builder settings.
    pub options: BuildOptions,
    /// Trace UI link template.
    pub trace_ui: Option<String>,
    /// Reconcile metrics.
    pub metrics: Arc<ServiceMetrics>,
    /// The TracedService controllers' children caches, per scope.
    pub service_caches: stores::Scoped<ServiceCaches>,
    /// TracedServices whose (unwatched) volumes this process has checked.
    volumes_checked: Mutex<HashSet<String>>,
}

impl ServiceContext {
    /// A context over `shared`.
    pub fn new(
        shared: Arc<Context>,
        options: BuildOptions,
        trace_ui: Option<String>,
        metrics: Arc<ServiceMetrics>,
    ) -> Self {
        Self {
            shared,
            options,
            trace_ui,
            metrics,
            service_caches: stores::Scoped::default(),
            volumes_checked: Mutex::new(HashSet::new()),
        }
    }

    /// The TracedService children caches covering `namespace`, once they
    /// have listed; `None` without a watching controller (then every child
    /// is applied and cleanup lists).
    pub async fn service_caches(&self, namespace: &str) -> Option<Arc<ServiceCaches>> {
        let caches = self.service_caches.get(namespace)?;
        caches.ready().await.then_some(caches)
    }

    /// Whether this is the first time this process checks the volumes of `key`.
    pub fn first_volume_check(&self, key: &str) -> bool {
        self.volumes_checked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned())
    }
}

/// A TracedService controller and the caches of its children.
pub struct ServiceController {
    controller: Controller<DeserializeGuard<TracedService>>,
    caches: Arc<ServiceCaches>,
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
        .backoff(watch_backoff())
        .modify(|ts: &mut DeserializeGuard<TracedService>| stores::slim(ts.meta_mut())),
    )
    .applied_objects();
    let (caches, triggers) = ServiceCaches::watch(&client, namespace);
    let controller = Controller::for_stream(main, reader)
        .with_config(controller_config())
        // The merged trigger stream pauses on every watch error: with
        // kube's default that pause grows to ~50 s after an API server
        // restart (tests/reliability/faults.rs).
        .trigger_backoff(watch_backoff())
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

/// Runs `controller` until its shutdown trigger fires; its caches serve
/// the reconciles of its scope.
pub async fn drive(controller: ServiceController, ctx: Arc<ServiceContext>) {
    ctx.service_caches
        .register(controller.namespace.as_deref(), controller.caches.clone());
    controller
        .controller
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(log_reconcile)
        .await;
}
