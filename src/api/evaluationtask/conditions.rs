//! The conditions of an EvaluationTask (kstatus-style), their types and
//! reasons.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::tracedservice::ConditionStatus;

/// A kstatus-style condition of an EvaluationTask.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationCondition {
    /// Which aspect this condition describes.
    #[serde(rename = "type")]
    #[schemars(with = "String")]
    pub type_: EvaluationConditionType,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// CamelCase reason, stable for tools.
    #[schemars(with = "String")]
    pub reason: EvaluationConditionReason,
    /// Human-readable detail.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Time,
    /// `metadata.generation` the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Condition types of an EvaluationTask.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EvaluationConditionType {
    /// The runs are set up as the spec asks (CronJob or Job applied).
    Ready,
    /// Sampling ended and every trace up to its end is done.
    Completed,
    /// The task cannot run or its runs keep failing.
    Degraded,
    /// A type this operator version does not know.
    #[serde(other)]
    Unrecognized,
}

/// Reasons of EvaluationTask conditions.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvaluationConditionReason {
    /// The CronJob or Job is applied.
    Scheduled,
    /// `suspend: true`.
    Suspended,
    /// The sampling window is over and done.
    SamplingEnded,
    /// The target TracedService does not exist.
    TargetNotFound,
    /// The judge token Secret or key does not exist.
    JudgeSecretMissing,
    /// The reference answers' ConfigMap or key (`spec.dataset`) does not exist.
    DatasetMissing,
    /// Evaluation runs failed repeatedly.
    RunsFailing,
    /// The spec passed the schema but cannot be realised; edit it.
    InvalidSpec,
    /// The API server rejected or failed an apply of a child object.
    ApplyFailed,
    /// An object with a child's name exists and is not this task's: it is
    /// left untouched (the message names it).
    OwnershipConflict,
    /// Every listed trace (single traces) has a recorded outcome.
    TracesDone,
    /// Runs are still to come or under way.
    InProgress,
    /// The sampling window has not started yet.
    WaitingForWindow,
    /// Nothing is wrong.
    AsExpected,
    /// A reason this operator version does not know.
    #[serde(other)]
    Unrecognized,
}

impl EvaluationConditionReason {
    /// The CamelCase name written to the API (and used as event reason).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "Scheduled",
            Self::Suspended => "Suspended",
            Self::SamplingEnded => "SamplingEnded",
            Self::TargetNotFound => "TargetNotFound",
            Self::JudgeSecretMissing => "JudgeSecretMissing",
            Self::DatasetMissing => "DatasetMissing",
            Self::RunsFailing => "RunsFailing",
            Self::InvalidSpec => "InvalidSpec",
            Self::ApplyFailed => "ApplyFailed",
            Self::OwnershipConflict => "OwnershipConflict",
            Self::TracesDone => "TracesDone",
            Self::InProgress => "InProgress",
            Self::WaitingForWindow => "WaitingForWindow",
            Self::AsExpected => "AsExpected",
            Self::Unrecognized => "Unrecognized",
        }
    }
}
