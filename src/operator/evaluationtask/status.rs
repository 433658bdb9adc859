//! The last step: the operator's part of the status (phase, conditions,
//! observedGeneration), applied with the `traceval` field manager when it
//! changed, and an event for each phase change. The evaluator's fields are
//! never sent, so its writes (field manager `traceval-evaluator`) survive.

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::conditions::{Observation, assess, merge};
use crate::api::EvaluationTask;
use crate::api::evaluationtask::{
    EvaluationCondition, EvaluationConditionType, EvaluationPhase, EvaluationTaskStatus,
};
use crate::api::tracedservice::ConditionStatus;
use crate::operator::Error as ApiError;
use crate::resources::evaluationtask::ValidatedTask;
use crate::resources::meta::MANAGER;

/// The operator's fields of the status a task should have. Pure.
pub fn desired_status(
    task: &EvaluationTask,
    validated: Option<&ValidatedTask>,
    observation: &Observation<'_>,
    now: Timestamp,
) -> EvaluationTaskStatus {
    let previous = task.status.clone().unwrap_or_default();
    let assessed = assess(validated, &previous, observation, now);
    let generation = task.meta().generation;
    EvaluationTaskStatus {
        observed_generation: generation,
        phase: Some(assessed.phase),
        conditions: merge(&previous.conditions, &assessed, generation, now),
        ..EvaluationTaskStatus::default()
    }
}

/// The fields the operator owns.
fn operator_fields_of(
    status: &EvaluationTaskStatus,
) -> (Option<i64>, Option<EvaluationPhase>, &[EvaluationCondition]) {
    (status.observed_generation, status.phase, &status.conditions)
}

/// Applies `desired` (operator fields only) when it differs from the task's
/// status, and publishes an event when the phase changed.
pub async fn update_status(
    client: &kube::Client,
    recorder: &Recorder,
    task: &EvaluationTask,
    desired: EvaluationTaskStatus,
) -> Result<(), ApiError> {
    let previous = task.status.clone().unwrap_or_default();
    if operator_fields_of(&previous) == operator_fields_of(&desired) {
        return Ok(());
    }
    let api: Api<EvaluationTask> =
        Api::namespaced(client.clone(), &task.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": EvaluationTask::api_version(&()),
        "kind": EvaluationTask::kind(&()),
        "status": {
            "observedGeneration": desired.observed_generation,
            "phase": desired.phase,
            "conditions": desired.conditions,
        },
    });
    api.patch_status(
        &task.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(ApiError::Status)?;
    if let Some(event) = transition(&previous, &desired) {
        publish(recorder, task, event).await;
    }
    Ok(())
}

/// The event of a phase change, if the phase changed.
pub fn transition(previous: &EvaluationTaskStatus, next: &EvaluationTaskStatus) -> Option<Event> {
    let phase = next.phase?;
    if previous.phase == Some(phase) {
        return None;
    }
    // The condition that explains the phase: Degraded when failed, else Completed or Ready.
    let explaining = next
        .conditions
        .iter()
        .find(|c| c.status == ConditionStatus::True && c.type_ == EvaluationConditionType::Degraded)
        .or_else(|| {
            let completed = EvaluationConditionType::Completed;
            next.conditions.iter().find(|c| c.type_ == completed)
        });
    let (reason, note) = match explaining {
        Some(c) => (c.reason.as_str().to_owned(), c.message.clone()),
        None => (format!("{phase:?}"), String::new()),
    };
    Some(Event {
        type_: if phase == EvaluationPhase::Failed {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason,
        note: Some(format!("phase {phase:?}: {note}")),
        action: "Reconcile".to_owned(),
        secondary: None,
    })
}

/// Publishes an event about the task; failures are logged, not fatal.
pub async fn publish(recorder: &Recorder, task: &EvaluationTask, event: Event) {
    if let Err(error) = recorder.publish(&event, &task.object_ref(&())).await {
        tracing::warn!(%error, reason = %event.reason, "failed to publish event");
    }
}
