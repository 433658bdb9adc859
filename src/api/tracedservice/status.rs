//! `status`: what the operator observed, kstatus-compatible.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Probe;

/// Observed state of a TracedService.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TracedServiceStatus {
    /// `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// One-word summary of the conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Ready, Progressing and Degraded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Desired pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Pods passing their readiness checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// `ready/desired`, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_summary: Option<String>,
    /// In-cluster URL of the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The start command the pods run, as a shell-style line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_command: Option<String>,
    /// The tracing probe in effect; absent when tracing is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
    /// Where this service's traces can be browsed (from the operator's link template).
    #[serde(
        default,
        rename = "traceUILink",
        skip_serializing_if = "Option::is_none"
    )]
    pub trace_ui_link: Option<String>,
}

/// One-word state for humans; tools should read the conditions.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not reconciled yet.
    Pending,
    /// A rollout is under way.
    Progressing,
    /// All desired pods are ready.
    Running,
    /// The spec cannot be realised or the rollout failed.
    Degraded,
}

/// A kstatus-style condition.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Which aspect this condition describes.
    #[serde(rename = "type")]
    #[schemars(with = "String")]
    pub type_: ConditionType,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// CamelCase reason, stable for tools.
    #[schemars(with = "String")]
    pub reason: ConditionReason,
    /// Human-readable detail.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Time,
    /// `metadata.generation` the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Condition types of a TracedService.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConditionType {
    /// All desired pods are available with the current spec.
    Ready,
    /// The operator or the Deployment is working towards the spec.
    Progressing,
    /// The spec cannot be realised (invalid, rejected or failed rollout).
    Degraded,
    /// A type this operator version does not know (written by a newer one).
    #[serde(other)]
    Unrecognized,
}

/// Condition status.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    Unknown,
}

impl From<bool> for ConditionStatus {
    fn from(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }
}

/// Reasons of TracedService conditions.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionReason {
    /// All desired pods are available.
    Available,
    /// Fewer pods are available than desired.
    ReplicasUnavailable,
    /// Zero replicas were asked for.
    ScaledToZero,
    /// Pods with the current spec are being rolled out.
    RolloutInProgress,
    /// The rollout of the current spec finished.
    RolloutComplete,
    /// The Deployment reports it is past its progress deadline or cannot create pods.
    RolloutFailed,
    /// The spec passed the schema but cannot be realised; edit it.
    InvalidSpec,
    /// The API server rejected or failed an apply of a child object.
    ApplyFailed,
    /// An object with a child's name exists and is not this object's: it
    /// is left untouched (the message names it).
    OwnershipConflict,
    /// Something the spec needs is missing from the cluster (e.g. the OSS CSI driver).
    MissingDependency,
    /// A container of the pods crash-loops, exits with an error or cannot be
    /// created (the message names the pod, the container and why).
    ContainerFailing,
    /// Nothing is wrong.
    AsExpected,
    /// A reason this operator version does not know.
    #[serde(other)]
    Unrecognized,
}

impl ConditionReason {
    /// The CamelCase name written to the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "Available",
            Self::ReplicasUnavailable => "ReplicasUnavailable",
            Self::ScaledToZero => "ScaledToZero",
            Self::RolloutInProgress => "RolloutInProgress",
            Self::RolloutComplete => "RolloutComplete",
            Self::RolloutFailed => "RolloutFailed",
            Self::InvalidSpec => "InvalidSpec",
            Self::ApplyFailed => "ApplyFailed",
            Self::OwnershipConflict => "OwnershipConflict",
            Self::MissingDependency => "MissingDependency",
            Self::ContainerFailing => "ContainerFailing",
            Self::AsExpected => "AsExpected",
            Self::Unrecognized => "Unrecognized",
        }
    }
}
