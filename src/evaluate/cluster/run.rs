//! The in-cluster run loop. Traces are taken in order (see
//! [`super::window`]); the sampled ones are evaluated with the
//! judge's concurrency and their outcomes recorded in that order, so after
//! each recorded outcome everything before it is done. The status is
//! checkpointed every second or every [`CHECKPOINT_RESULTS`] outcomes with
//! the watermark (or list progress) of the done prefix: a killed run loses at
//! most the outcomes since the last checkpoint, and they are evaluated again,
//! never counted twice.
//!
//! A judge that cannot be reached is not a verdict: while the judge has not
//! answered once in this run, a trace it failed on (after retries) is held
//! back with everything after it. If the judge answers later, the held
//! outcomes are recorded (such traces as failed); if not, nothing past the
//! first held trace is recorded and the run fails, so the next run starts
//! there again.

use std::io::Write;
use std::mem::take;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;

use super::Setup;
use super::ledger::Ledger;
use super::performance::{Traffic, summarize};
use super::plan::{Item, Progress, not_found, plan};
use super::status_writer::{StatusWriter, evaluator_fields};
use super::window::micros;
use crate::api::evaluationtask::{EvaluationTaskStatus, TraceListProgress};
use crate::evaluate::error::{CliError, output_error};
use crate::evaluate::scoring::report::write_line;
use crate::evaluate::scoring::retrieval::Totals;
use crate::evaluate::scoring::slices::SliceTotals;
use crate::evaluate::scoring::{JudgeContact, Outcome, Summary, reasons};

/// Outcomes recorded between two status writes at most.
pub const CHECKPOINT_RESULTS: usize = 25;
/// Longest time between two status writes while outcomes come in.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// Longest `lastRunResult`.
const MAX_RESULT_CHARS: usize = 1000;

/// Best effort: notes a failed run in `lastRunTime` / `lastRunResult`.
pub async fn record_failure(writer: &StatusWriter, previous: &EvaluationTaskStatus, why: &str) {
    let mut status = evaluator_fields(previous);
    status.last_run_time = Some(Time(Timestamp::now()));
    status.last_run_result = Some(bounded(format!("failed: {why}")));
    if let Err(error) = writer.write(&status).await {
        tracing::warn!(%error, "cannot record the failed run in the task's status");
    }
}

fn bounded(text: String) -> String {
    text.chars().take(MAX_RESULT_CHARS).collect()
}

/// Runs one evaluation and records it.
pub async fn run(
    setup: &Setup,
    previous: &EvaluationTaskStatus,
    writer: &StatusWriter,
    out: &mut dyn Write,
) -> Result<Summary, CliError> {
    let ledger = Ledger::from_status(previous);
    let planned = match plan(setup, previous, &ledger).await {
        Ok(planned) => planned,
        Err(error) => {
            record_failure(writer, previous, &error.to_string()).await;
            return Err(error);
        }
    };
    let Some((items, progress)) = planned else {
        let mut status = evaluator_fields(previous);
        status.last_run_time = Some(Time(Timestamp::now()));
        status.last_run_result = Some("nothing new to evaluate".into());
        writer
            .write(&status)
            .await
            .map_err(|e| CliError::Run(format!("cannot write the task's status: {e}")))?;
        let summary = Summary::default();
        write_line(out, &summary).map_err(output_error)?;
        return Ok(summary);
    };
    let mut state = State {
        setup,
        items: &items,
        writer,
        out,
        base: previous,
        ledger,
        progress,
        done: 0,
        held: Vec::new(),
        judge_answered: false,
        totals: Totals::default(),
        summary: Summary::for_engine(&setup.engine),
        spans: Vec::new(),
        pending: 0,
        last_checkpoint: Instant::now(),
    };
    let engine = &setup.engine;
    let mut outcomes = futures::stream::iter(items.iter().enumerate())
        .filter(|(_, item)| std::future::ready(item.sampled && !item.seen))
        .map(|(i, item)| async move {
            match &item.trace {
                Some(trace) => {
                    let (outcome, contact) = engine.evaluate_with_contact(trace).await;
                    (i, outcome, contact)
                }
                None => (
                    i,
                    Outcome::Done(not_found(&item.trace_id)),
                    JudgeContact::default(),
                ),
            }
        })
        .buffered(engine.judge().max_concurrency().max(1));
    while let Some((i, outcome, contact)) = outcomes.next().await {
        state.on_outcome(i, outcome, contact).await?;
    }
    drop(outcomes);
    state.finish().await
}

struct State<'a> {
    setup: &'a Setup,
    items: &'a [Item],
    writer: &'a StatusWriter,
    out: &'a mut dyn Write,
    base: &'a EvaluationTaskStatus,
    ledger: Ledger,
    progress: Progress,
    /// Items before this index are done.
    done: usize,
    /// Outcomes held back while the judge seems down.
    held: Vec<(usize, Outcome)>,
    judge_answered: bool,
    /// This run's scores, for the summary line.
    totals: Totals,
    summary: Summary,
    /// Evaluation spans not exported yet.
    spans: Vec<serde_json::Value>,
    /// Outcomes recorded since the last status write.
    pending: usize,
    last_checkpoint: Instant,
}

impl State<'_> {
    async fn on_outcome(
        &mut self,
        i: usize,
        outcome: Outcome,
        contact: JudgeContact,
    ) -> Result<(), CliError> {
        self.judge_answered |= contact.answered > 0;
        if !self.held.is_empty() || (contact.unavailable > 0 && !self.judge_answered) {
            self.held.push((i, outcome));
            if self.judge_answered {
                for (j, held) in take(&mut self.held) {
                    self.commit(j, held).await?;
                }
            }
            return Ok(());
        }
        self.commit(i, outcome).await
    }

    /// Marks the items before `end` that were not evaluated as done.
    fn pass_to(&mut self, end: usize) {
        for item in &self.items[self.done..end] {
            if item.seen {
                continue;
            }
            if matches!(self.progress, Progress::Window(_))
                && let Some(trace) = &item.trace
            {
                self.ledger.record_traffic(&Traffic::of(trace));
            }
            if !item.sampled {
                self.ledger.record_not_sampled();
                self.summary.skipped += 1;
                reasons::add(&mut self.summary.not_evaluated, reasons::NOT_SAMPLED, 1);
            }
        }
        self.done = self.done.max(end);
    }

    async fn commit(&mut self, i: usize, outcome: Outcome) -> Result<(), CliError> {
        self.pass_to(i);
        let item = &self.items[i];
        if matches!(self.progress, Progress::Window(_))
            && let Some(trace) = &item.trace
        {
            self.ledger.record_traffic(&Traffic::of(trace));
        }
        match outcome {
            Outcome::Skipped { reason, .. } => {
                self.ledger.record_unmatched(&reason);
                self.summary.skipped += 1;
                reasons::add(&mut self.summary.not_evaluated, &reason, 1);
            }
            Outcome::Done(result) => {
                let now = Timestamp::now();
                let link = self.setup.source.trace_link(&result.trace_id);
                self.ledger.record(&result, link, now);
                self.summary.tally(&mut self.totals, &result);
                write_line(&mut *self.out, &result).map_err(output_error)?;
                if let Some(exporter) = &self.setup.exporter {
                    self.spans
                        .push(exporter.span(item.trace.as_ref(), &result, now));
                }
            }
        }
        self.done = i + 1;
        self.pending += 1;
        if self.pending >= CHECKPOINT_RESULTS
            || self.last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL
        {
            self.checkpoint(None).await?;
        }
        Ok(())
    }

    /// The evaluator's status as of the done prefix.
    fn status(&self) -> EvaluationTaskStatus {
        let mut status = self.ledger.status(&self.setup.engine.judge().usage());
        status.last_run_time = self.base.last_run_time.clone();
        status.last_run_result = self.base.last_run_result.clone();
        status.performance = self.base.performance.clone();
        status.watermark = self.base.watermark.clone();
        status.trace_list_progress = self.base.trace_list_progress.clone();
        // The breakdown is the run's: a run without traces keeps the last one.
        status.slices = match &self.summary.slice_totals {
            Some(totals) if self.summary.evaluated + self.summary.failed > 0 => {
                Some(totals.breakdown())
            }
            _ => self.base.slices.clone(),
        };
        match &self.progress {
            Progress::Window(window) => {
                let watermark = match self.items.get(self.done) {
                    Some(next) => next.start,
                    None => window.done_watermark(),
                };
                status.watermark = Some(MicroTime(micros(watermark)));
            }
            Progress::List { hash, before } => {
                status.trace_list_progress = Some(TraceListProgress {
                    list_hash: hash.clone(),
                    done: before + self.done as u64,
                });
            }
        }
        status
    }

    /// Writes the status (with `last` as the run's end, if given), then
    /// exports the evaluation spans of what it recorded.
    async fn checkpoint(
        &mut self,
        last: Option<(String, EvaluationTaskStatus)>,
    ) -> Result<(), CliError> {
        let mut status = self.status();
        if let Some((result, run)) = last {
            status.last_run_time = Some(Time(Timestamp::now()));
            status.last_run_result = Some(bounded(result));
            status.performance = run.performance.or(status.performance);
        }
        self.writer
            .write(&status)
            .await
            .map_err(|e| CliError::Run(format!("cannot write the task's status: {e}")))?;
        self.pending = 0;
        self.last_checkpoint = Instant::now();
        if let Some(exporter) = &self.setup.exporter
            && let Err(error) = exporter.export(take(&mut self.spans)).await
        {
            // The scores are in the status; the spans are a view of them.
            tracing::warn!(%error, "evaluation spans not exported");
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<Summary, CliError> {
        let stopped = !self.held.is_empty();
        if !stopped {
            self.pass_to(self.items.len());
        }
        let counts = format!(
            "evaluated {}, failed {}, skipped {}",
            self.summary.evaluated, self.summary.failed, self.summary.skipped
        );
        let mut run = EvaluationTaskStatus::default();
        let message = match &self.progress {
            Progress::Window(window) => {
                let traffic: Vec<Traffic> = self
                    .items
                    .iter()
                    .filter_map(|i| i.trace.as_ref().map(Traffic::of))
                    .collect();
                run.performance = Some(summarize(
                    &traffic,
                    Some(Time(window.from)),
                    Some(Time(window.until)),
                ));
                format!(
                    "{counts} of {} traces started from {} to {}",
                    self.items.len(),
                    window.from,
                    window.until
                )
            }
            Progress::List { before, .. } => format!(
                "{counts}; {} of {} listed traces done",
                before + self.done as u64,
                before + self.items.len() as u64
            ),
        };
        let message = if stopped {
            let left = self.items.len() - self.done;
            format!(
                "stopped: the judge could not be reached; {left} traces left for the next run ({message})"
            )
        } else {
            message
        };
        self.checkpoint(Some((message.clone(), run))).await?;
        self.summary.averages = self.totals.averages();
        self.summary.metric_counts = self.totals.counts();
        self.summary.judge_usage = self.setup.engine.judge().usage();
        self.summary.slices = self
            .summary
            .slice_totals
            .as_ref()
            .map(SliceTotals::breakdown);
        write_line(&mut *self.out, &self.summary).map_err(output_error)?;
        self.out.flush().map_err(output_error)?;
        tracing::info!(task = %format!("{}/{}", self.setup.namespace, self.setup.name), "{message}");
        if stopped {
            return Err(CliError::Run(message));
        }
        Ok(self.summary)
    }
}
