//! Retrieval metrics from per-document relevance labels, and averages.
//!
//! Over the first K documents, `rel_i ∈ {0,1}` in retrieval order:
//! - Precision@K = Σ_{i≤K} rel_i / K (K, not the number of documents: a
//!   retriever that returns fewer than K documents is not rewarded for it);
//! - hit rate = 1 if any rel_i = 1 for i ≤ K, else 0;
//! - MRR = 1 / rank of the first relevant document within K, 0 if none;
//! - nDCG@K = DCG@K / IDCG@K, DCG = Σ rel_i / log2(i + 1), IDCG the DCG of the
//!   same labels sorted descending; 0 when no document is relevant.
//!
//! A label that could not be obtained makes all four missing, never 0.

use crate::api::evaluationtask::{MetricCounts, Scores};

/// The four retrieval metrics of one trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrievalScores {
    /// nDCG@K.
    pub ndcg: f64,
    /// Hit rate.
    pub hit_rate: f64,
    /// Precision@K.
    pub precision_at_k: f64,
    /// MRR.
    pub mrr: f64,
}

/// The retrieval metrics of labels in retrieval order; labels past `k` are
/// ignored. `None` when a label within K is missing or there are no documents.
pub fn retrieval(labels: &[Option<bool>], k: usize) -> Option<RetrievalScores> {
    let k = k.max(1);
    let top: Vec<bool> = labels.iter().take(k).copied().collect::<Option<_>>()?;
    if top.is_empty() {
        return None;
    }
    let relevant = top.iter().filter(|r| **r).count();
    let dcg = |rels: &[bool]| -> f64 {
        rels.iter()
            .enumerate()
            .filter(|(_, r)| **r)
            .map(|(i, _)| 1.0 / ((i + 2) as f64).log2())
            .sum()
    };
    let mut ideal = top.clone();
    ideal.sort_by(|a, b| b.cmp(a));
    let idcg = dcg(&ideal);
    Some(RetrievalScores {
        ndcg: if idcg > 0.0 { dcg(&top) / idcg } else { 0.0 },
        hit_rate: if relevant > 0 { 1.0 } else { 0.0 },
        precision_at_k: relevant as f64 / k as f64,
        mrr: top
            .iter()
            .position(|r| *r)
            .map_or(0.0, |i| 1.0 / (i + 1) as f64),
    })
}

/// Running sums for averages that skip missing values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    correctness: Sum,
    faithfulness: Sum,
    ndcg: Sum,
    hit_rate: Sum,
    precision_at_k: Sum,
    mrr: Sum,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sum {
    total: f64,
    count: u64,
}

impl Sum {
    fn add(&mut self, value: Option<f64>) {
        if let Some(v) = value {
            self.total += v;
            self.count += 1;
        }
    }

    fn average(&self) -> Option<f64> {
        (self.count > 0).then(|| self.total / self.count as f64)
    }
}

impl Totals {
    /// Running sums restored from averages and their counts (a task's
    /// status), so a later run adds to them.
    pub fn from_averages(averages: &Scores, counts: &MetricCounts) -> Self {
        let sum = |average: Option<f64>, count: u64| match average {
            Some(a) if count > 0 => Sum {
                total: a * count as f64,
                count,
            },
            _ => Sum::default(),
        };
        Self {
            correctness: sum(averages.correctness, counts.correctness),
            faithfulness: sum(averages.faithfulness, counts.faithfulness),
            ndcg: sum(averages.ndcg, counts.retrieval),
            hit_rate: sum(averages.hit_rate, counts.retrieval),
            precision_at_k: sum(averages.precision_at_k, counts.retrieval),
            mrr: sum(averages.mrr, counts.retrieval),
        }
    }

    /// Adds the present scores of one trace.
    pub fn add(&mut self, scores: &Scores) {
        self.correctness.add(scores.correctness);
        self.faithfulness.add(scores.faithfulness);
        self.ndcg.add(scores.ndcg);
        self.hit_rate.add(scores.hit_rate);
        self.precision_at_k.add(scores.precision_at_k);
        self.mrr.add(scores.mrr);
    }

    /// Averages over the traces that had each metric; absent when none had it.
    pub fn averages(&self) -> Scores {
        Scores {
            correctness: self.correctness.average(),
            faithfulness: self.faithfulness.average(),
            ndcg: self.ndcg.average(),
            hit_rate: self.hit_rate.average(),
            precision_at_k: self.precision_at_k.average(),
            mrr: self.mrr.average(),
        }
    }

    /// How many traces each average is over.
    pub fn counts(&self) -> MetricCounts {
        MetricCounts {
            correctness: self.correctness.count,
            faithfulness: self.faithfulness.count,
            retrieval: self.ndcg.count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(rels: &[u8]) -> Vec<Option<bool>> {
        rels.iter().map(|r| Some(*r == 1)).collect()
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn rag_fixture_case() {
        // [0, 1, 1, 0], K = 5: P@5 = 2/5; hit 1; MRR 1/2;
        // DCG = 1/log2(3) + 1/log2(4) = 0.6309298 + 0.5;
        // IDCG = 1/log2(2) + 1/log2(3) = 1 + 0.6309298.
        let s = retrieval(&labels(&[0, 1, 1, 0]), 5).unwrap();
        close(s.precision_at_k, 0.4);
        close(s.hit_rate, 1.0);
        close(s.mrr, 0.5);
        close(
            s.ndcg,
            (1.0 / 3f64.log2() + 0.5) / (1.0 + 1.0 / 3f64.log2()),
        );
        close(s.ndcg, 0.693_426_403_617_271);
    }

    #[test]
    fn perfect_and_worst_rankings() {
        let best = retrieval(&labels(&[1, 1, 0]), 3).unwrap();
        close(best.ndcg, 1.0);
        close(best.mrr, 1.0);
        close(best.precision_at_k, 2.0 / 3.0);
        let none = retrieval(&labels(&[0, 0, 0]), 3).unwrap();
        assert_eq!(
            none,
            RetrievalScores {
                ndcg: 0.0,
                hit_rate: 0.0,
                precision_at_k: 0.0,
                mrr: 0.0
            }
        );
    }

    #[test]
    fn only_the_first_k_count() {
        // The relevant document is 4th: outside K = 3.
        let s = retrieval(&labels(&[0, 0, 0, 1]), 3).unwrap();
        close(s.hit_rate, 0.0);
        close(s.mrr, 0.0);
        // K = 4: MRR 1/4, nDCG = (1/log2 5) / 1.
        let s = retrieval(&labels(&[0, 0, 0, 1]), 4).unwrap();
        close(s.mrr, 0.25);
        close(s.ndcg, 1.0 / 5f64.log2());
        close(s.precision_at_k, 0.25);
    }

    #[test]
    fn single_relevant_at_rank_two() {
        let s = retrieval(&labels(&[0, 1]), 2).unwrap();
        close(s.ndcg, 1.0 / 3f64.log2());
        close(s.mrr, 0.5);
        close(s.precision_at_k, 0.5);
    }

    #[test]
    fn a_missing_label_makes_all_missing() {
        assert_eq!(retrieval(&[Some(true), None, Some(false)], 5), None);
        // ...unless it lies past K.
        assert!(retrieval(&[Some(true), Some(false), None], 2).is_some());
        assert_eq!(retrieval(&[], 5), None);
    }

    #[test]
    fn averages_skip_missing_values_and_count() {
        let mut totals = Totals::default();
        totals.add(&Scores {
            correctness: Some(1.0),
            faithfulness: Some(0.0),
            ..Default::default()
        });
        totals.add(&Scores {
            correctness: Some(0.0),
            ..Default::default()
        });
        totals.add(&Scores {
            correctness: Some(1.0),
            ndcg: Some(0.5),
            hit_rate: Some(1.0),
            precision_at_k: Some(0.2),
            mrr: Some(0.5),
            ..Default::default()
        });
        let avg = totals.averages();
        close(avg.correctness.unwrap(), 2.0 / 3.0);
        close(avg.faithfulness.unwrap(), 0.0);
        close(avg.ndcg.unwrap(), 0.5);
        assert_eq!(
            totals.counts(),
            MetricCounts {
                correctness: 3,
                faithfulness: 1,
                retrieval: 1
            }
        );
        assert_eq!(Totals::default().averages(), Scores::default());
    }
}
