//! The EvaluationTask controller: runs the evaluator as a CronJob (online
//! batch) or a Job (single traces) under a per-task ServiceAccount, and
//! reports phase and conditions. Objects are built in
//! `resources::evaluation`; results are written by the evaluator itself
//! (see `evaluate::status`).

pub mod apply;
pub mod cleanup;
pub mod conditions;
pub mod dereference;
pub mod error;
pub mod metrics;
pub mod reconcile;
pub mod status;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::core::DeserializeGuard;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, ResourceExt};

use self::metrics::EvaluationMetrics;
use super::{Context, log_reconcile, scoped_api};
use crate::api::{EvaluationTask, TracedService};
use crate::resources::evaluation::EvaluationOptions;

pub use self::error::Error;

/// Shared state of the EvaluationTask reconciles.
pub struct EvaluationContext {
    /// Client, event recorder and failure counts, shared with the TracedService controller.
    pub shared: Arc<Context>,
    /// Builder settings.
    pub options: EvaluationOptions,
    /// Reconcile metrics and the task gauges.
    pub metrics: Arc<EvaluationMetrics>,
}

/// The EvaluationTask controller, watching one namespace or all: every child
/// kind is owned (drift and deletions trigger a reconcile), and a change of a
/// TracedService reconciles the tasks that target it.
pub fn controller(
    client: Client,
    namespace: Option<&str>,
) -> Controller<DeserializeGuard<EvaluationTask>> {
    let config = watcher::Config::default().any_semantic();
    let tasks: Api<DeserializeGuard<EvaluationTask>> = scoped_api(&client, namespace);
    let controller = Controller::new(tasks, config.clone())
        .trigger_backoff(crate::operator::watch_backoff::WatchBackoff::default());
    let store = controller.store();
    controller
        .owns(scoped_api::<CronJob>(&client, namespace), config.clone())
        .owns(scoped_api::<Job>(&client, namespace), config.clone())
        .owns(
            scoped_api::<ServiceAccount>(&client, namespace),
            config.clone(),
        )
        .owns(scoped_api::<Role>(&client, namespace), config.clone())
        .owns(
            scoped_api::<RoleBinding>(&client, namespace),
            config.clone(),
        )
        .watches(
            scoped_api::<TracedService>(&client, namespace),
            config,
            move |service: TracedService| {
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
        )
}

/// Runs `controller` until its shutdown trigger fires; its cache feeds the
/// task gauges of `/metrics`.
pub async fn drive(
    controller: Controller<DeserializeGuard<EvaluationTask>>,
    ctx: Arc<EvaluationContext>,
) {
    ctx.metrics.watch(controller.store());
    controller
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(log_reconcile)
        .await;
}
