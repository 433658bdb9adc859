//! Server-side apply of the children (field manager `traceval`), identity
//! first so the pods find their ServiceAccount, then what the runs left
//! behind is observed: the Job's state and the recent runs' failures.

use std::collections::BTreeSet;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use crate::operator::Error as ApiError;
use crate::operator::apply::apply_namespaced;
use crate::resources::evaluation::{
    EvaluationChildren, ValidatedTask, Workload, children_selector,
};

/// Runs failing in a row before the task is Failed.
pub const FAILED_RUNS_THRESHOLD: usize = 3;

/// What apply found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    /// Name of the CronJob applied, if any.
    pub cronjob: Option<String>,
    /// Name of the Job applied, if any.
    pub job: Option<String>,
    /// A single-traces Job started (or finished).
    pub job_started: bool,
    /// Why the runs keep failing: the last failure, when the latest
    /// [`FAILED_RUNS_THRESHOLD`] runs all failed (or the single Job failed).
    pub failing: Option<String>,
}

/// Applies every child and observes the runs.
pub async fn apply(
    client: &Client,
    task: &ValidatedTask,
    children: EvaluationChildren,
) -> Result<Applied, ApiError> {
    let EvaluationChildren {
        service_account,
        role,
        role_binding,
        workload,
    } = children;
    apply_namespaced(client, &service_account).await?;
    apply_namespaced(client, &role).await?;
    apply_namespaced(client, &role_binding).await?;
    let mut applied = Applied::default();
    match workload {
        Workload::CronJob(cronjob) => {
            let cronjob: CronJob = apply_namespaced(client, cronjob.as_ref()).await?;
            applied.cronjob = Some(cronjob.name_any());
            applied.failing = failing_runs(client, task).await?;
        }
        Workload::Job(job) => {
            let job: Job = apply_namespaced(client, job.as_ref()).await?;
            let status = job.status.clone().unwrap_or_default();
            applied.job_started = status.start_time.is_some()
                || status.active.unwrap_or(0) > 0
                || status.succeeded.unwrap_or(0) > 0;
            applied.failing = failure(&job);
            applied.job = Some(job.name_any());
        }
    }
    Ok(applied)
}

/// The message of a Job's `Failed` condition, if it failed.
fn failure(job: &Job) -> Option<String> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find_map(|c| {
            (c.type_ == "Failed" && c.status == "True").then(|| {
                format!(
                    "evaluation Job {} failed: {} {}",
                    job.name_any(),
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default()
                )
                .trim_end()
                .to_owned()
            })
        })
}

/// The last failure when the latest finished runs of the CronJob all failed.
async fn failing_runs(client: &Client, task: &ValidatedTask) -> Result<Option<String>, ApiError> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), &task.namespace);
    let list = jobs
        .list(&ListParams::default().labels(&children_selector(&task.name)))
        .await
        .map_err(|source| ApiError::Dereference {
            kind: "Job",
            name: task.name.clone(),
            source,
        })?;
    Ok(latest_failures(list.items))
}

/// Of finished Jobs, newest first: the newest failure when the newest
/// [`FAILED_RUNS_THRESHOLD`] all failed.
pub fn latest_failures(mut jobs: Vec<Job>) -> Option<String> {
    let finished = |job: &Job| {
        job.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .flatten()
                .any(|c| (c.type_ == "Failed" || c.type_ == "Complete") && c.status == "True")
        })
    };
    jobs.retain(finished);
    jobs.sort_by_key(|j| std::cmp::Reverse(j.metadata.creation_timestamp.clone().map(|t| t.0)));
    let latest: Vec<Option<String>> = jobs
        .iter()
        .take(FAILED_RUNS_THRESHOLD)
        .map(failure)
        .collect();
    let all_failed = latest.len() == FAILED_RUNS_THRESHOLD && latest.iter().all(Option::is_some);
    all_failed
        .then(|| latest.into_iter().flatten().next())
        .flatten()
}

/// The names of the applied workload children, for cleanup.
pub fn wanted(applied: &Applied) -> (BTreeSet<String>, BTreeSet<String>) {
    (
        applied.cronjob.iter().cloned().collect(),
        applied.job.iter().cloned().collect(),
    )
}
