//! What one in-cluster run reads: the traces of its window in order
//! (online batch) or the listed traces not done yet (single traces).

use std::collections::HashSet;

use k8s_openapi::jiff::Timestamp;

use super::evaluation_spans::is_evaluation_span;
use super::ledger::Ledger;
use super::window::{Window, trace_start};
use super::{RunMode, Setup};
use crate::api::evaluationtask::EvaluationTaskStatus;
use crate::api::evaluationtask::progress::list_hash;
use crate::evaluate::error::{CliError, source_error};
use crate::evaluate::scoring::{TraceResult, reasons};
use crate::evaluate::source::TraceQuery;
use crate::evaluate::trace::Trace;

/// One trace of the run, in order.
pub struct Item {
    /// The trace ID.
    pub trace_id: String,
    /// The trace, when the source has it.
    pub trace: Option<Trace>,
    /// Its start.
    pub start: Timestamp,
    /// Picked by the sampling policy (always, for a trace list).
    pub sampled: bool,
    /// Recorded by an earlier run (it shares its start with the watermark).
    pub seen: bool,
}

/// What the run's progress is measured in.
pub enum Progress {
    /// The online window.
    Window(Window),
    /// The list, by its hash, and how much of it earlier runs did.
    List {
        /// [`list_hash`] of the list.
        hash: String,
        /// Listed traces done before this run.
        before: u64,
    },
}

/// The traces of the run in order, or `None` when there is nothing to read.
pub async fn plan(
    setup: &Setup,
    previous: &EvaluationTaskStatus,
    ledger: &Ledger,
) -> Result<Option<(Vec<Item>, Progress)>, CliError> {
    let without_own_spans = |mut trace: Trace| {
        trace.spans.retain(|s| !is_evaluation_span(s));
        (!trace.spans.is_empty()).then_some(trace)
    };
    match &setup.mode {
        RunMode::Online { sampler, settled } => {
            let watermark = previous.watermark.as_ref().map(|t| t.0);
            let Some(window) = Window::plan(sampler, watermark, *settled) else {
                return Ok(None);
            };
            let query = TraceQuery {
                service_name: setup.service_name.clone(),
                start_min: window.read_from,
                start_max: window.until,
            };
            let traces: Vec<Trace> = setup
                .source
                .find_traces(&query)
                .await
                .map_err(source_error)?
                .into_iter()
                .filter_map(without_own_spans)
                .collect();
            let picked: HashSet<String> = sampler
                .select(traces.clone())
                .selected
                .into_iter()
                .map(|t| t.trace_id)
                .collect();
            let mut items: Vec<Item> = traces
                .into_iter()
                .filter(|t| window.contains(trace_start(t)))
                .map(|trace| {
                    let sampled = picked.contains(&trace.trace_id);
                    Item {
                        trace_id: trace.trace_id.clone(),
                        start: trace_start(&trace),
                        seen: sampled && ledger.recently_recorded(&trace.trace_id),
                        sampled,
                        trace: Some(trace),
                    }
                })
                .collect();
            items.sort_by(|a, b| (a.start, &a.trace_id).cmp(&(b.start, &b.trace_id)));
            Ok(Some((items, Progress::Window(window))))
        }
        RunMode::List(ids) => {
            let hash = list_hash(ids);
            let before = previous
                .trace_list_progress
                .as_ref()
                .filter(|p| p.list_hash == hash)
                .map_or(0, |p| p.done);
            let remaining = ids
                .get(usize::try_from(before).unwrap_or(usize::MAX)..)
                .unwrap_or_default();
            if remaining.is_empty() {
                return Ok(None);
            }
            let mut found = setup
                .source
                .get_traces(remaining)
                .await
                .map_err(source_error)?;
            let items = remaining
                .iter()
                .map(|id| {
                    let trace = found
                        .iter()
                        .position(|t| &t.trace_id == id)
                        .map(|i| found.swap_remove(i))
                        .and_then(without_own_spans);
                    Item {
                        trace_id: id.clone(),
                        start: trace.as_ref().map_or(Timestamp::UNIX_EPOCH, trace_start),
                        trace,
                        sampled: true,
                        seen: false,
                    }
                })
                .collect();
            Ok(Some((items, Progress::List { hash, before })))
        }
    }
}

/// The result of a listed trace the trace store does not have.
pub fn not_found(trace_id: &str) -> TraceResult {
    TraceResult::failed_with(
        trace_id,
        reasons::NOT_FOUND,
        "trace not found in the trace source".into(),
    )
}
