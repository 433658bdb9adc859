//! One trace through the evaluator: extract → judge → metrics.
//!
//! - A span of the trace could not be read: failed, with where and why
//!   (no judge request).
//! - No span matches the query or the answer selector: the trace does not
//!   contain the evaluated operation and is skipped, with the reason (the
//!   selectors, or a split trace: see [`super::reasons`]).
//! - Query or answer not found in matching spans: failed, with the reason.
//! - Otherwise the applicable metrics are asked for concurrently:
//!   correctness always (when enabled); faithfulness and retrieval only
//!   when the trace has contexts; one relevance request per document within K.
//!   A metric whose judge request failed or whose reply was not parsable is
//!   absent, and the trace is failed with every reason in `error`; the
//!   metrics that were obtained are still reported.

use futures::future::{OptionFuture, join_all};
use serde::Serialize;

use super::reasons;
use super::retrieval;
use crate::api::evaluationtask::{EvaluationTaskSpec, MetricsSpec, Scores};
use crate::evaluate::extract::choice::Choices;
use crate::evaluate::extract::{ExtractError, Extractor};
use crate::evaluate::judge::{Judge, JudgeError, Verdict, prompts};
use crate::evaluate::trace::Trace;

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
    /// The metrics obtained; a metric that does not apply or failed is absent.
    pub scores: Scores,
    /// Why the trace failed; `null` when every applicable metric was obtained.
    pub error: Option<String>,
    /// Which span query and answer came from, when several matching spans
    /// held differing values (see `extract::choice`); absent otherwise.
    #[serde(skip_serializing_if = "Choices::is_empty")]
    pub choices: Choices,
    /// The failure's class, a key of [`reasons`] (not printed: `error` says it).
    #[serde(skip)]
    pub failure: Option<&'static str>,
}

impl TraceResult {
    /// A failed result without query or answer.
    pub fn failed_with(trace_id: &str, failure: &'static str, error: String) -> Self {
        Self {
            trace_id: trace_id.to_owned(),
            query: None,
            answer: None,
            contexts: Vec::new(),
            scores: Scores::default(),
            error: Some(error),
            choices: Choices::default(),
            failure: Some(failure),
        }
    }

    /// Whether the trace failed.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// What became of one trace.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nothing to evaluate: no span matches the query or answer selector.
    Skipped {
        /// The trace.
        trace_id: String,
        /// Why (a key of [`reasons`]).
        reason: String,
    },
    /// Evaluated, successfully or not.
    Done(TraceResult),
}

/// The evaluator of one task.
#[derive(Debug)]
pub struct Engine {
    extractor: Extractor,
    metrics: MetricsSpec,
    judge: Judge,
}

impl Engine {
    /// An engine for a task's extraction and metric settings.
    pub fn new(spec: &EvaluationTaskSpec, judge: Judge) -> Result<Self, ExtractError> {
        Ok(Self {
            extractor: Extractor::new(&spec.extraction)?,
            metrics: spec.metrics.clone(),
            judge,
        })
    }

    /// The judge (for its usage counters).
    pub fn judge(&self) -> &Judge {
        &self.judge
    }

    /// Evaluates one trace.
    pub async fn evaluate(&self, trace: &Trace) -> Outcome {
        self.evaluate_with_contact(trace).await.0
    }

    /// Evaluates one trace and tells how the judge fared: the in-cluster
    /// evaluator does not record traces the judge could not be reached for
    /// while it has not answered at all (it is likely down).
    pub async fn evaluate_with_contact(&self, trace: &Trace) -> (Outcome, JudgeContact) {
        let mut contact = JudgeContact::default();
        let extracted = self.extractor.extract(trace);
        if let Some(reason) = trace.unreadable_reason() {
            // Scores from a trace missing spans could mislead: report it failed.
            let result = TraceResult {
                trace_id: extracted.trace_id,
                query: extracted.query,
                answer: extracted.answer,
                contexts: extracted.contexts,
                scores: Scores::default(),
                error: Some(reason),
                choices: extracted.choices,
                failure: Some(reasons::UNREADABLE),
            };
            return (Outcome::Done(result), contact);
        }
        if !extracted.query_span_found && !extracted.answer_span_found {
            let reason = if trace.continued {
                reasons::SPLIT_TRACE.to_owned()
            } else {
                self.extractor.no_match_reason()
            };
            let skipped = Outcome::Skipped {
                trace_id: extracted.trace_id,
                reason,
            };
            return (skipped, contact);
        }
        let missing = extracted.missing(&self.extractor);
        let mut result = TraceResult {
            trace_id: extracted.trace_id,
            query: extracted.query,
            answer: extracted.answer,
            contexts: extracted.contexts,
            scores: Scores::default(),
            failure: missing.is_some().then_some(reasons::VALUE_NOT_FOUND),
            error: missing,
            choices: extracted.choices,
        };
        let (Some(query), Some(answer)) = (&result.query, &result.answer) else {
            return (Outcome::Done(result), contact);
        };
        let contexts = &result.contexts;
        let has_contexts = !contexts.is_empty();
        let retrieval = &self.metrics.retrieval;
        let k = usize::try_from(retrieval.k).unwrap_or(usize::MAX).max(1);

        let correctness: OptionFuture<_> = self
            .metrics
            .correctness
            .then(|| {
                self.judge
                    .ask_owned(prompts::correctness(query, answer, contexts))
            })
            .into();
        let faithfulness: OptionFuture<_> = (self.metrics.faithfulness && has_contexts)
            .then(|| {
                self.judge
                    .ask_owned(prompts::faithfulness(query, answer, contexts))
            })
            .into();
        let relevance = join_all(
            contexts
                .iter()
                .take(if retrieval.enabled { k } else { 0 })
                .map(|document| self.judge.ask_owned(prompts::relevance(query, document))),
        );
        let (correctness, faithfulness, relevance) =
            tokio::join!(correctness, faithfulness, relevance);

        for verdict in [&correctness, &faithfulness].into_iter().flatten() {
            contact.count(verdict);
        }
        for verdict in &relevance {
            contact.count(verdict);
        }
        let mut errors = Vec::new();
        let mut score = |name: &str, verdict: Option<Result<Verdict, JudgeError>>| match verdict {
            Some(Ok(v)) => Some(v.score),
            Some(Err(e)) => {
                errors.push(format!("{name}: {e}"));
                None
            }
            None => None,
        };
        result.scores.correctness = score("correctness", correctness);
        result.scores.faithfulness = score("faithfulness", faithfulness);
        if !relevance.is_empty() {
            let labels: Vec<Option<bool>> = relevance
                .into_iter()
                .enumerate()
                .map(|(i, verdict)| match verdict {
                    Ok(v) => Some(v.positive),
                    Err(e) => {
                        errors.push(format!("relevance of document {}: {e}", i + 1));
                        None
                    }
                })
                .collect();
            if let Some(r) = retrieval::retrieval(&labels, k) {
                result.scores.ndcg = Some(r.ndcg);
                result.scores.hit_rate = Some(r.hit_rate);
                result.scores.precision_at_k = Some(r.precision_at_k);
                result.scores.mrr = Some(r.mrr);
            }
        }
        if !errors.is_empty() {
            result.error = Some(errors.join("; "));
            result.failure = Some(reasons::JUDGE);
        }
        (Outcome::Done(result), contact)
    }
}

/// How the judge fared on one trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JudgeContact {
    /// Requests that got a reply (a verdict or an unreadable one).
    pub answered: u32,
    /// Requests that failed after their retries.
    pub unavailable: u32,
}

impl JudgeContact {
    fn count(&mut self, verdict: &Result<Verdict, JudgeError>) {
        match verdict {
            // A judge that answered, even with a refusal, is up: the trace's
            // failure is recorded, not held back for the next run.
            Ok(_)
            | Err(JudgeError::NotParsable(_))
            | Err(JudgeError::Failed { reached: true, .. }) => self.answered += 1,
            Err(JudgeError::Failed { reached: false, .. }) => self.unavailable += 1,
        }
    }
}
