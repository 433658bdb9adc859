//! `spec.tracing`: which probe wraps the start command and where traces go.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Tracing settings: the seed's "Tracing" switch and its probe parameters.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.enabled || self.probe != 'arms' || has(self.arms)").message(
    "tracing.probe arms needs tracing.arms with licenseKeySecretRef (the Secret holding the ARMS license key) and regionId"
))]
pub struct TracingSpec {
    /// The tracing switch; true when a tracing block is given.
    #[serde(default = "default_true")]
    pub enabled: bool,

    /// How the app gets instrumented.
    #[serde(default)]
    pub probe: Probe,

    /// OTLP endpoint traces are exported to, e.g. `http://jaeger-collector.observability.svc:4318`.
    /// Probe `opentelemetry` needs one: when unset, the operator's default
    /// (`traceval operator --default-trace-endpoint`); without that the
    /// TracedService is Degraded (InvalidSpec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message(
        "tracing.endpoint must be an http:// or https:// URL, e.g. http://jaeger-collector.observability.svc:4318"
    ))]
    pub endpoint: Option<String>,

    /// OTLP protocol of `endpoint`; set explicitly in the pod so SDK defaults never guess.
    #[serde(default)]
    pub protocol: OtlpProtocol,

    /// `service.name` of the traces; the TracedService's name when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub service_name: Option<String>,

    /// Share of traces kept (parent-based trace-id ratio sampler), 0 to 1.
    #[serde(default = "default_ratio")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub sampling_ratio: f64,

    /// pip requirements the probe needs, replacing the operator's pinned default set
    /// (for opentelemetry: the distro, the OTLP exporter and OpenInference instrumentors;
    /// for arms: aliyun-bootstrap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50), inner(length(min = 1, max = 512)))]
    #[x_kube(validation = Rule::new("self.all(p, !p.startsWith('-'))").message(
        "tracing.probePackages entries must be requirement specifiers; pip options (starting with '-') are not allowed"
    ))]
    #[x_kube(validation = Rule::new(super::SHELL_FREE).message(
        "tracing.probePackages entries must be requirement specifiers: shell syntax ($, `, |, &, newlines) is not allowed"
    ))]
    pub probe_packages: Option<Vec<String>>,

    /// Settings of the `arms` probe (Alibaba Cloud Application Real-Time Monitoring Service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arms: Option<ArmsSpec>,
}

impl TracingSpec {
    /// Whether the operator's default endpoint (`--default-trace-endpoint`)
    /// applies: no `endpoint` and the `opentelemetry` probe, the one that
    /// needs one. `arms` reports to ARMS and `builtin` images configure their
    /// own exporter, so neither gets the default. The one rule for the
    /// operator's pods and the evaluator's evaluation spans.
    pub fn takes_default_endpoint(&self) -> bool {
        self.endpoint.is_none() && self.probe == Probe::OpenTelemetry
    }

    /// Where traces go: `endpoint`, else `default` when it applies
    /// ([`Self::takes_default_endpoint`]).
    pub fn endpoint_or<'a>(&'a self, default: Option<&'a str>) -> Option<&'a str> {
        self.endpoint
            .as_deref()
            .or(default.filter(|_| self.takes_default_endpoint()))
    }
}

fn default_true() -> bool {
    true
}

fn default_ratio() -> f64 {
    1.0
}

/// How the app is instrumented.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    /// `aliyun-bootstrap -a install && aliyun-instrument <command>`; `aliyun-bootstrap` is installed first.
    Arms,
    /// `opentelemetry-bootstrap -a install && opentelemetry-instrument <command>`.
    #[default]
    #[serde(rename = "opentelemetry")]
    OpenTelemetry,
    /// The image instruments itself; the command is left untouched, the env is still set.
    Builtin,
}

impl Probe {
    /// The name used in YAML and in `status.probe`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Arms => "arms",
            Self::OpenTelemetry => "opentelemetry",
            Self::Builtin => "builtin",
        }
    }
}

/// OTLP transport.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (port 4317 by convention).
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP protobuf over HTTP (port 4318 by convention).
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// OTLP JSON over HTTP.
    #[serde(rename = "http/json")]
    HttpJson,
}

impl OtlpProtocol {
    /// The value of `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
            Self::HttpJson => "http/json",
        }
    }
}

/// Settings of the ARMS probe.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArmsSpec {
    /// ARMS application name; the trace service name when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub app_name: Option<String>,
    /// Region of the ARMS instance, e.g. `cn-hangzhou`.
    #[schemars(length(min = 1, max = 64))]
    pub region_id: String,
    /// Secret key holding the ARMS license key.
    pub license_key_secret_ref: SecretKeyRef,
}

/// A key of a Secret in the TracedService's namespace.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key in the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}
