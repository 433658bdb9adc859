//! Deletes workloads the spec no longer wants: the CronJob after a switch to
//! single traces, the Job after a switch to online batch, and the Job of a
//! previous version of a single-traces spec. The CronJob's own Jobs are
//! controlled by the CronJob, so they are left to its history limits.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::Client;

use super::apply::{Applied, wanted};
use super::caches::TaskCaches;
use crate::api::EvaluationTask;
use crate::operator::Error as ApiError;
use crate::operator::cleanup::{delete_unwanted, generation_changed};
use crate::operator::stores::has_unwanted;
use crate::resources::evaluationtask::{ValidatedTask, children_selector};

/// Deletes unwanted workloads; returns `Kind/name` of each one deleted.
pub async fn cleanup(
    client: &Client,
    task: &ValidatedTask,
    applied: &Applied,
) -> Result<Vec<String>, ApiError> {
    let (cronjobs, jobs) = wanted(applied);
    let selector = children_selector(&task.name);
    let uid = &task.owner.uid;
    let mut deleted =
        delete_unwanted::<CronJob>(client, &task.namespace, &selector, uid, &cronjobs).await?;
    deleted.extend(delete_unwanted::<Job>(client, &task.namespace, &selector, uid, &jobs).await?);
    Ok(deleted)
}

/// Whether cleanup must list: without caches, when the spec changed since
/// the last finished reconcile, or when the caches show a controlled
/// workload that is not wanted.
pub fn cleanup_needed(
    task: &EvaluationTask,
    validated: &ValidatedTask,
    caches: Option<&TaskCaches>,
    applied: &Applied,
) -> bool {
    let Some(caches) = caches else {
        return true;
    };
    let observed = task.status.as_ref().and_then(|s| s.observed_generation);
    if generation_changed(task.metadata.generation, observed) {
        return true;
    }
    let (cronjobs, jobs) = wanted(applied);
    let (namespace, uid) = (validated.namespace.as_str(), validated.owner.uid.as_str());
    has_unwanted(&caches.cronjobs, namespace, uid, |n| cronjobs.contains(n))
        || has_unwanted(&caches.jobs, namespace, uid, |n| jobs.contains(n))
}
