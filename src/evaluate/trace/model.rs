//! OTLP spans to the span objects the extraction paths are evaluated on:
//! `{name, traceId, spanId, parentSpanId, kind, startTimeUnixNano,
//! endTimeUnixNano, attributes, events, status, resource}`, with attribute
//! keys unflattened (see [`super::unflatten`]).
//!
//! IDs are lowercase hex, `kind` and `status.code` their OTLP names
//! (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`), timestamps JSON numbers.
//! The resource is shared by all spans of a `ResourceSpans` and joined to a
//! span object only when that object is built for a matched span.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::otlp::{self, Envelope, KeyValue};
use super::unflatten::unflatten;

/// One normalised span.
#[derive(Debug, Clone)]
pub struct Span {
    /// Trace ID, 32 lowercase hex digits.
    pub trace_id: String,
    /// Span ID, 16 lowercase hex digits.
    pub span_id: String,
    /// Operation name.
    pub name: String,
    /// Start time, nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End time, nanoseconds since the Unix epoch.
    pub end_time_unix_nano: u64,
    /// The span object without `resource` (always a JSON object).
    fields: Value,
    resource: Arc<Value>,
}

impl Span {
    /// The span's (unflattened) attributes.
    pub fn attributes(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        match self.fields.get("attributes") {
            Some(Value::Object(map)) => map,
            _ => EMPTY.get_or_init(Map::new),
        }
    }

    /// The parent span's ID; `None` for a root span.
    pub fn parent_span_id(&self) -> Option<&str> {
        self.fields.get("parentSpanId").and_then(Value::as_str)
    }

    /// The span's resource (unflattened attributes).
    pub fn resource(&self) -> &Value {
        &self.resource
    }

    /// The full span object the extraction paths are evaluated on.
    pub fn to_json(&self) -> Value {
        let mut object = self.fields.clone();
        if let Value::Object(map) = &mut object {
            map.insert("resource".to_owned(), (*self.resource).clone());
        }
        object
    }

    /// The span object without its `resource` member, borrowed: what a
    /// path that cannot reach `resource` may be evaluated on instead of
    /// [`Span::to_json`].
    pub fn without_resource(&self) -> &Value {
        &self.fields
    }
}

/// The spans of one trace, in input order.
#[derive(Debug, Clone)]
pub struct Trace {
    /// Trace ID, 32 lowercase hex digits.
    pub trace_id: String,
    /// Its spans.
    pub spans: Vec<Span>,
    /// Spans of this trace that could not be read; a trace with any is
    /// reported as failed, with their reasons.
    pub unreadable: Vec<UnreadableSpan>,
    /// Whether spans of this trace ID were handed on before, as another
    /// trace (a split trace: see `source::assemble`).
    pub continued: bool,
}

/// A span of a known trace that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableSpan {
    /// What is wrong, and where.
    pub reason: String,
    /// Its start, when that much could be read.
    pub start_time_unix_nano: Option<u64>,
}

impl Trace {
    /// A trace without spans yet.
    pub fn new(trace_id: String) -> Self {
        Self {
            trace_id,
            spans: Vec::new(),
            unreadable: Vec::new(),
            continued: false,
        }
    }

    /// The earliest span start (of readable spans and unreadable ones
    /// whose start could be read), nanoseconds since the Unix epoch (0
    /// without spans).
    pub fn start_time_unix_nano(&self) -> u64 {
        self.spans
            .iter()
            .map(|s| s.start_time_unix_nano)
            .chain(
                self.unreadable
                    .iter()
                    .filter_map(|u| u.start_time_unix_nano),
            )
            .min()
            .unwrap_or(0)
    }

    /// First span start to last span end, in nanoseconds (a request's latency).
    pub fn latency_nanos(&self) -> u64 {
        let start = self.start_time_unix_nano();
        let end = self
            .spans
            .iter()
            .map(|s| s.end_time_unix_nano)
            .max()
            .unwrap_or(start);
        end.saturating_sub(start)
    }

    /// Why the trace cannot be evaluated as read: its unreadable spans.
    pub fn unreadable_reason(&self) -> Option<String> {
        (!self.unreadable.is_empty()).then(|| {
            self.unreadable
                .iter()
                .map(|u| u.reason.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// `service.name` of the first span's resource, if any.
    pub fn service_name(&self) -> Option<&str> {
        self.spans
            .iter()
            .find_map(|s| s.resource.get("service")?.get("name")?.as_str())
    }
}

/// Groups normalised spans into traces, in order of first appearance.
#[derive(Debug, Default)]
pub struct TraceCollector {
    index: HashMap<String, usize>,
    traces: Vec<Trace>,
}

impl TraceCollector {
    /// Normalises the spans of one document and adds them to their traces.
    pub fn add(&mut self, envelope: Envelope) {
        spans_of(envelope, |span| self.push(span));
    }

    fn push(&mut self, span: Span) {
        match self.index.get(&span.trace_id) {
            Some(&i) => self.traces[i].spans.push(span),
            None => {
                self.index.insert(span.trace_id.clone(), self.traces.len());
                let mut trace = Trace::new(span.trace_id.clone());
                trace.spans.push(span);
                self.traces.push(trace);
            }
        }
    }

    /// Number of traces collected so far.
    pub fn len(&self) -> usize {
        self.traces.len()
    }

    /// Whether no trace was collected.
    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    /// The traces, in order of first appearance.
    pub fn finish(self) -> Vec<Trace> {
        self.traces
    }
}

/// Normalises the spans of one document, in document order.
pub fn spans_of(envelope: Envelope, mut each: impl FnMut(Span)) {
    for resource_spans in envelope.resource_spans {
        let resource = Arc::new(Value::Object(attributes(
            resource_spans.resource.unwrap_or_default().attributes,
        )));
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                each(normalise(span, &resource));
            }
        }
    }
}

fn attributes(list: Vec<KeyValue>) -> Map<String, Value> {
    unflatten(list.into_iter().map(|kv| (kv.key, kv.value.0)))
}

fn normalise(span: otlp::Span, resource: &Arc<Value>) -> Span {
    let trace_id = span.trace_id.0;
    let span_id = span.span_id.0;
    let parent = span.parent_span_id.and_then(|p| p.0);
    let status = span.status.unwrap_or_default();
    let events: Vec<Value> = span
        .events
        .into_iter()
        .map(|e| {
            json!({
                "name": e.name,
                "timeUnixNano": e.time_unix_nano.0,
                "attributes": attributes(e.attributes),
            })
        })
        .collect();
    let mut fields = Map::new();
    fields.insert("name".into(), Value::String(span.name.clone()));
    fields.insert("traceId".into(), Value::String(trace_id.clone()));
    fields.insert("spanId".into(), Value::String(span_id.clone()));
    fields.insert(
        "parentSpanId".into(),
        parent.map_or(Value::Null, Value::String),
    );
    fields.insert("kind".into(), Value::String(span.kind.name().into()));
    fields.insert(
        "startTimeUnixNano".into(),
        Value::from(span.start_time_unix_nano.0),
    );
    fields.insert(
        "endTimeUnixNano".into(),
        Value::from(span.end_time_unix_nano.0),
    );
    fields.insert(
        "attributes".into(),
        Value::Object(attributes(span.attributes)),
    );
    fields.insert("events".into(), Value::Array(events));
    fields.insert(
        "status".into(),
        json!({"code": status.code.name(), "message": status.message}),
    );
    Span {
        trace_id,
        span_id,
        name: span.name,
        start_time_unix_nano: span.start_time_unix_nano.0,
        end_time_unix_nano: span.end_time_unix_nano.0,
        fields: Value::Object(fields),
        resource: Arc::clone(resource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_object_shape() {
        let envelope: Envelope = serde_json::from_value(json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "app"}}]},
            "scopeSpans": [{"spans": [{
                "traceId": "CvdlGRbNQ92ESOshHIAxnA==",
                "spanId": "t7ZTcrHVhX0=",
                "parentSpanId": "",
                "name": "LLM",
                "kind": "SPAN_KIND_INTERNAL",
                "startTimeUnixNano": "1700000000000000000",
                "endTimeUnixNano": 1700000001000000000u64,
                "attributes": [{"key": "input.value", "value": {"stringValue": "q"}}],
                "events": [{"name": "e", "timeUnixNano": "5", "attributes": []}],
                "status": {"code": 1}
            }]}]
        }]}))
        .unwrap();
        let mut collector = TraceCollector::default();
        collector.add(envelope);
        let traces = collector.finish();
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0].service_name(), Some("app"));
        let span = &traces[0].spans[0];
        assert_eq!(
            span.to_json(),
            json!({
                "name": "LLM",
                "traceId": "0af7651916cd43dd8448eb211c80319c",
                "spanId": "b7b65372b1d5857d",
                "parentSpanId": null,
                "kind": "SPAN_KIND_INTERNAL",
                "startTimeUnixNano": 1700000000000000000u64,
                "endTimeUnixNano": 1700000001000000000u64,
                "attributes": {"input": {"value": "q"}},
                "events": [{"name": "e", "timeUnixNano": 5, "attributes": {}}],
                "status": {"code": "STATUS_CODE_OK", "message": ""},
                "resource": {"service": {"name": "app"}}
            })
        );
    }

    #[test]
    fn spans_group_by_trace_in_order_of_first_appearance() {
        let span = |trace: &str, id: &str| json!({"traceId": trace, "spanId": id, "name": "s"});
        let a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        let mut collector = TraceCollector::default();
        for spans in [
            vec![span(b, "0000000000000001"), span(a, "0000000000000002")],
            vec![span(b, "0000000000000003")],
        ] {
            let envelope: Envelope = serde_json::from_value(
                json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}),
            )
            .unwrap();
            collector.add(envelope);
        }
        let traces = collector.finish();
        let summary: Vec<_> = traces
            .iter()
            .map(|t| (t.trace_id.as_str(), t.spans.len()))
            .collect();
        assert_eq!(summary, vec![(b, 2), (a, 1)]);
    }
}
