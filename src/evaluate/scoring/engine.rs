//! One trace through the evaluator: extract → judge and checks → metrics.
//!
//! - A span of the trace could not be read: failed, with where and why
//!   (no judge request).
//! - No span matches the query or the answer selector: the trace does not
//!   contain the evaluated operation and is skipped, with the reason (the
//!   selectors, or a split trace: see [`super::reasons`]).
//! - Query or answer not found in matching spans: failed, with the reason.
//! - Otherwise every applicable judge request is sent concurrently:
//!   correctness (against the dataset's reference answer when the query
//!   has one), faithfulness when the trace has contexts, answer relevance
//!   when asked for, one relevance request per document up to
//!   `retrieval.maxDocuments` (the retrieval metrics come from those
//!   labels), and the task's own metrics (once, or once per judged
//!   document); the code checks run without a request. A metric whose
//!   request failed or whose reply was not parsable is absent, and the
//!   trace is failed with every reason in `error`; the metrics that were
//!   obtained are still reported, each with its label and explanation in
//!   `judgements`.

use std::collections::BTreeMap;

use futures::future::join_all;

use super::checks::CheckInput;
use super::dataset::Dataset;
pub use super::own_metrics::{EngineError, OwnMetrics};
use super::reasons;
pub use super::result::{Outcome, TraceResult};
use super::retrieval;
use super::slices::{NOT_IN_SLICE, Slicer};
use crate::api::evaluationtask::{
    DocumentCounts, DocumentJudgement, EvaluationTaskSpec, Judgement, MetricsSpec, Scores,
};
use crate::evaluate::extract::Extractor;
use crate::evaluate::judge::{Builtins, Fields, Judge, JudgeError, Prompt, Verdict, prompts};
use crate::evaluate::trace::Trace;

/// The evaluator of one task.
#[derive(Debug)]
pub struct Engine {
    extractor: Extractor,
    metrics: MetricsSpec,
    judge: Judge,
    builtins: Builtins,
    own: OwnMetrics,
    dataset: Option<Dataset>,
    slicer: Option<Slicer>,
}

/// Which result a judge request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Correctness,
    Faithfulness,
    AnswerRelevance,
    /// Relevance of document `i` (0-based).
    Relevance(usize),
    /// Custom metric `m`, per trace.
    Custom(usize),
    /// Custom metric `m` on document `i`.
    CustomDocument(usize, usize),
}

impl Engine {
    /// An engine for a task's extraction and metric settings.
    pub fn new(spec: &EvaluationTaskSpec, judge: Judge) -> Result<Self, EngineError> {
        Ok(Self {
            extractor: Extractor::new(&spec.extraction)?,
            metrics: spec.metrics.clone(),
            judge,
            builtins: Builtins::default(),
            own: OwnMetrics::new(&spec.metrics)?,
            dataset: None,
            slicer: Slicer::new(spec.slices.as_ref()),
        })
    }

    /// The same engine, with reference answers.
    pub fn with_dataset(mut self, dataset: Dataset) -> Self {
        self.dataset = Some(dataset);
        self
    }

    /// The attribute scores are broken down by (`spec.slices.by`).
    pub fn slice_by(&self) -> Option<&str> {
        self.slicer.as_ref().and_then(Slicer::by)
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
        if let Some(slicer) = &self.slicer
            && !slicer.admits(trace)
        {
            let skipped = Outcome::Skipped {
                trace_id: trace.trace_id.clone(),
                reason: NOT_IN_SLICE.to_owned(),
            };
            return (skipped, contact);
        }
        let extracted = self.extractor.extract(trace);
        let missing = extracted.missing(&self.extractor);
        let (query_span_found, answer_span_found) =
            (extracted.query_span_found, extracted.answer_span_found);
        let mut result = TraceResult {
            trace_id: extracted.trace_id,
            query: extracted.query,
            answer: extracted.answer,
            contexts: extracted.contexts,
            reference: None,
            scores: Scores::default(),
            judgements: BTreeMap::new(),
            slice: self.slicer.as_ref().and_then(|s| s.slice_of(trace)),
            documents: None,
            error: None,
            choices: extracted.choices,
            failure: None,
            reference_matched: None,
        };
        if let Some(reason) = trace.unreadable_reason() {
            // Scores from a trace missing spans could mislead: report it failed.
            result.error = Some(reason);
            result.failure = Some(reasons::UNREADABLE);
            return (Outcome::Done(result), contact);
        }
        if !query_span_found && !answer_span_found {
            let reason = if trace.continued {
                reasons::SPLIT_TRACE.to_owned()
            } else {
                self.extractor.no_match_reason()
            };
            let skipped = Outcome::Skipped {
                trace_id: result.trace_id,
                reason,
            };
            return (skipped, contact);
        }
        result.failure = missing.is_some().then_some(reasons::VALUE_NOT_FOUND);
        result.error = missing;
        let (Some(query), Some(answer)) = (result.query.clone(), result.answer.clone()) else {
            return (Outcome::Done(result), contact);
        };
        if let Some(dataset) = &self.dataset {
            result.reference = dataset.reference(&query).map(str::to_owned);
            result.reference_matched = Some(result.reference.is_some());
        }
        let retrieval = &self.metrics.retrieval;
        let judged = result
            .contexts
            .len()
            .min(usize::try_from(retrieval.judged_documents()).unwrap_or(usize::MAX));
        if !result.contexts.is_empty() {
            result.documents = Some(DocumentCounts {
                retrieved: result.contexts.len() as u64,
                judged: judged as u64,
            });
        }
        let fields = Fields {
            query: &query,
            answer: &answer,
            contexts: &result.contexts,
            reference: result.reference.as_deref(),
            document: None,
        };
        let asks = self.asks(&fields, judged);
        let verdicts = join_all(asks.iter().map(|(_, prompt)| self.judge.ask(prompt))).await;
        for verdict in &verdicts {
            contact.count(verdict);
        }
        let mut errors = Vec::new();
        self.score(
            &mut result,
            &mut errors,
            asks.iter().map(|(slot, _)| *slot).zip(verdicts),
            judged,
        );
        let input = CheckInput {
            query: &query,
            answer: &answer,
            reference: result.reference.as_deref(),
            latency_nanos: trace.latency_nanos(),
        };
        for check in &self.own.checks {
            if let Some(judgement) = check.run(&input) {
                result
                    .scores
                    .custom
                    .insert(check.name().to_owned(), judgement.score);
                result.judgements.insert(check.name().to_owned(), judgement);
            }
        }
        if !errors.is_empty() {
            result.error = Some(errors.join("; "));
            result.failure = Some(reasons::JUDGE);
        }
        (Outcome::Done(result), contact)
    }

    /// Every judge request that applies to the trace.
    fn asks<'f>(&self, fields: &Fields<'f>, judged: usize) -> Vec<(Slot, Prompt)> {
        let metrics = &self.metrics;
        let has_contexts = !fields.contexts.is_empty();
        let contexts: &'f [String] = fields.contexts;
        let documents = || contexts[..judged].iter().enumerate();
        let on = |document: &'f str| Fields {
            document: Some(document),
            ..*fields
        };
        let mut asks = Vec::new();
        if metrics.correctness {
            asks.push((
                Slot::Correctness,
                prompts::correctness(&self.builtins, fields),
            ));
        }
        if metrics.faithfulness && has_contexts {
            asks.push((
                Slot::Faithfulness,
                self.builtins.faithfulness.prompt(fields),
            ));
        }
        if metrics.answer_relevance {
            asks.push((
                Slot::AnswerRelevance,
                self.builtins.answer_relevance.prompt(fields),
            ));
        }
        if metrics.retrieval.enabled {
            for (i, document) in documents() {
                asks.push((
                    Slot::Relevance(i),
                    self.builtins.relevance.prompt(&on(document)),
                ));
            }
        }
        for (m, metric) in self.own.custom.iter().enumerate() {
            if metric.missing(fields).is_some() {
                continue;
            }
            if metric.per_document() {
                for (i, document) in documents() {
                    asks.push((Slot::CustomDocument(m, i), metric.prompt(&on(document))));
                }
            } else {
                asks.push((Slot::Custom(m), metric.prompt(fields)));
            }
        }
        asks
    }

    /// Files each verdict under its metric: scores, judgements and errors.
    fn score(
        &self,
        result: &mut TraceResult,
        errors: &mut Vec<String>,
        verdicts: impl Iterator<Item = (Slot, Result<Verdict, JudgeError>)>,
        judged: usize,
    ) {
        // Per-document verdicts, by metric (None: relevance) and document.
        let mut per_document: BTreeMap<Option<usize>, Vec<Option<Verdict>>> = BTreeMap::new();
        for (slot, verdict) in verdicts {
            let (name, document) = match slot {
                Slot::Correctness => ("correctness", None),
                Slot::Faithfulness => ("faithfulness", None),
                Slot::AnswerRelevance => ("answerRelevance", None),
                Slot::Relevance(i) => ("relevance", Some((None, i))),
                Slot::Custom(m) => (self.own.custom[m].name(), None),
                Slot::CustomDocument(m, i) => (self.own.custom[m].name(), Some((Some(m), i))),
            };
            let verdict = match verdict {
                Ok(v) => Some(v),
                Err(e) => {
                    match document {
                        Some((_, i)) => errors.push(format!("{name} of document {}: {e}", i + 1)),
                        None => errors.push(format!("{name}: {e}")),
                    }
                    None
                }
            };
            if let Some((metric, i)) = document {
                per_document
                    .entry(metric)
                    .or_insert_with(|| vec![None; judged])[i] = verdict;
                continue;
            }
            let Some(v) = verdict else { continue };
            let scores = &mut result.scores;
            match slot {
                Slot::Correctness => scores.correctness = Some(v.score),
                Slot::Faithfulness => scores.faithfulness = Some(v.score),
                Slot::AnswerRelevance => scores.answer_relevance = Some(v.score),
                _ => {
                    scores.custom.insert(name.to_owned(), v.score);
                }
            }
            result.judgements.insert(
                name.to_owned(),
                Judgement {
                    label: Some(v.label),
                    score: v.score,
                    explanation: v.explanation,
                    documents: Vec::new(),
                },
            );
        }
        let k = usize::try_from(self.metrics.retrieval.k)
            .unwrap_or(usize::MAX)
            .max(1);
        for (metric, verdicts) in per_document {
            let Some(all) = verdicts.into_iter().collect::<Option<Vec<Verdict>>>() else {
                // A missing label anywhere makes the metric missing, never 0.
                continue;
            };
            let name = match metric {
                None => {
                    let labels: Vec<Option<bool>> =
                        all.iter().map(|v| Some(v.positive())).collect();
                    if let Some(r) = retrieval::retrieval(&labels, k) {
                        let scores = &mut result.scores;
                        scores.ndcg = Some(r.ndcg);
                        scores.hit_rate = Some(r.hit_rate);
                        scores.precision_at_k = Some(r.precision_at_k);
                        scores.mrr = Some(r.mrr);
                        scores.context_relevance = Some(r.context_relevance);
                    }
                    "relevance".to_owned()
                }
                Some(m) => self.own.custom[m].name().to_owned(),
            };
            let mean = all.iter().map(|v| v.score).sum::<f64>() / all.len().max(1) as f64;
            if metric.is_some() {
                result.scores.custom.insert(name.clone(), mean);
            }
            let documents = all
                .into_iter()
                .map(|v| DocumentJudgement {
                    label: v.label,
                    score: v.score,
                    explanation: v.explanation,
                })
                .collect();
            result.judgements.insert(
                name,
                Judgement {
                    label: None,
                    score: mean,
                    explanation: None,
                    documents,
                },
            );
        }
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
