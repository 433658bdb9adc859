//! `traceval operator`'s command-line arguments, each also an environment
//! variable (what the Helm chart sets, `charts/traceval/templates/_helpers.tpl`),
//! and the [`OperatorConfig`] they make. Values are checked here, when the
//! operator starts: a bad default fails the start, not a later reconcile.

use std::net::SocketAddr;

use super::OperatorConfig;
use super::leader::LeaseConfig;
use crate::api::evaluationtask::JudgeProvider;
use crate::resources::evaluationtask::{DEFAULT_EVALUATOR_IMAGE, EvaluationOptions};
use crate::resources::tracedservice::{BuildOptions, DEFAULT_OSS_SYNC_IMAGE, Endpoint};

/// `traceval operator`: the controllers with /metrics, /healthz and /readyz.
#[derive(Debug, Clone, clap::Args)]
pub struct OperatorArgs {
    /// Address of the /metrics, /healthz and /readyz server.
    #[arg(long, env = "TRACEVAL_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Elect one active replica through a coordination.k8s.io Lease.
    #[arg(long, env = "TRACEVAL_LEADER_ELECT")]
    pub leader_elect: bool,
    /// Name of the leader election Lease.
    #[arg(long, env = "TRACEVAL_LEASE_NAME", default_value = "traceval-operator")]
    pub lease_name: String,
    /// Namespace of the leader election Lease (the operator's own).
    #[arg(long, env = "TRACEVAL_LEASE_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// Namespaces to watch, comma-separated; all namespaces when unset.
    #[arg(
        long = "namespace",
        env = "TRACEVAL_WATCH_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// Image with rclone for `oss` mounts in `sync` mode.
    #[arg(long, env = "TRACEVAL_OSS_SYNC_IMAGE", default_value = DEFAULT_OSS_SYNC_IMAGE)]
    pub oss_sync_image: String,
    /// Trace UI link template for `status.traceUILink`, with `{service}`,
    /// `{namespace}` and `{name}`, e.g. `http://jaeger:16686/search?service={service}`.
    #[arg(long, env = "TRACEVAL_TRACE_UI_URL")]
    pub trace_ui_url: Option<String>,
    /// This instance's name in events (the pod name).
    #[arg(long, env = "TRACEVAL_POD_NAME")]
    pub instance: Option<String>,
    /// Image of the evaluation pods of EvaluationTasks (holds `traceval`).
    #[arg(long, env = "TRACEVAL_EVALUATOR_IMAGE", default_value = DEFAULT_EVALUATOR_IMAGE)]
    pub evaluator_image: String,
    /// Jaeger query URL for EvaluationTasks that name no `traceSource`,
    /// e.g. `http://jaeger-query.observability:16686`.
    #[arg(long, env = "TRACEVAL_TRACE_QUERY_URL")]
    pub trace_query_url: Option<String>,
    /// OTLP/HTTP endpoint for evaluation spans, instead of the target
    /// TracedService's `tracing.endpoint`.
    #[arg(long, env = "TRACEVAL_EVALUATION_OTLP_ENDPOINT")]
    pub evaluation_otlp_endpoint: Option<String>,
    /// OTLP endpoint of TracedServices with probe `opentelemetry` whose
    /// `tracing` names no `endpoint` (an http:// or https:// URL, e.g.
    /// `http://jaeger-collector.observability:4318`); without it they are
    /// Degraded (InvalidSpec).
    #[arg(long, env = "TRACEVAL_DEFAULT_TRACE_ENDPOINT", value_name = "URL", value_parser = trace_endpoint)]
    pub default_trace_endpoint: Option<Endpoint>,
    /// Judge preset of EvaluationTasks whose `judge` names no `provider`;
    /// without it they are Failed (InvalidSpec).
    #[arg(long, env = "TRACEVAL_DEFAULT_JUDGE_PRESET", value_name = "PRESET")]
    pub default_judge_preset: Option<JudgeProvider>,
}

/// `--default-trace-endpoint`: an http(s) URL with a host, as the CRD
/// requires of `tracing.endpoint`.
fn trace_endpoint(raw: &str) -> Result<Endpoint, String> {
    Endpoint::parse(raw).ok_or_else(|| {
        "expected an http:// or https:// URL with a host, e.g. http://jaeger-collector.observability:4318".to_owned()
    })
}

impl OperatorArgs {
    /// The operator's settings. The Lease holder is `--instance`, else
    /// `$HOSTNAME`, else a name made of the process ID.
    pub fn into_config(self) -> OperatorConfig {
        let leader_election = self.leader_elect.then(|| LeaseConfig {
            name: self.lease_name,
            namespace: self.lease_namespace,
            identity: self
                .instance
                .clone()
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| format!("traceval-{}", std::process::id())),
        });
        OperatorConfig {
            http_addr: self.http_addr,
            evaluation: EvaluationOptions {
                image: self.evaluator_image,
                trace_query_url: self.trace_query_url,
                otlp_endpoint: self.evaluation_otlp_endpoint,
                default_trace_endpoint: self.default_trace_endpoint.as_ref().map(|e| e.url.clone()),
                default_judge_preset: self.default_judge_preset,
            },
            options: BuildOptions {
                oss_sync_image: self.oss_sync_image,
                default_trace_endpoint: self.default_trace_endpoint,
            },
            trace_ui: self.trace_ui_url,
            instance: self.instance,
            namespaces: self
                .namespaces
                .into_iter()
                .filter(|n| !n.is_empty())
                .collect(),
            leader_election,
        }
    }
}
