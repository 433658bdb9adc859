//! Why a TracedService cannot be realised (the output of `validate`).

use thiserror::Error;

/// Why a TracedService cannot be realised. Each message tells the user what to change.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ValidationError {
    /// The object has no namespace (it is namespaced, so the API server always sets one).
    #[error("the TracedService has no namespace")]
    MissingNamespace,
    /// The object has no UID yet, so children cannot point at it.
    #[error("the TracedService has no uid; it has not been stored by the API server")]
    MissingUid,
    /// The name cannot name a Service.
    #[error(
        "name {0:?} must be a DNS label (lowercase letters, digits and '-', starting with a letter, at most 63 characters) because it names the Service"
    )]
    InvalidName(String),
    /// The operator has to wrap the start command but none is given.
    #[error(
        "command is required when pythonPackages are installed or tracing.probe is arms or opentelemetry: the operator wraps the start command and cannot wrap the image's entrypoint"
    )]
    CommandRequired,
    /// A port outside 1-65535.
    #[error("{field} must be between 1 and 65535, got {value}")]
    PortOutOfRange {
        /// The field path.
        field: String,
        /// The value given.
        value: i32,
    },
    /// A negative replica count.
    #[error("replicas must not be negative, got {0}")]
    NegativeReplicas(i32),
    /// A pip option smuggled into a requirement list.
    #[error(
        "{field} entry {value:?} is not a requirement specifier; pip options (starting with '-') are not allowed"
    )]
    PipOption {
        /// The field path.
        field: &'static str,
        /// The offending entry.
        value: String,
    },
    /// A URL that does not parse or is not http(s).
    #[error("{field} must be an http:// or https:// URL with a host, got {value:?}")]
    InvalidUrl {
        /// The field path.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// `probe: arms` without its settings.
    #[error(
        "tracing.probe arms needs tracing.arms with licenseKeySecretRef (the Secret holding the ARMS license key) and regionId"
    )]
    ArmsSettingsMissing,
    /// `probe: opentelemetry` without an endpoint, and the operator has no default.
    #[error(
        "tracing.probe opentelemetry needs tracing.endpoint, the OTLP endpoint traces are sent to, or a default from the operator (--default-trace-endpoint; the chart's defaultTraceEndpoint)"
    )]
    EndpointRequired,
    /// Sampling ratio outside [0, 1].
    #[error("tracing.samplingRatio must be between 0 and 1, got {0}")]
    SamplingRatioOutOfRange(String),
    /// A mount with zero or several sources.
    #[error(
        "mount {path:?} needs exactly one source (oss, pvc, configMap, secret or emptyDir), it has {count}"
    )]
    MountSources {
        /// The mount path.
        path: String,
        /// How many sources were set.
        count: usize,
    },
    /// A relative mount path or one the operator uses.
    #[error("mountPath {0:?} must be absolute and not under /opt/traceval")]
    InvalidMountPath(String),
    /// Two mounts at one path.
    #[error("two mounts use mountPath {0:?}; mount paths must be distinct")]
    DuplicateMountPath(String),
    /// An egress CIDR that does not parse.
    #[error("network.egress cidr {0:?} is not a CIDR such as 10.0.0.0/8")]
    InvalidCidr(String),
    /// A pod label or annotation key the operator owns.
    #[error("{field} key {key:?} is owned by the operator and cannot be set")]
    ReservedKey {
        /// The field path.
        field: &'static str,
        /// The key.
        key: String,
    },
    /// A requirement entry that is not a PEP 508 specifier (e.g. shell syntax).
    #[error(
        "{field} entry {value:?} is not a pip requirement specifier (name, [extras], version or @ URL, ; marker); entries are passed to pip as arguments, never to a shell"
    )]
    InvalidRequirement {
        /// The field path.
        field: &'static str,
        /// The offending entry.
        value: String,
    },
    /// An env name the API server would reject.
    #[error("env name {0:?} is not a valid variable name (printable ASCII without '=')")]
    InvalidEnvName(String),
    /// An env name the operator reserves.
    #[error("env name {0:?} is reserved: names starting with TRACEVAL_ are set by the operator")]
    ReservedEnvName(String),
    /// A resource quantity that does not parse.
    #[error("{field} {value:?} is not a quantity such as 500m, 2 or 1Gi")]
    InvalidQuantity {
        /// The field path.
        field: String,
        /// The value given.
        value: String,
    },
}
