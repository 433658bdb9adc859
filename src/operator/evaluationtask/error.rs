//! Errors of the EvaluationTask reconcile steps, classed like the
//! TracedService's (see [`crate::operator::ErrorClass`]); failures of API
//! calls reuse the shared [`crate::operator::Error`] variants.

use thiserror::Error;

use crate::operator::{Error as ApiError, ErrorClass};
use crate::resources::evaluationtask::InvalidTask;

/// An error of one EvaluationTask reconcile.
#[derive(Debug, Error)]
pub enum Error {
    /// The object does not deserialize into an EvaluationTask.
    #[error("the EvaluationTask cannot be read: {0}")]
    InvalidObject(String),
    /// The spec passed the schema but cannot be realised.
    #[error("invalid spec: {0}")]
    InvalidSpec(#[source] InvalidTask),
    /// The target TracedService does not exist.
    #[error("{0}")]
    TargetNotFound(String),
    /// The judge token Secret or its key does not exist.
    #[error("{0}")]
    JudgeSecretMissing(String),
    /// The reference answers' ConfigMap or its key does not exist.
    #[error("{0}")]
    DatasetMissing(String),
    /// The reference answers' ConfigMap key cannot be read as a dataset
    /// (reported as `InvalidSpec`, rechecked like a missing dependency:
    /// the ConfigMap is edited, not the task).
    #[error("{0}")]
    DatasetInvalid(String),
    /// An API call failed (read, apply, cleanup, status).
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl Error {
    /// How this error is retried. An apply the API server rejects as
    /// invalid (422, e.g. a cron schedule it cannot parse) waits for an edit.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidObject(_) | Self::InvalidSpec(_) => ErrorClass::InvalidSpec,
            Self::TargetNotFound(_)
            | Self::JudgeSecretMissing(_)
            | Self::DatasetMissing(_)
            | Self::DatasetInvalid(_) => ErrorClass::MissingDependency,
            Self::Api(ApiError::Apply {
                source: kube::Error::Api(status),
                ..
            }) if status.code == 422 => ErrorClass::InvalidSpec,
            Self::Api(error) => error.class(),
        }
    }

    /// A bounded label for metrics: the variant, never its content.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::InvalidObject(_) => "invalid_object",
            Self::InvalidSpec(_) => "invalid_spec",
            Self::TargetNotFound(_) => "target_not_found",
            Self::JudgeSecretMissing(_) => "judge_secret_missing",
            Self::DatasetMissing(_) => "dataset_missing",
            Self::DatasetInvalid(_) => "dataset_invalid",
            Self::Api(error) => error.metric_label(),
        }
    }
}
