//! Generated inputs: RAG traces as OTLP/JSON (one ExportTraceServiceRequest
//! per line, one trace each, the shape of `tests/fixtures/traces/rag.jsonl`:
//! a `query` CHAIN span, a `retrieve` span with 5 documents, an LLM span),
//! and the task manifests that read them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{Value, json};

/// Documents per trace: 1 correctness + 1 faithfulness + 5 relevance = 7 judge calls.
pub const DOCUMENTS: usize = 5;

/// The extraction rules matching [`trace`] (as in tests/evaluate_standin).
pub const EXTRACTION: &str = r#"  extraction:
    query: {spanName: query, jsonPathInSpan: attributes.input.value}
    answer: {spanName: "kind:LLM", jsonPathInSpan: attributes.output.value}
    context: {spanName: retrieve, jsonPathInSpan: "attributes.retrieval.documents[*].document.content"}
"#;

const TOPICS: [&str; 8] = [
    "the capital of France",
    "the boiling point of water at sea level",
    "the author of Hamlet",
    "the largest planet of the solar system",
    "the speed of light in vacuum",
    "the chemical symbol of gold",
    "the year the Berlin Wall fell",
    "the tallest mountain on Earth",
];

fn attr(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

/// 32 hex digits for trace `i` of generation `seed`.
pub fn trace_id(seed: u64, i: u64) -> String {
    format!("{seed:016x}{i:016x}")
}

/// Trace `i`: started at `start_ns`, of `service`.
pub fn trace(seed: u64, i: u64, start_ns: u64, service: &str) -> Value {
    let tid = trace_id(seed, i);
    // Never all zeros: an all-zero span ID is invalid, and Jaeger drops it.
    let span = |n: u64| format!("{:012x}{:04x}", (i & 0xffff_ffff_ffff) + 1, n + 1);
    let topic = TOPICS[(i % TOPICS.len() as u64) as usize];
    let query = format!("Question {i}: what is {topic}? Please answer in one sentence.");
    let answer = format!(
        "According to the retrieved documents, {topic} is described in document {} (request {i}).",
        i % 5 + 1
    );
    let mut retrieve_attrs = vec![
        attr("openinference.span.kind", "RETRIEVER"),
        attr("input.value", &query),
    ];
    for d in 0..DOCUMENTS {
        retrieve_attrs.push(attr(
            &format!("retrieval.documents.{d}.document.id"),
            &format!("doc-{i}-{d}"),
        ));
        retrieve_attrs.push(attr(
            &format!("retrieval.documents.{d}.document.content"),
            &format!(
                "Document {d} about {topic}: an encyclopedia paragraph of moderate length that a \
                 retriever returned for request {i}, with enough words to look like real context \
                 (score rank {d}, chunk {}).",
                (i * 7 + d as u64) % 1000
            ),
        ));
        retrieve_attrs.push(
            json!({"key": format!("retrieval.documents.{d}.document.score"),
            "value": {"doubleValue": 0.9 - d as f64 * 0.1}}),
        );
    }
    let ns = |offset_ms: u64| (start_ns + offset_ms * 1_000_000).to_string();
    let spans = json!([
        {"traceId": tid, "spanId": span(0), "name": "query", "kind": "SPAN_KIND_INTERNAL",
         "startTimeUnixNano": ns(0), "endTimeUnixNano": ns(900),
         "attributes": [attr("openinference.span.kind", "CHAIN"), attr("input.value", &query),
                        attr("output.value", &answer)],
         "status": {"code": "STATUS_CODE_OK"}},
        {"traceId": tid, "spanId": span(1), "parentSpanId": span(0), "name": "retrieve",
         "kind": "SPAN_KIND_INTERNAL", "startTimeUnixNano": ns(5), "endTimeUnixNano": ns(200),
         "attributes": retrieve_attrs, "status": {"code": "STATUS_CODE_OK"}},
        {"traceId": tid, "spanId": span(2), "parentSpanId": span(0), "name": "llm",
         "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": ns(210), "endTimeUnixNano": ns(890),
         "attributes": [attr("openinference.span.kind", "LLM"), attr("llm.model_name", "qwen-max"),
                        attr("input.value", &query), attr("output.value", &answer)],
         "status": {"code": "STATUS_CODE_OK"}}
    ]);
    json!({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", service)]},
        "scopeSpans": [{"scope": {"name": "openinference.instrumentation.llama_index"}, "spans": spans}]
    }]})
}

/// Nanoseconds of 2025-06-01T00:00:00Z, the start of generated files.
pub const FILE_START_NS: u64 = 1_748_736_000_000_000_000;

/// Writes traces (one per line) until `count` traces or `min_bytes` bytes,
/// whichever is given; returns (traces, bytes).
pub fn write_file(
    path: &Path,
    seed: u64,
    count: Option<u64>,
    min_bytes: Option<u64>,
) -> std::io::Result<(u64, u64)> {
    let mut out = BufWriter::new(File::create(path)?);
    let (mut n, mut bytes) = (0u64, 0u64);
    loop {
        if count.is_some_and(|c| n >= c) || min_bytes.is_some_and(|b| bytes >= b) {
            break;
        }
        if count.is_none() && min_bytes.is_none() {
            break;
        }
        let line = trace(seed, n, FILE_START_NS + n * 1_000_000_000, "rag-app").to_string();
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        bytes += line.len() as u64 + 1;
        n += 1;
    }
    out.flush()?;
    Ok((n, bytes))
}

/// Judge settings of a task manifest.
#[derive(Clone, Copy, Debug)]
pub struct JudgeKnobs {
    /// `maxConcurrency`.
    pub concurrency: u32,
    /// `requestsPerSecond`.
    pub rps: u32,
    /// `maxRetries`.
    pub retries: u32,
}

/// An offline task over generated traces: every trace of 2025 (ratio 1).
pub fn file_task(judge: JudgeKnobs) -> String {
    format!(
        "apiVersion: traceval.dev/v1alpha1\nkind: EvaluationTask\nmetadata:\n  name: bench\n  \
         namespace: default\nspec:\n  target: {{serviceName: rag-app}}\n  judge:\n    \
         provider: openai-compatible\n    baseURL: http://judge.invalid/v1\n    model: judge\n    \
         maxConcurrency: {}\n    requestsPerSecond: {}\n    maxRetries: {}\n    timeoutSeconds: 30\n\
         {EXTRACTION}  sampling:\n    start: \"2025-01-01T00:00:00Z\"\n    end: \"2025-12-31T00:00:00Z\"\n    \
         policy: {{probability: {{ratio: 1.0}}}}\n",
        judge.concurrency, judge.rps, judge.retries
    )
}

/// A live task over Jaeger: `service`, the window [start, end] (RFC 3339), `ratio`.
pub fn jaeger_task(
    judge: JudgeKnobs,
    url: &str,
    service: &str,
    start: &str,
    end: &str,
    ratio: f64,
) -> String {
    format!(
        "apiVersion: traceval.dev/v1alpha1\nkind: EvaluationTask\nmetadata:\n  name: bench-live\n  \
         namespace: default\nspec:\n  target: {{serviceName: {service}}}\n  traceSource:\n    jaeger:\n      \
         url: {url}\n  judge:\n    provider: openai-compatible\n    baseURL: http://judge.invalid/v1\n    \
         model: judge\n    maxConcurrency: {}\n    requestsPerSecond: {}\n    maxRetries: {}\n\
         {EXTRACTION}  delay: 1s\n  sampling:\n    start: \"{start}\"\n    end: \"{end}\"\n    \
         policy: {{probability: {{ratio: {ratio}}}}}\n",
        judge.concurrency, judge.rps, judge.retries
    )
}
