//! Pure status logic of an EvaluationTask: phase and conditions from what a
//! reconcile observed and what the evaluator recorded, merged with the
//! previous conditions so `lastTransitionTime` only moves when a status flips.

use k8s_openapi::jiff::Timestamp;

use super::apply::Applied;
use crate::api::evaluationtask::progress::{list_done, sampling_done};
use crate::api::evaluationtask::{
    EvaluationCondition, EvaluationConditionReason as Reason, EvaluationConditionType as Type,
    EvaluationPhase, EvaluationTaskStatus,
};
use crate::api::tracedservice::ConditionStatus;
use crate::operator::conditions::{kstatus_condition, merge_conditions};
use crate::resources::evaluationtask::{Mode, ValidatedTask};

/// What one reconcile found.
#[derive(Clone, Debug)]
pub enum Observation<'a> {
    /// The spec cannot be realised.
    InvalidSpec(String),
    /// The target TracedService is missing.
    TargetNotFound(String),
    /// The judge token Secret or key is missing.
    JudgeSecretMissing(String),
    /// The reference answers' ConfigMap or key is missing.
    DatasetMissing(String),
    /// Applying the children failed.
    ApplyFailed(String),
    /// An object with a child's name is someone else's.
    OwnershipConflict(String),
    /// The children were applied.
    Applied(&'a Applied),
}

/// Phase and conditions (without times).
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// Ready, Completed, Degraded in that order: (type, status, reason, message).
    pub conditions: Vec<(Type, ConditionStatus, Reason, String)>,
    /// The summary phase.
    pub phase: EvaluationPhase,
}

/// Whether the evaluator has finished the task: the watermark passed the
/// sampling end (online) or every listed trace is done (single traces).
pub fn completed(task: &ValidatedTask, status: &EvaluationTaskStatus) -> bool {
    match &task.mode {
        Mode::Online { end, .. } => sampling_done(status.watermark.as_ref().map(|t| t.0), *end),
        Mode::Single { trace_ids } => list_done(trace_ids, status.trace_list_progress.as_ref()),
    }
}

/// Assesses an observation. `task` is `None` when the spec is invalid.
pub fn assess(
    task: Option<&ValidatedTask>,
    status: &EvaluationTaskStatus,
    observation: &Observation<'_>,
    now: Timestamp,
) -> Assessment {
    use ConditionStatus::{False, True};
    let blocked = |reason: Reason, message: &str| Assessment {
        conditions: vec![
            (Type::Ready, False, reason, message.to_owned()),
            (Type::Completed, False, reason, message.to_owned()),
            (Type::Degraded, True, reason, message.to_owned()),
        ],
        phase: EvaluationPhase::Failed,
    };
    let (task, applied) = match (task, observation) {
        (_, Observation::InvalidSpec(m)) => return blocked(Reason::InvalidSpec, m),
        (_, Observation::TargetNotFound(m)) => return blocked(Reason::TargetNotFound, m),
        (_, Observation::JudgeSecretMissing(m)) => return blocked(Reason::JudgeSecretMissing, m),
        (_, Observation::DatasetMissing(m)) => return blocked(Reason::DatasetMissing, m),
        (_, Observation::ApplyFailed(m)) => return blocked(Reason::ApplyFailed, m),
        (_, Observation::OwnershipConflict(m)) => return blocked(Reason::OwnershipConflict, m),
        (None, Observation::Applied(_)) => return blocked(Reason::InvalidSpec, "no valid spec"),
        (Some(task), Observation::Applied(applied)) => (task, applied),
    };
    let done = completed(task, status);
    let workload = match (&applied.cronjob, &applied.job) {
        (Some(name), _) => format!("CronJob {name}"),
        (_, Some(name)) => format!("Job {name}"),
        _ => "the evaluation runs".to_owned(),
    };
    let (done_reason, done_message) = match &task.mode {
        Mode::Online { end, .. } => (
            Reason::SamplingEnded,
            format!(
                "every trace up to the sampling end {end} is evaluated; {workload} is suspended"
            ),
        ),
        Mode::Single { trace_ids } => (
            Reason::TracesDone,
            format!("all {} listed traces are evaluated", trace_ids.len()),
        ),
    };
    let waiting = match &task.mode {
        Mode::Online { start, .. } => now < *start,
        Mode::Single { .. } => !applied.job_started && status.last_run_time.is_none(),
    };
    let ready = if done {
        (Type::Ready, True, done_reason, done_message.clone())
    } else if task.suspend {
        (
            Type::Ready,
            True,
            Reason::Suspended,
            format!("{workload} is suspended (spec.suspend)"),
        )
    } else {
        (
            Type::Ready,
            True,
            Reason::Scheduled,
            format!("{workload} is applied"),
        )
    };
    let completed = if done {
        (Type::Completed, True, done_reason, done_message)
    } else if task.suspend {
        (
            Type::Completed,
            False,
            Reason::Suspended,
            "stopped; resuming continues from the watermark".to_owned(),
        )
    } else if waiting {
        let message = match &task.mode {
            Mode::Online { start, .. } => format!("the sampling window starts at {start}"),
            Mode::Single { .. } => format!("waiting for {workload} to start"),
        };
        (Type::Completed, False, Reason::WaitingForWindow, message)
    } else {
        (
            Type::Completed,
            False,
            Reason::InProgress,
            "evaluation runs are scheduled or under way".to_owned(),
        )
    };
    let degraded = match (&applied.failing, done) {
        (Some(failure), false) => (Type::Degraded, True, Reason::RunsFailing, failure.clone()),
        _ => (
            Type::Degraded,
            False,
            Reason::AsExpected,
            "nothing is wrong".to_owned(),
        ),
    };
    let phase = if degraded.1 == True {
        EvaluationPhase::Failed
    } else if done {
        EvaluationPhase::Completed
    } else if task.suspend {
        EvaluationPhase::Stopped
    } else if waiting {
        EvaluationPhase::Pending
    } else {
        EvaluationPhase::Running
    };
    Assessment {
        conditions: vec![ready, completed, degraded],
        phase,
    }
}

kstatus_condition!(EvaluationCondition, Type, Reason);

/// New conditions from an assessment, keeping the previous
/// `lastTransitionTime` of every condition whose status did not change.
pub fn merge(
    previous: &[EvaluationCondition],
    assessed: &Assessment,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<EvaluationCondition> {
    merge_conditions(previous, &assessed.conditions, generation, now)
}
