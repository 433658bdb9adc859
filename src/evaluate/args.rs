//! The evaluator's command-line arguments, shared by the offline run
//! ([`super::offline`]) and the in-cluster run ([`super::cluster`]).

use std::path::PathBuf;

use crate::api::evaluationtask::JudgeProvider;

/// `traceval extract`: prints what a task's extraction settings find in each trace.
#[derive(clap::Args, Debug, Clone)]
pub struct ExtractArgs {
    /// EvaluationTask manifest whose `spec.extraction` is applied.
    #[arg(long, value_name = "TASK.yaml", required_unless_present = "suggest")]
    pub task: Option<PathBuf>,
    /// Trace data: OTLP/JSON (camelCase or snake_case, one document or JSON
    /// lines), Jaeger api_v3 or v1/UI JSON, or Tempo's trace JSON.
    #[arg(long, value_name = "FILE")]
    pub traces: PathBuf,
    /// Print the normalised span objects the paths are evaluated on (one
    /// JSON line per span, attributes unflattened) instead of what they find.
    #[arg(long, conflicts_with = "suggest")]
    pub spans: bool,
    /// Print the `extraction:` settings (a preset) that find a query, an
    /// answer and documents in these traces, ready to paste into a task.
    #[arg(long, conflicts_with = "task")]
    pub suggest: bool,
}

/// `traceval evaluate`: one evaluation run of a task, offline (`--task`)
/// or in the cluster (`--namespace` and `--name`, what the operator's
/// CronJob and Job run; results go to the task's status).
#[derive(clap::Args, Debug, Clone)]
pub struct EvaluateArgs {
    /// EvaluationTask manifest (offline run).
    #[arg(
        long,
        value_name = "TASK.yaml",
        required_unless_present = "name",
        conflicts_with = "name"
    )]
    pub task: Option<PathBuf>,
    /// In-cluster run: the namespace of the EvaluationTask read from the API.
    #[arg(long, value_name = "NAMESPACE", requires = "name")]
    pub namespace: Option<String>,
    /// In-cluster run: the name of the EvaluationTask read from the API.
    #[arg(
        long,
        value_name = "NAME",
        requires = "namespace",
        conflicts_with_all = ["traces", "output"]
    )]
    pub name: Option<String>,
    /// In-cluster run: OTLP/HTTP endpoint for evaluation spans, overriding
    /// the target TracedService's `tracing.endpoint`.
    #[arg(long, value_name = "URL", requires = "name")]
    pub otlp_endpoint: Option<String>,
    /// Read traces from this OTLP/JSON file instead of `spec.traceSource`.
    #[arg(long, value_name = "FILE")]
    pub traces: Option<PathBuf>,
    /// In-cluster run: OTLP endpoint of a target TracedService whose
    /// `tracing` (probe opentelemetry) names no `endpoint` (the operator's
    /// `--default-trace-endpoint`): evaluation spans go there too.
    #[arg(long, value_name = "URL", requires = "name")]
    pub default_trace_endpoint: Option<String>,
    /// Judge base URL (`.../v1`), overriding `spec.judge.baseURL` and the preset.
    #[arg(long, value_name = "URL")]
    pub judge_url: Option<String>,
    /// Judge preset of a task whose `spec.judge` names no `provider` (in the
    /// cluster: the operator's `--default-judge-preset`).
    #[arg(long, value_name = "PRESET")]
    pub default_judge_preset: Option<JudgeProvider>,
    /// Also write the per-trace result lines to this file.
    #[arg(long, value_name = "RESULTS.jsonl")]
    pub output: Option<PathBuf>,
    /// Jaeger query URL, overriding `spec.traceSource.jaeger.url`.
    #[arg(long, value_name = "URL")]
    pub jaeger_url: Option<String>,
    /// `service.name` of the traces, overriding `spec.target`.
    #[arg(long, value_name = "NAME")]
    pub service_name: Option<String>,
    /// Reference answers: JSON lines or a YAML/JSON list of
    /// `{query, reference}` (in the cluster, the operator mounts
    /// `spec.dataset`'s ConfigMap key and passes its path).
    #[arg(long, value_name = "FILE")]
    pub dataset: Option<PathBuf>,
    /// Offline run: progress on stderr (a line redrawn in place, then a
    /// summary table); `auto` shows it when stderr is a terminal. stdout
    /// is the same JSON lines either way.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

/// When `traceval evaluate` shows its progress (`--progress`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// When stderr is a terminal.
    #[default]
    Auto,
    /// Always, also into a pipe or a file.
    Always,
    /// Never.
    Never,
}
