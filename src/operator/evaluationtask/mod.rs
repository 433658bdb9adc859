//! The EvaluationTask controller: runs the evaluator as a CronJob (online
//! batch) or a Job (single traces) under a per-task ServiceAccount, and
//! reports phase and conditions. Objects are built in
//! `resources::evaluationtask`; results are written by the evaluator itself
//! (see `evaluate::cluster::status_writer`).

pub mod apply;
pub mod caches;
pub mod cleanup;
pub mod conditions;
pub mod dereference;
pub mod error;
pub mod metrics;
pub mod reconcile;
pub mod status;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::core::DeserializeGuard;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use self::caches::TaskCaches;
use self::metrics::EvaluationMetrics;
use super::stores::{Meta, Scoped, slim, watch_backoff};
use super::{Context, controller_config, log_reconcile, scoped_api};
use crate::api::{EvaluationTask, TracedService};
use crate::resources::evaluationtask::EvaluationOptions;

pub use self::error::Error;

/// State of the EvaluationTask reconciles: the shared part and this
/// controller's own settings, caches and metrics.
pub struct EvaluationContext {
    /// Client, event recorder, failure counts and what was seen after each
    /// apply, shared with the TracedService controller.
    pub shared: Arc<Context>,
    /// Builder settings.
    pub options: EvaluationOptions,
    /// Reconcile metrics and the task gauges.
    pub metrics: Arc<EvaluationMetrics>,
    /// The EvaluationTask controllers' children caches, per scope.
    pub task_caches: Scoped<TaskCaches>,
}

impl EvaluationContext {
    /// A context over `shared`.
    pub fn new(
        shared: Arc<Context>,
        options: EvaluationOptions,
        metrics: Arc<EvaluationMetrics>,
    ) -> Self {
        Self {
            shared,
            options,
            metrics,
            task_caches: Scoped::default(),
        }
    }

    /// The EvaluationTask children caches covering `namespace`, once listed.
    pub async fn task_caches(&self, namespace: &str) -> Option<Arc<TaskCaches>> {
        let caches = self.task_caches.get(namespace)?;
        caches.ready().await.then_some(caches)
    }
}

/// An EvaluationTask controller and the caches of its children.
pub struct TaskController {
    controller: Controller<DeserializeGuard<EvaluationTask>>,
    caches: Arc<TaskCaches>,
    namespace: Option<String>,
}

impl TaskController {
    /// Stops on SIGINT/SIGTERM.
    #[must_use]
    pub fn shutdown_on_signal(self) -> Self {
        Self {
            controller: self.controller.shutdown_on_signal(),
            ..self
        }
    }
}

/// The EvaluationTask controller, watching one namespace or all: every child
/// kind is owned (drift and deletions trigger a reconcile), and a
/// TracedService that appears, changes its spec or goes away reconciles the
/// tasks that target it (its status writes do not: tasks only need it to exist).
pub fn controller(client: Client, namespace: Option<&str>) -> TaskController {
    let config = watcher::Config::default().any_semantic();
    let (reader, writer) = reflector::store();
    let main = reflector(
        writer,
        watcher(
            scoped_api::<DeserializeGuard<EvaluationTask>>(&client, namespace),
            config.clone(),
        )
        .backoff(watch_backoff())
        .modify(|task: &mut DeserializeGuard<EvaluationTask>| slim(task.meta_mut())),
    )
    .applied_objects();
    let store = reader.clone();
    let (caches, triggers) = TaskCaches::watch(&client, namespace);
    let controller = Controller::for_stream(main, reader)
        .with_config(controller_config())
        // The merged trigger stream pauses on every watch error: with
        // kube's default that pause grows to ~50 s after an API server
        // restart (tests/reliability/faults.rs).
        .trigger_backoff(watch_backoff())
        .owns_stream(triggers.cronjobs)
        .owns_stream(triggers.jobs)
        .owns_stream(triggers.service_accounts)
        .owns_stream(triggers.roles)
        .owns_stream(triggers.role_bindings)
        .watches_stream(
            target_changes(scoped_api(&client, namespace), config),
            move |service: Meta<TracedService>| {
                let (namespace, name) = (service.namespace(), service.name_any());
                store
                    .state()
                    .into_iter()
                    .filter(|guard| {
                        guard.0.as_ref().is_ok_and(|task| {
                            task.namespace() == namespace
                                && task.spec.target.traced_service.as_deref() == Some(name.as_str())
                        })
                    })
                    .map(|guard| ObjectRef::from_obj(&*guard))
                    .collect::<Vec<_>>()
            },
        );
    TaskController {
        controller,
        caches,
        namespace: namespace.map(str::to_owned),
    }
}

/// TracedServices (metadata only, nothing cached but their generations)
/// when they appear, change generation or are deleted.
fn target_changes(
    api: Api<Meta<TracedService>>,
    config: watcher::Config,
) -> impl Stream<Item = Result<Meta<TracedService>, watcher::Error>> + Send + 'static {
    let mut generations: HashMap<(Option<String>, String), Option<i64>> = HashMap::new();
    watcher(api, config)
        .backoff(watch_backoff())
        .filter_map(move |event| {
            let changed = match event {
                Ok(watcher::Event::Apply(service) | watcher::Event::InitApply(service)) => {
                    let key = (service.namespace(), service.name_any());
                    let generation = service.metadata.generation;
                    (generations.insert(key, generation) != Some(generation)).then_some(Ok(service))
                }
                Ok(watcher::Event::Delete(service)) => {
                    generations.remove(&(service.namespace(), service.name_any()));
                    Some(Ok(service))
                }
                Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                Err(error) => Some(Err(error)),
            };
            futures::future::ready(changed)
        })
}

/// Runs `controller` until its shutdown trigger fires; its cache feeds the
/// task gauges of `/metrics`.
pub async fn drive(controller: TaskController, ctx: Arc<EvaluationContext>) {
    ctx.task_caches
        .register(controller.namespace.as_deref(), controller.caches.clone());
    let controller = controller.controller;
    ctx.metrics.watch(controller.store());
    controller
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(log_reconcile)
        .await;
}
