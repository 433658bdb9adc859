//! Pure builders of a TracedService's children: a validated TracedService
//! in, typed Kubernetes objects out. No I/O and no client here; this is
//! where most unit tests live.

pub mod command;
pub mod deployment;
pub mod endpoint;
pub mod env;
pub mod meta;
pub mod network_policy;
pub mod oss_csi;
pub mod service;
pub mod spec_hash;
pub mod syntax;
pub mod validate;
pub mod validated;
pub mod validation_error;
pub mod volumes;

#[cfg(test)]
pub(crate) mod tests;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;

pub use self::endpoint::Endpoint;
pub use self::validate::{ValidatedTracedService, ValidationError, validate, validate_with};

/// Image of the init container that copies `oss` mounts in `sync` mode.
pub const DEFAULT_OSS_SYNC_IMAGE: &str = "docker.io/rclone/rclone:1.69";

/// Cluster-wide settings of the builders, chosen by whoever runs the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// Image with `rclone` for OSS sync init containers.
    pub oss_sync_image: String,
    /// OTLP endpoint of a TracedService whose `tracing` (probe
    /// `opentelemetry`) names none; applied by [`validate_with`].
    pub default_trace_endpoint: Option<Endpoint>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            oss_sync_image: DEFAULT_OSS_SYNC_IMAGE.to_owned(),
            default_trace_endpoint: None,
        }
    }
}

/// Every child object of one TracedService. The apply step destructures it
/// without `..`, so a new kind here that is not applied fails to compile.
#[derive(Clone, Debug, PartialEq)]
pub struct Children {
    /// Runs the app.
    pub deployment: Deployment,
    /// Fronts the app port.
    pub service: Service,
    /// Isolates the pods; absent when `network.enforce` is false.
    pub network_policy: Option<NetworkPolicy>,
    /// Claims of OSS CSI mounts.
    pub persistent_volume_claims: Vec<PersistentVolumeClaim>,
    /// Static volumes of OSS CSI mounts (cluster-scoped, found by label).
    pub persistent_volumes: Vec<PersistentVolume>,
}

/// Builds every child of a TracedService.
pub fn build(svc: &ValidatedTracedService, options: &BuildOptions) -> Children {
    Children {
        deployment: deployment::deployment(svc, options),
        service: service::service(svc),
        network_policy: network_policy::network_policy(svc),
        persistent_volume_claims: oss_csi::persistent_volume_claims(svc),
        persistent_volumes: oss_csi::persistent_volumes(svc),
    }
}
