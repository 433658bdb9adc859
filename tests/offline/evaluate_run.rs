//! `traceval evaluate` as a user runs it: the built binary, fixture trace
//! files, and in-process stand-ins for the judge and for Jaeger's query API
//! (see `evaluate_standin`).
//!
//! The stand-in judge answers from the prompt: correct when the answer holds
//! the fact the question asks for, faithful when every capitalised word of
//! the answer is in the reference text, relevant when the document holds the
//! fact. So for `rag.jsonl` (K = 5):
//! - France trace, documents rel = [0, 1, 1, 0]: correctness 1, faithfulness 1,
//!   Precision@5 = 0.4, hit rate 1, MRR 0.5, nDCG = 1.1309 / 1.6309 = 0.693426;
//! - Hamlet trace, rel = [1, 0, 1], answer "Christopher Marlowe": correctness 0,
//!   faithfulness 0, Precision@5 = 0.4, hit rate 1, MRR 1, nDCG = 1.5 / 1.6309 = 0.919721;
//! - a health-check trace without LLM spans: skipped.
// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../evaluate_standin/mod.rs"]
mod evaluate_standin;

use evaluate_standin::cli::*;
use evaluate_standin::{Faults, JaegerStandIn, JudgeStandIn};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_rag_traces_scores_match_the_judge() {
    let dir = workdir("evaluate_rag");
    let t = write(&dir, "task.yaml", &task("", RAG_EXTRACTION, ALL_OF_2025));
    let output = dir.join("results.jsonl");
    let judge = JudgeStandIn::start(Faults::default()).await;
    let out = run(args(&[
        "evaluate",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &fixture("rag.jsonl"),
        "--judge-url",
        &judge.url,
        "--output",
        output.to_str().unwrap(),
    ]))
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let mut printed = lines(&out.stdout);
    let summary = printed.pop().unwrap();
    assert_eq!(
        lines(&std::fs::read(&output).unwrap()),
        printed,
        "the file holds the same lines"
    );
    let results = by_trace(&printed);
    assert_eq!(results.len(), 2);
    assert_france(&results[FRANCE], true);
    assert_hamlet(&results[HAMLET]);

    assert_eq!(summary["evaluated"], json!(2));
    assert_eq!(summary["failed"], json!(0));
    assert_eq!(summary["skipped"], json!(1), "the health-check trace");
    let avg = &summary["averages"];
    assert_eq!(avg["correctness"], json!(0.5));
    assert_eq!(avg["faithfulness"], json!(0.5));
    assert_close(
        &avg["ndcg"],
        (0.693_426_403_6 + 1.5 / (1.0 + 1.0 / 3f64.log2())) / 2.0,
        "mean nDCG",
    );
    assert_eq!(
        summary["metricCounts"],
        json!({"correctness": 2, "faithfulness": 2, "retrieval": 2})
    );
    // 2 × (correctness + faithfulness) + 4 + 3 relevance requests, 120 tokens each.
    assert_eq!(summary["judgeUsage"]["requests"], json!(11));
    assert_eq!(summary["judgeUsage"]["totalTokens"], json!(11 * 120));

    let seen = judge.seen();
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some(&*format!("Bearer {TOKEN}")))
    );
    assert!(
        seen.iter().all(|s| s.attempt == 1),
        "no retries without faults"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "the token is never printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_single_traces_reports_missing_ones_and_omits_what_does_not_apply() {
    let dir = workdir("evaluate_ids");
    let mode = format!(
        "  traceIDs: [\"{}\", \"ffffffffffffffffffffffffffffffff\"]\n",
        CHINA.to_uppercase()
    );
    let t = write(&dir, "task.yaml", &task("", DASHSCOPE_EXTRACTION, &mode));
    let judge = JudgeStandIn::start(Faults::default()).await;
    let out = run(args(&[
        "evaluate",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &fixture("dashscope-llm.json"),
        "--judge-url",
        &judge.url,
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut printed = lines(&out.stdout);
    let summary = printed.pop().unwrap();
    let results = by_trace(&printed);
    assert_eq!(
        results[CHINA]["scores"],
        json!({"correctness": 1.0}),
        "no contexts: faithfulness and retrieval are absent, not 0"
    );
    assert_eq!(results[CHINA]["error"], Value::Null);
    let missing = &results["ffffffffffffffffffffffffffffffff"];
    assert!(missing["error"].as_str().unwrap().contains("not found"));
    assert_eq!(missing["scores"], json!({}));
    assert_eq!(summary["evaluated"], json!(1));
    assert_eq!(summary["failed"], json!(1));
    assert_eq!(summary["skipped"], json!(0));
    assert_eq!(summary["averages"], json!({"correctness": 1.0}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_survives_429_500_timeouts_and_unreadable_replies() {
    let dir = workdir("evaluate_faults");
    let judge_extra = "    timeoutSeconds: 1\n    maxRetries: 3\n";
    let t = write(
        &dir,
        "task.yaml",
        &task(judge_extra, RAG_EXTRACTION, ALL_OF_2025),
    );
    let judge = JudgeStandIn::start(Faults {
        first_attempt: true,
        unreadable: vec!["<document>\nBananas are yellow.".into()],
        ..Faults::default()
    })
    .await;
    let out = run(args(&[
        "evaluate",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &fixture("rag.jsonl"),
        "--judge-url",
        &judge.url,
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut printed = lines(&out.stdout);
    let summary = printed.pop().unwrap();
    let results = by_trace(&printed);
    assert_eq!(results.len(), 2, "no trace lost");

    // Every fault but the unreadable reply was retried away: Hamlet as without faults.
    assert_hamlet(&results[HAMLET]);
    // France: the 4th document's label is missing, so its retrieval metrics
    // are missing (not 0) and the trace failed; the other metrics stand.
    let france = &results[FRANCE];
    assert_france(france, false);
    for metric in ["ndcg", "hitRate", "precisionAtK", "mrr"] {
        assert!(
            france["scores"].get(metric).is_none(),
            "{metric} must be absent"
        );
    }
    let error = france["error"].as_str().unwrap();
    assert!(
        error.contains("relevance of document 4") && error.contains("not parsable"),
        "{error}"
    );

    assert_eq!(summary["evaluated"], json!(1));
    assert_eq!(summary["failed"], json!(1));
    assert_eq!(summary["skipped"], json!(1));
    assert_eq!(
        summary["metricCounts"],
        json!({"correctness": 2, "faithfulness": 2, "retrieval": 1})
    );
    let usage = &summary["judgeUsage"];
    assert_eq!(usage["notParsable"], json!(1));
    // Each of the 11 distinct prompts failed once and was asked again once.
    assert_eq!(usage["retries"], json!(11));
    assert_eq!(usage["requests"], json!(22));
    let seen = judge.seen();
    assert_eq!(seen.len(), 22);
    assert!(
        seen.iter().all(|s| s.attempt <= 2),
        "nothing asked a third time"
    );
    assert_eq!(
        seen.iter().filter(|s| s.attempt == 2).count(),
        11,
        "each prompt retried once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_reports_every_trace_when_the_judge_is_down() {
    let dir = workdir("evaluate_down");
    let judge_extra = "    timeoutSeconds: 1\n    maxRetries: 1\n";
    let t = write(
        &dir,
        "task.yaml",
        &task(judge_extra, RAG_EXTRACTION, ALL_OF_2025),
    );
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(args(&[
        "evaluate",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &fixture("rag.jsonl"),
        "--judge-url",
        &format!("http://127.0.0.1:{port}/v1"),
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut printed = lines(&out.stdout);
    let summary = printed.pop().unwrap();
    let results = by_trace(&printed);
    assert_eq!(results.len(), 2);
    for line in results.values() {
        assert!(
            line["error"].as_str().unwrap().contains("cannot connect"),
            "{line}"
        );
        assert_eq!(line["scores"], json!({}));
    }
    assert_eq!(summary["evaluated"], json!(0));
    assert_eq!(summary["failed"], json!(2));
    assert_eq!(summary["averages"], json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_reads_traces_from_jaeger_api_v3() {
    let dir = workdir("evaluate_jaeger");
    let jaeger = JaegerStandIn::start(&[&fixture("rag.jsonl")]).await;
    let judge = JudgeStandIn::start(Faults::default()).await;
    let source = format!("  traceSource:\n    jaeger: {{url: \"{}\"}}\n", jaeger.url);
    let batch = format!("{source}  delay: 2m\n{ALL_OF_2025}");
    let t = write(&dir, "batch.yaml", &task("", RAG_EXTRACTION, &batch));
    let out = run(args(&[
        "evaluate",
        "--task",
        t.to_str().unwrap(),
        "--judge-url",
        &judge.url,
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut printed = lines(&out.stdout);
    let summary = printed.pop().unwrap();
    let results = by_trace(&printed);
    assert_france(&results[FRANCE], true);
    assert_hamlet(&results[HAMLET]);
    assert_eq!(summary["skipped"], json!(1));
    let query = &jaeger.queries()[0];
    assert!(query.contains("query.service_name=rag-app"), "{query}");
    assert!(
        query.contains("query.start_time_min=2025-01-01T00%3A00%3A00Z"),
        "{query}"
    );

    // Single traces by ID; one that Jaeger does not have (404) is reported.
    let ids = format!("{source}  traceIDs: [\"{HAMLET}\", \"0123456789abcdef0123456789abcdef\"]\n");
    let t = write(&dir, "single.yaml", &task("", RAG_EXTRACTION, &ids));
    let out = run(args(&[
        "evaluate",
        "--task",
        t.to_str().unwrap(),
        "--judge-url",
        &judge.url,
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut printed = lines(&out.stdout);
    let summary = printed.pop().unwrap();
    let results = by_trace(&printed);
    assert_hamlet(&results[HAMLET]);
    assert!(results["0123456789abcdef0123456789abcdef"]["error"].is_string());
    assert_eq!(
        (summary["evaluated"].clone(), summary["failed"].clone()),
        (json!(1), json!(1))
    );
}

/// `one-bad-span.jsonl` is `rag.jsonl` with the Hamlet trace's `retrieve`
/// span missing its `spanId`: that trace is failed with where and why, the
/// others are read, extracted and evaluated as usual, and the judge is not
/// asked about the bad trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unreadable_span_fails_its_trace_only() {
    let dir = workdir("one_bad_span");
    let t = write(&dir, "task.yaml", &task("", RAG_EXTRACTION, ALL_OF_2025));
    let traces = fixture("one-bad-span.jsonl");

    let extract = run(args(&[
        "extract",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &traces,
    ]))
    .await;
    assert!(
        extract.status.success(),
        "{}",
        String::from_utf8_lossy(&extract.stderr)
    );
    let found = by_trace(&lines(&extract.stdout));
    assert_eq!(found.len(), 3, "every trace has its line");
    assert_eq!(
        found[FRANCE].get("error"),
        None,
        "a good trace's line is as before"
    );
    let reason = found[HAMLET]["error"]
        .as_str()
        .expect("the bad trace says why");
    assert!(
        reason.contains("one-bad-span.jsonl:3:") && reason.contains("spanId"),
        "{reason}"
    );

    let judge = JudgeStandIn::start(Faults::default()).await;
    let out = run(args(&[
        "evaluate",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &traces,
        "--judge-url",
        &judge.url,
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut printed = lines(&out.stdout);
    let summary = printed.pop().expect("a summary line");
    let results = by_trace(&printed);
    assert_eq!(results.len(), 2);
    assert_france(&results[FRANCE], true);
    let hamlet = &results[HAMLET];
    assert!(
        hamlet["error"]
            .as_str()
            .is_some_and(|e| e.contains("spanId")),
        "{hamlet}"
    );
    assert_eq!(
        hamlet["scores"],
        json!({}),
        "no score for a trace missing a span"
    );
    assert_eq!(
        (
            &summary["evaluated"],
            &summary["failed"],
            &summary["skipped"]
        ),
        (&json!(1), &json!(1), &json!(1))
    );
    let seen = judge.seen();
    assert!(!seen.is_empty(), "the good trace was judged");
    assert!(
        seen.iter().all(|s| !s.question.contains("Hamlet")),
        "the bad trace was not judged"
    );
}
