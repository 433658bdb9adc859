//! The serde model of OTLP/JSON trace data, as written by OTLP/HTTP JSON
//! exporters (camelCase), protobuf's JSON printers that keep the field names
//! (snake_case: `resource_spans`, `start_time_unix_nano`, `string_value`),
//! Tempo (base64 IDs) and Jaeger's api_v3 (hex IDs, numeric enums). Which
//! document wraps the spans is decided in [`envelope`]; Jaeger's v1 JSON is
//! converted to these types in [`jaeger_v1`].
//!
//! Everything that can be malformed is checked while deserializing, so
//! serde_json's error carries the line and column of the offending value.
//! Attribute values are converted to `serde_json::Value` in place (strings
//! are moved, not copied).

use serde::Deserialize;
use serde::de::Deserializer;
use serde_json::{Map, Value};

pub mod envelope;
pub mod jaeger_v1;
mod scalar;

pub use self::envelope::{Envelope, FORMATS};

use self::scalar::{DoubleValue, IntValue};
pub use self::scalar::{Nanos, ParentSpanId, SpanId, SpanKind, StatusCode, TraceId, normalise_id};

/// Spans of one resource (one process).
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpans {
    /// The resource; absent means no attributes.
    #[serde(default)]
    pub resource: Option<Resource>,
    /// Spans grouped by instrumentation scope (`instrumentationLibrarySpans` in old exporters).
    #[serde(
        default,
        alias = "instrumentationLibrarySpans",
        alias = "scope_spans",
        alias = "instrumentation_library_spans"
    )]
    pub scope_spans: Vec<ScopeSpans>,
}

/// An OTLP resource.
#[derive(Deserialize, Debug, Default)]
pub struct Resource {
    /// Resource attributes (`service.name`, ...).
    #[serde(default)]
    pub attributes: Vec<KeyValue>,
}

/// Spans of one instrumentation scope.
#[derive(Deserialize, Debug)]
pub struct ScopeSpans {
    /// The spans.
    #[serde(default)]
    pub spans: Vec<Span>,
}

/// One OTLP span.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    /// Trace ID, normalised to 32 lowercase hex digits.
    #[serde(alias = "trace_id")]
    pub trace_id: TraceId,
    /// Span ID, normalised to 16 lowercase hex digits.
    #[serde(alias = "span_id")]
    pub span_id: SpanId,
    /// Parent span ID; `None` for a root span (absent or empty in the input).
    #[serde(default, alias = "parent_span_id")]
    pub parent_span_id: Option<ParentSpanId>,
    /// Operation name.
    #[serde(default)]
    pub name: String,
    /// Span kind.
    #[serde(default)]
    pub kind: SpanKind,
    /// Start time, nanoseconds since the Unix epoch.
    #[serde(default, alias = "start_time_unix_nano")]
    pub start_time_unix_nano: Nanos,
    /// End time, nanoseconds since the Unix epoch.
    #[serde(default, alias = "end_time_unix_nano")]
    pub end_time_unix_nano: Nanos,
    /// Span attributes.
    #[serde(default)]
    pub attributes: Vec<KeyValue>,
    /// Span events.
    #[serde(default)]
    pub events: Vec<Event>,
    /// Span status.
    #[serde(default)]
    pub status: Option<Status>,
}

/// A span event.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Event time, nanoseconds since the Unix epoch.
    #[serde(default, alias = "time_unix_nano")]
    pub time_unix_nano: Nanos,
    /// Event name.
    #[serde(default)]
    pub name: String,
    /// Event attributes.
    #[serde(default)]
    pub attributes: Vec<KeyValue>,
}

/// A span status.
#[derive(Deserialize, Debug, Default)]
pub struct Status {
    /// Status code.
    #[serde(default)]
    pub code: StatusCode,
    /// Status message.
    #[serde(default)]
    pub message: String,
}

/// An OTLP attribute: a key and its value already converted to JSON.
#[derive(Deserialize, Debug)]
pub struct KeyValue {
    /// The (possibly dotted) key.
    pub key: String,
    /// The value; `null` for an empty `AnyValue`.
    #[serde(default)]
    pub value: AnyValue,
}

/// An OTLP `AnyValue` converted to JSON: strings, booleans, integers
/// (`intValue`, string or number in the input, a JSON number here), doubles,
/// arrays, key-value lists (objects, keys verbatim) and bytes (base64 string).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AnyValue(pub Value);

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawAnyValue {
    #[serde(alias = "string_value")]
    string_value: Option<String>,
    #[serde(alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(alias = "int_value")]
    int_value: Option<IntValue>,
    #[serde(alias = "double_value")]
    double_value: Option<DoubleValue>,
    #[serde(alias = "array_value")]
    array_value: Option<RawArray>,
    #[serde(alias = "kvlist_value")]
    kvlist_value: Option<RawKvList>,
    #[serde(alias = "bytes_value")]
    bytes_value: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawArray {
    #[serde(default)]
    values: Vec<AnyValue>,
}

#[derive(Deserialize, Default)]
struct RawKvList {
    #[serde(default)]
    values: Vec<KeyValue>,
}

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Option::<RawAnyValue>::deserialize(deserializer)?.unwrap_or_default();
        let value = if let Some(s) = raw.string_value {
            Value::String(s)
        } else if let Some(b) = raw.bool_value {
            Value::Bool(b)
        } else if let Some(IntValue(i)) = raw.int_value {
            Value::from(i)
        } else if let Some(DoubleValue(d)) = raw.double_value {
            d
        } else if let Some(array) = raw.array_value {
            Value::Array(array.values.into_iter().map(|v| v.0).collect())
        } else if let Some(kvlist) = raw.kvlist_value {
            Value::Object(
                kvlist
                    .values
                    .into_iter()
                    .map(|kv| (kv.key, kv.value.0))
                    .collect::<Map<_, _>>(),
            )
        } else if let Some(bytes) = raw.bytes_value {
            Value::String(bytes)
        } else {
            Value::Null
        };
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn any_value_kinds() {
        let kv: Vec<KeyValue> = serde_json::from_value(json!([
            {"key": "s", "value": {"stringValue": "x"}},
            {"key": "b", "value": {"boolValue": true}},
            {"key": "i", "value": {"intValue": "42"}},
            {"key": "n", "value": {"intValue": 7}},
            {"key": "d", "value": {"doubleValue": 0.5}},
            {"key": "nan", "value": {"doubleValue": "NaN"}},
            {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "p"}, {"intValue": "1"}]}}},
            {"key": "k", "value": {"kvlistValue": {"values": [{"key": "x.y", "value": {"boolValue": false}}]}}},
            {"key": "by", "value": {"bytesValue": "AQI="}},
            {"key": "e", "value": {}},
            {"key": "none"}
        ]))
        .unwrap();
        let values: Vec<_> = kv.into_iter().map(|kv| (kv.key, kv.value.0)).collect();
        assert_eq!(
            values,
            vec![
                ("s".into(), json!("x")),
                ("b".into(), json!(true)),
                ("i".into(), json!(42)),
                ("n".into(), json!(7)),
                ("d".into(), json!(0.5)),
                ("nan".into(), json!("NaN")),
                ("a".into(), json!(["p", 1])),
                ("k".into(), json!({"x.y": false})),
                ("by".into(), json!("AQI=")),
                ("e".into(), Value::Null),
                ("none".into(), Value::Null),
            ]
        );
    }

    #[test]
    fn snake_case_reads_as_camel_case() {
        let camel: Span = serde_json::from_value(json!({
            "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7b65372b1d5857d",
            "parentSpanId": "00f067aa0ba902b7", "startTimeUnixNano": "5", "endTimeUnixNano": "6",
            "attributes": [{"key": "k", "value": {"stringValue": "v"}}],
            "events": [{"timeUnixNano": "5", "name": "e"}]
        }))
        .unwrap();
        let snake: Span = serde_json::from_value(json!({
            "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7b65372b1d5857d",
            "parent_span_id": "00f067aa0ba902b7", "start_time_unix_nano": "5", "end_time_unix_nano": "6",
            "attributes": [{"key": "k", "value": {"string_value": "v"}}],
            "events": [{"time_unix_nano": "5", "name": "e"}]
        }))
        .unwrap();
        assert_eq!(format!("{camel:?}"), format!("{snake:?}"));
        let values: Vec<KeyValue> = serde_json::from_value(json!([
            {"key": "i", "value": {"int_value": "3"}},
            {"key": "a", "value": {"array_value": {"values": [{"bool_value": true}]}}},
            {"key": "k", "value": {"kvlist_value": {"values": [{"key": "x", "value": {"double_value": 1.5}}]}}}
        ]))
        .unwrap();
        let values: Vec<_> = values.into_iter().map(|kv| kv.value.0).collect();
        assert_eq!(values, [json!(3), json!([true]), json!({"x": 1.5})]);
    }
}
