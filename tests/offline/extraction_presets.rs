//! Presets and selectors on traces made by the real instrumentations
//! (tests/fixtures/extraction, see generate.py there), checked against what
//! the LLM stand-in actually exchanged; and `traceval evaluate`'s account of
//! the traces it did not evaluate, and of the span it took a value from.
// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../evaluate_standin/mod.rs"]
mod evaluate_standin;
#[path = "../extraction_support/mod.rs"]
mod extraction_support;

use evaluate_standin::{Faults, JudgeStandIn};
use extraction_support::*;
use serde_json::{Value, json};

/// Sampling over the fixtures' time (they were made on 2026-12-04).
const ALL_OF_2026: &str = "  sampling:\n    start: \"2026-01-01T00:00:00Z\"\n    end: \"2026-12-31T23:59:59Z\"\n    policy: {probability: {ratio: 1.0}}\n";
const ALL_OF_2025: &str = "  sampling:\n    start: \"2025-01-01T00:00:00Z\"\n    end: \"2025-12-31T00:00:00Z\"\n    policy: {probability: {ratio: 1.0}}\n";

fn preset_finds_what_was_exchanged(preset: &str, file: &str, scenario: &str) {
    let dir = workdir(&format!("preset-{preset}"));
    let t = task(&dir, &format!("    preset: {preset}\n"), LISTED);
    let found = extract(&t, &fixture(file), false);
    assert_eq!(found, expected(scenario), "{preset} on {file}");
}

#[test]
fn openinference_preset_on_a_langchain_rag_chain() {
    preset_finds_what_was_exchanged("openinference", "langchain.otlp.json", "langchain");
}

#[test]
fn openinference_preset_on_a_llamaindex_query_engine() {
    preset_finds_what_was_exchanged("openinference", "llamaindex.otlp.json", "llamaindex");
}

#[test]
fn otel_genai_preset_on_openai_v2_spans() {
    preset_finds_what_was_exchanged("otel-genai", "openai-v2.otlp.json", "openai-v2");
}

#[test]
fn dashscope_preset_on_the_probes_dashscope_instrumentation() {
    preset_finds_what_was_exchanged("dashscope", "dashscope.otlp.json", "dashscope");
}

#[test]
fn openllmetry_preset_on_traceloop_spans() {
    preset_finds_what_was_exchanged("openllmetry", "traceloop.otlp.json", "traceloop");
}

#[test]
fn kind_llm_matches_otel_genai_spans_that_have_no_span_kind_attribute() {
    let dir = workdir("kind-llm-genai");
    let rules = r#"    query: {spanName: "kind:LLM", jsonPathInSpan: attributes.gen_ai.input.messages, jsonPathInSpanValue: "[?@.role=='user'].parts[0].content"}
    answer: {spanName: "kind:LLM", jsonPathInSpan: attributes.gen_ai.output.messages, jsonPathInSpanValue: "[0].parts[0].content"}
"#;
    let t = task(&dir, rules, LISTED);
    let found = extract(&t, &fixture("openai-v2.otlp.json"), false);
    assert_eq!(found, expected("openai-v2"));
}

#[test]
fn a_preset_field_is_replaced_by_the_rule_the_task_sets() {
    let dir = workdir("preset-override");
    let extraction =
        "    preset: openinference\n    answer: {spanName: \"root:\", jsonPathInSpan: name}\n";
    let t = task(&dir, extraction, LISTED);
    let found = extract(&t, &fixture("langchain.otlp.json"), false);
    let want = expected("langchain");
    assert_eq!(found[0]["query"], want[0]["query"], "from the preset");
    assert_eq!(found[0]["contexts"], want[0]["contexts"], "from the preset");
    assert_eq!(
        found[0]["answer"],
        json!("RunnableSequence"),
        "the task's own rule"
    );
}

#[test]
fn an_unknown_preset_is_refused_with_the_values_allowed() {
    let dir = workdir("preset-unknown");
    let t = task(&dir, "    preset: langfuse\n", LISTED);
    let out = traceval(&[
        "extract",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        fixture("langchain.otlp.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("langfuse") && stderr.contains("openinference"),
        "{stderr}"
    );
}

/// `traceval evaluate` over `file`; the summary (last line) and the result lines.
async fn evaluate(
    dir: &std::path::Path,
    extraction: &str,
    mode: &str,
    file: &str,
    judge: &str,
) -> (Value, Vec<Value>) {
    let t = task(dir, extraction, mode);
    let (t, file, judge) = (
        t.to_str().unwrap().to_owned(),
        fixture(file),
        judge.to_owned(),
    );
    let out = tokio::task::spawn_blocking(move || {
        traceval(&[
            "evaluate",
            "--task",
            &t,
            "--traces",
            file.to_str().unwrap(),
            "--judge-url",
            &judge,
        ])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut found = lines(&out.stdout);
    let summary = found.pop().unwrap();
    (summary, found)
}

#[tokio::test]
async fn evaluate_counts_every_trace_it_did_not_evaluate_by_reason() {
    let judge = JudgeStandIn::start(Faults::default()).await;
    let dir = workdir("reasons-window");
    let (summary, results) = evaluate(
        &dir,
        SEED_RULES,
        ALL_OF_2025,
        "langchain.otlp.json",
        &judge.url,
    )
    .await;
    assert!(results.is_empty());
    assert_eq!(summary["skipped"], json!(2));
    assert_eq!(
        summary["notEvaluated"],
        json!({"outside the sampling window": 2})
    );

    let dir = workdir("reasons-selector");
    let rules = "    query: {spanName: \"kind:LLM\", jsonPathInSpan: attributes.input.value}\n    answer: {spanName: answer, jsonPathInSpan: attributes.output.value}\n";
    let (summary, _) = evaluate(&dir, rules, ALL_OF_2026, "dashscope.otlp.json", &judge.url).await;
    // DashScope spans are kind:LLM: matched, but `input.value` is not there.
    assert_eq!(summary["failed"], json!(2));
    assert_eq!(
        summary["notEvaluated"],
        json!({"query or answer not found in the matching spans": 2})
    );

    let dir = workdir("reasons-no-span");
    let rules = "    query: {spanName: handle, jsonPathInSpan: attributes.q}\n    answer: {spanName: \"kind:AGENT\", jsonPathInSpan: attributes.a}\n";
    let (summary, _) = evaluate(&dir, rules, ALL_OF_2026, "openai-v2.otlp.json", &judge.url).await;
    assert_eq!(summary["skipped"], json!(2));
    assert_eq!(
        summary["notEvaluated"],
        json!({"no span matches \"handle\" or \"kind:AGENT\"": 2})
    );
    assert!(judge.seen().is_empty(), "nothing was sent to the judge");
}

#[tokio::test]
async fn evaluate_records_which_span_an_ambiguous_answer_came_from() {
    let judge = JudgeStandIn::start(Faults::default()).await;
    let dir = workdir("choices");
    let (summary, results) = evaluate(
        &dir,
        SEED_RULES,
        ALL_OF_2026,
        "langchain.otlp.json",
        &judge.url,
    )
    .await;
    assert_eq!(
        summary["evaluated"].as_u64().unwrap() + summary["failed"].as_u64().unwrap(),
        2
    );
    let want = expected("langchain");
    for (result, want) in results.iter().zip(&want) {
        assert_eq!(
            result["answer"], want["answer"],
            "the root chain's output, not the sub-chain's"
        );
        let choice = &result["choices"]["answer"];
        assert_eq!(choice["spanName"], json!("RunnableSequence"));
        assert_eq!(
            (choice["depth"].clone(), choice["matching"].clone()),
            (json!(0), json!(2))
        );
    }
}

/// `extract --suggest` on `file`: its stdout.
fn suggestion(file: &str) -> String {
    let out = traceval(&[
        "extract",
        "--suggest",
        "--traces",
        fixture(file).to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn suggest_prints_settings_that_find_what_was_exchanged() {
    for (file, scenario, preset) in [
        ("langchain.jaeger-v1.json", "langchain", "openinference"),
        ("openai-v2.otlp.json", "openai-v2", "otel-genai"),
        ("dashscope.otlp.json", "dashscope", "otel-genai"),
    ] {
        let text = suggestion(file);
        assert!(
            text.contains(&format!("    preset: {preset}\n")),
            "{file}: {text}"
        );
        // Pasted into a task (under its own `extraction:` line), it finds the same.
        let settings: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && l.trim() != "extraction:")
            .map(|l| format!("{l}\n"))
            .collect();
        let dir = workdir(&format!("suggest-{scenario}"));
        let t = task(&dir, &settings, LISTED);
        assert_eq!(
            extract(&t, &fixture(file), false),
            expected(scenario),
            "{file}: {text}"
        );
    }
    let dir = workdir("suggest-nothing");
    let empty = dir.join("health.json");
    std::fs::write(&empty, r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7b65372b1d5857d","name":"GET /healthz"}]}]}]}"#).unwrap();
    let out = traceval(&["extract", "--suggest", "--traces", empty.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("no preset finds") && text.contains("--spans"),
        "{text}"
    );
}

#[tokio::test]
async fn a_split_trace_is_counted_as_such() {
    let judge = JudgeStandIn::start(Faults::default()).await;
    let dir = workdir("reasons-split");
    let span = |trace: char, id: u32, name: &str, attrs: &str| {
        format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{}","spanId":"{id:016x}","name":"{name}","startTimeUnixNano":"1780000000000000000","attributes":[{attrs}]}}]}}]}}]}}"#,
            trace.to_string().repeat(32)
        )
    };
    let qa = r#"{"key":"input.value","value":{"stringValue":"capital of china"}},{"key":"output.value","value":{"stringValue":"Beijing"}}"#;
    let mut docs = vec![span('a', 1, "LLM", qa)];
    for (i, t) in ['b', 'c', 'd', 'e'].into_iter().enumerate() {
        docs.push(span(t, 10 + i as u32, "GET /healthz", ""));
    }
    // Five documents later: handed on as a second part of trace a.
    docs.push(span('a', 2, "late", ""));
    let file = dir.join("split.jsonl");
    std::fs::write(&file, docs.join("\n")).unwrap();
    let rules = "    query: {spanName: LLM, jsonPathInSpan: attributes.input.value}\n    answer: {spanName: LLM, jsonPathInSpan: attributes.output.value}\n";
    let t = task(&dir, rules, ALL_OF_2026);
    let (t, judge_url) = (t.to_str().unwrap().to_owned(), judge.url.clone());
    let out = tokio::task::spawn_blocking(move || {
        traceval(&[
            "evaluate",
            "--task",
            &t,
            "--traces",
            file.to_str().unwrap(),
            "--judge-url",
            &judge_url,
        ])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = lines(&out.stdout).pop().unwrap();
    assert_eq!(summary["evaluated"], json!(1), "{summary}");
    assert_eq!(
        summary["notEvaluated"],
        json!({
            "no span matches \"LLM\"": 4,
            "split trace: spans that arrived after the rest of the trace had been handed on": 1
        })
    );
}
