//! Reconcile metrics in the Prometheus text format. Labels are bounded:
//! the outcome is a fixed set of error classes, never object names.

use std::time::Instant;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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

/// Label set of the reconcile counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The outcome.
    pub outcome: Outcome,
}

/// The operator's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<OutcomeLabels, Counter>,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("traceval");
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "tracedservice_reconciles",
            "TracedService reconciles by outcome",
            reconciles.clone(),
        );
        registry.register(
            "tracedservice_reconcile_duration_seconds",
            "Duration of TracedService reconciles",
            duration.clone(),
        );
        Self {
            registry,
            reconciles,
            duration,
        }
    }
}

impl Metrics {
    /// Starts timing a reconcile; the time is recorded when the guard drops.
    pub fn start(&self) -> ReconcileTimer<'_> {
        ReconcileTimer {
            histogram: &self.duration,
            start: Instant::now(),
        }
    }

    /// Counts a finished reconcile.
    pub fn count(&self, outcome: Outcome) {
        self.reconciles
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
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

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_times_reconciles() {
        let metrics = Metrics::default();
        {
            let _timer = metrics.start();
            metrics.count(Outcome::Success);
        }
        metrics.count(Outcome::InvalidSpec);
        let text = metrics.encode();
        assert!(
            text.contains(r#"traceval_tracedservice_reconciles_total{outcome="Success"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"outcome="InvalidSpec"} 1"#), "{text}");
        assert!(
            text.contains("traceval_tracedservice_reconcile_duration_seconds_count 1"),
            "{text}"
        );
    }
}
