//! The CRD's rules for an EvaluationTask spec, checked client-side (the API
//! server checks them too): what the operator's validation and the
//! evaluator's runs both refuse. The extraction paths are compiled by the
//! evaluator (`evaluate::task::validate` adds that check).

use std::collections::BTreeSet;

use super::{EvaluationTaskSpec, MetricsSpec, RESERVED_METRIC_NAMES};

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
    metrics(&spec.metrics)?;
    if let Some(slices) = &spec.slices {
        if slices.filter.is_empty() && slices.by.is_none() {
            return Err("slices needs filter, by, or both".into());
        }
        if slices.by.as_deref().is_some_and(|b| b.trim().is_empty()) {
            return Err("slices.by must name an attribute".into());
        }
        for p in &slices.filter {
            if p.attribute.trim().is_empty() || p.values.is_empty() {
                return Err(
                    "slices.filter: each predicate needs an attribute and at least one value"
                        .into(),
                );
            }
        }
    }
    Ok(())
}

/// The rules of `spec.metrics` (template syntax and regexes are compiled
/// by the evaluator).
fn metrics(metrics: &MetricsSpec) -> Result<(), String> {
    let retrieval = &metrics.retrieval;
    if let Some(max) = retrieval.max_documents
        && max < retrieval.k
    {
        return Err(format!(
            "metrics.retrieval.maxDocuments ({max}) must be at least retrieval.k ({})",
            retrieval.k
        ));
    }
    let mut names = BTreeSet::new();
    let own = metrics
        .custom
        .iter()
        .map(|m| ("custom", m.name.as_str()))
        .chain(metrics.checks.iter().map(|c| ("checks", c.name.as_str())));
    for (list, name) in own {
        if RESERVED_METRIC_NAMES.contains(&name) {
            return Err(format!(
                "metrics.{list}: {name:?} is a built-in metric's name ({})",
                RESERVED_METRIC_NAMES.join(", ")
            ));
        }
        if !names.insert(name) {
            return Err(format!(
                "metrics: the name {name:?} is used twice (custom metrics and checks share one namespace)"
            ));
        }
    }
    for metric in &metrics.custom {
        let at = format!("metrics.custom {:?}", metric.name);
        if metric.rails.len() < 2 {
            return Err(format!("{at}: rails need at least two labels"));
        }
        let mut labels = BTreeSet::new();
        for rail in &metric.rails {
            if !labels.insert(rail.label.to_lowercase()) {
                return Err(format!("{at}: the rail {:?} is listed twice", rail.label));
            }
            if !(0.0..=1.0).contains(&rail.score) {
                return Err(format!(
                    "{at}: the rail {:?} has score {}, not in [0, 1]",
                    rail.label, rail.score
                ));
            }
        }
    }
    for check in &metrics.checks {
        let kinds = [
            check.regex.is_some(),
            check.json_schema.is_some(),
            check.reference.is_some(),
            check.length.is_some(),
            check.latency.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(format!(
                "metrics.checks {:?}: a check needs exactly one of regex, jsonSchema, reference, length and latency",
                check.name
            ));
        }
        if let Some(length) = &check.length {
            match (length.min, length.max) {
                (None, None) => {
                    return Err(format!(
                        "metrics.checks {:?}: length needs min or max",
                        check.name
                    ));
                }
                (Some(min), Some(max)) if min > max => {
                    return Err(format!(
                        "metrics.checks {:?}: length.min must not exceed length.max",
                        check.name
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}
