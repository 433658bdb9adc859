//! Documents to traces, streaming.
//!
//! Exporters flush spans in batches, so one trace's spans may sit in more
//! than one document. The rule: a trace is handed on once
//! [`HOLD_DOCUMENTS`] further documents have passed without a span of it
//! (or at the end of the input), and traces are handed on in order of
//! first appearance. Spans of a trace that turn up later than that are
//! handed on as a second trace with the same ID, marked
//! [`Trace::continued`] (when the first part is among the last
//! [`REMEMBERED_TRACES`] handed on). To bound memory when one
//! trace keeps recurring, the oldest traces are handed on early once more
//! than [`MAX_PENDING_SPANS`] spans are held.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::BufRead;

use super::SourceError;
use super::documents::{BadSpan, Parsed, read_documents};
use crate::evaluate::trace::{Trace, UnreadableSpan, spans_of};

/// Documents a trace is held for after its last span.
pub const HOLD_DOCUMENTS: u64 = 4;
/// Spans held before the oldest traces are handed on regardless.
pub const MAX_PENDING_SPANS: usize = 200_000;
/// Trace IDs handed on that are remembered, to mark a later part of one as
/// [`Trace::continued`] (a bounded memory: late spans come soon or never).
pub const REMEMBERED_TRACES: usize = 16_384;

/// What to do with input that cannot be tied to a trace (not JSON, a span
/// without a readable trace ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unattributed {
    /// Stop with the error: a file is the user's input, and exit code 2 says so.
    Fail,
    /// Log a warning, count it and go on: one bad span in a trace store
    /// should not cost the run.
    Skip,
}

/// Groups the spans of streamed documents into traces; see the module documentation.
#[derive(Debug, Default)]
pub struct Assembler {
    documents: u64,
    /// Sequence number of `pending[0]`.
    base: u64,
    pending: VecDeque<Pending>,
    index: HashMap<String, u64>,
    pending_spans: usize,
    /// The last [`REMEMBERED_TRACES`] trace IDs handed on, oldest first.
    handed_on: VecDeque<u128>,
    handed_on_set: HashSet<u128>,
}

#[derive(Debug)]
struct Pending {
    trace: Trace,
    last: u64,
}

impl Assembler {
    fn slot(&mut self, trace_id: &str) -> &mut Pending {
        let documents = self.documents;
        let seq = match self.index.get(trace_id) {
            Some(seq) => *seq,
            None => {
                let seq = self.base + self.pending.len() as u64;
                self.index.insert(trace_id.to_owned(), seq);
                let mut trace = Trace::new(trace_id.to_owned());
                trace.continued =
                    id_number(trace_id).is_some_and(|n| self.handed_on_set.contains(&n));
                self.pending.push_back(Pending {
                    trace,
                    last: documents,
                });
                seq
            }
        };
        let i = usize::try_from(seq - self.base).unwrap_or(usize::MAX);
        let pending = &mut self.pending[i];
        pending.last = documents;
        pending
    }

    /// Adds one document's spans and unreadable spans.
    pub fn add(&mut self, parsed: Parsed) {
        self.documents += 1;
        if let Some(envelope) = parsed.envelope {
            spans_of(envelope, |span| {
                let id = span.trace_id.clone();
                self.slot(&id).trace.spans.push(span);
                self.pending_spans += 1;
            });
        }
        for BadSpan {
            trace_id,
            start_time_unix_nano,
            reason,
        } in parsed.bad_spans
        {
            self.slot(&trace_id).trace.unreadable.push(UnreadableSpan {
                reason,
                start_time_unix_nano,
            });
        }
    }

    /// The oldest trace when it is complete by the rule (all of them with `end`).
    pub fn pop(&mut self, end: bool) -> Option<Trace> {
        let front = self.pending.front()?;
        let ready = end
            || front.last + HOLD_DOCUMENTS <= self.documents
            || self.pending_spans > MAX_PENDING_SPANS;
        if !ready {
            return None;
        }
        let Pending { trace, .. } = self.pending.pop_front()?;
        self.base += 1;
        self.index.remove(&trace.trace_id);
        self.pending_spans -= trace.spans.len();
        if let Some(n) = id_number(&trace.trace_id)
            && self.handed_on_set.insert(n)
        {
            self.handed_on.push_back(n);
            if self.handed_on.len() > REMEMBERED_TRACES
                && let Some(old) = self.handed_on.pop_front()
            {
                self.handed_on_set.remove(&old);
            }
        }
        Some(trace)
    }
}

fn id_number(trace_id: &str) -> Option<u128> {
    u128::from_str_radix(trace_id, 16).ok()
}

/// Counts of input that was skipped (with [`Unattributed::Skip`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Documents or spans that could not be tied to a trace.
    pub unattributed: u64,
}

/// Reads documents from `reader` and hands each trace to `sink` as soon as
/// it is complete by the rule of this module.
pub fn stream_traces<R: BufRead>(
    reader: R,
    origin: &str,
    policy: Unattributed,
    sink: &mut dyn FnMut(Trace) -> Result<(), SourceError>,
) -> Result<Skipped, SourceError> {
    let mut assembler = Assembler::default();
    let mut skipped = Skipped::default();
    read_documents(reader, origin, &mut |mut parsed| {
        let unattributed = std::mem::take(&mut parsed.unattributed);
        for error in unattributed {
            if policy == Unattributed::Fail {
                return Err(error);
            }
            skipped.unattributed += 1;
            tracing::warn!(%error, "skipped trace data that names no readable trace");
        }
        assembler.add(parsed);
        while let Some(trace) = assembler.pop(false) {
            sink(trace)?;
        }
        Ok(())
    })?;
    while let Some(trace) = assembler.pop(true) {
        sink(trace)?;
    }
    Ok(skipped)
}
