//! `TracedService` (`traceval.dev/v1alpha1`): a Python LLM service run as a
//! Deployment with a tracing probe wrapped around its start command.

mod mounts;
mod network;
mod security;
mod status;
mod tracing;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

pub use self::mounts::{
    ConfigMapSource, EmptyDirSource, Mount, OssMode, OssSource, PvcSource, SecretRef, SecretSource,
};
pub use self::network::{EgressPort, EgressRule, IngressSource, NetworkSpec, PortProtocol};
pub use self::security::{DEFAULT_RUN_AS_USER, SecuritySpec};
pub use self::status::{
    Condition, ConditionReason, ConditionStatus, ConditionType, Phase, TracedServiceStatus,
};
pub use self::tracing::{ArmsSpec, OtlpProtocol, Probe, SecretKeyRef, TracingSpec};

/// Port the app listens on when `spec.port` is not set (the seed's Flask app).
pub const DEFAULT_PORT: i32 = 8000;

/// Desired state of a traced Python LLM service: the seed's deploy form.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "traceval.dev",
    version = "v1alpha1",
    kind = "TracedService",
    namespaced,
    shortname = "tsvc",
    category = "traceval",
    validation = Rule::new("self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 63").message(
        "a TracedService name must be a DNS label: lowercase letters, digits and '-', starting with a letter, at most 63 characters (it names the Service)"
    ),
    status = "TracedServiceStatus",
    derive = "PartialEq",
    doc = "A Python LLM service run with a tracing probe bootstrapped into its start command.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Replicas",
        type_ = "string",
        description = "ready/desired pods",
        json_path = ".status.replicaSummary"
    ),
    printcolumn(
        name = "Probe",
        type_ = "string",
        description = "tracing probe in effect",
        json_path = ".status.probe"
    ),
    printcolumn(name = "URL", type_ = "string", json_path = ".status.url"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "has(self.command) || ((!has(self.pythonPackages) || size(self.pythonPackages) == 0) && (!has(self.tracing) || !self.tracing.enabled || self.tracing.probe == 'builtin'))"
).message(
    "command is required when pythonPackages are installed or tracing.probe is arms or opentelemetry: the operator wraps the start command and cannot wrap the image's entrypoint"
))]
pub struct TracedServiceSpec {
    /// Container image with Python (and pip, when pythonPackages or a probe
    /// that installs packages is used).
    #[schemars(length(min = 1, max = 1024))]
    pub image: String,

    /// The app's own start command as an argv list, e.g. `["python", "/mnt/data/app.py"]`.
    /// It is not run through a shell; use `["sh", "-c", "..."]` for shell syntax.
    /// Required when the operator wraps it (probe arms/opentelemetry, pythonPackages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), inner(length(max = 4096)))]
    pub command: Option<Vec<String>>,

    /// Arguments appended to `command`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 4096)))]
    pub args: Vec<String>,

    /// Port the app listens on (container port, Service port and NetworkPolicy port).
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,

    /// Number of pods. When unset the operator does not manage the count:
    /// the Deployment starts with 1 and an autoscaler may own it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: Option<i32>,

    /// Compute resources of the app container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Service account the pods run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub service_account_name: Option<String>,

    /// Node labels the pods must be scheduled on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// Tolerations of the pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,

    /// pip requirement specifiers installed before the app starts (the seed's
    /// "third-party libraries"), e.g. `flask`, `dashscope==1.20.0`.
    /// Each entry is passed to pip as one argument; pip options are not accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 512)))]
    #[x_kube(validation = Rule::new("self.all(p, !p.startsWith('-'))").message(
        "pythonPackages entries must be requirement specifiers such as 'flask' or 'dashscope==1.20.0'; pip options (starting with '-') are not allowed, set pipIndexURL for a custom index"
    ))]
    #[x_kube(validation = Rule::new(SHELL_FREE).message(
        "pythonPackages entries must be requirement specifiers: shell syntax ($, `, |, &, newlines) is not allowed (entries are passed to pip as arguments, never to a shell)"
    ))]
    pub python_packages: Vec<String>,

    /// Package index pip installs from (`--index-url`); PyPI when unset.
    #[serde(
        default,
        rename = "pipIndexURL",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message(
        "pipIndexURL must be an http:// or https:// URL, e.g. https://pypi.org/simple"
    ))]
    pub pip_index_url: Option<String>,

    /// Environment of the app container. An entry here replaces any variable of
    /// the same name the operator would set (OTEL_*, ARMS_*, PYTHONPATH, ...);
    /// names starting with TRACEVAL_ are reserved for the operator (Degraded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,

    /// Volumes mounted into the app container (object storage, PVC, ConfigMap, Secret, emptyDir).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self.all(m, self.exists_one(n, n.mountPath == m.mountPath))").message(
        "mounts must have distinct mountPath values: two mounts use the same path"
    ))]
    pub mounts: Vec<Mount>,

    /// Tracing probe and where traces go; no tracing when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingSpec>,

    /// Network isolation (the seed's VPC/security group) and pod metadata pass-through.
    #[serde(default)]
    pub network: NetworkSpec,

    /// The pods' user and root filesystem; hardened defaults when unset.
    #[serde(default, skip_serializing_if = "SecuritySpec::is_default")]
    pub security: SecuritySpec,
}

/// CEL: no entry of a requirement list holds shell syntax. Entries reach pip
/// as argv either way; this makes such a manifest fail at apply, clearly.
pub const SHELL_FREE: &str = r#"self.all(p, !p.contains('$') && !p.contains('`') && !p.contains('|') && !p.contains('&') && !p.contains('\n') && !p.contains('\r'))"#;

fn default_port() -> i32 {
    DEFAULT_PORT
}

impl TracedServiceSpec {
    /// The spec with every optional part empty: only an image.
    pub fn with_image(image: impl Into<String>) -> Self {
        Self {
            image: image.into(),
            command: None,
            args: Vec::new(),
            port: DEFAULT_PORT,
            replicas: None,
            resources: None,
            service_account_name: None,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            python_packages: Vec::new(),
            pip_index_url: None,
            env: Vec::new(),
            mounts: Vec::new(),
            tracing: None,
            network: NetworkSpec::default(),
            security: SecuritySpec::default(),
        }
    }
}

#[cfg(test)]
mod cel_tests;
