//! Pure builders of an EvaluationTask's children: the evaluator's
//! ServiceAccount, Role and RoleBinding, and its CronJob (online batch) or
//! Job (single traces). No I/O here.

pub mod cronjob;
pub mod job;
pub mod names;
pub mod pod;
pub mod rbac;
pub mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub use self::validate::{InvalidTask, Mode, ValidatedTask, validate, validate_with};
use super::meta::{MANAGED_BY_LABEL, MANAGER, owned_object_meta};
use crate::api::evaluationtask::JudgeProvider;

/// Label naming the EvaluationTask a child belongs to (length-bounded, see [`names::label_value`]).
pub const EVALUATIONTASK_LABEL: &str = "traceval.dev/evaluationtask";
/// Standard component label; `evaluator` on every child of an EvaluationTask.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// Value of [`COMPONENT_LABEL`].
pub const COMPONENT: &str = "evaluator";
/// Default evaluator image: the operator's own image, as the Helm chart names it.
pub const DEFAULT_EVALUATOR_IMAGE: &str = concat!("traceval:", env!("CARGO_PKG_VERSION"));

/// Cluster-wide settings of the evaluation builders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvaluationOptions {
    /// Image holding the `traceval` binary the evaluation pods run.
    pub image: String,
    /// Jaeger query URL for tasks whose spec names no `traceSource`.
    pub trace_query_url: Option<String>,
    /// OTLP/HTTP endpoint for evaluation spans, overriding the one the
    /// evaluator would inherit from the target TracedService.
    pub otlp_endpoint: Option<String>,
    /// The operator's default trace endpoint (`--default-trace-endpoint`),
    /// passed to the evaluator: a target TracedService that names no
    /// endpoint exports there, and so do the evaluation spans.
    pub default_trace_endpoint: Option<String>,
    /// Judge preset of tasks whose `spec.judge` names no provider
    /// (`--default-judge-preset`); applied by [`validate_with`].
    pub default_judge_preset: Option<JudgeProvider>,
}

impl Default for EvaluationOptions {
    fn default() -> Self {
        Self {
            image: DEFAULT_EVALUATOR_IMAGE.to_owned(),
            trace_query_url: None,
            otlp_endpoint: None,
            default_trace_endpoint: None,
            default_judge_preset: None,
        }
    }
}

/// How the evaluation runs: on a schedule or once.
#[derive(Clone, Debug, PartialEq)]
pub enum Workload {
    /// Online batch.
    CronJob(Box<CronJob>),
    /// Single traces.
    Job(Box<Job>),
}

/// Every child of one EvaluationTask. The apply step destructures it without
/// `..`, so a new kind here that is not applied fails to compile.
#[derive(Clone, Debug, PartialEq)]
pub struct EvaluationChildren {
    /// The identity of the evaluation pods.
    pub service_account: ServiceAccount,
    /// What that identity may do: read its task and target, write its status.
    pub role: Role,
    /// Grants the Role to the ServiceAccount.
    pub role_binding: RoleBinding,
    /// The CronJob or Job.
    pub workload: Workload,
}

/// Builds every child. `completed`: the sampling window is done, so an
/// online task's CronJob is applied suspended.
pub fn build(
    task: &ValidatedTask,
    completed: bool,
    options: &EvaluationOptions,
) -> EvaluationChildren {
    let workload = match &task.mode {
        Mode::Online { schedule, .. } => Workload::CronJob(Box::new(cronjob::cronjob(
            task,
            schedule,
            task.suspend || completed,
            options,
        ))),
        Mode::Single { .. } => Workload::Job(Box::new(job::job(task, options))),
    };
    EvaluationChildren {
        service_account: rbac::service_account(task),
        role: rbac::role(task),
        role_binding: rbac::role_binding(task),
        workload,
    }
}

/// Labels every child (and every evaluation pod) carries.
pub fn labels(task: &ValidatedTask) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned()),
        (COMPONENT_LABEL.to_owned(), COMPONENT.to_owned()),
        (
            EVALUATIONTASK_LABEL.to_owned(),
            names::label_value(&task.name),
        ),
    ])
}

/// Label selector string that finds every child of an EvaluationTask.
pub fn children_selector(task_name: &str) -> String {
    format!(
        "{MANAGED_BY_LABEL}={MANAGER},{EVALUATIONTASK_LABEL}={}",
        names::label_value(task_name)
    )
}

/// Metadata of a child: name, namespace, labels and the controller owner reference.
pub fn object_meta(task: &ValidatedTask, name: impl Into<String>) -> ObjectMeta {
    owned_object_meta(name, &task.namespace, labels(task), &task.owner)
}
