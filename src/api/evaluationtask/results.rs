//! What one metric said of one trace, and a trace's documents: shared by
//! the evaluator's JSON lines and `status.recentResults`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Explanations in `status.recentResults` are cut to this many characters.
pub const MAX_STATUS_EXPLANATION: usize = 160;

/// What one metric (a judge metric or a check) said of one trace.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Judgement {
    /// The label (of the metric's rails, or `pass` / `fail` for a check);
    /// absent for a per-document metric (see `documents`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub label: Option<String>,
    /// Its score (the mean of the documents' for a per-document metric).
    pub score: f64,
    /// Why, in the judge's words (or what the check found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub explanation: Option<String>,
    /// A per-document metric's verdict on each judged document, in
    /// retrieval order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub documents: Vec<DocumentJudgement>,
}

/// What a per-document metric said of one document.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DocumentJudgement {
    /// The label.
    #[schemars(length(max = 63))]
    pub label: String,
    /// Its score.
    pub score: f64,
    /// Why (in the JSON lines only; not kept in status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub explanation: Option<String>,
}

impl Judgement {
    /// The form kept in status: explanation cut, no per-document explanations.
    pub fn for_status(&self) -> Self {
        Self {
            label: self.label.clone(),
            score: self.score,
            explanation: self
                .explanation
                .as_deref()
                .map(|e| cut(e, MAX_STATUS_EXPLANATION)),
            documents: self
                .documents
                .iter()
                .map(|d| DocumentJudgement {
                    label: d.label.clone(),
                    score: d.score,
                    explanation: None,
                })
                .collect(),
        }
    }
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The documents of one trace: retrieved, and judged (at most
/// `spec.metrics.retrieval.maxDocuments`, in retrieval order).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DocumentCounts {
    /// Documents the trace retrieved.
    pub retrieved: u64,
    /// Documents judged.
    pub judged: u64,
}
