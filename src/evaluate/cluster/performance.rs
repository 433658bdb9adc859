//! The seed's performance monitoring, from the traces of a run's window:
//! request count, errors, latency percentiles and the app's token usage.
//!
//! - a trace is one request; its latency is from its first span's start to
//!   its last span's end;
//! - it is an error when a span has status `ERROR` or a server span answered
//!   with an HTTP status of 500 or more;
//! - tokens are summed over its spans from `gen_ai.usage.input_tokens` /
//!   `output_tokens` (or `prompt_tokens` / `completion_tokens`), else
//!   OpenInference's `llm.token_count.prompt` / `completion`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Map, Value};

use crate::api::evaluationtask::{PerformanceSummary, TrafficTotals};
use crate::evaluate::trace::{Span, Trace};

/// The traffic figures of one trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// First span start to last span end, in nanoseconds.
    pub latency_nanos: u64,
    /// Whether the request failed.
    pub error: bool,
    /// Prompt tokens of its LLM calls.
    pub prompt_tokens: u64,
    /// Completion tokens of its LLM calls.
    pub completion_tokens: u64,
}

impl Traffic {
    /// The figures of one trace.
    pub fn of(trace: &Trace) -> Self {
        let mut traffic = Self {
            latency_nanos: trace.latency_nanos(),
            ..Self::default()
        };
        for span in &trace.spans {
            traffic.error |= failed(span);
            let attributes = span.attributes();
            traffic.prompt_tokens += tokens(
                attributes,
                &[
                    &["gen_ai", "usage", "input_tokens"],
                    &["gen_ai", "usage", "prompt_tokens"],
                    &["llm", "token_count", "prompt"],
                ],
            );
            traffic.completion_tokens += tokens(
                attributes,
                &[
                    &["gen_ai", "usage", "output_tokens"],
                    &["gen_ai", "usage", "completion_tokens"],
                    &["llm", "token_count", "completion"],
                ],
            );
        }
        traffic
    }
}

fn failed(span: &Span) -> bool {
    let object = span.to_json();
    if object.pointer("/status/code").and_then(Value::as_str) == Some("STATUS_CODE_ERROR") {
        return true;
    }
    let server = object.get("kind").and_then(Value::as_str) == Some("SPAN_KIND_SERVER");
    let attributes = span.attributes();
    let status = [
        &["http", "status_code"][..],
        &["http", "response", "status_code"][..],
    ]
    .iter()
    .find_map(|path| number(lookup(attributes, path)?));
    server && status.is_some_and(|code| code >= 500)
}

fn lookup<'a>(attributes: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(attributes.get(*first)?, |value, key| value.get(*key))
}

fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The first of `paths` present in the attributes, as a count.
fn tokens(attributes: &Map<String, Value>, paths: &[&[&str]]) -> u64 {
    paths
        .iter()
        .find_map(|path| number(lookup(attributes, path)?))
        .unwrap_or(0)
}

/// The summary of a window's traffic.
pub fn summarize(
    traffic: &[Traffic],
    window_start: Option<Time>,
    window_end: Option<Time>,
) -> PerformanceSummary {
    let mut latencies: Vec<u64> = traffic.iter().map(|t| t.latency_nanos).collect();
    latencies.sort_unstable();
    let totals = totals(traffic);
    PerformanceSummary {
        window_start,
        window_end,
        requests: totals.requests,
        errors: totals.errors,
        p50_latency_ms: percentile_ms(&latencies, 0.50),
        p95_latency_ms: percentile_ms(&latencies, 0.95),
        prompt_tokens: totals.prompt_tokens,
        completion_tokens: totals.completion_tokens,
    }
}

/// The counters of some traffic.
pub fn totals(traffic: &[Traffic]) -> TrafficTotals {
    let mut totals = TrafficTotals::default();
    for t in traffic {
        add(&mut totals, t);
    }
    totals
}

/// Adds one trace to running counters.
pub fn add(totals: &mut TrafficTotals, t: &Traffic) {
    totals.requests += 1;
    totals.errors += u64::from(t.error);
    totals.prompt_tokens += t.prompt_tokens;
    totals.completion_tokens += t.completion_tokens;
}

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
fn percentile_ms(sorted: &[u64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let nanos = sorted[rank.clamp(1, sorted.len()) - 1];
    Some((nanos as f64 / 1e6 * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::trace::TraceCollector;
    use serde_json::json;

    fn trace(spans: Value) -> Trace {
        let mut collector = TraceCollector::default();
        collector.add(
            serde_json::from_value(json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}))
                .unwrap(),
        );
        collector.finish().remove(0)
    }

    const ID: &str = "0af7651916cd43dd8448eb211c80319c";

    #[test]
    fn the_sample_app_trace() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/traces/sample-app-trace.json"
        ))
        .unwrap();
        let mut collector = TraceCollector::default();
        collector.add(serde_json::from_str(&text).unwrap());
        let t = Traffic::of(&collector.finish()[0]);
        assert_eq!(
            t,
            Traffic {
                // POST /api/trace_demo starts first; it ends last.
                latency_nanos: 1_795_757_076_444_906_360 - 1_795_757_076_412_908_965,
                error: false,
                prompt_tokens: 8,
                completion_tokens: 6,
            }
        );
    }

    #[test]
    fn errors_from_status_or_server_5xx_and_openinference_tokens() {
        let span = |id: &str, kind: &str, extra: Value| {
            let mut s = json!({"traceId": ID, "spanId": id, "name": "s", "kind": kind,
                "startTimeUnixNano": "1000", "endTimeUnixNano": "3000000"});
            s.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            s
        };
        let error = trace(json!([span(
            "0000000000000001",
            "SPAN_KIND_INTERNAL",
            json!({"status": {"code": 2}})
        )]));
        assert!(Traffic::of(&error).error);
        let five_hundred = trace(json!([span(
            "0000000000000001",
            "SPAN_KIND_SERVER",
            json!({
            "attributes": [{"key": "http.status_code", "value": {"intValue": "503"}}]})
        )]));
        assert!(Traffic::of(&five_hundred).error);
        let client_500 = trace(json!([span(
            "0000000000000001",
            "SPAN_KIND_CLIENT",
            json!({
            "attributes": [{"key": "http.status_code", "value": {"intValue": "500"}}]})
        )]));
        assert!(
            !Traffic::of(&client_500).error,
            "a failed call the app handled"
        );
        let llm = trace(json!([span(
            "0000000000000001",
            "SPAN_KIND_INTERNAL",
            json!({
            "attributes": [
                {"key": "llm.token_count.prompt", "value": {"intValue": "12"}},
                {"key": "llm.token_count.completion", "value": {"intValue": "3"}}
            ]})
        )]));
        let t = Traffic::of(&llm);
        assert_eq!(
            (t.prompt_tokens, t.completion_tokens, t.latency_nanos),
            (12, 3, 2_999_000)
        );
    }

    #[test]
    fn summary_percentiles_and_totals() {
        let traffic: Vec<Traffic> = (1..=20)
            .map(|ms| Traffic {
                latency_nanos: ms * 1_000_000,
                error: ms == 20,
                prompt_tokens: 2,
                completion_tokens: 1,
            })
            .collect();
        let s = summarize(&traffic, None, None);
        assert_eq!((s.requests, s.errors), (20, 1));
        assert_eq!(
            (s.p50_latency_ms, s.p95_latency_ms),
            (Some(10.0), Some(19.0))
        );
        assert_eq!((s.prompt_tokens, s.completion_tokens), (40, 20));
        assert_eq!(summarize(&[], None, None).p50_latency_ms, None);
    }
}
