//! Server-side apply of the children (field manager `traceval`), identity
//! first so the pods find their ServiceAccount, then what the runs left
//! behind is observed: the Job's state and the recent runs' failures.

use std::collections::BTreeSet;

use k8s_openapi::api::batch::v1::Job;
use kube::api::ListParams;
use kube::{Api, Client, Resource, ResourceExt};

use super::caches::TaskCaches;
use crate::operator::Error as ApiError;
use crate::operator::apply::{apply_if_needed, apply_or_cached};
use crate::operator::drift::{Cached, SeenAfterApply};
use crate::operator::stores::cached;
use crate::resources::evaluationtask::{
    EVALUATIONTASK_LABEL, EvaluationChildren, ValidatedTask, Workload, children_selector,
};
use crate::resources::meta::{MANAGED_BY_LABEL, MANAGER};

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

/// The cached child of `$field` named like `$object`, as [`Cached`] metadata,
/// applied when needed; counts the write.
macro_rules! apply_cached_meta {
    ($client:expr, $seen_after_apply:expr, $caches:expr, $field:ident, $object:expr, $writes:expr) => {{
        let object = $object;
        let current = $caches.and_then(|c| {
            cached(
                &c.$field,
                &object.namespace().unwrap_or_default(),
                &object.name_any(),
            )
        });
        let cached = current.as_deref().map(|c| Cached {
            meta: &c.metadata,
            fields_differ: false,
        });
        let stored = apply_if_needed(
            $client,
            $seen_after_apply,
            object,
            cached,
            $caches.is_some(),
        )
        .await?;
        $writes += usize::from(stored.is_some());
    }};
}

/// Applies every child that needs it (all without `caches`) and observes
/// the runs; returns what was found and how many children were written.
pub async fn apply(
    client: &Client,
    seen_after_apply: &SeenAfterApply,
    caches: Option<&TaskCaches>,
    task: &ValidatedTask,
    children: EvaluationChildren,
) -> Result<(Applied, usize), ApiError> {
    let EvaluationChildren {
        service_account,
        role,
        role_binding,
        workload,
    } = children;
    let mut writes = 0;
    apply_cached_meta!(
        client,
        seen_after_apply,
        caches,
        service_accounts,
        service_account,
        writes
    );
    apply_cached_meta!(client, seen_after_apply, caches, roles, role, writes);
    apply_cached_meta!(
        client,
        seen_after_apply,
        caches,
        role_bindings,
        role_binding,
        writes
    );
    let mut applied = Applied::default();
    match workload {
        Workload::CronJob(cronjob) => {
            applied.cronjob = Some(cronjob.name_any());
            apply_cached_meta!(client, seen_after_apply, caches, cronjobs, *cronjob, writes);
            applied.failing = match caches {
                Some(caches) => Ok(cached_failing_runs(caches, task)),
                None => failing_runs(client, task).await,
            }?;
        }
        Workload::Job(job) => {
            let current = caches.and_then(|c| cached(&c.jobs, &task.namespace, &job.name_any()));
            let (job, written) = apply_or_cached(
                client,
                seen_after_apply,
                *job,
                current,
                false,
                caches.is_some(),
            )
            .await?;
            writes += usize::from(written);
            let status = job.status.clone().unwrap_or_default();
            applied.job_started = status.start_time.is_some()
                || status.active.unwrap_or(0) > 0
                || status.succeeded.unwrap_or(0) > 0;
            applied.failing = failure(&job);
            applied.job = Some(job.name_any());
        }
    }
    Ok((applied, writes))
}

/// [`failing_runs`] from the Job cache instead of a list.
fn cached_failing_runs(caches: &TaskCaches, task: &ValidatedTask) -> Option<String> {
    let label = crate::resources::evaluationtask::names::label_value(&task.name);
    let jobs = caches.jobs.state_filter(|job| {
        let labels = job.meta().labels.as_ref();
        job.namespace().as_deref() == Some(task.namespace.as_str())
            && labels
                .and_then(|l| l.get(MANAGED_BY_LABEL))
                .map(String::as_str)
                == Some(MANAGER)
            && labels.and_then(|l| l.get(EVALUATIONTASK_LABEL)) == Some(&label)
    });
    latest_failures(jobs.iter().map(|job| Job::clone(job)).collect())
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
