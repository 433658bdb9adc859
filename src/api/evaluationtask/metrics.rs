//! `spec.metrics` and `spec.dataset`: which built-in metrics run, the
//! task's own judge metrics (templates with rails), the code checks that
//! need no judge, and the reference answers correctness compares with.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Retrieval metrics are computed over this many documents when `k` is unset.
pub const DEFAULT_RETRIEVAL_K: u32 = 5;

/// Documents judged per trace when `maxDocuments` is unset.
pub const DEFAULT_MAX_DOCUMENTS: u32 = 20;

/// Names a task's own metrics and checks may not take (the built-ins' and
/// their scores'; the CRD's CEL rules list the same).
pub const RESERVED_METRIC_NAMES: [&str; 9] = [
    "correctness",
    "faithfulness",
    "relevance",
    "answerRelevance",
    "contextRelevance",
    "ndcg",
    "hitRate",
    "precisionAtK",
    "mrr",
];

/// Which metrics are computed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.custom) || !has(self.checks) || self.custom.all(m, !self.checks.exists(c, c.name == m.name))").message(
    "metric names must be unique: a custom metric and a check have the same name"
))]
pub struct MetricsSpec {
    /// Does the answer correctly address the query (given the contexts, or
    /// the dataset's reference answer, if any)?
    #[serde(default = "yes")]
    pub correctness: bool,
    /// Is the answer grounded in the contexts? Only for traces with contexts.
    #[serde(default = "yes")]
    pub faithfulness: bool,
    /// Does the answer address the query, right or wrong? One more judge
    /// request per trace; off unless set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub answer_relevance: bool,
    /// Are the retrieved documents relevant to the query? Only for traces with contexts.
    #[serde(default)]
    pub retrieval: RetrievalMetricsSpec,
    /// The task's own judge metrics: a prompt template over the extracted
    /// fields and the labels the judge may answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub custom: Vec<CustomMetricSpec>,
    /// Deterministic checks of each trace, no judge call: score 1 (pass) or 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub checks: Vec<CheckSpec>,
}

impl Default for MetricsSpec {
    fn default() -> Self {
        Self {
            correctness: true,
            faithfulness: true,
            answer_relevance: false,
            retrieval: RetrievalMetricsSpec::default(),
            custom: Vec::new(),
            checks: Vec::new(),
        }
    }
}

/// Retrieval metrics: nDCG@K, hit rate, Precision@K, MRR, context relevance.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.maxDocuments) || self.maxDocuments >= self.k").message(
    "retrieval.maxDocuments must be at least retrieval.k"
))]
pub struct RetrievalMetricsSpec {
    /// Whether they are computed (one judge request per document).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Precision@K, hit rate, MRR and nDCG@K look at the first K documents (default 5).
    #[serde(default = "default_k")]
    #[schemars(range(min = 1, max = 100))]
    pub k: u32,
    /// At most this many documents of a trace are judged, in retrieval
    /// order (default 20, or K when K is larger). nDCG's ideal ranking is
    /// made of all of them, so a relevant document ranked below K lowers
    /// the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub max_documents: Option<u32>,
}

impl RetrievalMetricsSpec {
    /// How many documents of a trace are judged at most.
    pub fn judged_documents(&self) -> u32 {
        self.max_documents
            .unwrap_or(DEFAULT_MAX_DOCUMENTS.max(self.k))
    }
}

impl Default for RetrievalMetricsSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            k: DEFAULT_RETRIEVAL_K,
            max_documents: None,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_k() -> u32 {
    DEFAULT_RETRIEVAL_K
}

/// A judge metric of the task's own.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(self.name in ['correctness', 'faithfulness', 'relevance', 'answerRelevance', 'contextRelevance', 'ndcg', 'hitRate', 'precisionAtK', 'mrr'])").message(
    "custom metric names must not be a built-in's (correctness, faithfulness, relevance, answerRelevance, contextRelevance, ndcg, hitRate, precisionAtK, mrr)"
))]
#[x_kube(validation = Rule::new(r"self.level == 'document' ? self.template.matches('^([^{}]|[{][{]|[}][}]|[{](query|answer|contexts|reference|document)[}])*$') : self.template.matches('^([^{}]|[{][{]|[}][}]|[{](query|answer|contexts|reference)[}])*$')").message(
    "template: unknown variable or unmatched brace; variables are {query}, {answer}, {contexts}, {reference} and, with level: document, {document}; write {{ and }} for literal braces"
))]
#[x_kube(validation = Rule::new("self.level != 'document' || self.template.contains('{document}')").message(
    "a per-document metric (level: document) must use {document} in its template"
))]
pub struct CustomMetricSpec {
    /// The metric's name in scores and status (`scores.custom.<name>`).
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-zA-Z][a-zA-Z0-9_-]*$")
    )]
    pub name: String,
    /// `trace`: one judge request per trace; `document`: one per retrieved
    /// document (up to `retrieval.maxDocuments`), scored by their average.
    #[serde(default)]
    pub level: MetricLevel,
    /// The user message: text with `{query}`, `{answer}`, `{contexts}`,
    /// `{reference}` and (per document) `{document}`, each rendered as a
    /// tagged block. A trace without contexts (or without a reference
    /// answer) is not scored for a metric that uses them.
    #[schemars(length(min = 1, max = 16384))]
    pub template: String,
    /// The labels the judge may answer and each one's score, in the order
    /// the prompt names them.
    #[schemars(length(min = 2, max = 10))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["label"]))]
    pub rails: Vec<RailSpec>,
}

/// One label a judge may answer.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RailSpec {
    /// The label, one word or a few (matched as whole words, case-insensitively).
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[A-Za-z][A-Za-z0-9_ -]*$")
    )]
    pub label: String,
    /// Its score, in [0, 1].
    #[x_kube(validation = Rule::new("self >= 0.0 && self <= 1.0").message("a rail's score must be in [0, 1]"))]
    pub score: f64,
}

/// Whether a metric is asked per trace or per retrieved document.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum MetricLevel {
    /// Once per trace.
    #[default]
    Trace,
    /// Once per retrieved document.
    Document,
}

/// A code check; exactly one kind is set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.regex) ? 1 : 0) + (has(self.jsonSchema) ? 1 : 0) + (has(self.reference) ? 1 : 0) + (has(self.length) ? 1 : 0) + (has(self.latency) ? 1 : 0) == 1").message(
    "a check needs exactly one of regex, jsonSchema, reference, length and latency"
))]
#[x_kube(validation = Rule::new("!(self.name in ['correctness', 'faithfulness', 'relevance', 'answerRelevance', 'contextRelevance', 'ndcg', 'hitRate', 'precisionAtK', 'mrr'])").message(
    "check names must not be a built-in metric's"
))]
pub struct CheckSpec {
    /// The check's name in scores and status (`scores.custom.<name>`).
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-zA-Z][a-zA-Z0-9_-]*$")
    )]
    pub name: String,
    /// What `regex` and `length` look at (default `answer`).
    #[serde(default)]
    pub field: CheckField,
    /// Passes when the field matches this regular expression anywhere
    /// (Rust `regex` syntax, like RE2; anchor with `^...$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub regex: Option<String>,
    /// Passes when the answer is JSON valid against this JSON Schema
    /// (draft 2020-12 unless `$schema` says otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub json_schema: Option<serde_json::Value>,
    /// Compares the answer with the dataset's reference answer (whitespace
    /// and case normalised); a trace without one is not scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceMatch>,
    /// Passes when the field's length in characters is within bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<LengthCheck>,
    /// Passes when the trace (first span start to last span end) took at most this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyCheck>,
}

fn any_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// The extracted field a check looks at.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum CheckField {
    /// The answer.
    #[default]
    Answer,
    /// The query.
    Query,
}

/// How the answer is compared with the reference answer.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ReferenceMatch {
    /// Equal.
    Exact,
    /// The answer contains the reference.
    Contains,
}

/// Length bounds in characters; at least one is set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.min) || has(self.max)").message("length needs min or max"))]
#[x_kube(validation = Rule::new("!has(self.min) || !has(self.max) || self.min <= self.max").message("length.min must not exceed length.max"))]
pub struct LengthCheck {
    /// At least this many characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// At most this many characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

/// A latency bound.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LatencyCheck {
    /// At most this many milliseconds.
    #[schemars(range(min = 1))]
    pub max_ms: u64,
}

/// Reference answers for correctness and the `reference` checks.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatasetSpec {
    /// A ConfigMap key in the task's namespace holding the rows: JSON lines
    /// or a YAML/JSON list of `{query, reference}`. Mounted into the
    /// evaluation pod; the operator checks it before each change.
    pub config_map_ref: ConfigMapKeyRef,
}

/// A key of a ConfigMap in the task's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ConfigMapKeyRef {
    /// The ConfigMap.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}
