//! Pure status logic of a TracedService: conditions from what was observed,
//! merged with the previous ones so `lastTransitionTime` only moves when a
//! status flips.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::jiff::Timestamp;

use crate::api::tracedservice::{
    Condition, ConditionReason, ConditionStatus, ConditionType, Phase,
};
use crate::operator::conditions::{kstatus_condition, merge_conditions};

/// What one reconcile found.
#[derive(Clone, Debug)]
pub enum Observation<'a> {
    /// The spec cannot be realised.
    InvalidSpec(String),
    /// Something the spec needs is missing from the cluster.
    MissingDependency(String),
    /// Applying the children failed.
    ApplyFailed(String),
    /// An object with a child's name is someone else's.
    OwnershipConflict(String),
    /// The children were applied; the Deployment as returned by the API server.
    Applied(&'a Deployment),
    /// Applied, and a container of the pods is failing (see `pod_failures`).
    ContainerFailing(&'a Deployment, String),
}

/// The conditions (without times) and phase an observation implies.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// Ready, Progressing, Degraded in that order: (type, status, reason, message).
    pub conditions: Vec<(ConditionType, ConditionStatus, ConditionReason, String)>,
    /// The summary phase.
    pub phase: Phase,
}

/// Assesses an observation.
pub fn assess(observation: &Observation<'_>) -> Assessment {
    use ConditionReason as R;
    use ConditionStatus::{False, True};
    use ConditionType as T;
    let blocked = |reason: ConditionReason, message: &str| Assessment {
        conditions: vec![
            (T::Ready, False, reason, message.to_owned()),
            (T::Progressing, False, reason, message.to_owned()),
            (T::Degraded, True, reason, message.to_owned()),
        ],
        phase: Phase::Degraded,
    };
    match observation {
        Observation::InvalidSpec(message) => blocked(R::InvalidSpec, message),
        Observation::MissingDependency(message) => blocked(R::MissingDependency, message),
        Observation::ApplyFailed(message) => blocked(R::ApplyFailed, message),
        Observation::OwnershipConflict(message) => blocked(R::OwnershipConflict, message),
        Observation::ContainerFailing(deployment, message) => {
            let rollout = Rollout::of(deployment);
            Assessment {
                conditions: vec![
                    (
                        T::Ready,
                        False,
                        R::ReplicasUnavailable,
                        format!("{} of {} pods ready", rollout.ready, rollout.desired),
                    ),
                    (T::Progressing, False, R::ContainerFailing, message.clone()),
                    (T::Degraded, True, R::ContainerFailing, message.clone()),
                ],
                phase: Phase::Degraded,
            }
        }
        Observation::Applied(deployment) => {
            let rollout = Rollout::of(deployment);
            let (ready, ready_reason, ready_message) = if rollout.desired == 0 {
                (True, R::ScaledToZero, "zero replicas requested".to_owned())
            } else if rollout.complete {
                (
                    True,
                    R::Available,
                    format!("{} of {} pods ready", rollout.ready, rollout.desired),
                )
            } else {
                (
                    False,
                    R::ReplicasUnavailable,
                    format!("{} of {} pods ready", rollout.ready, rollout.desired),
                )
            };
            let (progressing, progressing_reason, degraded, degraded_reason, message) =
                match (&rollout.failure, rollout.complete) {
                    (Some(failure), _) => (
                        False,
                        R::RolloutFailed,
                        True,
                        R::RolloutFailed,
                        failure.clone(),
                    ),
                    (None, true) => (
                        False,
                        R::RolloutComplete,
                        False,
                        R::AsExpected,
                        "rollout complete".to_owned(),
                    ),
                    (None, false) => (
                        True,
                        R::RolloutInProgress,
                        False,
                        R::AsExpected,
                        format!("{} of {} pods updated", rollout.updated, rollout.desired),
                    ),
                };
            let phase = match (degraded, ready) {
                (True, _) => Phase::Degraded,
                (_, True) => Phase::Running,
                _ => Phase::Progressing,
            };
            Assessment {
                conditions: vec![
                    (T::Ready, ready, ready_reason, ready_message),
                    (
                        T::Progressing,
                        progressing,
                        progressing_reason,
                        message.clone(),
                    ),
                    (T::Degraded, degraded, degraded_reason, message),
                ],
                phase,
            }
        }
    }
}

/// Rollout state of a Deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollout {
    /// Desired pods.
    pub desired: i32,
    /// Pods with the current template.
    pub updated: i32,
    /// Ready pods.
    pub ready: i32,
    /// The Deployment controller saw the current spec and every desired pod
    /// is updated and available, with no old pods left.
    pub complete: bool,
    /// Why the rollout cannot finish, from the Deployment's own conditions.
    pub failure: Option<String>,
}

impl Rollout {
    /// Reads a Deployment's spec and status.
    pub fn of(deployment: &Deployment) -> Self {
        let desired = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let status = deployment.status.clone().unwrap_or_default();
        let observed = match (status.observed_generation, deployment.metadata.generation) {
            (Some(seen), Some(current)) => seen >= current,
            _ => false,
        };
        let updated = status.updated_replicas.unwrap_or(0);
        let available = status.available_replicas.unwrap_or(0);
        let total = status.replicas.unwrap_or(0);
        let failure = status.conditions.iter().flatten().find_map(|c| {
            let failed = (c.type_ == "Progressing"
                && c.status == "False"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
                || (c.type_ == "ReplicaFailure" && c.status == "True");
            failed.then(|| {
                format!(
                    "Deployment {}: {}",
                    c.reason.clone().unwrap_or_else(|| c.type_.clone()),
                    c.message.clone().unwrap_or_default()
                )
            })
        });
        Self {
            desired,
            updated,
            ready: status.ready_replicas.unwrap_or(0),
            complete: observed && updated >= desired && available >= desired && total <= desired,
            failure,
        }
    }
}

/// New conditions from an assessment, keeping the previous
/// `lastTransitionTime` of every condition whose status did not change.
pub fn merge(
    previous: &[Condition],
    assessed: &Assessment,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    merge_conditions(previous, &assessed.conditions, generation, now)
}

kstatus_condition!(Condition, ConditionType, ConditionReason);

/// The status of a condition type, if present.
pub fn status_of(conditions: &[Condition], type_: ConditionType) -> Option<ConditionStatus> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status)
}
