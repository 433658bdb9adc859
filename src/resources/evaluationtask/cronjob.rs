//! The CronJob of an online batch task.

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::job::job_spec;
use super::validate::ValidatedTask;
use super::{EvaluationOptions, labels, names, object_meta};

/// A run that could not start within this many seconds of its time is
/// skipped (the next one covers its window).
pub const STARTING_DEADLINE_SECONDS: i64 = 300;
/// Finished Jobs kept, so `kubectl logs` shows recent runs.
pub const SUCCESSFUL_JOBS_HISTORY: i32 = 3;
/// Failed Jobs kept; the operator reads them to notice repeated failures.
pub const FAILED_JOBS_HISTORY: i32 = 3;

/// The CronJob: `concurrencyPolicy: Forbid` (runs of one task never overlap,
/// so the watermark has one writer), suspended when the task is stopped or done.
pub fn cronjob(
    task: &ValidatedTask,
    schedule: &str,
    suspend: bool,
    options: &EvaluationOptions,
) -> CronJob {
    CronJob {
        metadata: object_meta(task, names::cronjob_name(&task.name)),
        spec: Some(CronJobSpec {
            schedule: schedule.to_owned(),
            suspend: Some(suspend),
            concurrency_policy: Some("Forbid".to_owned()),
            starting_deadline_seconds: Some(STARTING_DEADLINE_SECONDS),
            successful_jobs_history_limit: Some(SUCCESSFUL_JOBS_HISTORY),
            failed_jobs_history_limit: Some(FAILED_JOBS_HISTORY),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(task)),
                    ..ObjectMeta::default()
                }),
                spec: Some(job_spec(task, options)),
            },
            ..CronJobSpec::default()
        }),
        status: None,
    }
}
