//! A task's own judge metrics and code checks (`spec.metrics.custom`,
//! `spec.metrics.checks`), compiled once per engine; the same compilation
//! validates a task (`evaluate::task::validate`).

use super::checks::Check;
use crate::api::evaluationtask::{MetricLevel, MetricsSpec};
use crate::evaluate::extract::ExtractError;
use crate::evaluate::judge::{JudgeMetric, Rails, TemplateError};

/// Why a task's metrics cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The extraction settings.
    #[error(transparent)]
    Extract(#[from] ExtractError),
    /// A custom metric's template.
    #[error("spec.metrics.custom {name:?}: template: {error}")]
    Template {
        /// The metric.
        name: String,
        /// What is wrong.
        error: TemplateError,
    },
    /// A check.
    #[error("spec.metrics.checks {name:?}: {error}")]
    Check {
        /// The check.
        name: String,
        /// What is wrong.
        error: String,
    },
}

/// The task's own judge metrics and checks, compiled.
#[derive(Debug)]
pub struct OwnMetrics {
    /// The judge metrics, in spec order.
    pub custom: Vec<JudgeMetric>,
    /// The checks, in spec order.
    pub checks: Vec<Check>,
}

impl OwnMetrics {
    /// Compiles `spec.metrics.custom` and `spec.metrics.checks`; the error
    /// names the metric and what is wrong with it.
    pub fn new(metrics: &MetricsSpec) -> Result<Self, EngineError> {
        let custom = metrics
            .custom
            .iter()
            .map(|m| {
                let rails = Rails::new(m.rails.iter().map(|r| (r.label.clone(), r.score)));
                let per_document = m.level == MetricLevel::Document;
                JudgeMetric::new(&m.name, &m.template, rails, per_document).map_err(|error| {
                    EngineError::Template {
                        name: m.name.clone(),
                        error,
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        let checks = metrics
            .checks
            .iter()
            .map(|c| {
                Check::new(c).map_err(|error| EngineError::Check {
                    name: c.name.clone(),
                    error,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { custom, checks })
    }
}
