//! `traceval extract` on one real trace exported in every format it reads
//! (tests/fixtures/extraction: a LangChain RAG chain traced by OpenInference
//! against the LLM stand-in, see generate.py there): each format gives the
//! values the stand-in exchanged, and the same span objects; an unknown
//! format is an error that says what was seen, where, and what is read.
// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../extraction_support/mod.rs"]
mod extraction_support;

use extraction_support::*;
use serde_json::Value;

fn without_choices(mut line: Value) -> Value {
    line.as_object_mut().unwrap().remove("choices");
    line
}

#[test]
fn every_format_gives_what_the_stand_in_exchanged() {
    let dir = workdir("formats");
    let t = task(&dir, SEED_RULES, LISTED);
    let want = expected("langchain");
    for (file, traces) in [
        ("langchain.otlp.json", 2),
        ("langchain.collector.jsonl", 2),
        ("langchain.jaeger-v1.json", 2),
        ("langchain.snake_case.json", 1),
        ("langchain.tempo-batches.json", 1),
        ("langchain.tempo-trace.json", 1),
    ] {
        let found: Vec<Value> = extract(&t, &fixture(file), false)
            .into_iter()
            .map(without_choices)
            .collect();
        assert_eq!(found, want[..traces], "{file}");
    }
}

/// Span objects sorted by span ID, timestamps cut to microseconds (all
/// Jaeger v1 keeps).
fn span_objects(file: &str) -> Vec<Value> {
    let dir = workdir(&format!("spans-{file}"));
    let t = task(&dir, SEED_RULES, LISTED);
    let mut spans: Vec<Value> = extract(&t, &fixture(file), true)
        .into_iter()
        .filter(|s| s["traceId"] == "370ac364553d0bf9ed70e7c6d4eb7ac1")
        .map(|mut s| {
            for key in ["startTimeUnixNano", "endTimeUnixNano"] {
                s[key] = Value::from(s[key].as_u64().unwrap() / 1000);
            }
            for event in s["events"].as_array_mut().unwrap() {
                event["timeUnixNano"] = Value::from(event["timeUnixNano"].as_u64().unwrap() / 1000);
            }
            s
        })
        .collect();
    spans.sort_by(|a, b| a["spanId"].as_str().cmp(&b["spanId"].as_str()));
    spans
}

#[test]
fn every_format_gives_the_same_span_objects() {
    let reference = span_objects("langchain.otlp.json");
    assert_eq!(reference.len(), 9, "the chain's nine spans");
    for file in [
        "langchain.collector.jsonl",
        "langchain.snake_case.json",
        "langchain.tempo-batches.json",
        "langchain.tempo-trace.json",
        "langchain.jaeger-v1.json",
    ] {
        assert_eq!(span_objects(file), reference, "{file}");
    }
}

#[test]
fn an_unknown_format_says_what_it_saw_where_and_what_is_read() {
    let dir = workdir("unknown");
    let t = task(&dir, SEED_RULES, LISTED);
    let file = dir.join("zipkin.json");
    // Zipkin v2 JSON is a list of spans: a list of documents of no known form.
    std::fs::write(&file, "[\n  {\n    \"traceId\": \"370ac364553d0bf9\",\n    \"id\": \"1\",\n    \"localEndpoint\": {}\n  }\n]\n").unwrap();
    let out = traceval(&[
        "extract",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for word in [
        "`traceId`",
        "`id`",
        "`localEndpoint`",
        "Jaeger v1",
        "Tempo",
        "resource_spans",
    ] {
        assert!(stderr.contains(word), "does not say {word:?}: {stderr}");
    }
    let position = format!("{}:6:", file.display());
    assert!(
        stderr.contains(&position),
        "positioned at the object's end, line 6: {stderr}"
    );
}
