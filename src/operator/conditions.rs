//! kstatus-style conditions shared by both controllers: one merge that keeps
//! `lastTransitionTime` unless a status flips.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::api::tracedservice::ConditionStatus;

/// A kstatus-style condition of one of the resources, so that one merge
/// serves them all.
pub trait KstatusCondition: Sized {
    /// The condition's `type`.
    type Kind: Copy + PartialEq;
    /// The condition's `reason`.
    type Reason: Copy;
    /// A condition from its parts.
    fn build(
        kind: Self::Kind,
        status: ConditionStatus,
        reason: Self::Reason,
        message: String,
        last_transition_time: Time,
        observed_generation: Option<i64>,
    ) -> Self;
    /// Its type.
    fn kind(&self) -> Self::Kind;
    /// Its status.
    fn status(&self) -> ConditionStatus;
    /// When its status last changed.
    fn last_transition_time(&self) -> &Time;
}

/// Implements [`KstatusCondition`] for a condition struct with the fields
/// `type_`, `status`, `reason`, `message`, `last_transition_time` and
/// `observed_generation`.
macro_rules! kstatus_condition {
    ($condition:ty, $kind:ty, $reason:ty) => {
        impl $crate::operator::conditions::KstatusCondition for $condition {
            type Kind = $kind;
            type Reason = $reason;
            fn build(
                kind: $kind,
                status: $crate::api::tracedservice::ConditionStatus,
                reason: $reason,
                message: String,
                last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
                observed_generation: Option<i64>,
            ) -> Self {
                Self {
                    type_: kind,
                    status,
                    reason,
                    message,
                    last_transition_time,
                    observed_generation,
                }
            }
            fn kind(&self) -> $kind {
                self.type_
            }
            fn status(&self) -> $crate::api::tracedservice::ConditionStatus {
                self.status
            }
            fn last_transition_time(
                &self,
            ) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
                &self.last_transition_time
            }
        }
    };
}

pub(crate) use kstatus_condition;

/// Conditions from (type, status, reason, message) tuples, keeping the
/// previous `lastTransitionTime` of every condition whose status did not change.
pub fn merge_conditions<C: KstatusCondition>(
    previous: &[C],
    assessed: &[(C::Kind, ConditionStatus, C::Reason, String)],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<C> {
    assessed
        .iter()
        .map(|(kind, status, reason, message)| {
            let last_transition_time = previous
                .iter()
                .find(|c| c.kind() == *kind && c.status() == *status)
                .map_or(Time(now), |c| c.last_transition_time().clone());
            C::build(
                *kind,
                *status,
                *reason,
                message.clone(),
                last_transition_time,
                generation,
            )
        })
        .collect()
}
