//! `status` of an EvaluationTask. Two writers share it through server-side
//! apply with different field managers: the operator owns `phase`,
//! `conditions` and `observedGeneration`; the evaluator owns everything else
//! (results, counts, watermark). Every field is optional so that each writer
//! applies only its own.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::EvaluationCondition;
use super::results::{DocumentCounts, Judgement};

/// Most recent per-trace results kept in status, so the object stays small.
pub const MAX_RECENT_RESULTS: usize = 20;

/// Observed state of an EvaluationTask.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationTaskStatus {
    /// `metadata.generation` the operator last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// One-word state (operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<EvaluationPhase>,
    /// Conditions (operator).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<EvaluationCondition>,
    /// Average of each metric over the traces that have it (closer to 1 is better).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub averages: Option<Scores>,
    /// How many traces each average is over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_counts: Option<MetricCounts>,
    /// Traces sampled, evaluated, failed and skipped over all runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<TraceCounts>,
    /// Judge requests and tokens over all runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_usage: Option<JudgeUsage>,
    /// Traces that started before this time are done; the next run starts
    /// here (microsecond precision: a watermark between two traces must not
    /// be rounded to the second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<MicroTime>,
    /// When the last evaluation run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_time: Option<Time>,
    /// How the last run went, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub last_run_result: Option<String>,
    /// The last run's scores by `spec.slices.by` (absent without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slices: Option<SliceBreakdown>,
    /// The latest per-trace results, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub recent_results: Vec<TraceResultSummary>,
    /// The traced service's traffic in the last run's window: every trace,
    /// not only the sampled ones (the seed's performance monitoring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance: Option<PerformanceSummary>,
    /// The traffic of every window evaluated so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance_totals: Option<TrafficTotals>,
    /// Single traces: how far the runs got through `spec.traceIDs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_list_progress: Option<TraceListProgress>,
}

/// Traffic of one run's window.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceSummary {
    /// Traces that started at or after this time were counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<Time>,
    /// ...and before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end: Option<Time>,
    /// Traces (requests) in the window.
    #[serde(default)]
    pub requests: u64,
    /// Traces with an error span or a 5xx HTTP status.
    #[serde(default)]
    pub errors: u64,
    /// Median trace latency in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_latency_ms: Option<f64>,
    /// 95th percentile trace latency in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_latency_ms: Option<f64>,
    /// Prompt (input) tokens of the app's LLM calls.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Completion (output) tokens of the app's LLM calls.
    #[serde(default)]
    pub completion_tokens: u64,
}

/// Traffic counters summed over windows.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTotals {
    /// Traces (requests).
    #[serde(default)]
    pub requests: u64,
    /// Traces with an error.
    #[serde(default)]
    pub errors: u64,
    /// Prompt (input) tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Completion (output) tokens.
    #[serde(default)]
    pub completion_tokens: u64,
}

/// Progress through the trace IDs of a single-traces task: the first `done`
/// IDs of the list with hash `listHash` have a recorded outcome.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TraceListProgress {
    /// Hash of the (lowercased, deduplicated) list; a new list starts over.
    pub list_hash: String,
    /// IDs of the list that are done, counted from its start.
    #[serde(default)]
    pub done: u64,
}

/// One-word state for humans; tools should read the conditions.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvaluationPhase {
    /// Not scheduled yet.
    Pending,
    /// Runs are scheduled or under way.
    Running,
    /// Sampling ended and every trace up to its end is done.
    Completed,
    /// `suspend: true`.
    Stopped,
    /// The task cannot run; see the conditions.
    Failed,
}

/// Metric values of one trace, or averages; a metric that does not apply is absent.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Scores {
    /// The answer correctly addresses the query: 1, else 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correctness: Option<f64>,
    /// The answer is grounded in the contexts: 1, else 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faithfulness: Option<f64>,
    /// nDCG@K of the retrieved documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ndcg: Option<f64>,
    /// 1 when a relevant document is among the first K.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit_rate: Option<f64>,
    /// Relevant documents among the first K, divided by K.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision_at_k: Option<f64>,
    /// 1 / rank of the first relevant document within K (0 when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrr: Option<f64>,
    /// The share of judged documents that are relevant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_relevance: Option<f64>,
    /// The answer addresses the query (right or wrong): 1, else 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_relevance: Option<f64>,
    /// The task's own metrics and checks (`spec.metrics.custom`,
    /// `spec.metrics.checks`), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 40))]
    pub custom: BTreeMap<String, f64>,
}

impl Scores {
    /// Every present score by its name in status (camelCase; the task's
    /// own metrics by theirs), built-ins first.
    pub fn named(&self) -> impl Iterator<Item = (&str, f64)> {
        [
            ("correctness", self.correctness),
            ("faithfulness", self.faithfulness),
            ("answerRelevance", self.answer_relevance),
            ("ndcg", self.ndcg),
            ("hitRate", self.hit_rate),
            ("precisionAtK", self.precision_at_k),
            ("mrr", self.mrr),
            ("contextRelevance", self.context_relevance),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .chain(self.custom.iter().map(|(name, v)| (name.as_str(), *v)))
    }
}

/// How many traces each average is over.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MetricCounts {
    /// Traces with a correctness score.
    #[serde(default)]
    pub correctness: u64,
    /// Traces with a faithfulness score.
    #[serde(default)]
    pub faithfulness: u64,
    /// Traces with retrieval scores (nDCG, hit rate, Precision@K, MRR,
    /// context relevance).
    #[serde(default)]
    pub retrieval: u64,
    /// Traces with an answer relevance score.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub answer_relevance: u64,
    /// Traces with a score of each of the task's own metrics and checks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 40))]
    pub custom: BTreeMap<String, u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Trace counts.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TraceCounts {
    /// Traces picked by the sampling policy (or listed in traceIDs).
    #[serde(default)]
    pub sampled: u64,
    /// Traces with every applicable metric scored.
    #[serde(default)]
    pub evaluated: u64,
    /// Traces with an error (extraction or judge); their scores that were
    /// obtained still count in the averages.
    #[serde(default)]
    pub failed: u64,
    /// Traces read but not evaluated: not sampled, or without the spans the
    /// extraction looks for.
    #[serde(default)]
    pub skipped: u64,
    /// Skipped and failed traces by reason (`not sampled`, `no span matches
    /// "kind:LLM"`, `unreadable spans`, `judge error`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_evaluated: BTreeMap<String, u64>,
    /// With `spec.dataset`: evaluated traces whose query had a reference answer.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub with_reference: u64,
    /// With `spec.dataset`: evaluated traces whose query had none (judged
    /// without a reference).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub without_reference: u64,
}

impl TraceCounts {
    /// Counts whether a trace's query had a reference answer (`None`: no dataset).
    pub fn count_reference(&mut self, matched: Option<bool>) {
        match matched {
            Some(true) => self.with_reference += 1,
            Some(false) => self.without_reference += 1,
            None => {}
        }
    }
}

/// Judge requests and token usage.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JudgeUsage {
    /// Requests sent, retries included.
    #[serde(default)]
    pub requests: u64,
    /// Retries after 429, 5xx or timeouts.
    #[serde(default)]
    pub retries: u64,
    /// Replies whose label could not be read.
    #[serde(default)]
    pub not_parsable: u64,
    /// Prompt tokens the judge reported.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Completion tokens the judge reported.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Total tokens the judge reported.
    #[serde(default)]
    pub total_tokens: u64,
}

/// The result of one trace, as kept in status.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TraceResultSummary {
    /// The trace (32 hex digits).
    #[serde(rename = "traceID")]
    pub trace_id: String,
    /// Its scores.
    #[serde(default)]
    pub scores: Scores,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub error: Option<String>,
    /// Where the trace can be seen in the trace UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The spans query and answer were taken from, when several matching
    /// spans held differing values.
    #[serde(default, skip_serializing_if = "SpanChoices::is_empty")]
    pub choices: SpanChoices,
    /// What each metric said: label, score and the judge's explanation
    /// (cut to 160 characters here; whole, up to 500, in the JSON lines).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 48))]
    pub judgements: BTreeMap<String, Judgement>,
    /// Its value of `spec.slices.by`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub slice: Option<String>,
    /// How many documents the trace retrieved and how many were judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<DocumentCounts>,
    /// When it was evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<Time>,
}

/// The span a value was taken from when several spans matched its selector
/// and held differing values (the rule: the shallowest matching span, then
/// the earliest for the query and the latest for the answer).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SpanChoice {
    /// The span taken (16 hex digits).
    pub span_id: String,
    /// Its name.
    #[schemars(length(max = 256))]
    pub span_name: String,
    /// Its ancestors within the trace (0: a root).
    pub depth: u64,
    /// Spans that matched the selector.
    pub matching: u64,
    /// Distinct values among them.
    pub distinct_values: u64,
    /// Why this span, in words.
    #[schemars(length(max = 256))]
    pub rule: String,
}

/// The choices made for one trace's query and answer; empty when no value
/// was ambiguous.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct SpanChoices {
    /// The query's span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Box<SpanChoice>>,
    /// The answer's span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Box<SpanChoice>>,
}

impl SpanChoices {
    /// Whether nothing was ambiguous.
    pub fn is_empty(&self) -> bool {
        self.query.is_none() && self.answer.is_none()
    }
}

/// A run's scores by the value of `slices.by`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SliceBreakdown {
    /// The attribute.
    pub by: String,
    /// Per value (at most 20, the rest under `(other)`; traces without the
    /// attribute under `(none)`).
    #[serde(default)]
    #[schemars(extend("maxProperties" = 22))]
    pub values: BTreeMap<String, SliceScores>,
}

/// The scores of one slice.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SliceScores {
    /// Traces with every applicable metric scored.
    #[serde(default)]
    pub evaluated: u64,
    /// Traces with an error.
    #[serde(default)]
    pub failed: u64,
    /// Averages over the slice's traces that have each metric.
    #[serde(default)]
    pub averages: Scores,
    /// How many traces each average is over.
    #[serde(default)]
    pub metric_counts: MetricCounts,
}
