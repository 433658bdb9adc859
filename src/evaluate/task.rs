//! Reading an EvaluationTask manifest and checking it the way the API
//! server's schema and CEL rules would, for offline runs with no cluster.

use std::path::Path;
use std::time::Duration;

use crate::api::evaluationtask::{EvaluationTask, EvaluationTaskSpec};

/// Expected `apiVersion` of a task manifest.
pub const API_VERSION: &str = "traceval.dev/v1alpha1";
/// Expected `kind` of a task manifest.
pub const KIND: &str = "EvaluationTask";
/// Delay used when `spec.delay` is unset.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(120);

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

/// The CRD's rules, checked client-side (the API server checks them too).
pub fn validate(spec: &EvaluationTaskSpec) -> Result<(), String> {
    if spec.target.traced_service.is_none() && spec.target.service_name.is_none() {
        return Err("target needs tracedService or serviceName".into());
    }
    match (&spec.sampling, &spec.trace_ids) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(
                "set exactly one mode: sampling (online batch) or traceIDs (single traces)".into(),
            );
        }
        (None, Some(ids)) => {
            if ids.is_empty() {
                return Err("traceIDs must not be empty".into());
            }
            if let Some(bad) = ids
                .iter()
                .find(|id| id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(format!("trace ID {bad:?} is not 32 hex digits"));
            }
            if spec.schedule.is_some() || spec.delay.is_some() {
                return Err("schedule and delay apply to online batch tasks (sampling)".into());
            }
        }
        (Some(sampling), None) => {
            if sampling.end <= sampling.start {
                return Err("sampling.end must be after sampling.start".into());
            }
            let policy = &sampling.policy;
            match (&policy.time_window, &policy.probability) {
                (Some(w), None) if w.minutes < 1 => {
                    return Err("timeWindow.minutes must be at least 1".into());
                }
                (None, Some(p)) if !(p.ratio > 0.0 && p.ratio <= 1.0) => {
                    return Err("probability.ratio must be in (0, 1]".into());
                }
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(
                        "sampling.policy needs exactly one of timeWindow and probability".into(),
                    );
                }
            }
            if let Some(delay) = &spec.delay {
                parse_duration(delay)?;
            }
        }
    }
    if spec.metrics.retrieval.k < 1 {
        return Err("metrics.retrieval.k must be at least 1".into());
    }
    super::extract::Extractor::new(&spec.extraction).map_err(|e| e.to_string())?;
    Ok(())
}

/// Reads a Go-style duration made of `<n>h`, `<n>m`, `<n>s`, `<n>ms` parts (`1h30m`, `90s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let error = || format!("{text:?} is not a duration such as 90s, 2m or 1h30m");
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(error());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(error());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| error())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(1), 2)
        } else if rest.starts_with('h') {
            (Duration::from_secs(3600), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(60), 1)
        } else if rest.starts_with('s') {
            (Duration::from_secs(1), 1)
        } else {
            return Err(error());
        };
        let part = unit
            .checked_mul(u32::try_from(n).map_err(|_| error())?)
            .ok_or_else(error)?;
        total = total.checked_add(part).ok_or_else(error)?;
        rest = &rest[len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        for bad in ["", "2", "m", "2d", "1.5h", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
