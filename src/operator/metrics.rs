//! The metrics registry and the reconcile metrics every controller has, in
//! the Prometheus text format. Labels are bounded:
//! the outcome is a fixed set of error classes, never object names.

use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry as Prometheus;

use super::error::ErrorClass;

/// Outcome of one reconcile.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Outcome {
    /// Reconciled.
    Success,
    /// The spec or object must change.
    InvalidSpec,
    /// Something outside the spec is missing.
    MissingDependency,
    /// An API call failed.
    Transient,
}

impl Outcome {
    /// The outcome of a reconcile that failed with an error of `class`, or succeeded.
    pub fn of(class: Option<ErrorClass>) -> Self {
        match class {
            None => Self::Success,
            Some(ErrorClass::InvalidSpec) => Self::InvalidSpec,
            Some(ErrorClass::MissingDependency) => Self::MissingDependency,
            Some(ErrorClass::Transient) => Self::Transient,
        }
    }
}

/// Label set of the reconcile counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The outcome.
    pub outcome: Outcome,
}

/// Reconcile counts (by outcome) and durations of one controller.
#[derive(Clone, Debug)]
pub struct ReconcileMetrics {
    reconciles: Family<OutcomeLabels, Counter>,
    duration: Histogram,
}

impl Default for ReconcileMetrics {
    fn default() -> Self {
        Self {
            reconciles: Family::default(),
            duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
        }
    }
}

impl ReconcileMetrics {
    /// Registers them as `traceval_{kind}_reconciles_total` and
    /// `traceval_{kind}_reconcile_duration_seconds`; `what` names the kind in the help.
    pub fn register(&self, registry: &mut Prometheus, kind: &str, what: &str) {
        registry.register(
            format!("{kind}_reconciles"),
            format!("{what} reconciles by outcome"),
            self.reconciles.clone(),
        );
        registry.register(
            format!("{kind}_reconcile_duration_seconds"),
            format!("Duration of {what} reconciles"),
            self.duration.clone(),
        );
    }

    /// Starts timing a reconcile; the time is recorded when the guard drops.
    pub fn start(&self) -> ReconcileTimer<'_> {
        ReconcileTimer::new(&self.duration)
    }

    /// Counts a finished reconcile.
    pub fn count(&self, outcome: Outcome) {
        self.reconciles
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Runs one reconcile, timed, and counts its outcome by the error's class.
    pub async fn observe<T, E>(
        &self,
        class: impl Fn(&E) -> ErrorClass,
        reconcile: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let _timer = self.start();
        let result = reconcile.await;
        self.count(Outcome::of(result.as_ref().err().map(class)));
        result
    }
}

/// The registry of every metric on `/metrics` (prefix `traceval_`): each
/// controller registers its own metrics here at start-up.
pub struct Registry {
    registry: Prometheus,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            registry: Prometheus::with_prefix("traceval"),
        }
    }
}

impl Registry {
    /// Adds a controller's reconcile metrics (see [`ReconcileMetrics::register`]).
    pub fn register_reconciles(&mut self, metrics: &ReconcileMetrics, kind: &str, what: &str) {
        metrics.register(&mut self.registry, kind, what);
    }

    /// Adds metrics computed at each scrape (e.g. the EvaluationTask gauges).
    pub fn register_collector(&mut self, collector: Box<dyn Collector>) {
        self.registry.register_collector(collector);
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Records the elapsed time of a reconcile when dropped, on every return path.
pub struct ReconcileTimer<'a> {
    histogram: &'a Histogram,
    start: Instant,
}

impl<'a> ReconcileTimer<'a> {
    /// Starts timing into `histogram`.
    pub fn new(histogram: &'a Histogram) -> Self {
        Self {
            histogram,
            start: Instant::now(),
        }
    }
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}
