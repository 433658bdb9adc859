//! The front doors, `traceval extract` and `traceval evaluate`: the run
//! (offline here; `--namespace`/`--name` hands over to [`super::cluster`])
//! and exit codes (2 for bad input, 1 for a failed run; see
//! [`super::error`]). The arguments are in [`super::args`].

pub mod progress;
mod suggest;

use std::fs::File;
use std::io::{BufWriter, Write};

use super::args::{EvaluateArgs, ExtractArgs};
use super::error::{CliError, output_error, source_error};
use super::extract::Extractor;
use super::scoring::reasons::{self, Reasons};
use super::scoring::report::{self, ExtractLine, write_line};
use super::scoring::{Engine, Summary, TraceResult};
use super::setup::{self, Place};
use super::source::{SourceError, TraceQuery, TraceSource};
use super::task;
use super::trace::Trace;
use crate::api::evaluationtask::EvaluationTaskSpec;
use progress::Progress;

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

/// Runs `traceval extract`, writing one line per trace to `out` as soon as
/// the trace is complete (see [`super::source::assemble`]). Input that is
/// not OTLP/JSON stops the run with an input error; lines already written
/// stay (with one trace per line, none is written before the fourth line
/// after it has parsed).
pub fn extract(args: &ExtractArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let Some(task_path) = &args.task else {
        return suggest::suggest(&args.traces, out);
    };
    let task = task::load(task_path).map_err(|e| CliError::Input(e.to_string()))?;
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
        line.missing = found.missing(&extractor);
        for (field, choice) in [
            ("query", &found.choices.query),
            ("answer", &found.choices.answer),
        ] {
            if let Some(c) = choice {
                eprintln!(
                    "traceval extract: trace {}: {field} from span {} {:?} (depth {}): {} matching spans hold {} different values; took {}",
                    found.trace_id,
                    c.span_id,
                    c.span_name,
                    c.depth,
                    c.matching,
                    c.distinct_values,
                    c.rule
                );
            }
        }
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
/// the summary as the last line of `out`; progress on stderr (`--progress`,
/// see [`progress`]).
pub async fn evaluate(args: &EvaluateArgs, out: &mut dyn Write) -> Result<Summary, CliError> {
    let path = args
        .task
        .as_ref()
        .ok_or_else(|| CliError::Input("give --task FILE, or --namespace and --name".into()))?;
    let task = task::load(path).map_err(|e| CliError::Input(e.to_string()))?;
    let spec = &task.spec;
    let engine = setup::engine(spec, args)?;
    let source = setup::trace_source(spec, args, Place::Offline)?;
    let progress = Progress::new(args.progress, engine.judge());
    let run = evaluate_with(spec, args, &engine, source.as_ref(), &progress, out);
    let summary = progress.drive(run).await;
    progress.finish(summary.as_ref().ok());
    summary
}

async fn evaluate_with(
    spec: &EvaluationTaskSpec,
    args: &EvaluateArgs,
    engine: &Engine,
    source: &dyn TraceSource,
    progress: &Progress<'_>,
    out: &mut dyn Write,
) -> Result<Summary, CliError> {
    let service_name = setup::service_name(spec, args, None);
    let picked = pick_traces(spec, source, service_name, progress).await?;
    progress.sample_complete();
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
        emit(&TraceResult::failed_with(
            trace_id,
            reasons::NOT_FOUND,
            "trace not found in the trace source".into(),
        ))?;
        progress.update(|c| c.failed += 1);
    }
    let on_result = |result: &TraceResult| {
        emit(result)?;
        progress.update(|c| {
            if result.failed() {
                c.failed += 1;
            } else {
                c.evaluated += 1;
            }
            c.done += 1;
        });
        Ok(())
    };
    let on_skipped = || {
        progress.update(|c| {
            c.skipped += 1;
            c.done += 1;
        })
    };
    let mut summary = report::evaluate_all(
        engine,
        &picked.traces,
        picked.passed_over,
        on_result,
        on_skipped,
    )
    .await?;
    summary.failed += picked.missing.len() as u64;
    reasons::add(
        &mut summary.not_evaluated,
        reasons::NOT_FOUND,
        picked.missing.len() as u64,
    );
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
    /// Traces read and passed over, by reason.
    passed_over: Reasons,
    missing: Vec<String>,
}

async fn pick_traces(
    spec: &EvaluationTaskSpec,
    source: &dyn TraceSource,
    service_name: String,
    progress: &Progress<'_>,
) -> Result<Picked, CliError> {
    let live = source.is_live();
    if let Some(ids) = &spec.trace_ids {
        let ids: Vec<String> = ids.iter().map(|id| id.to_ascii_lowercase()).collect();
        let traces = source.get_traces(&ids).await.map_err(source_error)?;
        let found = traces.len() as u64;
        progress.update(|c| (c.read, c.sampled) = (found, found));
        let missing = ids
            .iter()
            .filter(|id| !traces.iter().any(|t| &&t.trace_id == id))
            .cloned()
            .collect();
        return Ok(Picked {
            traces,
            passed_over: Reasons::new(),
            missing,
        });
    }
    let sampling = spec
        .sampling
        .as_ref()
        .ok_or_else(|| CliError::Input(setup::NO_MODE.into()))?;
    let sampler = setup::sampler(sampling)?;
    let mut end = sampler.end();
    if live {
        // Traces younger than `delay` may still be receiving spans.
        let settled = setup::settled(spec)?;
        end = sampler.complete_until(settled.min(end));
    }
    if end <= sampler.start() {
        return Ok(Picked {
            traces: Vec::new(),
            passed_over: Reasons::new(),
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
        .scan_traces(&query, &mut |trace| {
            picker.offer(trace);
            let (read, sampled) = picker.counts();
            progress.update(|c| (c.read, c.sampled) = (read as u64, sampled as u64));
        })
        .await
        .map_err(source_error)?;
    let mut selection = picker.finish();
    if live {
        // A trace store's traces are evaluated in start order.
        selection.selected.sort_by_key(Trace::start_time_unix_nano);
    }
    let mut passed_over = Reasons::new();
    let outside = selection.outside_window as u64;
    reasons::add(&mut passed_over, reasons::OUTSIDE_WINDOW, outside);
    reasons::add(
        &mut passed_over,
        reasons::NOT_SAMPLED,
        selection.skipped as u64 - outside,
    );
    Ok(Picked {
        traces: selection.selected,
        passed_over,
        missing: Vec::new(),
    })
}
