//! The JSON lines the front doors print, and a run over many traces.
//!
//! - `traceval extract`: one line per trace,
//!   `{"traceId","query","answer","contexts"}` (and `"error"` when spans of
//!   the trace could not be read, `"missing"` saying why query or answer is
//!   `null`, `"choices"` when matching spans disagreed).
//! - `traceval evaluate`: one line per evaluated or failed trace,
//!   `{"traceId","query","answer","contexts","scores":{...},"error"}`
//!   (see [`TraceResult`]), then the summary
//!   `{"evaluated","failed","skipped","averages":{...},"metricCounts":{...},"judgeUsage":{...}}`
//!   as the last line of stdout.

use std::io::{self, Write};

use futures::StreamExt;
use serde::Serialize;

use super::engine::{Engine, Outcome, TraceResult};
use super::reasons::{self, Reasons};
use super::retrieval::Totals;
use super::slices::SliceTotals;
use crate::api::evaluationtask::{JudgeUsage, MetricCounts, Scores, SliceBreakdown};
use crate::evaluate::extract::Extracted;
use crate::evaluate::extract::choice::Choices;
use crate::evaluate::trace::Trace;

/// One line of `traceval extract`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtractLine<'a> {
    /// The trace.
    pub trace_id: &'a str,
    /// The query found, or `null`.
    pub query: Option<&'a str>,
    /// The answer found, or `null`.
    pub answer: Option<&'a str>,
    /// The contexts found.
    pub contexts: &'a [String],
    /// Which span query and answer came from, when several matching spans
    /// held differing values; absent otherwise.
    #[serde(skip_serializing_if = "Choices::is_empty")]
    pub choices: &'a Choices,
    /// Why the trace is incomplete (spans that could not be read); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    /// Why query or answer is `null` (no span matches the selector, or the
    /// path found nothing in the matching spans); absent when both were found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

impl<'a> From<&'a Extracted> for ExtractLine<'a> {
    fn from(e: &'a Extracted) -> Self {
        Self {
            trace_id: &e.trace_id,
            query: e.query.as_deref(),
            answer: e.answer.as_deref(),
            contexts: &e.contexts,
            choices: &e.choices,
            error: None,
            missing: None,
        }
    }
}

/// The last line of `traceval evaluate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Traces with every applicable metric obtained.
    pub evaluated: u64,
    /// Traces with an error.
    pub failed: u64,
    /// Traces read but not evaluated (not sampled, or without the spans
    /// the extraction looks for).
    pub skipped: u64,
    /// Skipped and failed traces by reason; the counts add up to
    /// `skipped + failed`.
    pub not_evaluated: Reasons,
    /// Averages over the traces that have each metric; absent when none has it.
    pub averages: Scores,
    /// How many traces each average is over.
    pub metric_counts: MetricCounts,
    /// Judge requests and tokens.
    pub judge_usage: JudgeUsage,
    /// With a dataset: evaluated traces whose query had a reference answer.
    #[serde(skip_serializing_if = "is_zero")]
    pub with_reference: u64,
    /// With a dataset: evaluated traces whose query had none.
    #[serde(skip_serializing_if = "is_zero")]
    pub without_reference: u64,
    /// The scores by `spec.slices.by`, when the task breaks them down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slices: Option<SliceBreakdown>,
    /// The running sums behind `slices`.
    #[serde(skip)]
    pub slice_totals: Option<SliceTotals>,
}

impl Summary {
    /// An empty summary for `engine`'s task (its slice attribute, if any).
    pub fn for_engine(engine: &Engine) -> Self {
        Self {
            slice_totals: engine.slice_by().map(SliceTotals::new),
            ..Self::default()
        }
    }

    /// Counts one evaluated or failed trace (and adds its scores to `totals`).
    pub fn tally(&mut self, totals: &mut Totals, result: &TraceResult) {
        if result.failed() {
            self.failed += 1;
            let reason = result.failure.unwrap_or(reasons::JUDGE);
            reasons::add(&mut self.not_evaluated, reason, 1);
        } else {
            self.evaluated += 1;
        }
        match result.reference_matched {
            Some(true) => self.with_reference += 1,
            Some(false) => self.without_reference += 1,
            None => {}
        }
        if let Some(slices) = &mut self.slice_totals {
            slices.add(result.slice.as_deref(), result.failed(), &result.scores);
        }
        totals.add(&result.scores);
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Writes one value as a JSON line.
pub fn write_line<W: Write + ?Sized, T: Serialize>(out: &mut W, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// Traces evaluated at once per judge request allowed in flight.
const TRACES_PER_PERMIT: usize = 4;

/// Evaluates `traces` with at most [`TRACES_PER_PERMIT`] × the judge's
/// concurrency in flight (requests are bounded by the judge itself),
/// handing each result to `on_result` in input order as soon as it and
/// every earlier one are done. `passed_over` counts traces already passed
/// over by reason (outside the window, not sampled); they count as skipped,
/// and so do the traces the engine skips (each told to `on_skipped`).
pub async fn evaluate_all<F, S, E>(
    engine: &Engine,
    traces: &[Trace],
    passed_over: Reasons,
    mut on_result: F,
    mut on_skipped: S,
) -> Result<Summary, E>
where
    F: FnMut(&TraceResult) -> Result<(), E>,
    S: FnMut(),
{
    let mut summary = Summary {
        skipped: passed_over.values().sum(),
        not_evaluated: passed_over,
        ..Summary::for_engine(engine)
    };
    let mut totals = Totals::default();
    // Results leave in input order, so a trace whose judge call is retried
    // holds the traces after it; with more traces than judge permits in
    // flight, the permits stay busy meanwhile.
    let in_flight = engine
        .judge()
        .max_concurrency()
        .max(1)
        .saturating_mul(TRACES_PER_PERMIT);
    let mut outcomes = futures::stream::iter(traces)
        .map(|trace| engine.evaluate(trace))
        .buffered(in_flight);
    while let Some(outcome) = outcomes.next().await {
        match outcome {
            Outcome::Skipped { trace_id, reason } => {
                tracing::debug!(trace_id, %reason, "skipped");
                summary.skipped += 1;
                reasons::add(&mut summary.not_evaluated, &reason, 1);
                on_skipped();
            }
            Outcome::Done(result) => {
                summary.tally(&mut totals, &result);
                on_result(&result)?;
            }
        }
    }
    summary.averages = totals.averages();
    summary.metric_counts = totals.counts();
    summary.judge_usage = engine.judge().usage();
    summary.slices = summary.slice_totals.as_ref().map(SliceTotals::breakdown);
    Ok(summary)
}
