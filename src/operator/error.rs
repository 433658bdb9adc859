//! Errors of the reconcile steps, each with a class that decides how the
//! controller retries.

use thiserror::Error;

use crate::resources::tracedservice::ValidationError;
use crate::resources::tracedservice::oss_csi::OSS_CSI_DRIVER;

/// How an error is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The object or its spec must change; wait for that, no requeue.
    InvalidSpec,
    /// Something outside the spec is missing; check again slowly.
    MissingDependency,
    /// The API server failed or refused; retry with growing backoff.
    Transient,
}

/// An error of one reconcile.
#[derive(Debug, Error)]
pub enum Error {
    /// The object does not deserialize into a TracedService.
    #[error("the TracedService cannot be read: {0}")]
    InvalidObject(String),
    /// The spec passed the schema but cannot be realised.
    #[error("invalid spec: {0}")]
    InvalidSpec(#[source] ValidationError),
    /// A mount uses `mode: csi` but the cluster has no OSS CSI driver.
    #[error(
        "an oss mount uses mode csi but the CSI driver {OSS_CSI_DRIVER} is not installed; install it or use mode: sync"
    )]
    OssCsiDriverMissing,
    /// Reading an object the spec depends on failed.
    #[error("failed to read {kind} {name}: {source}")]
    Dereference {
        /// Kind read.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Server-side apply of a child failed.
    #[error("failed to apply {kind} {name}: {source}")]
    Apply {
        /// Kind applied.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// An object with a child's name exists and this owner is not its
    /// controller: it is left untouched (never adopted, never deleted).
    #[error(
        "{kind} {name} already exists and is not managed by this object ({holder}); traceval leaves it untouched: rename this object or remove that {kind}"
    )]
    NotOwned {
        /// Kind of the child.
        kind: &'static str,
        /// Its name.
        name: String,
        /// Who controls it, in words.
        holder: String,
    },
    /// Listing or deleting children the spec no longer wants failed.
    #[error("failed to clean up {kind}: {source}")]
    Cleanup {
        /// Kind cleaned up.
        kind: &'static str,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Adding, running or removing the volumes finalizer failed.
    #[error("failed to finalize PersistentVolumes: {source}")]
    Finalizer {
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Writing the status failed.
    #[error("failed to update status: {0}")]
    Status(#[source] kube::Error),
}

impl Error {
    /// How this error is retried.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidObject(_) | Self::InvalidSpec(_) => ErrorClass::InvalidSpec,
            Self::OssCsiDriverMissing | Self::NotOwned { .. } => ErrorClass::MissingDependency,
            Self::Dereference { .. }
            | Self::Apply { .. }
            | Self::Cleanup { .. }
            | Self::Finalizer { .. }
            | Self::Status(_) => ErrorClass::Transient,
        }
    }

    /// A bounded label for metrics: the variant, never its content.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::InvalidObject(_) => "invalid_object",
            Self::InvalidSpec(_) => "invalid_spec",
            Self::OssCsiDriverMissing => "oss_csi_driver_missing",
            Self::Dereference { .. } => "dereference",
            Self::Apply { .. } => "apply",
            Self::NotOwned { .. } => "not_owned",
            Self::Cleanup { .. } => "cleanup",
            Self::Finalizer { .. } => "finalizer",
            Self::Status(_) => "status",
        }
    }
}
