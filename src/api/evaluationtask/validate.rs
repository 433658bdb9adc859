//! The CRD's rules for an EvaluationTask spec, checked client-side (the API
//! server checks them too): what the operator's validation and the
//! evaluator's runs both refuse. The extraction paths are compiled by the
//! evaluator (`evaluate::task::validate` adds that check).

use super::EvaluationTaskSpec;

/// The CRD's rules, except the extraction paths' syntax.
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
                delay.duration()?;
            }
        }
    }
    if spec.metrics.retrieval.k < 1 {
        return Err("metrics.retrieval.k must be at least 1".into());
    }
    Ok(())
}
