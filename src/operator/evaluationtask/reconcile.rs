//! One reconcile of an EvaluationTask, as a pipeline of named steps:
//! validate → dereference → build → apply → cleanup → update_status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;

use super::EvaluationContext;
use super::apply::apply;
use super::cleanup::{cleanup, cleanup_needed};
use super::conditions::{Observation, completed};
use super::dereference::dereference;
use super::error::Error;
use super::status::{desired_status, publish, update_status};
use crate::api::EvaluationTask;
use crate::operator::cleanup::cleanup_event;
use crate::operator::retry::retry_action;
use crate::resources::evaluationtask::{Mode, ValidatedTask, build, validate_with};

/// Periodic resync; watches (the task, its children, its target) drive the rest.
const RESYNC: Duration = Duration::from_secs(300);
/// How often a missing target or judge secret is checked again.
pub const DEPENDENCY_RECHECK: Duration = Duration::from_secs(15);

/// Reconciles one EvaluationTask (or reports one that cannot be read).
pub async fn reconcile(
    object: Arc<DeserializeGuard<EvaluationTask>>,
    ctx: Arc<EvaluationContext>,
) -> Result<Action, Error> {
    let result = ctx
        .metrics
        .reconciles
        .observe(Error::class, async {
            match &object.0 {
                Ok(task) => reconcile_task(task, &ctx).await,
                Err(invalid) => Err(Error::InvalidObject(invalid.error.clone())),
            }
        })
        .await;
    if result.is_ok() {
        ctx.shared.forget_failures(&key(&object));
    }
    result
}

async fn reconcile_task(task: &EvaluationTask, ctx: &EvaluationContext) -> Result<Action, Error> {
    if task.metadata.deletion_timestamp.is_some() {
        // Owner references let the garbage collector remove every child.
        return Ok(Action::await_change());
    }
    let client = &ctx.shared.client;
    let recorder = &ctx.shared.recorder;
    let record = |validated: Option<&ValidatedTask>, observation: Observation<'_>| {
        desired_status(task, validated, &observation, Timestamp::now())
    };
    let validated = match validate_with(task, &ctx.options) {
        Ok(validated) => validated,
        Err(invalid) => {
            let status = record(None, Observation::InvalidSpec(invalid.to_string()));
            update_status(client, recorder, task, status).await?;
            return Err(Error::InvalidSpec(invalid));
        }
    };
    if let Err(error) = dereference(client, &validated).await {
        let observation = match &error {
            Error::TargetNotFound(m) => Observation::TargetNotFound(m.clone()),
            Error::JudgeSecretMissing(m) => Observation::JudgeSecretMissing(m.clone()),
            Error::DatasetMissing(m) => Observation::DatasetMissing(m.clone()),
            Error::DatasetInvalid(m) => Observation::InvalidSpec(m.clone()),
            _ => return Err(error),
        };
        update_status(
            client,
            recorder,
            task,
            record(Some(&validated), observation),
        )
        .await?;
        return Err(error);
    }
    let previous = task.status.clone().unwrap_or_default();
    let children = build(&validated, completed(&validated, &previous), &ctx.options);
    let caches = ctx.task_caches(&validated.namespace).await;
    let seen_after_apply = &ctx.shared.seen_after_apply;
    let applied = match apply(
        client,
        seen_after_apply,
        caches.as_deref(),
        &validated,
        children,
    )
    .await
    {
        Ok((applied, writes)) => {
            if writes > 0 {
                tracing::debug!(task = %validated.name, writes, "applied children");
            }
            applied
        }
        Err(error) => {
            let observation = match &error {
                crate::operator::Error::NotOwned { .. } => {
                    Observation::OwnershipConflict(error.to_string())
                }
                _ => Observation::ApplyFailed(error.to_string()),
            };
            let status = record(Some(&validated), observation);
            // Best effort: the apply error is what gets retried.
            if let Err(status_error) = update_status(client, recorder, task, status).await {
                tracing::warn!(error = %status_error, "failed to record the apply failure");
            }
            return Err(error.into());
        }
    };
    if cleanup_needed(task, &validated, caches.as_deref(), &applied) {
        let deleted = cleanup(client, &validated, &applied).await?;
        if let Some(event) = cleanup_event(&deleted) {
            publish(recorder, task, event).await;
        }
    }
    let status = record(Some(&validated), Observation::Applied(&applied));
    update_status(client, recorder, task, status).await?;
    Ok(Action::requeue(next_check(&validated, Timestamp::now())))
}

/// When to look again without a watch event: at the sampling start for a
/// task still waiting for it, else at the periodic resync.
fn next_check(task: &ValidatedTask, now: Timestamp) -> Duration {
    match &task.mode {
        Mode::Online { start, .. } if now < *start => Duration::try_from(start.duration_since(now))
            .map_or(RESYNC, |d| d.min(RESYNC) + Duration::from_secs(1)),
        _ => RESYNC,
    }
}

/// Decides the retry after a failed reconcile by the error's class.
pub fn error_policy(
    object: Arc<DeserializeGuard<EvaluationTask>>,
    error: &Error,
    ctx: Arc<EvaluationContext>,
) -> Action {
    let name = key(&object);
    retry_action(&name, error.class(), error, DEPENDENCY_RECHECK, || {
        ctx.shared.record_failure(&name)
    })
}

/// Failure-count key; prefixed so it never meets a TracedService's.
fn key(object: &DeserializeGuard<EvaluationTask>) -> String {
    format!(
        "EvaluationTask/{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}
