//! Reading an EvaluationTask manifest and checking it the way the API
//! server's schema and CEL rules would (for offline runs with no cluster),
//! plus the extraction paths' syntax (for every run and the operator).

use std::path::Path;

use super::extract::Extractor;
use super::scoring::engine::OwnMetrics;
use crate::api::evaluationtask::{self, EvaluationTask, EvaluationTaskSpec};

/// Expected `apiVersion` of a task manifest.
pub const API_VERSION: &str = "traceval.dev/v1alpha1";
/// Expected `kind` of a task manifest.
pub const KIND: &str = "EvaluationTask";

/// A task manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an EvaluationTask manifest.
    #[error("{path}: not an EvaluationTask manifest: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong (with line and column where known).
        message: String,
    },
    /// The spec breaks a rule the CRD enforces.
    #[error("{path}: invalid spec: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The rule broken.
        message: String,
    },
}

/// Reads and checks a task manifest.
pub fn load(path: &Path) -> Result<EvaluationTask, TaskError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TaskError::Read {
        path: shown.clone(),
        source,
    })?;
    let parse_error = |message: String| TaskError::Parse {
        path: shown.clone(),
        message,
    };
    let value: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| parse_error(e.to_string()))?;
    let api_version = value.get("apiVersion").and_then(serde_yaml::Value::as_str);
    let kind = value.get("kind").and_then(serde_yaml::Value::as_str);
    if api_version != Some(API_VERSION) || kind != Some(KIND) {
        return Err(parse_error(format!(
            "expected apiVersion {API_VERSION} and kind {KIND}, found {} {}",
            api_version.unwrap_or("(none)"),
            kind.unwrap_or("(none)")
        )));
    }
    let task: EvaluationTask =
        serde_yaml::from_value(value).map_err(|e| parse_error(e.to_string()))?;
    validate(&task.spec).map_err(|message| TaskError::Invalid {
        path: shown,
        message,
    })?;
    Ok(task)
}

/// The CRD's rules ([`crate::api::evaluationtask::validate`]), the
/// extraction paths' syntax, and the custom metrics' templates and the
/// checks' regexes and schemas compiled, checked client-side (the API
/// server checks the rules too); what the operator's validation and every
/// run refuse.
pub fn validate(spec: &EvaluationTaskSpec) -> Result<(), String> {
    evaluationtask::validate(spec)?;
    Extractor::new(&spec.extraction).map_err(|e| e.to_string())?;
    OwnMetrics::new(&spec.metrics).map_err(|e| e.to_string())?;
    Ok(())
}
