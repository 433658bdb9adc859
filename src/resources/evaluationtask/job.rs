//! The Job of a single-traces task, and the Job spec CronJob runs share.

use k8s_openapi::api::batch::v1::{Job, JobSpec};

use super::pod::pod_template;
use super::validate::ValidatedTask;
use super::{EvaluationOptions, names, object_meta};
use crate::api::hash::short_hash;

/// Attempts of a run after its first pod failed. A rerun continues from the
/// recorded progress, so retrying is safe.
pub const BACKOFF_LIMIT: i32 = 2;
/// A run taking longer is stopped, so a hung run cannot block the schedule.
pub const ACTIVE_DEADLINE_SECONDS: i64 = 3600;

/// The spec of one evaluation run.
pub fn job_spec(task: &ValidatedTask, options: &EvaluationOptions) -> JobSpec {
    JobSpec {
        backoff_limit: Some(BACKOFF_LIMIT),
        active_deadline_seconds: Some(ACTIVE_DEADLINE_SECONDS),
        template: pod_template(task, options),
        ..JobSpec::default()
    }
}

/// The Job of a single-traces task. Its pod template is immutable, so its
/// name carries a hash of the template and of the spec: an edit makes a new
/// Job (the old one is cleaned up) instead of a failed apply.
pub fn job(task: &ValidatedTask, options: &EvaluationOptions) -> Job {
    let mut spec = job_spec(task, options);
    spec.suspend = Some(task.suspend);
    // Serialising a plain struct cannot fail.
    let template = serde_json::to_vec(&spec.template).unwrap_or_default();
    let run_hash = short_hash(
        format!("{}{}", task.spec_hash, String::from_utf8_lossy(&template)).as_bytes(),
        4,
    );
    Job {
        metadata: object_meta(task, names::job_name(&task.name, &run_hash)),
        spec: Some(spec),
        status: None,
    }
}
