//! EvaluationTask metrics: reconcile counts and durations, and, computed at
//! each scrape from the tasks' status in the controller's cache, the scores
//! and traffic of every task, so a quality drop can alert. Labels are
//! bounded: `namespace` and `task` name existing objects (a deleted task's
//! series disappear with it), `metric`, `outcome`, `kind`, `quantile` and
//! `phase` come from fixed sets.

use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};

use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::api::EvaluationTask;
use crate::api::evaluationtask::{EvaluationPhase, EvaluationTaskStatus};
use crate::operator::metrics::ReconcileMetrics;

/// Labels of one task.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    namespace: String,
    task: String,
}

/// Labels of one task and one value of a fixed set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScoreLabels {
    namespace: String,
    task: String,
    metric: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeOfTask {
    namespace: String,
    task: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindOfTask {
    namespace: String,
    task: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuantileOfTask {
    namespace: String,
    task: String,
    quantile: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseOfTask {
    namespace: String,
    task: String,
    phase: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The metrics: the reconcile counters are registered with the operator's
/// registry, the task series are a collector read at each scrape.
pub struct EvaluationMetrics {
    /// Reconcile counts and durations (`traceval_evaluationtask_reconcile*`).
    pub reconciles: ReconcileMetrics,
    stores: Mutex<Vec<Store<DeserializeGuard<EvaluationTask>>>>,
}

impl std::fmt::Debug for EvaluationMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvaluationMetrics").finish_non_exhaustive()
    }
}

impl Default for EvaluationMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl EvaluationMetrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self {
            reconciles: ReconcileMetrics::default(),
            stores: Mutex::new(Vec::new()),
        }
    }

    /// Reads the tasks of a controller's cache at each scrape.
    pub fn watch(&self, store: Store<DeserializeGuard<EvaluationTask>>) {
        self.stores
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(store);
    }

    fn tasks(&self) -> Vec<(String, String, EvaluationTaskStatus)> {
        let stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        let mut tasks: Vec<_> = stores
            .iter()
            .flat_map(Store::state)
            .filter_map(|guard| {
                let task = guard.0.as_ref().ok()?;
                Some((
                    task.namespace().unwrap_or_default(),
                    task.name_any(),
                    task.status.clone().unwrap_or_default(),
                ))
            })
            .collect();
        tasks.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        tasks
    }
}

fn encode<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    metric: &M,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for EvaluationMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let scores = Family::<ScoreLabels, FloatGauge>::default();
        let traces = Family::<OutcomeOfTask, Counter>::default();
        let judge_tokens = Family::<TaskLabels, Counter>::default();
        let requests = Family::<TaskLabels, Counter>::default();
        let errors = Family::<TaskLabels, Counter>::default();
        let app_tokens = Family::<KindOfTask, Counter>::default();
        let latency = Family::<QuantileOfTask, FloatGauge>::default();
        let phases = Family::<PhaseOfTask, Gauge>::default();
        for (namespace, task, status) in self.tasks() {
            let labels = TaskLabels {
                namespace: namespace.clone(),
                task: task.clone(),
            };
            if let Some(averages) = &status.averages {
                for (metric, value) in averages.named() {
                    let key = ScoreLabels {
                        namespace: namespace.clone(),
                        task: task.clone(),
                        metric: metric.to_owned(),
                    };
                    scores.get_or_create(&key).set(value);
                }
            }
            if let Some(counts) = &status.counts {
                for (outcome, n) in [
                    ("sampled", counts.sampled),
                    ("evaluated", counts.evaluated),
                    ("failed", counts.failed),
                    ("skipped", counts.skipped),
                ] {
                    let key = OutcomeOfTask {
                        namespace: namespace.clone(),
                        task: task.clone(),
                        outcome,
                    };
                    traces.get_or_create(&key).inc_by(n);
                }
            }
            if let Some(usage) = &status.judge_usage {
                judge_tokens
                    .get_or_create(&labels)
                    .inc_by(usage.total_tokens);
            }
            if let Some(totals) = &status.performance_totals {
                requests.get_or_create(&labels).inc_by(totals.requests);
                errors.get_or_create(&labels).inc_by(totals.errors);
                for (kind, n) in [
                    ("prompt", totals.prompt_tokens),
                    ("completion", totals.completion_tokens),
                ] {
                    let key = KindOfTask {
                        namespace: namespace.clone(),
                        task: task.clone(),
                        kind,
                    };
                    app_tokens.get_or_create(&key).inc_by(n);
                }
            }
            if let Some(performance) = &status.performance {
                for (quantile, ms) in [
                    ("0.5", performance.p50_latency_ms),
                    ("0.95", performance.p95_latency_ms),
                ] {
                    if let Some(ms) = ms {
                        let key = QuantileOfTask {
                            namespace: namespace.clone(),
                            task: task.clone(),
                            quantile,
                        };
                        latency.get_or_create(&key).set(ms / 1000.0);
                    }
                }
            }
            if let Some(phase) = status.phase {
                let key = PhaseOfTask {
                    namespace,
                    task,
                    phase: phase_name(phase),
                };
                phases.get_or_create(&key).set(1);
            }
        }
        encode(
            &mut encoder,
            "evaluation_score",
            "Average of each metric over a task's evaluated traces (closer to 1 is better)",
            &scores,
        )?;
        encode(
            &mut encoder,
            "evaluation_traces",
            "Traces of a task by outcome",
            &traces,
        )?;
        encode(
            &mut encoder,
            "evaluation_judge_tokens",
            "Tokens the judge reported for a task",
            &judge_tokens,
        )?;
        encode(
            &mut encoder,
            "evaluation_app_requests",
            "Requests (traces) of the evaluated service in the windows evaluated",
            &requests,
        )?;
        encode(
            &mut encoder,
            "evaluation_app_errors",
            "Failed requests of the evaluated service in the windows evaluated",
            &errors,
        )?;
        encode(
            &mut encoder,
            "evaluation_app_tokens",
            "LLM tokens of the evaluated service in the windows evaluated",
            &app_tokens,
        )?;
        encode(
            &mut encoder,
            "evaluation_app_latency_seconds",
            "Request latency quantiles of the evaluated service in the last run's window",
            &latency,
        )?;
        encode(
            &mut encoder,
            "evaluation_phase",
            "1 for the task's current phase",
            &phases,
        )
    }
}

fn phase_name(phase: EvaluationPhase) -> &'static str {
    match phase {
        EvaluationPhase::Pending => "Pending",
        EvaluationPhase::Running => "Running",
        EvaluationPhase::Completed => "Completed",
        EvaluationPhase::Stopped => "Stopped",
        EvaluationPhase::Failed => "Failed",
    }
}
