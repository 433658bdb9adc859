//! Retrieval metrics from per-document relevance labels, and averages.
//!
//! `rel_i ∈ {0,1}` in retrieval order, for every judged document (all
//! retrieved documents up to `retrieval.maxDocuments`):
//! - Precision@K = Σ_{i≤K} rel_i / K (K, not the number of documents: a
//!   retriever that returns fewer than K documents is not rewarded for it);
//! - hit rate = 1 if any rel_i = 1 for i ≤ K, else 0;
//! - MRR = 1 / rank of the first relevant document within K, 0 if none;
//! - nDCG@K = DCG@K / IDCG@K, DCG@K = Σ_{i≤K} rel_i / log2(i + 1), IDCG@K the
//!   DCG@K of *all* judged labels sorted descending; 0 when no document is
//!   relevant. This is scikit-learn's `ndcg_score(k=K)` over the retrieved
//!   list (Phoenix's convention): relevant documents the retriever ranked
//!   below K lower the score, they are not ignored (tests compare with
//!   scikit-learn on random label sets: tests/fixtures/ndcg).
//! - context relevance = the mean of all judged labels.
//!
//! A label that could not be obtained makes all of them missing, never 0.

use std::collections::BTreeMap;

use crate::api::evaluationtask::{MetricCounts, Scores};

/// The retrieval metrics of one trace.
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
    /// The share of judged documents that are relevant.
    pub context_relevance: f64,
}

/// The retrieval metrics of the labels of every judged document, in
/// retrieval order. `None` when a label is missing or there are no documents.
pub fn retrieval(labels: &[Option<bool>], k: usize) -> Option<RetrievalScores> {
    let k = k.max(1);
    let all: Vec<bool> = labels.iter().copied().collect::<Option<_>>()?;
    if all.is_empty() {
        return None;
    }
    let top = &all[..k.min(all.len())];
    let relevant = top.iter().filter(|r| **r).count();
    let dcg_at_k = |rels: &[bool]| -> f64 {
        rels.iter()
            .take(k)
            .enumerate()
            .filter(|(_, r)| **r)
            .map(|(i, _)| 1.0 / ((i + 2) as f64).log2())
            .sum()
    };
    let mut ideal = all.clone();
    ideal.sort_by(|a, b| b.cmp(a));
    let idcg = dcg_at_k(&ideal);
    let all_relevant = all.iter().filter(|r| **r).count();
    Some(RetrievalScores {
        ndcg: if idcg > 0.0 {
            dcg_at_k(top) / idcg
        } else {
            0.0
        },
        hit_rate: if relevant > 0 { 1.0 } else { 0.0 },
        precision_at_k: relevant as f64 / k as f64,
        mrr: top
            .iter()
            .position(|r| *r)
            .map_or(0.0, |i| 1.0 / (i + 1) as f64),
        context_relevance: all_relevant as f64 / all.len() as f64,
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
    context_relevance: Sum,
    answer_relevance: Sum,
    custom: BTreeMap<String, Sum>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sum {
    total: f64,
    count: u64,
}

impl Sum {
    fn restored(average: Option<f64>, count: u64) -> Self {
        match average {
            Some(a) if count > 0 => Self {
                total: a * count as f64,
                count,
            },
            _ => Self::default(),
        }
    }

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
        let custom = averages
            .custom
            .iter()
            .map(|(name, average)| {
                let count = counts.custom.get(name).copied().unwrap_or(0);
                (name.clone(), Sum::restored(Some(*average), count))
            })
            .collect();
        Self {
            correctness: Sum::restored(averages.correctness, counts.correctness),
            faithfulness: Sum::restored(averages.faithfulness, counts.faithfulness),
            ndcg: Sum::restored(averages.ndcg, counts.retrieval),
            hit_rate: Sum::restored(averages.hit_rate, counts.retrieval),
            precision_at_k: Sum::restored(averages.precision_at_k, counts.retrieval),
            mrr: Sum::restored(averages.mrr, counts.retrieval),
            context_relevance: Sum::restored(averages.context_relevance, counts.retrieval),
            answer_relevance: Sum::restored(averages.answer_relevance, counts.answer_relevance),
            custom,
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
        self.context_relevance.add(scores.context_relevance);
        self.answer_relevance.add(scores.answer_relevance);
        for (name, value) in &scores.custom {
            self.custom
                .entry(name.clone())
                .or_default()
                .add(Some(*value));
        }
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
            context_relevance: self.context_relevance.average(),
            answer_relevance: self.answer_relevance.average(),
            custom: self
                .custom
                .iter()
                .filter_map(|(name, sum)| Some((name.clone(), sum.average()?)))
                .collect(),
        }
    }

    /// How many traces each average is over.
    pub fn counts(&self) -> MetricCounts {
        MetricCounts {
            correctness: self.correctness.count,
            faithfulness: self.faithfulness.count,
            retrieval: self.ndcg.count,
            answer_relevance: self.answer_relevance.count,
            custom: self
                .custom
                .iter()
                .filter(|(_, sum)| sum.count > 0)
                .map(|(name, sum)| (name.clone(), sum.count))
                .collect(),
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
                mrr: 0.0,
                context_relevance: 0.0,
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
        // ...also past K: the ideal ranking is made of every judged label.
        assert_eq!(retrieval(&[Some(true), Some(false), None], 2), None);
        assert_eq!(retrieval(&[], 5), None);
    }

    #[test]
    fn relevant_documents_below_k_lower_ndcg() {
        // The case: 8 documents, relevant at rank 1 and ranks 6-8,
        // K = 5. The top-K-only ideal said 1.0; the ideal over all judged
        // labels puts four relevant documents first.
        let s = retrieval(&labels(&[1, 0, 0, 0, 0, 1, 1, 1]), 5).unwrap();
        let idcg: f64 = (0..4).map(|i| 1.0 / ((i + 2) as f64).log2()).sum();
        close(s.ndcg, 1.0 / idcg);
        assert!(s.ndcg < 0.5, "{}", s.ndcg);
        // Precision@K, hit rate and MRR still look at the first K only.
        close(s.precision_at_k, 0.2);
        close(s.hit_rate, 1.0);
        close(s.mrr, 1.0);
        close(s.context_relevance, 0.5);
    }

    /// Random label sets scored by scikit-learn's `ndcg_score(k=K)`
    /// (tests/fixtures/ndcg/generate.py wrote them).
    #[test]
    fn ndcg_agrees_with_scikit_learn() {
        #[derive(serde::Deserialize)]
        struct Case {
            labels: Vec<u8>,
            k: usize,
            ndcg: f64,
        }
        #[derive(serde::Deserialize)]
        struct Fixture {
            cases: Vec<Case>,
        }
        let fixture: Fixture =
            serde_json::from_str(include_str!("../../../tests/fixtures/ndcg/sklearn.json"))
                .unwrap();
        assert!(fixture.cases.len() >= 300);
        let (mut more_than_k, mut none_relevant) = (0, 0);
        for case in &fixture.cases {
            more_than_k += usize::from(case.labels.len() > case.k);
            none_relevant += usize::from(case.labels.iter().all(|r| *r == 0));
            let s = retrieval(&labels(&case.labels), case.k).unwrap();
            assert!(
                (s.ndcg - case.ndcg).abs() < 1e-9,
                "labels {:?} k {}: ours {} scikit-learn {}",
                case.labels,
                case.k,
                s.ndcg,
                case.ndcg
            );
        }
        assert!(more_than_k > 100 && none_relevant > 10);
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
                retrieval: 1,
                ..Default::default()
            }
        );
        assert_eq!(Totals::default().averages(), Scores::default());
    }

    #[test]
    fn custom_metrics_average_by_name_and_survive_a_restore() {
        let mut totals = Totals::default();
        let with = |name: &str, v: f64| Scores {
            custom: [(name.to_owned(), v)].into(),
            answer_relevance: Some(v),
            ..Default::default()
        };
        totals.add(&with("tone", 1.0));
        totals.add(&with("tone", 0.5));
        totals.add(&with("json", 0.0));
        let (avg, counts) = (totals.averages(), totals.counts());
        close(avg.custom["tone"], 0.75);
        close(avg.custom["json"], 0.0);
        close(avg.answer_relevance.unwrap(), 0.5);
        assert_eq!(counts.custom["tone"], 2);
        assert_eq!(counts.answer_relevance, 3);
        let mut restored = Totals::from_averages(&avg, &counts);
        restored.add(&with("tone", 0.0));
        close(restored.averages().custom["tone"], 0.5);
        assert_eq!(restored.counts().custom["tone"], 3);
    }
}
