//! Malformed traces (issue 8, item 7): the OTLP/JSON reader behind
//! `traceval extract` and `traceval evaluate --traces`, and the path
//! evaluator, fed truncated JSON, wrong types, 10 MB attribute values,
//! 10,000-level nesting, invalid UTF-8, missing IDs and malformed paths.
//! Each gives a clear message naming what is wrong and where, and never a
//! panic or a stack overflow. The assertions are about the message and the
//! absence of a crash, not about whether the run fails or skips the trace.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::json;
use traceval::evaluate::extract::jsonpath::Path as SpanPath;

const BIN: &str = env!("CARGO_BIN_EXE_traceval");
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const SPAN_ID: &str = "b7b65372b1d5857d";

const TASK: &str = "apiVersion: traceval.dev/v1alpha1\nkind: EvaluationTask\nmetadata: {name: t, namespace: default}\nspec:\n  target: {serviceName: app}\n  judge: {provider: openai-compatible, baseURL: 'http://judge.invalid/v1', model: judge}\n  extraction:\n    query: {spanName: LLM, jsonPathInSpan: attributes.input.value}\n    answer: {spanName: LLM, jsonPathInSpan: attributes.output.value}\n  traceIDs: [\"0af7651916cd43dd8448eb211c80319c\"]\n";

fn workdir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("malformed_traces");
    std::fs::create_dir_all(&dir).expect("work dir");
    dir
}

/// One span in an OTLP/JSON document, with the given span fields.
fn document(span: serde_json::Value) -> String {
    json!({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).to_string()
}

fn span_with_attribute(value: serde_json::Value) -> serde_json::Value {
    json!({
        "traceId": TRACE_ID, "spanId": SPAN_ID, "name": "LLM",
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
        "attributes": [{"key": "input.value", "value": value}]
    })
}

/// `traceval extract` on `bytes` written as `name`; stdout and stderr together.
fn extract(name: &str, bytes: &[u8]) -> (Output, String) {
    let dir = workdir();
    let traces = dir.join(name);
    std::fs::write(&traces, bytes).expect("write traces");
    // One task file per input: the tests run in parallel, and a shared file
    // rewritten by one test was read empty by another (seen in a cold CI run).
    let task = dir.join(format!("{name}.task.yaml"));
    std::fs::write(&task, TASK).expect("write task");
    let output = std::process::Command::new(BIN)
        .args(["extract", "--task"])
        .arg(&task)
        .arg("--traces")
        .arg(&traces)
        .output()
        .expect("run traceval extract");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

/// No panic (exit code 101), no death by signal (stack overflow aborts).
fn assert_no_crash(name: &str, output: &Output, text: &str) {
    assert!(
        output.status.code().is_some(),
        "{name}: killed by a signal ({:?}): {text}",
        output.status
    );
    assert_ne!(output.status.code(), Some(101), "{name}: panicked: {text}");
    assert!(!text.contains("panicked"), "{name}: panicked: {text}");
}

/// Runs one malformed input and checks the message names the file and each of `words`.
fn check(name: &str, bytes: &[u8], words: &[&str]) {
    let (output, text) = extract(name, bytes);
    assert_no_crash(name, &output, &text);
    assert!(
        text.contains(name),
        "{name}: the message does not name the file: {text}"
    );
    for word in words {
        assert!(
            text.contains(word),
            "{name}: the message does not say {word:?}: {text}"
        );
    }
}

#[test]
fn truncated_json_names_file_line_and_column() {
    let full = document(span_with_attribute(json!({"stringValue": "q"})));
    let cut = &full[..full.len() / 2];
    check(
        "truncated.json",
        cut.as_bytes(),
        &["truncated.json:1:", "EOF"],
    );
    let lines = format!("{full}\n{cut}\n");
    // Cut inside a string: the newline after it is the error, on line 2 or 3.
    check(
        "truncated-second-line.jsonl",
        lines.as_bytes(),
        &["malformed trace data", "control character"],
    );
}

#[test]
fn wrong_types_name_what_was_expected() {
    let cases = [
        ("span-not-object.json", json!("a string"), "expected"),
        (
            "span-id-number.json",
            json!({"traceId": TRACE_ID, "spanId": 42, "name": "LLM"}),
            "span",
        ),
        (
            "name-array.json",
            json!({"traceId": TRACE_ID, "spanId": SPAN_ID, "name": ["LLM"]}),
            "invalid type",
        ),
        (
            "start-time-bool.json",
            json!({"traceId": TRACE_ID, "spanId": SPAN_ID, "name": "LLM", "startTimeUnixNano": true}),
            // Says what a timestamp must be, and where (not the field's name).
            "expected a number or a string",
        ),
        (
            "attributes-object.json",
            json!({"traceId": TRACE_ID, "spanId": SPAN_ID, "name": "LLM", "attributes": {"k": "v"}}),
            "invalid type",
        ),
    ];
    for (name, span, word) in cases {
        check(name, document(span).as_bytes(), &[word]);
    }
    check(
        "scope-spans-number.json",
        br#"{"resourceSpans":[{"scopeSpans":7}]}"#,
        &["invalid type"],
    );
    check(
        "not-json.json",
        b"<html>502 Bad Gateway</html>",
        &["expected value"],
    );
}

#[test]
fn missing_or_invalid_ids_are_named() {
    let cases = [
        (
            "no-trace-id.json",
            json!({"spanId": SPAN_ID, "name": "LLM"}),
            "traceId",
        ),
        (
            "no-span-id.json",
            json!({"traceId": TRACE_ID, "name": "LLM"}),
            "spanId",
        ),
        (
            "short-trace-id.json",
            json!({"traceId": "abc", "spanId": SPAN_ID, "name": "LLM"}),
            "invalid trace ID",
        ),
        (
            "non-hex-span-id.json",
            json!({"traceId": TRACE_ID, "spanId": "zzzzzzzzzzzzzzzz", "name": "LLM"}),
            "span ID",
        ),
    ];
    for (name, span, word) in cases {
        check(name, document(span).as_bytes(), &[word]);
    }
}

#[test]
fn ten_thousand_levels_of_nesting_are_an_error_not_a_stack_overflow() {
    let depth = 10_000;
    let nested = format!(
        "{}\"x\"{}",
        r#"{"kvlistValue":{"values":[{"key":"k","value":"#.repeat(depth),
        "}}]}".repeat(depth)
    );
    let span = span_with_attribute(json!("PLACEHOLDER")).to_string();
    let doc = document(json!("PLACEHOLDER")).replace("\"PLACEHOLDER\"", &span);
    let doc = doc.replace("\"PLACEHOLDER\"", &nested);
    check("deep-attribute.json", doc.as_bytes(), &["recursion limit"]);

    let arrays = format!(
        "{}\"x\"{}",
        r#"{"arrayValue":{"values":["#.repeat(depth),
        "]}}".repeat(depth)
    );
    let doc = document(json!("PLACEHOLDER"))
        .replace("\"PLACEHOLDER\"", &span)
        .replace("\"PLACEHOLDER\"", &arrays);
    check("deep-arrays.json", doc.as_bytes(), &["recursion limit"]);

    let top = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    check(
        "deep-top-level.json",
        top.as_bytes(),
        &["malformed trace data"],
    );
}

#[test]
fn an_attribute_key_of_100_000_segments_does_not_nest_the_span_that_deep() {
    let key = format!("{}a", "a.".repeat(100_000));
    let span = json!({
        "traceId": TRACE_ID, "spanId": SPAN_ID, "name": "LLM",
        "attributes": [
            {"key": key, "value": {"stringValue": "deep"}},
            {"key": "input.value", "value": {"stringValue": "q"}}
        ]
    });
    let (output, text) = extract("deep-key.json", document(span).as_bytes());
    assert_no_crash("deep-key.json", &output, &text);
    assert!(output.status.success(), "{}", &text[..text.len().min(500)]);
    assert!(
        text.contains("\"query\":\"q\""),
        "{}",
        &text[..text.len().min(500)]
    );
}

#[test]
fn ten_megabyte_attribute_values_are_read_without_crashing() {
    let big = "x".repeat(10 * 1024 * 1024);
    let doc = document(span_with_attribute(json!({"stringValue": big})));
    let (output, text) = extract("ten-mb-attribute.json", doc.as_bytes());
    assert_no_crash("ten-mb-attribute.json", &output, &text);
    // A valid document: the value is read whole (query found, answer missing).
    assert!(
        output.status.success(),
        "a 10 MB value is valid OTLP/JSON: {}",
        &text[..text.len().min(500)]
    );
    assert!(
        text.len() >= big.len(),
        "the 10 MB query is extracted whole"
    );

    // 10 MB of a JSON-in-a-string value that never closes: decoding it is an error, not a crash.
    let unclosed = format!("{{\"a\": {}", "[".repeat(10 * 1024 * 1024 / 2));
    let doc = document(span_with_attribute(json!({"stringValue": unclosed})));
    let (output, text) = extract("ten-mb-embedded.json", doc.as_bytes());
    assert_no_crash("ten-mb-embedded.json", &output, &text);
}

#[test]
fn invalid_utf8_is_named() {
    let doc = document(span_with_attribute(json!({"stringValue": "AAAA"})));
    let mut bytes = doc.into_bytes();
    let at = bytes.windows(4).position(|w| w == b"AAAA").expect("marker");
    bytes[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    check("invalid-utf8.json", &bytes, &["invalid unicode"]);
    check("utf16-bom.json", b"\xff\xfe{\x00}\x00", &["expected value"]);
}

#[test]
fn evaluate_with_traces_reports_malformed_input_without_crashing() {
    let dir = workdir();
    let traces = dir.join("evaluate-truncated.json");
    std::fs::write(&traces, "{\"resourceSpans\": [").expect("write traces");
    let task = dir.join("evaluate-task.yaml");
    std::fs::write(&task, TASK).expect("write task");
    let output = std::process::Command::new(BIN)
        .args(["evaluate", "--task"])
        .arg(&task)
        .arg("--traces")
        .arg(&traces)
        .env("TRACEVAL_JUDGE_TOKEN", "t")
        .output()
        .expect("run traceval evaluate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_no_crash("evaluate --traces", &output, &text);
    assert!(text.contains("evaluate-truncated.json"), "{text}");
}

#[test]
fn malformed_paths_are_clear_errors() {
    let cases = [
        "attributes[",
        "$.attributes[?(@.x == ",
        "text[0",
        "attributes.documents[*",
        "$$",
        "a..",
        "attributes['unterminated",
        "attributes[99999999999999999999999]",
        "$[?(@.a == 1 && )]",
        "attributes.\u{0}",
        "attributes.%%%",
    ];
    for text in cases {
        let error = SpanPath::parse(text).expect_err(text);
        assert!(
            error.contains("is not a valid path") && error.contains("position"),
            "{text:?}: {error}"
        );
    }
    // Deep nesting in a path: an error or a path, never a stack overflow.
    let deep = format!("$.a{}", "[?(@.a".repeat(5_000));
    assert!(SpanPath::parse(&deep).is_err());
    let long = format!("attributes.{}", "a".repeat(1024 * 1024));
    let path = SpanPath::parse(&long).expect("a long name is a valid path");
    assert!(path.select(&json!({"attributes": {}})).is_empty());
}
