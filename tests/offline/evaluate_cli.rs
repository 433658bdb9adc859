//! `traceval extract` as a user runs it (the built binary on fixture trace
//! files), and the exit code 2 of both front doors on bad input.
// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../evaluate_standin/mod.rs"]
mod evaluate_standin;

use evaluate_standin::cli::*;
use evaluate_standin::{Faults, JudgeStandIn};
use serde_json::json;

#[tokio::test]
async fn extract_prints_the_dashscope_query_and_answer() {
    let dir = workdir("extract_dashscope");
    let t = write(
        &dir,
        "task.yaml",
        &task("", DASHSCOPE_EXTRACTION, ALL_OF_2025),
    );
    let out = run(args(&[
        "extract",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &fixture("dashscope-llm.json"),
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        lines(&out.stdout),
        vec![
            json!({"traceId": CHINA, "query": "capital of china", "answer": "The capital of China is Beijing.", "contexts": []}),
            json!({"traceId": "5b8efff798038103d269b633813fc60d", "query": "capital of france", "answer": "The capital of France is Lyon.", "contexts": []}),
        ]
    );
}

#[tokio::test]
async fn extract_reads_jaeger_json_lines_with_contexts() {
    let dir = workdir("extract_rag");
    let t = write(&dir, "task.yaml", &task("", RAG_EXTRACTION, ALL_OF_2025));
    let out = run(args(&[
        "extract",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &fixture("rag.jsonl"),
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = lines(&out.stdout);
    assert_eq!(found.len(), 3, "every trace, in order of first appearance");
    assert_eq!(found[0]["traceId"], json!(FRANCE));
    assert_eq!(
        found[0]["contexts"],
        json!([
            "Lyon is a large city in France.",
            "Paris is the capital of France.",
            "The Eiffel Tower is in Paris.",
            "Bananas are yellow."
        ])
    );
    // The health check: base64 IDs normalised, nothing found, and why.
    assert_eq!(
        found[1],
        json!({"traceId": "4bf92f3577b34da6a3ce929d0e0e4738", "query": null, "answer": null, "contexts": [],
               "missing": "query: no span matches \"query\"; answer: no span matches \"kind:LLM\""})
    );
    assert_eq!(
        found[2]["answer"],
        json!("Christopher Marlowe wrote Hamlet.")
    );
}

#[tokio::test]
async fn malformed_traces_exit_2_naming_file_and_line_with_no_results() {
    let dir = workdir("malformed");
    let t = write(&dir, "task.yaml", &task("", RAG_EXTRACTION, ALL_OF_2025));
    let malformed = fixture("malformed.jsonl");
    let extract = run(args(&[
        "extract",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &malformed,
    ]))
    .await;
    assert_eq!(extract.status.code(), Some(2));
    assert!(extract.stdout.is_empty(), "nothing printed as a result");
    let stderr = String::from_utf8_lossy(&extract.stderr);
    assert!(
        stderr.contains("malformed.jsonl:2:") && stderr.contains("invalid trace ID"),
        "{stderr}"
    );

    let output = dir.join("results.jsonl");
    let judge = JudgeStandIn::start(Faults::default()).await;
    let evaluate = run(args(&[
        "evaluate",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &malformed,
        "--judge-url",
        &judge.url,
        "--output",
        output.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(evaluate.status.code(), Some(2));
    assert!(evaluate.stdout.is_empty());
    assert!(!output.exists(), "no results file for unreadable input");
    assert!(judge.seen().is_empty());
}

#[tokio::test]
async fn an_invalid_task_exits_2() {
    let dir = workdir("invalid_task");
    let bad = task(
        "",
        &RAG_EXTRACTION.replace("attributes.input.value", "\"attributes.docs[*]\""),
        ALL_OF_2025,
    );
    let t = write(&dir, "task.yaml", &bad);
    let out = run(args(&[
        "extract",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &fixture("rag.jsonl"),
    ]))
    .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("extraction.query"), "{stderr}");
    let not_a_task = write(&dir, "other.yaml", "apiVersion: v1\nkind: ConfigMap\n");
    let out = run(args(&[
        "extract",
        "--task",
        not_a_task.to_str().unwrap(),
        "--traces",
        &fixture("rag.jsonl"),
    ]))
    .await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn extract_spans_shows_the_unflattened_span_objects() {
    let dir = workdir("extract_spans");
    let t = write(
        &dir,
        "task.yaml",
        &task("", DASHSCOPE_EXTRACTION, ALL_OF_2025),
    );
    let out = run(args(&[
        "extract",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &fixture("dashscope-llm.json"),
        "--spans",
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spans = lines(&out.stdout);
    assert_eq!(spans.len(), 4);
    let llm = spans.iter().find(|s| s["name"] == json!("LLM")).unwrap();
    assert_eq!(
        llm["attributes"]["gen_ai"]["prompts"][1]["message"]["content"],
        json!("capital of china")
    );
    assert_eq!(llm["kind"], json!("SPAN_KIND_INTERNAL"));
    assert_eq!(llm["resource"]["service"]["name"], json!("sample-app"));
}
