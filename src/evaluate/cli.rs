//! The offline front doors, `traceval extract` and `traceval evaluate`:
//! arguments, the run, and exit codes (2 for bad input, 1 for a failed run).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::engine::{Engine, TraceResult};
use super::extract::Extractor;
use super::judge::{Judge, JudgeConfig, token_from_env};
use super::normalise::Trace;
use super::report::{self, ExtractLine, Summary, write_line};
use super::sampling::Sampler;
use super::source::{FileSource, JaegerSource, SourceError, TraceQuery, TraceSource};
use super::task::{self, DEFAULT_DELAY};
use crate::api::evaluationtask::EvaluationTaskSpec;

/// `traceval extract`: prints what a task's extraction settings find in each trace.
#[derive(clap::Args, Debug, Clone)]
pub struct ExtractArgs {
    /// EvaluationTask manifest whose `spec.extraction` is applied.
    #[arg(long, value_name = "TASK.yaml")]
    pub task: PathBuf,
    /// OTLP/JSON traces: an ExportTraceServiceRequest, a Jaeger api_v3
    /// response, or JSON lines of either.
    #[arg(long, value_name = "FILE")]
    pub traces: PathBuf,
    /// Print the normalised span objects the paths are evaluated on (one
    /// JSON line per span, attributes unflattened) instead of what they find.
    #[arg(long)]
    pub spans: bool,
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
    /// Judge base URL (`.../v1`), overriding `spec.judge.baseURL` and the preset.
    #[arg(long, value_name = "URL")]
    pub judge_url: Option<String>,
    /// Also write the per-trace result lines to this file.
    #[arg(long, value_name = "RESULTS.jsonl")]
    pub output: Option<PathBuf>,
    /// Jaeger query URL, overriding `spec.traceSource.jaeger.url`.
    #[arg(long, value_name = "URL")]
    pub jaeger_url: Option<String>,
    /// `service.name` of the traces, overriding `spec.target`.
    #[arg(long, value_name = "NAME")]
    pub service_name: Option<String>,
}

/// Why a front door stopped.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input: task, trace file, arguments. Exit code 2.
    #[error("{0}")]
    Input(String),
    /// The run could not complete (trace store, output). Exit code 1.
    #[error("{0}")]
    Run(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Input(_) => 2,
            Self::Run(_) => 1,
        }
    }
}

/// `traceval extract` for `main`: stdout, errors on stderr; the exit code.
pub fn run_extract(args: &ExtractArgs) -> u8 {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match extract(args, &mut out) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("traceval extract: {error}");
            error.exit_code()
        }
    }
}

/// `traceval evaluate` for `main`: stdout, errors on stderr; the exit code.
pub fn run_evaluate(args: &EvaluateArgs) -> u8 {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("traceval evaluate: cannot start the async runtime: {error}");
            return 1;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let run = async {
        match (&args.namespace, &args.name) {
            (Some(namespace), Some(name)) => {
                super::cluster::evaluate(args, namespace, name, &mut out).await
            }
            _ => evaluate(args, &mut out).await,
        }
    };
    match runtime.block_on(run) {
        Ok(_) => 0,
        Err(error) => {
            eprintln!("traceval evaluate: {error}");
            error.exit_code()
        }
    }
}

pub(crate) fn source_error(e: SourceError) -> CliError {
    if e.is_input_error() {
        CliError::Input(e.to_string())
    } else {
        CliError::Run(e.to_string())
    }
}

pub(crate) fn output_error(e: std::io::Error) -> CliError {
    CliError::Run(format!("cannot write results: {e}"))
}

/// Runs `traceval extract`, writing one line per trace to `out` as soon as
/// the trace is complete (see [`super::source::assemble`]). Input that is
/// not OTLP/JSON stops the run with an input error; lines already written
/// stay (with one trace per line, none is written before the fourth line
/// after it has parsed).
pub fn extract(args: &ExtractArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let task = task::load(&args.task).map_err(|e| CliError::Input(e.to_string()))?;
    let extractor =
        Extractor::new(&task.spec.extraction).map_err(|e| CliError::Input(e.to_string()))?;
    let mut write_failure: Option<std::io::Error> = None;
    let mut write = |trace: Trace| -> std::io::Result<()> {
        let reason = trace.unreadable_reason();
        if args.spans {
            if let Some(reason) = &reason {
                tracing::warn!(trace_id = %trace.trace_id, %reason, "spans could not be read");
            }
            for span in &trace.spans {
                write_line(out, &span.to_json())?;
            }
            return Ok(());
        }
        let found = extractor.extract(&trace);
        let mut line = ExtractLine::from(&found);
        line.error = reason.as_deref();
        write_line(out, &line)
    };
    let read = super::source::for_each_trace(&args.traces, &mut |trace| {
        write(trace).map_err(|e| {
            let stop = SourceError::Read {
                path: "the output".into(),
                source: std::io::Error::new(e.kind(), e.to_string()),
            };
            write_failure = Some(e);
            stop
        })
    });
    if let Some(e) = write_failure {
        return Err(output_error(e));
    }
    read.map_err(source_error)?;
    out.flush().map_err(output_error)
}

/// Runs `traceval evaluate`: result lines to `out` (and `--output`), then
/// the summary as the last line of `out`.
pub async fn evaluate(args: &EvaluateArgs, out: &mut dyn Write) -> Result<Summary, CliError> {
    let path = args
        .task
        .as_ref()
        .ok_or_else(|| CliError::Input("give --task FILE, or --namespace and --name".into()))?;
    let task = task::load(path).map_err(|e| CliError::Input(e.to_string()))?;
    let spec = &task.spec;
    let token = token_from_env(spec.judge.provider).map_err(|e| CliError::Input(e.to_string()))?;
    let config = JudgeConfig::from_spec(&spec.judge, args.judge_url.as_deref(), token)
        .map_err(|e| CliError::Input(e.to_string()))?;
    let judge = Judge::new(config).map_err(|e| CliError::Input(e.to_string()))?;
    let engine = Engine::new(spec, judge).map_err(|e| CliError::Input(e.to_string()))?;

    let (source, live): (Box<dyn TraceSource>, bool) = match (&args.traces, &args.jaeger_url) {
        (Some(path), _) => (Box::new(FileSource::new(path)), false),
        (None, url) => {
            let jaeger = spec.trace_source.as_ref().and_then(|s| s.jaeger.as_ref());
            let url = url.as_deref().or(jaeger.map(|j| j.url.as_str())).ok_or_else(|| {
                CliError::Input(
                    "no traces: give --traces FILE, --jaeger-url, or spec.traceSource.jaeger.url".into(),
                )
            })?;
            let page = jaeger.and_then(|j| j.page_size).map(|p| p as usize);
            (
                Box::new(JaegerSource::new(url, page).map_err(source_error)?),
                true,
            )
        }
    };

    let picked = pick_traces(spec, source.as_ref(), live, args.service_name.as_deref()).await?;
    // Only now, with the input read, is anything written.
    let mut file = args
        .output
        .as_ref()
        .map(|path| {
            File::create(path)
                .map(BufWriter::new)
                .map_err(|e| CliError::Run(format!("cannot create {}: {e}", path.display())))
        })
        .transpose()?;
    let mut emit = |result: &TraceResult| -> Result<(), CliError> {
        write_line(out, result).map_err(output_error)?;
        if let Some(file) = file.as_mut() {
            write_line(file, result).map_err(output_error)?;
        }
        Ok(())
    };
    for trace_id in &picked.missing {
        emit(&TraceResult {
            trace_id: trace_id.clone(),
            query: None,
            answer: None,
            contexts: Vec::new(),
            scores: Default::default(),
            error: Some("trace not found in the trace source".into()),
        })?;
    }
    let mut summary =
        report::evaluate_all(&engine, &picked.traces, picked.skipped, &mut emit).await?;
    summary.failed += picked.missing.len() as u64;
    if let Some(mut file) = file {
        file.flush().map_err(output_error)?;
    }
    write_line(out, &summary).map_err(output_error)?;
    out.flush().map_err(output_error)?;
    Ok(summary)
}

/// The traces a run evaluates.
struct Picked {
    traces: Vec<Trace>,
    skipped: u64,
    missing: Vec<String>,
}

async fn pick_traces(
    spec: &EvaluationTaskSpec,
    source: &dyn TraceSource,
    live: bool,
    service_override: Option<&str>,
) -> Result<Picked, CliError> {
    if let Some(ids) = &spec.trace_ids {
        let ids: Vec<String> = ids.iter().map(|id| id.to_ascii_lowercase()).collect();
        let traces = source.get_traces(&ids).await.map_err(source_error)?;
        let missing = ids
            .iter()
            .filter(|id| !traces.iter().any(|t| &&t.trace_id == id))
            .cloned()
            .collect();
        return Ok(Picked {
            traces,
            skipped: 0,
            missing,
        });
    }
    let sampling = spec
        .sampling
        .as_ref()
        .ok_or_else(|| CliError::Input("the task has neither sampling nor traceIDs".into()))?;
    let sampler = Sampler::from_spec(sampling)
        .ok_or_else(|| CliError::Input("sampling.policy needs timeWindow or probability".into()))?;
    let mut end = sampler.end();
    if live {
        // Traces younger than `delay` may still be receiving spans.
        let delay = spec
            .delay
            .as_deref()
            .map(task::parse_duration)
            .transpose()
            .map_err(CliError::Input)?
            .unwrap_or(DEFAULT_DELAY);
        let delay = SignedDuration::try_from(delay).unwrap_or(SignedDuration::MAX);
        let settled = Timestamp::now()
            .checked_sub(delay)
            .unwrap_or(Timestamp::UNIX_EPOCH);
        end = sampler.complete_until(settled.min(end));
    }
    let service_name = service_override
        .or(spec.target.service_name.as_deref())
        .or(spec.target.traced_service.as_deref())
        .unwrap_or_default()
        .to_owned();
    if end <= sampler.start() {
        return Ok(Picked {
            traces: Vec::new(),
            skipped: 0,
            missing: Vec::new(),
        });
    }
    let query = TraceQuery {
        service_name,
        start_min: sampler.start(),
        start_max: end,
    };
    // Sampled while reading: only the sample is held, not the window.
    let mut picker = sampler.picker();
    source
        .scan_traces(&query, &mut |trace| picker.offer(trace))
        .await
        .map_err(source_error)?;
    let mut selection = picker.finish();
    if live {
        // A trace store's traces are evaluated in start order.
        selection.selected.sort_by_key(Trace::start_time_unix_nano);
    }
    Ok(Picked {
        traces: selection.selected,
        skipped: selection.skipped as u64,
        missing: Vec::new(),
    })
}
