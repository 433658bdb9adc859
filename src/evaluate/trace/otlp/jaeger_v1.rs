//! Jaeger's v1 JSON (the query service's `/api/traces`, and what the UI
//! exports as "trace JSON") converted to OTLP spans, so that a trace reads
//! the same whichever way it was exported:
//!
//! - `traceID` (leading zeros may be stripped) and `spanID` are hex, padded
//!   to 32 and 16 digits;
//! - the parent is the first `CHILD_OF` reference (else the first
//!   `FOLLOWS_FROM`);
//! - `startTime` and `duration` are microseconds;
//! - `tags` become attributes, except those Jaeger derives from OTLP fields,
//!   which go back to their fields: `span.kind` → `kind`,
//!   `otel.status_code` / `otel.status_description` (and `error: true`) →
//!   `status`, `otel.scope.*` / `otel.library.*` / `internal.span.format` dropped;
//! - `logs` become events (the name from the `event` field);
//! - `processes[processID]` becomes the resource: `service.name` and its tags.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::scalar::{Nanos, SpanKind, StatusCode};
use super::{
    AnyValue, Event, KeyValue, ParentSpanId, Resource, ResourceSpans, ScopeSpans, SpanId, Status,
    TraceId,
};

/// One trace: `{traceID, spans, processes}`.
#[derive(Deserialize, Debug)]
pub struct Trace {
    /// Its spans.
    #[serde(default)]
    pub spans: Vec<Span>,
    /// Processes by ID.
    #[serde(default)]
    pub processes: HashMap<String, Process>,
}

/// A Jaeger v1 span.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    #[serde(rename = "traceID")]
    trace_id: JaegerId<16>,
    #[serde(rename = "spanID")]
    span_id: JaegerId<8>,
    #[serde(default)]
    operation_name: String,
    #[serde(default)]
    references: Vec<Reference>,
    #[serde(default)]
    start_time: Nanos,
    #[serde(default)]
    duration: Nanos,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    logs: Vec<Log>,
    #[serde(default, rename = "processID")]
    process_id: Option<String>,
    /// Some exports embed the process in each span.
    #[serde(default)]
    process: Option<Process>,
}

/// A process: the resource of its spans.
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    #[serde(default)]
    service_name: String,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Reference {
    #[serde(default)]
    ref_type: String,
    #[serde(rename = "spanID")]
    span_id: JaegerId<8>,
}

#[derive(Deserialize, Debug, Clone)]
struct Tag {
    key: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize, Debug)]
struct Log {
    #[serde(default)]
    timestamp: Nanos,
    #[serde(default)]
    fields: Vec<Tag>,
}

/// A hex ID of `N` bytes whose leading zeros may be missing.
#[derive(Debug, Clone)]
struct JaegerId<const N: usize>(String);

impl<'de, const N: usize> Deserialize<'de> for JaegerId<N> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        let digits = N * 2;
        if raw.is_empty() || raw.len() > digits || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(serde::de::Error::custom(format!(
                "invalid Jaeger {} ID {raw:?}: expected up to {digits} hex digits",
                if N == 16 { "trace" } else { "span" }
            )));
        }
        Ok(Self(format!("{:0>digits$}", raw.to_ascii_lowercase())))
    }
}

/// Tags Jaeger derives from OTLP span fields; they go back to the fields.
const DERIVED_TAGS: [&str; 4] = [
    "span.kind",
    "otel.status_code",
    "otel.status_description",
    "internal.span.format",
];

fn derived(key: &str) -> bool {
    DERIVED_TAGS.contains(&key)
        || key.starts_with("otel.scope.")
        || key.starts_with("otel.library.")
}

impl Tag {
    fn value(&self) -> Value {
        match (self.kind.as_deref(), &self.value) {
            (Some("int64"), Value::String(s)) => {
                s.parse::<i64>().map_or(self.value.clone(), Value::from)
            }
            (Some("float64"), Value::String(s)) => s
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or(self.value.clone(), Value::Number),
            (Some("bool"), Value::String(s)) => {
                s.parse::<bool>().map_or(self.value.clone(), Value::Bool)
            }
            _ => self.value.clone(),
        }
    }

    fn key_value(&self) -> KeyValue {
        KeyValue {
            key: self.key.clone(),
            value: AnyValue(self.value()),
        }
    }
}

impl Process {
    fn resource(&self) -> Resource {
        let mut attributes = vec![KeyValue {
            key: "service.name".into(),
            value: AnyValue(Value::String(self.service_name.clone())),
        }];
        attributes.extend(self.tags.iter().map(Tag::key_value));
        Resource { attributes }
    }
}

impl Trace {
    /// The trace as OTLP resource spans, one per process, in order of first use.
    pub fn into_otlp(self) -> Vec<ResourceSpans> {
        let mut order: Vec<String> = Vec::new();
        let mut groups: HashMap<String, (Resource, Vec<super::Span>)> = HashMap::new();
        for span in self.spans {
            let (key, process) = match (&span.process_id, &span.process) {
                (Some(id), _) if self.processes.contains_key(id) => (
                    id.clone(),
                    self.processes.get(id).cloned().unwrap_or_default(),
                ),
                (_, Some(process)) => (
                    format!("embedded:{}", process.service_name),
                    process.clone(),
                ),
                (id, None) => (id.clone().unwrap_or_default(), Process::default()),
            };
            let group = groups.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                (process.resource(), Vec::new())
            });
            group.1.push(span.into_otlp());
        }
        order
            .into_iter()
            .filter_map(|key| groups.remove(&key))
            .map(|(resource, spans)| ResourceSpans {
                resource: Some(resource),
                scope_spans: vec![ScopeSpans { spans }],
            })
            .collect()
    }
}

impl Span {
    fn into_otlp(self) -> super::Span {
        let parent = self
            .references
            .iter()
            .find(|r| r.ref_type.eq_ignore_ascii_case("CHILD_OF"))
            .or_else(|| self.references.first())
            .map(|r| r.span_id.0.clone());
        let tag = |key: &str| self.tags.iter().find(|t| t.key == key).map(Tag::value);
        let kind = tag("span.kind")
            .and_then(|v| v.as_str().map(SpanKind::from_name))
            .unwrap_or_default();
        let error_tag = tag("error").is_some_and(|v| v == Value::Bool(true) || v == "true");
        let code = match tag("otel.status_code").as_ref().and_then(Value::as_str) {
            Some(name) => StatusCode::from_name(name),
            None if error_tag => StatusCode::from_name("ERROR"),
            None => StatusCode::default(),
        };
        let message = tag("otel.status_description")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let attributes = self
            .tags
            .iter()
            .filter(|t| !(derived(&t.key) || (t.key == "error" && error_tag)))
            .map(Tag::key_value)
            .collect();
        let events = self
            .logs
            .iter()
            .map(|log| Event {
                time_unix_nano: Nanos(log.timestamp.0.saturating_mul(1000)),
                name: log
                    .fields
                    .iter()
                    .find(|f| f.key == "event")
                    .and_then(|f| f.value.as_str())
                    .unwrap_or_default()
                    .to_owned(),
                attributes: log
                    .fields
                    .iter()
                    .filter(|f| f.key != "event")
                    .map(Tag::key_value)
                    .collect(),
            })
            .collect();
        let start = self.start_time.0.saturating_mul(1000);
        super::Span {
            trace_id: TraceId(self.trace_id.0),
            span_id: SpanId(self.span_id.0),
            parent_span_id: parent.map(|p| ParentSpanId(Some(p))),
            name: self.operation_name,
            kind,
            start_time_unix_nano: Nanos(start),
            end_time_unix_nano: Nanos(start.saturating_add(self.duration.0.saturating_mul(1000))),
            attributes,
            events,
            status: Some(Status { code, message }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_jaeger_v1_span_reads_as_its_otlp_original() {
        let trace: Trace = serde_json::from_value(json!({
            "traceID": "af7651916cd43dd8448eb211c80319c",
            "spans": [{
                "traceID": "af7651916cd43dd8448eb211c80319c",
                "spanID": "b7b65372b1d5857d",
                "operationName": "chat gpt-4o",
                "references": [{"refType": "CHILD_OF", "traceID": "af7651916cd43dd8448eb211c80319c", "spanID": "00f067aa0ba902b7"}],
                "startTime": 1700000000000000u64,
                "duration": 1500,
                "tags": [
                    {"key": "gen_ai.operation.name", "type": "string", "value": "chat"},
                    {"key": "gen_ai.usage.input_tokens", "type": "int64", "value": 12},
                    {"key": "span.kind", "type": "string", "value": "client"},
                    {"key": "otel.status_code", "type": "string", "value": "ERROR"},
                    {"key": "otel.status_description", "type": "string", "value": "boom"},
                    {"key": "error", "type": "bool", "value": true},
                    {"key": "otel.scope.name", "type": "string", "value": "x"}
                ],
                "logs": [{"timestamp": 1700000000000100u64, "fields": [
                    {"key": "event", "type": "string", "value": "gen_ai.choice"},
                    {"key": "index", "type": "int64", "value": "0"}
                ]}],
                "processID": "p1"
            }],
            "processes": {"p1": {"serviceName": "app", "tags": [{"key": "host.name", "type": "string", "value": "h"}]}}
        }))
        .unwrap();
        let resource_spans = trace.into_otlp();
        assert_eq!(resource_spans.len(), 1);
        let resource = resource_spans[0].resource.as_ref().unwrap();
        assert_eq!(resource.attributes[0].value.0, json!("app"));
        assert_eq!(resource.attributes[1].key, "host.name");
        let span = &resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id.0, "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(
            span.parent_span_id.as_ref().unwrap().0.as_deref(),
            Some("00f067aa0ba902b7")
        );
        assert_eq!(span.kind.name(), "SPAN_KIND_CLIENT");
        assert_eq!(span.start_time_unix_nano.0, 1_700_000_000_000_000_000);
        assert_eq!(span.end_time_unix_nano.0, 1_700_000_000_001_500_000);
        let status = span.status.as_ref().unwrap();
        assert_eq!(
            (status.code.name(), status.message.as_str()),
            ("STATUS_CODE_ERROR", "boom")
        );
        let keys: Vec<_> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["gen_ai.operation.name", "gen_ai.usage.input_tokens"]);
        assert_eq!(span.attributes[1].value.0, json!(12));
        assert_eq!(span.events[0].name, "gen_ai.choice");
        assert_eq!(span.events[0].attributes[0].value.0, json!(0));
        assert_eq!(span.events[0].time_unix_nano.0, 1_700_000_000_000_100_000);
    }

    #[test]
    fn bad_ids_are_named() {
        let err =
            serde_json::from_value::<Span>(json!({"traceID": "xyz", "spanID": "1"})).unwrap_err();
        assert!(err.to_string().contains("invalid Jaeger trace ID"), "{err}");
    }
}
