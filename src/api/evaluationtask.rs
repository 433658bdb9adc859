//! `EvaluationTask` (`traceval.dev/v1alpha1`): which traces of a traced
//! service to sample, how to pull query / answer / context out of their
//! spans, and which judge model scores them (the seed's "evaluation task").

mod conditions;
pub mod delay;
mod judge;
mod metrics;
pub mod progress;
mod results;
mod slices;
mod status;
pub mod validate;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use self::conditions::{
    EvaluationCondition, EvaluationConditionReason, EvaluationConditionType,
};
pub use self::delay::{DEFAULT_DELAY, Delay};
pub use self::judge::{JudgeProvider, JudgeSpec};
pub use self::metrics::{
    CheckField, CheckSpec, ConfigMapKeyRef, CustomMetricSpec, DEFAULT_MAX_DOCUMENTS,
    DEFAULT_RETRIEVAL_K, DatasetSpec, LatencyCheck, LengthCheck, MetricLevel, MetricsSpec,
    RESERVED_METRIC_NAMES, RailSpec, ReferenceMatch, RetrievalMetricsSpec,
};
pub use self::results::{
    DocumentCounts, DocumentJudgement, Judgement, MAX_STATUS_EXPLANATION, cut,
};
pub use self::slices::{
    AttributePredicate, AttributeScope, MAX_SLICES, NO_SLICE, OTHER_SLICE, SlicesSpec,
};
pub use self::status::{
    EvaluationPhase, EvaluationTaskStatus, JudgeUsage, MAX_RECENT_RESULTS, MetricCounts,
    PerformanceSummary, Scores, SliceBreakdown, SliceScores, SpanChoice, SpanChoices, TraceCounts,
    TraceListProgress, TraceResultSummary, TrafficTotals,
};
pub use self::validate::validate;
pub use super::tracedservice::SecretKeyRef;

/// Environment variable the judge token reaches the evaluator in: set by
/// the operator's pod builder from `judge.tokenSecretRef`, read by the
/// evaluator's judge client.
pub const TOKEN_ENV: &str = "TRACEVAL_JUDGE_TOKEN";

/// An evaluation of a traced service's answers: online batch (`schedule` +
/// `sampling`) or a fixed list of traces (`traceIDs`).
// Several printer columns share a `type_`, which clippy reads as repeated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "traceval.dev",
    version = "v1alpha1",
    kind = "EvaluationTask",
    namespaced,
    shortname = "evaltask",
    category = "traceval",
    status = "EvaluationTaskStatus",
    derive = "PartialEq",
    doc = "Scores a traced LLM service's answers (correctness, faithfulness, retrieval) with a judge model.",
    printcolumn(
        name = "Target",
        type_ = "string",
        json_path = ".spec.target.tracedService"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Evaluated",
        type_ = "integer",
        json_path = ".status.counts.evaluated"
    ),
    printcolumn(
        name = "Correctness",
        type_ = "number",
        json_path = ".status.averages.correctness"
    ),
    printcolumn(
        name = "Faithfulness",
        type_ = "number",
        json_path = ".status.averages.faithfulness"
    ),
    printcolumn(name = "nDCG", type_ = "number", json_path = ".status.averages.ndcg"),
    printcolumn(name = "Last Run", type_ = "date", json_path = ".status.lastRunTime"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.sampling) != has(self.traceIDs)").message(
    "set exactly one mode: sampling (online batch, with schedule) or traceIDs (single traces)"
))]
#[x_kube(validation = Rule::new("has(self.sampling) || (!has(self.schedule) && !has(self.delay))").message(
    "schedule and delay apply to online batch tasks (sampling); a traceIDs task runs once"
))]
pub struct EvaluationTaskSpec {
    /// Whose traces are evaluated.
    pub target: EvaluationTarget,

    /// Where traces are read; inherited from the target TracedService when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_source: Option<TraceSourceSpec>,

    /// The judge model that scores the answers.
    pub judge: JudgeSpec,

    /// Which metrics are computed; the built-ins (answer relevance aside)
    /// when unset.
    #[serde(default)]
    pub metrics: MetricsSpec,

    /// Reference answers: correctness compares with the reference of a
    /// trace's query when there is one (README, "Reference answers").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetSpec>,

    /// Which traces are evaluated (attribute predicates) and the attribute
    /// each run's scores are broken down by (README, "Slices").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slices: Option<SlicesSpec>,

    /// How query, answer and context are read from a trace's spans.
    pub extraction: ExtractionSpec,

    /// Online batch: cron schedule of the evaluation runs (default every 10 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub schedule: Option<String>,

    /// Online batch: which traces are sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<SamplingSpec>,

    /// Online batch: traces younger than this wait for the next run, so they
    /// are complete when read (Go duration: `90s`, `2m`, `1h30m`; default `2m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    pub delay: Option<Delay>,

    /// Stops scheduling runs (the seed's "stop"); resuming continues from the watermark.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,

    /// Single traces: the trace IDs (32 hex digits) evaluated once.
    #[serde(default, rename = "traceIDs", skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 1000),
        inner(regex(pattern = r"^[0-9a-fA-F]{32}$"))
    )]
    pub trace_ids: Option<Vec<String>>,
}

/// Whose traces are evaluated.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.tracedService) || has(self.serviceName)").message(
    "target needs tracedService (a TracedService in this namespace) or serviceName (service.name in the trace store)"
))]
pub struct EvaluationTarget {
    /// A TracedService in the task's namespace; its trace service name and
    /// trace store are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub traced_service: Option<String>,

    /// `service.name` of the traces; overrides the TracedService's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub service_name: Option<String>,
}

/// A trace store; one backend is set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.jaeger)").message("traceSource needs jaeger"))]
pub struct TraceSourceSpec {
    /// Jaeger's query service (api_v3 over HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jaeger: Option<JaegerSourceSpec>,
}

/// Jaeger's query service.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JaegerSourceSpec {
    /// Base URL of the query service, e.g. `http://jaeger-query.observability:16686`.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')")
        .message("jaeger.url must be an http:// or https:// URL"))]
    pub url: String,

    /// Traces asked for per search request (default 1000); a full page makes
    /// the evaluator split the time window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub page_size: Option<u32>,
}

/// The seed's three extraction settings, or a preset for an
/// instrumentation with any of them overridden.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.preset) || (has(self.query) && has(self.answer))").message(
    "extraction needs a preset, or both query and answer"
))]
pub struct ExtractionSpec {
    /// Where query, answer and retrieved documents are for an
    /// instrumentation (see the README's extraction section); `query`,
    /// `answer` and `context` set here replace the preset's, field by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<ExtractionPreset>,

    /// The query (the app's input): from the shallowest matching span, the
    /// earliest of those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!self.jsonPathInSpan.contains('*') && (!has(self.jsonPathInSpanValue) || !self.jsonPathInSpanValue.contains('*'))")
        .message("query paths select one value: [*] and other wildcards are allowed only in context"))]
    pub query: Option<ExtractionRule>,

    /// The answer (the app's output): from the shallowest matching span, the
    /// latest of those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!self.jsonPathInSpan.contains('*') && (!has(self.jsonPathInSpanValue) || !self.jsonPathInSpanValue.contains('*'))")
        .message("answer paths select one value: [*] and other wildcards are allowed only in context"))]
    pub answer: Option<ExtractionRule>,

    /// The retrieved documents, in order: from all matching spans in start
    /// order. Without it (and without a preset that has one), faithfulness
    /// and retrieval metrics do not apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ExtractionRule>,
}

/// Extraction settings for an instrumentation.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtractionPreset {
    /// OpenInference (Arize Phoenix; LangChain, LlamaIndex, OpenAI, ...):
    /// `input.value` / `output.value`, `llm.input_messages`, `retrieval.documents`.
    #[serde(rename = "openinference")]
    OpenInference,
    /// OTel GenAI semantic conventions (`opentelemetry-instrumentation-openai-v2`
    /// and others): `gen_ai.input.messages` / `gen_ai.output.messages`, the
    /// indexed `gen_ai.prompt` / `gen_ai.completion` attributes, and the
    /// `gen_ai.user.message` / `gen_ai.choice` (or `gen_ai.content.*`) span events.
    #[serde(rename = "otel-genai")]
    OtelGenAi,
    /// OpenLLMetry (Traceloop): `gen_ai.prompt.N.content` /
    /// `gen_ai.completion.N.content`, `traceloop.entity.input` / `output`.
    #[serde(rename = "openllmetry")]
    OpenLlmetry,
    /// The DashScope instrumentation the probe installs
    /// (`loongsuite-instrumentation-dashscope`).
    #[serde(rename = "dashscope")]
    DashScope,
}

impl ExtractionPreset {
    /// Every preset, in the order the suggester tries them.
    pub const ALL: [Self; 4] = [
        Self::OpenInference,
        Self::OtelGenAi,
        Self::OpenLlmetry,
        Self::DashScope,
    ];

    /// The name written in a task.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenInference => "openinference",
            Self::OtelGenAi => "otel-genai",
            Self::OpenLlmetry => "openllmetry",
            Self::DashScope => "dashscope",
        }
    }
}

/// Where one value is found in a trace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExtractionRule {
    /// The span name (e.g. `LLM`, `retrieve`); `kind:KIND` for spans of a
    /// semantic kind (`openinference.span.kind`, `gen_ai.span.kind`, or
    /// implied by `gen_ai.operation.name`: `kind:LLM` matches `chat`);
    /// `root:` for the root span; `attr:KEY=VALUE` (or `attr:KEY`) for spans
    /// with that attribute; `name:NAME` for a name that starts with a prefix.
    #[schemars(length(min = 1, max = 256))]
    pub span_name: String,

    /// Dotted path in the span object (`attributes.input.value`,
    /// `attributes.retrieval.documents[*].document.content`); JSONPath (RFC 9535) after `$.`.
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("self.trim() != ''").message("jsonPathInSpan must not be empty"))]
    pub json_path_in_span: String,

    /// When the value found is a JSON string, the path inside it (e.g. `text[0]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub json_path_in_span_value: Option<String>,
}

/// The seed's sampling settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.end > self.start").message("sampling.end must be after sampling.start"))]
pub struct SamplingSpec {
    /// Traces that started at or after this time are sampled.
    pub start: Time,
    /// Traces that started at or before this time are sampled; the task is
    /// Completed once runs have passed it.
    pub end: Time,
    /// How traces are picked.
    pub policy: SamplingPolicy,
}

/// A sampling policy; exactly one is set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.timeWindow) != has(self.probability)").message(
    "sampling.policy needs exactly one of timeWindow and probability"
))]
pub struct SamplingPolicy {
    /// One trace per time bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_window: Option<TimeWindowPolicy>,
    /// A share of the traces, picked by trace ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<ProbabilityPolicy>,
}

/// One trace per `minutes`-long bucket, counted from `sampling.start`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TimeWindowPolicy {
    /// Bucket length in minutes (at least 1).
    #[x_kube(validation = Rule::new("self >= 1").message("timeWindow.minutes must be at least 1"))]
    pub minutes: u32,
}

/// Each trace is kept when a hash of its ID falls below `ratio`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProbabilityPolicy {
    /// Share of traces kept, in (0, 1].
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("probability.ratio must be in (0, 1]"))]
    pub ratio: f64,
}

#[cfg(test)]
mod tests;
