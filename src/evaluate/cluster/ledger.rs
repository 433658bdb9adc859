//! The evaluator's part of a task's status, carried across runs: counts,
//! averages, judge usage, traffic totals and the latest results. A run
//! starts from the status it read and adds each trace once its outcome is
//! recorded; the operator's fields (phase, conditions) are never touched.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::performance::{self, Traffic};
use crate::api::evaluationtask::{
    EvaluationTaskStatus, JudgeUsage, MAX_RECENT_RESULTS, TraceCounts, TraceResultSummary,
    TrafficTotals,
};
use crate::evaluate::scoring::retrieval::Totals;
use crate::evaluate::scoring::{TraceResult, reasons};

/// Longest error kept per result in status.
const MAX_ERROR_CHARS: usize = 500;

/// Cumulative evaluator state.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    counts: TraceCounts,
    totals: Totals,
    judge_usage: JudgeUsage,
    traffic: TrafficTotals,
    recent: Vec<TraceResultSummary>,
}

impl Ledger {
    /// The state a previous run left in `status`.
    pub fn from_status(status: &EvaluationTaskStatus) -> Self {
        Self {
            counts: status.counts.clone().unwrap_or_default(),
            totals: Totals::from_averages(
                &status.averages.clone().unwrap_or_default(),
                &status.metric_counts.clone().unwrap_or_default(),
            ),
            judge_usage: status.judge_usage.clone().unwrap_or_default(),
            traffic: status.performance_totals.clone().unwrap_or_default(),
            recent: status.recent_results.clone(),
        }
    }

    /// Whether a trace's result is among the recent ones (recorded before).
    pub fn recently_recorded(&self, trace_id: &str) -> bool {
        self.recent.iter().any(|r| r.trace_id == trace_id)
    }

    /// Records a sampled trace that was evaluated (successfully or not).
    pub fn record(&mut self, result: &TraceResult, link: Option<String>, now: Timestamp) {
        self.counts.sampled += 1;
        if result.failed() {
            self.counts.failed += 1;
            let reason = result.failure.unwrap_or(reasons::JUDGE);
            reasons::add(&mut self.counts.not_evaluated, reason, 1);
        } else {
            self.counts.evaluated += 1;
        }
        self.counts.count_reference(result.reference_matched);
        self.totals.add(&result.scores);
        self.recent.insert(
            0,
            TraceResultSummary {
                trace_id: result.trace_id.clone(),
                scores: result.scores.clone(),
                error: result
                    .error
                    .as_ref()
                    .map(|e| e.chars().take(MAX_ERROR_CHARS).collect()),
                link,
                choices: result.choices.clone(),
                judgements: result
                    .judgements
                    .iter()
                    .map(|(name, j)| (name.clone(), j.for_status()))
                    .collect(),
                slice: result.slice.clone(),
                documents: result.documents,
                evaluated_at: Some(Time(now)),
            },
        );
        self.recent.truncate(MAX_RECENT_RESULTS);
    }

    /// Records a sampled trace without the spans the extraction looks for.
    pub fn record_unmatched(&mut self, reason: &str) {
        self.counts.sampled += 1;
        self.counts.skipped += 1;
        reasons::add(&mut self.counts.not_evaluated, reason, 1);
    }

    /// Records a trace the sampling passed over.
    pub fn record_not_sampled(&mut self) {
        self.counts.skipped += 1;
        reasons::add(&mut self.counts.not_evaluated, reasons::NOT_SAMPLED, 1);
    }

    /// Counts a trace of the window in the traffic totals.
    pub fn record_traffic(&mut self, traffic: &Traffic) {
        performance::add(&mut self.traffic, traffic);
    }

    /// The evaluator's status fields: these cumulative values with the
    /// judge usage of the current run added. Operator fields stay empty.
    pub fn status(&self, run_usage: &JudgeUsage) -> EvaluationTaskStatus {
        EvaluationTaskStatus {
            averages: Some(self.totals.averages()),
            metric_counts: Some(self.totals.counts()),
            counts: Some(self.counts.clone()),
            judge_usage: Some(add_usage(&self.judge_usage, run_usage)),
            performance_totals: Some(self.traffic.clone()),
            recent_results: self.recent.clone(),
            ..EvaluationTaskStatus::default()
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> &TraceCounts {
        &self.counts
    }
}

fn add_usage(a: &JudgeUsage, b: &JudgeUsage) -> JudgeUsage {
    JudgeUsage {
        requests: a.requests + b.requests,
        retries: a.retries + b.retries,
        not_parsable: a.not_parsable + b.not_parsable,
        prompt_tokens: a.prompt_tokens + b.prompt_tokens,
        completion_tokens: a.completion_tokens + b.completion_tokens,
        total_tokens: a.total_tokens + b.total_tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::evaluationtask::Scores;

    fn result(id: &str, correctness: Option<f64>, error: Option<&str>) -> TraceResult {
        TraceResult {
            trace_id: id.into(),
            query: Some("q".into()),
            answer: Some("a".into()),
            contexts: vec![],
            reference: None,
            scores: Scores {
                correctness,
                ..Scores::default()
            },
            judgements: Default::default(),
            slice: None,
            documents: None,
            error: error.map(str::to_owned),
            choices: Default::default(),
            failure: error.map(|_| reasons::VALUE_NOT_FOUND),
            reference_matched: None,
        }
    }

    #[test]
    fn a_second_run_adds_to_what_the_first_left_in_status() {
        let now = Timestamp::UNIX_EPOCH;
        let mut first = Ledger::default();
        first.record(&result("a", Some(1.0), None), None, now);
        first.record(&result("b", Some(0.0), None), None, now);
        first.record_not_sampled();
        let usage = JudgeUsage {
            requests: 2,
            total_tokens: 240,
            ..JudgeUsage::default()
        };
        let written = first.status(&usage);

        let mut second = Ledger::from_status(&written);
        assert!(second.recently_recorded("a") && !second.recently_recorded("c"));
        second.record(
            &result("c", Some(1.0), None),
            Some("http://ui/trace/c".into()),
            now,
        );
        second.record(&result("d", None, Some("no answer")), None, now);
        second.record_unmatched("no span matches \"LLM\"");
        let status = second.status(&usage);
        let counts = status.counts.unwrap();
        assert_eq!(
            (
                counts.sampled,
                counts.evaluated,
                counts.failed,
                counts.skipped
            ),
            (5, 3, 1, 2)
        );
        let why: Vec<(&str, u64)> = counts
            .not_evaluated
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            why,
            [
                ("no span matches \"LLM\"", 1),
                ("not sampled", 1),
                ("query or answer not found in the matching spans", 1)
            ],
            "every trace not evaluated, by reason"
        );
        let average = status.averages.unwrap().correctness.unwrap();
        assert!((average - 2.0 / 3.0).abs() < 1e-9, "{average}");
        assert_eq!(status.metric_counts.unwrap().correctness, 3);
        assert_eq!(status.judge_usage.unwrap().requests, 4);
        let ids: Vec<_> = status
            .recent_results
            .iter()
            .map(|r| r.trace_id.as_str())
            .collect();
        assert_eq!(ids, ["d", "c", "b", "a"], "newest first");
        assert_eq!(
            status.recent_results[1].link.as_deref(),
            Some("http://ui/trace/c")
        );
        assert_eq!(status.phase, None, "operator fields are left alone");
        assert!(status.conditions.is_empty());
    }

    #[test]
    fn the_span_an_ambiguous_answer_came_from_is_kept_in_status() {
        let mut r = result("a", Some(1.0), None);
        r.choices.answer = Some(Box::new(crate::api::evaluationtask::SpanChoice {
            span_id: "0e635a9521d4b14a".into(),
            span_name: "RunnableSequence".into(),
            depth: 0,
            matching: 2,
            distinct_values: 2,
            rule: crate::evaluate::extract::choice::ANSWER_RULE.into(),
        }));
        let mut ledger = Ledger::default();
        ledger.record(&r, None, Timestamp::UNIX_EPOCH);
        let status = ledger.status(&JudgeUsage::default());
        let kept = status.recent_results[0].choices.answer.as_ref().unwrap();
        assert_eq!(
            (kept.span_id.as_str(), kept.matching),
            ("0e635a9521d4b14a", 2)
        );
        let round_trip: EvaluationTaskStatus =
            serde_json::from_value(serde_json::to_value(&status).unwrap()).unwrap();
        assert_eq!(
            round_trip.recent_results[0].choices,
            status.recent_results[0].choices
        );
    }

    #[test]
    fn recent_results_are_bounded() {
        let mut ledger = Ledger::default();
        for i in 0..MAX_RECENT_RESULTS + 5 {
            ledger.record(
                &result(&i.to_string(), Some(1.0), None),
                None,
                Timestamp::UNIX_EPOCH,
            );
        }
        let status = ledger.status(&JudgeUsage::default());
        assert_eq!(status.recent_results.len(), MAX_RECENT_RESULTS);
        assert_eq!(
            status.counts.unwrap().evaluated,
            (MAX_RECENT_RESULTS + 5) as u64
        );
    }
}
