//! The validated form of a TracedService: what the builders take. Invariants
//! the raw spec only promises (one source per mount, ARMS settings with the
//! ARMS probe, parsed URLs) are encoded in the types.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::endpoint::Endpoint;
use crate::api::tracedservice::{
    ConfigMapSource, EgressRule, EmptyDirSource, IngressSource, OssSource, OtlpProtocol, Probe,
    SecretKeyRef, SecretSource,
};

/// A TracedService that passed validation: the only input of the builders.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedTracedService {
    /// Name of the TracedService and of its Deployment and Service.
    pub name: String,
    /// Namespace of the TracedService and its namespaced children.
    pub namespace: String,
    /// Controller owner reference every namespaced child carries.
    pub owner: OwnerReference,
    /// Container image.
    pub image: String,
    /// The user's start command; `None` runs the image's entrypoint.
    pub command: Option<Vec<String>>,
    /// Arguments after the command.
    pub args: Vec<String>,
    /// App port.
    pub port: i32,
    /// Desired pods; `None` leaves the count to the Deployment (1) or an autoscaler.
    pub replicas: Option<i32>,
    /// App container resources.
    pub resources: Option<ResourceRequirements>,
    /// Pod service account.
    pub service_account_name: Option<String>,
    /// Pod node selector.
    pub node_selector: BTreeMap<String, String>,
    /// Pod tolerations.
    pub tolerations: Vec<Toleration>,
    /// pip requirements installed before start: the probe's, then the user's.
    pub packages: Vec<String>,
    /// Package index, when not PyPI.
    pub pip_index: Option<Endpoint>,
    /// The user's env, which wins over the operator's.
    pub env: Vec<EnvVar>,
    /// Mounts with their single source.
    pub mounts: Vec<ValidMount>,
    /// Tracing, when enabled.
    pub tracing: Option<Tracing>,
    /// Network isolation.
    pub network: Network,
    /// Non-root user of the pods.
    pub run_as_user: i64,
    /// The app container's root filesystem is writable.
    pub writable_root: bool,
    /// Hash of everything that shapes the pods (all of the spec but replicas).
    pub spec_hash: String,
}

/// A mount with exactly one source.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidMount {
    /// Position in `spec.mounts`; names the volume and any PV/PVC.
    pub index: usize,
    /// Path in the app container.
    pub mount_path: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// Where the files come from.
    pub source: MountSource,
}

/// The one source of a mount.
#[derive(Clone, Debug, PartialEq)]
pub enum MountSource {
    /// Object storage through the OSS CSI driver.
    OssCsi(OssSource),
    /// Object storage copied into an emptyDir by an init container.
    OssSync(OssSource),
    /// An existing claim.
    Pvc(String),
    /// A ConfigMap.
    ConfigMap(ConfigMapSource),
    /// A Secret.
    Secret(SecretSource),
    /// A scratch directory.
    EmptyDir(EmptyDirSource),
}

/// Enabled tracing.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracing {
    /// The probe and its settings.
    pub probe: ProbeSettings,
    /// OTLP endpoint.
    pub endpoint: Option<Endpoint>,
    /// OTLP protocol.
    pub protocol: OtlpProtocol,
    /// `service.name`.
    pub service_name: String,
    /// Sampler ratio in [0, 1].
    pub sampling_ratio: f64,
}

/// The probe, with what it needs.
#[derive(Clone, Debug, PartialEq)]
pub enum ProbeSettings {
    /// ARMS agent.
    Arms(Arms),
    /// OpenTelemetry auto-instrumentation.
    OpenTelemetry,
    /// Instrumented by the image.
    Builtin,
}

impl ProbeSettings {
    /// The API enum of this probe.
    pub fn probe(&self) -> Probe {
        match self {
            Self::Arms(_) => Probe::Arms,
            Self::OpenTelemetry => Probe::OpenTelemetry,
            Self::Builtin => Probe::Builtin,
        }
    }
}

/// ARMS settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arms {
    /// `ARMS_APP_NAME`.
    pub app_name: String,
    /// `ARMS_REGION_ID`.
    pub region_id: String,
    /// Secret key of `ARMS_LICENSE_KEY`.
    pub license_key: SecretKeyRef,
}

/// Network isolation settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Whether a NetworkPolicy is created.
    pub enforce: bool,
    /// Egress anywhere.
    pub internet_access: bool,
    /// User egress allow rules (CIDRs checked).
    pub egress: Vec<EgressRule>,
    /// Ingress sources; the own namespace when empty.
    pub ingress: Vec<IngressSource>,
    /// Extra pod annotations.
    pub pod_annotations: BTreeMap<String, String>,
    /// Extra pod labels.
    pub pod_labels: BTreeMap<String, String>,
}
