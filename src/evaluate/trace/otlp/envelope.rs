//! One document of trace data, its format detected from its content: the
//! top-level member names decide, in one pass, with no buffering.
//!
//! | seen | format |
//! |---|---|
//! | `resourceSpans` / `resource_spans` | OTLP/JSON `ExportTraceServiceRequest` (camelCase or protobuf snake_case; one a line is the Collector file exporter's output) |
//! | `result.resourceSpans` | Jaeger query API v3 |
//! | `batches` | Tempo trace-by-ID, v1 (`/api/traces/<id>`) |
//! | `trace.resourceSpans` | Tempo trace-by-ID, v2 (`/api/v2/traces/<id>`) |
//! | `data: [...]` | Jaeger v1 / UI JSON (`/api/traces/<id>`, the UI's "trace JSON") |
//! | `traceID` + `spans` | one Jaeger v1 trace |
//! | `[...]` | a list of documents of any of these forms (e.g. Jaeger v1 traces) |
//!
//! Anything else is an error that names the members it saw and lists these
//! formats; serde_json positions it at the end of the document's object.

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::ResourceSpans;
use super::jaeger_v1;

/// What `traceval` reads, for error messages.
pub const FORMATS: &str = "OTLP/JSON (`resourceSpans` or `resource_spans`, one document or JSON \
     lines as the Collector file exporter writes), Jaeger api_v3 (`result.resourceSpans`), \
     Tempo (`batches` or `trace.resourceSpans`), Jaeger v1/UI JSON (`data: [...]`, a trace \
     `{traceID, spans, processes}` or a list of traces)";

/// One document of a trace file, in any of the formats of the module
/// documentation, as OTLP resource spans.
#[derive(Debug, Default)]
pub struct Envelope {
    /// The resource spans the document holds.
    pub resource_spans: Vec<ResourceSpans>,
}

/// `result` (Jaeger api_v3) and `trace` (Tempo v2): resource spans one level down.
#[derive(Deserialize)]
struct Wrapped {
    #[serde(
        default,
        alias = "resourceSpans",
        alias = "resource_spans",
        alias = "batches"
    )]
    resource_spans: Option<Vec<ResourceSpans>>,
}

/// The top-level member names that say what a document is.
enum Key {
    ResourceSpans,
    Result,
    Trace,
    Data,
    TraceId,
    Spans,
    Processes,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "resourceSpans" | "resource_spans" | "batches" => Key::ResourceSpans,
                    "result" => Key::Result,
                    "trace" => Key::Trace,
                    "data" => Key::Data,
                    "traceID" => Key::TraceId,
                    "spans" => Key::Spans,
                    "processes" => Key::Processes,
                    other => Key::Other(other.to_owned()),
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Names of unknown members kept for the error message.
const SHOWN_KEYS: usize = 8;

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "trace data, one of: {FORMATS}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let mut resource_spans: Option<Vec<ResourceSpans>> = None;
        let mut jaeger_spans: Option<Vec<jaeger_v1::Span>> = None;
        let mut processes = None;
        let mut unknown: Vec<String> = Vec::new();
        let mut unknown_count = 0usize;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::ResourceSpans => found(map.next_value()?, &mut resource_spans),
                Key::Result | Key::Trace => {
                    // Jaeger answers `{"result":{}}` for an empty trace set.
                    let wrapped: Wrapped = map.next_value()?;
                    found(
                        wrapped.resource_spans.unwrap_or_default(),
                        &mut resource_spans,
                    );
                }
                Key::Data => {
                    let traces: Vec<jaeger_v1::Trace> = map.next_value()?;
                    let converted = traces.into_iter().flat_map(jaeger_v1::Trace::into_otlp);
                    found(converted.collect(), &mut resource_spans);
                }
                Key::Spans => jaeger_spans = Some(map.next_value()?),
                Key::Processes => processes = Some(map.next_value()?),
                Key::TraceId => {
                    map.next_value::<IgnoredAny>()?;
                }
                Key::Other(name) => {
                    map.next_value::<IgnoredAny>()?;
                    unknown_count += 1;
                    if unknown.len() < SHOWN_KEYS {
                        unknown.push(name);
                    }
                }
            }
        }
        if let Some(spans) = jaeger_spans {
            let trace = jaeger_v1::Trace {
                spans,
                processes: processes.unwrap_or_default(),
            };
            found(trace.into_otlp(), &mut resource_spans);
        }
        resource_spans
            .map(|resource_spans| Envelope { resource_spans })
            .ok_or_else(|| de::Error::custom(unknown_format(&unknown, unknown_count)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Envelope, A::Error> {
        let mut resource_spans = Vec::new();
        while let Some(document) = seq.next_element::<Envelope>()? {
            resource_spans.extend(document.resource_spans);
        }
        Ok(Envelope { resource_spans })
    }
}

fn found(more: Vec<ResourceSpans>, slot: &mut Option<Vec<ResourceSpans>>) {
    slot.get_or_insert_with(Vec::new).extend(more);
}

fn unknown_format(keys: &[String], count: usize) -> String {
    let seen = if keys.is_empty() {
        "an empty object".to_owned()
    } else {
        let mut names: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
        if count > keys.len() {
            names.push(format!("and {} more", count - keys.len()));
        }
        format!("an object with members {}", names.join(", "))
    };
    format!("unknown trace format: found {seen}; traceval reads {FORMATS}")
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EnvelopeVisitor)
    }
}

/// Where the resource spans of a document already read as a
/// `serde_json::Value` are (for reading a bad document span by span).
pub fn resource_spans_of(document: &serde_json::Value) -> Option<&Vec<serde_json::Value>> {
    fn inner(v: &serde_json::Value) -> Option<&Vec<serde_json::Value>> {
        ["resourceSpans", "resource_spans", "batches"]
            .iter()
            .find_map(|k| v.get(*k)?.as_array())
    }
    inner(document).or_else(|| {
        ["result", "trace"]
            .iter()
            .find_map(|w| inner(document.get(*w)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str) -> usize {
        let envelope: Envelope = serde_json::from_str(text).unwrap();
        envelope
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum()
    }

    const SPAN: &str =
        r#"{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7b65372b1d5857d","name":"s"}"#;

    #[test]
    fn every_wrapper_is_read() {
        let rs = format!(r#"[{{"scopeSpans":[{{"spans":[{SPAN}]}}]}}]"#);
        for text in [
            format!(r#"{{"resourceSpans":{rs}}}"#),
            format!(r#"{{"resource_spans":{rs}}}"#),
            format!(r#"{{"batches":{rs}}}"#),
            format!(r#"{{"result":{{"resourceSpans":{rs}}}}}"#),
            format!(r#"{{"trace":{{"resourceSpans":{rs}}}}}"#),
            format!(r#"{{"trace":{{"batches":{rs}}}}}"#),
            format!(r#"[{{"resourceSpans":{rs}}}]"#),
        ] {
            assert_eq!(spans(&text), 1, "{text}");
        }
        assert_eq!(spans(r#"{"result":{}}"#), 0);
    }

    #[test]
    fn unknown_documents_name_what_was_seen_and_what_is_read() {
        let err = serde_json::from_str::<Envelope>("{\n  \"foo\": 1,\n  \"bar\": []\n}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`foo`, `bar`"), "{err}");
        assert!(err.contains("Jaeger v1") && err.contains("Tempo"), "{err}");
        assert!(err.contains("line 4"), "positioned in the document: {err}");
        let err = serde_json::from_str::<Envelope>(r#""text""#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("trace data, one of"), "{err}");
    }
}
