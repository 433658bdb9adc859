//! What became of one trace: its result line (or why it was skipped).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::evaluationtask::{DocumentCounts, Judgement, Scores};
use crate::evaluate::extract::choice::Choices;

/// The result of one evaluated (or failed) trace: one line of the results.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceResult {
    /// The trace (32 hex digits).
    pub trace_id: String,
    /// The query found, if any.
    pub query: Option<String>,
    /// The answer found, if any.
    pub answer: Option<String>,
    /// The contexts found.
    pub contexts: Vec<String>,
    /// The dataset's reference answer for the query, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The metrics obtained; a metric that does not apply or failed is absent.
    pub scores: Scores,
    /// What each obtained metric said: label, score, explanation (and, per
    /// document, each document's).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub judgements: BTreeMap<String, Judgement>,
    /// Its value of `spec.slices.by`, when the task breaks scores down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slice: Option<String>,
    /// Documents retrieved and judged, when the trace has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documents: Option<DocumentCounts>,
    /// Why the trace failed; `null` when every applicable metric was obtained.
    pub error: Option<String>,
    /// Which span query and answer came from, when several matching spans
    /// held differing values (see `extract::choice`); absent otherwise.
    #[serde(skip_serializing_if = "Choices::is_empty")]
    pub choices: Choices,
    /// The failure's class, a key of [`super::reasons`] (not printed: `error` says it).
    #[serde(skip)]
    pub failure: Option<&'static str>,
    /// With a dataset: whether it had a reference for the query.
    #[serde(skip)]
    pub reference_matched: Option<bool>,
}

impl TraceResult {
    /// A failed result without query or answer.
    pub fn failed_with(trace_id: &str, failure: &'static str, error: String) -> Self {
        Self {
            trace_id: trace_id.to_owned(),
            query: None,
            answer: None,
            contexts: Vec::new(),
            reference: None,
            scores: Scores::default(),
            judgements: BTreeMap::new(),
            slice: None,
            documents: None,
            error: Some(error),
            choices: Choices::default(),
            failure: Some(failure),
            reference_matched: None,
        }
    }

    /// Whether the trace failed.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// What became of one trace.
#[derive(Debug, Clone, PartialEq)]
// The common case is `Done`; boxing it would cost an allocation per trace.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// Nothing to evaluate: no span matches the query or answer selector.
    Skipped {
        /// The trace.
        trace_id: String,
        /// Why (a key of [`super::reasons`]).
        reason: String,
    },
    /// Evaluated, successfully or not.
    Done(TraceResult),
}
