//! TracedService metrics: reconcile counts by outcome and durations
//! (`traceval_tracedservice_reconcile*`), registered with the operator's
//! [`Registry`](crate::operator::metrics::Registry) at start-up.

use crate::operator::metrics::ReconcileMetrics;

/// The TracedService controller's metrics.
#[derive(Debug, Default)]
pub struct ServiceMetrics {
    /// Reconcile counts and durations (`traceval_tracedservice_reconcile*`).
    pub reconciles: ReconcileMetrics,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::metrics::{Outcome, Registry};

    #[test]
    fn counts_and_times_reconciles() {
        let metrics = ServiceMetrics::default();
        let mut registry = Registry::default();
        registry.register_reconciles(&metrics.reconciles, "tracedservice", "TracedService");
        {
            let _timer = metrics.reconciles.start();
            metrics.reconciles.count(Outcome::Success);
        }
        metrics.reconciles.count(Outcome::InvalidSpec);
        let text = registry.encode();
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
