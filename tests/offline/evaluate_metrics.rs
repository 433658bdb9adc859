//! The task's own metrics as a user writes them, through the built binary
//! and the stand-in judge (see `evaluate_standin`): custom judge metrics per
//! trace and per document, answer relevance, code checks, the documents cap
//! (`retrieval.maxDocuments`), explanations in the results, and reference
//! answers from a dataset file.
//!
//! The stand-in answers a custom metric with the first of its rails named
//! in the judged text (the document, else the answer), else the last rail;
//! correctness against a reference answer is "correct" when the answer has
//! every capitalised word of the reference.
// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../evaluate_standin/mod.rs"]
mod evaluate_standin;

use evaluate_standin::cli::*;
use evaluate_standin::{Faults, JudgeStandIn};
use serde_json::{Value, json};

const OWN_METRICS: &str = r#"
  metrics:
    answerRelevance: true
    retrieval: {k: 2, maxDocuments: 3}
    custom:
    - name: mentionsParis
      template: "Does the answer name Paris?\n{query}{answer}"
      rails: [{label: paris, score: 1}, {label: other, score: 0}]
    - name: docTopic
      level: document
      template: "Is this document about Paris? {document}"
      rails: [{label: paris, score: 1}, {label: elsewhere, score: 0}]
    checks:
    - name: short
      length: {max: 31}
    - name: endsWithPeriod
      regex: '\.$'
"#;

async fn evaluate(task_text: &str, extra: &[&str]) -> (std::process::Output, JudgeStandIn) {
    let dir = workdir(&format!("metrics_{}", fastrand_name(task_text)));
    let t = write(&dir, "task.yaml", task_text);
    let judge = JudgeStandIn::start(Faults::default()).await;
    let mut argv = vec![
        "evaluate".to_owned(),
        "--task".into(),
        t.to_str().unwrap().into(),
        "--judge-url".into(),
        judge.url.clone(),
    ];
    if !extra.contains(&"--traces") {
        argv.extend(["--traces".to_owned(), fixture("rag.jsonl")]);
    }
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    (run(args(&argv)).await, judge)
}

/// A directory name per task text (tests run in parallel).
fn fastrand_name(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

fn close(v: &Value, expected: f64, what: &str) {
    let got = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {v} is not a number"));
    assert!((got - expected).abs() < 1e-9, "{what}: {got} != {expected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_metrics_checks_and_explanations_in_every_result() {
    let (out, judge) = evaluate(
        &task("", &format!("{RAG_EXTRACTION}{OWN_METRICS}"), ALL_OF_2025),
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut printed = lines(&out.stdout);
    let summary = printed.pop().unwrap();
    let results = by_trace(&printed);

    let france = &results[FRANCE];
    let s = &france["scores"];
    assert_eq!(s["custom"]["mentionsParis"], json!(1.0));
    // Documents 1-3 of 4 judged: Lyon / Paris / Eiffel Tower in Paris.
    close(&s["custom"]["docTopic"], 2.0 / 3.0, "docTopic");
    assert_eq!(s["custom"]["short"], json!(1.0), "31 characters");
    assert_eq!(s["custom"]["endsWithPeriod"], json!(1.0));
    assert_eq!(s["answerRelevance"], json!(1.0));
    // Relevance [0, 1, 1] of 3 judged, K = 2: the ideal ranking [1, 1] at K.
    close(
        &s["ndcg"],
        (1.0 / 3f64.log2()) / (1.0 + 1.0 / 3f64.log2()),
        "nDCG",
    );
    close(&s["precisionAtK"], 0.5, "P@2");
    close(&s["mrr"], 0.5, "MRR");
    close(&s["contextRelevance"], 2.0 / 3.0, "context relevance");
    assert_eq!(france["documents"], json!({"retrieved": 4, "judged": 3}));

    let j = &france["judgements"];
    assert_eq!(
        j["correctness"],
        json!({"label": "correct", "score": 1.0, "explanation": "stand-in"})
    );
    assert_eq!(
        j["mentionsParis"]["explanation"],
        json!("stand-in: the text says paris")
    );
    let labels: Vec<&Value> = j["relevance"]["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["label"])
        .collect();
    assert_eq!(
        labels,
        [&json!("irrelevant"), &json!("relevant"), &json!("relevant")]
    );
    assert_eq!(j["docTopic"]["documents"][0]["label"], json!("elsewhere"));
    assert_eq!(
        j["short"],
        json!({"label": "pass", "score": 1.0, "explanation": "the answer is 31 characters long (at most 31 allowed)"})
    );

    let hamlet = &results[HAMLET];
    let s = &hamlet["scores"];
    assert_eq!(
        s["custom"]["mentionsParis"],
        json!(0.0),
        "no rail named: the last one"
    );
    assert_eq!(
        hamlet["judgements"]["mentionsParis"]["label"],
        json!("other")
    );
    assert_eq!(s["custom"]["docTopic"], json!(0.0));
    assert_eq!(s["custom"]["short"], json!(0.0), "33 characters");
    assert_eq!(hamlet["documents"], json!({"retrieved": 3, "judged": 3}));
    close(&s["ndcg"], 1.0 / (1.0 + 1.0 / 3f64.log2()), "Hamlet nDCG@2");

    close(
        &summary["averages"]["custom"]["mentionsParis"],
        0.5,
        "average",
    );
    close(
        &summary["averages"]["custom"]["docTopic"],
        1.0 / 3.0,
        "average",
    );
    assert_eq!(summary["metricCounts"]["custom"]["short"], json!(2));
    assert_eq!(summary["metricCounts"]["answerRelevance"], json!(2));

    // The cap: 3 relevance and 3 docTopic requests for France's 4 documents.
    let seen = judge.seen();
    let france = [
        "Lyon is a large city in France.",
        "Paris is the capital of France.",
        "The Eiffel Tower is in Paris.",
    ];
    let france_docs = seen
        .iter()
        .filter(|s| s.document.as_deref().is_some_and(|d| france.contains(&d)))
        .count();
    assert_eq!(france_docs, 6, "{seen:?}");
    assert!(
        !seen
            .iter()
            .any(|s| s.document.as_deref() == Some("Bananas are yellow."))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_answers_from_a_dataset_file() {
    let dir = workdir("metrics_dataset");
    // The France query differs in case and spacing; its reference overrules
    // the fact the stand-in knows. Hamlet's query has no row.
    let dataset = write(
        &dir,
        "refs.jsonl",
        "{\"query\": \"what is the  capital of france?\", \"reference\": \"Lyon\"}\n\
         {\"query\": \"Unrelated?\", \"reference\": \"No.\"}\n",
    );
    let metrics = "  metrics:\n    faithfulness: false\n    retrieval: {enabled: false}\n    checks:\n    - {name: sameAsReference, reference: contains}\n  dataset:\n    configMapRef: {name: refs, key: refs.jsonl}\n";
    let text = task("", &format!("{RAG_EXTRACTION}{metrics}"), ALL_OF_2025);

    let (without, _) = evaluate(&text, &[]).await;
    assert_eq!(without.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(
        stderr.contains("spec.dataset names ConfigMap \"refs\"")
            && stderr.contains("--dataset FILE"),
        "{stderr}"
    );

    let (out, _) = evaluate(&text, &["--dataset", dataset.to_str().unwrap()]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut printed = lines(&out.stdout);
    let summary = printed.pop().unwrap();
    let results = by_trace(&printed);
    let france = &results[FRANCE];
    assert_eq!(france["reference"], json!("Lyon"));
    assert_eq!(
        france["scores"]["correctness"],
        json!(0.0),
        "judged against the reference"
    );
    assert_eq!(france["scores"]["custom"]["sameAsReference"], json!(0.0));
    let hamlet = &results[HAMLET];
    assert_eq!(hamlet.get("reference"), None);
    assert_eq!(
        hamlet["scores"],
        json!({"correctness": 0.0}),
        "no reference: no reference check"
    );
    assert_eq!(summary["withReference"], json!(1));
    assert_eq!(summary["withoutReference"], json!(1));

    let bad = write(&dir, "bad.jsonl", "{\"query\": \"a\"}\n");
    let (out, _) = evaluate(&text, &["--dataset", bad.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.jsonl: line 1: "), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_metrics_are_refused_naming_what_is_wrong() {
    let cases = [
        (
            "    custom:\n    - {name: m, template: \"{question}\", rails: [{label: a, score: 1}, {label: b, score: 0}]}\n",
            "spec.metrics.custom \"m\": template: ",
        ),
        (
            "    custom:\n    - {name: ndcg, template: \"{answer}\", rails: [{label: a, score: 1}, {label: b, score: 0}]}\n",
            "\"ndcg\" is a built-in metric's name",
        ),
        (
            "    custom:\n    - {name: m, template: \"{answer}\", rails: [{label: a, score: 1}, {label: b, score: 0}]}\n    checks:\n    - {name: m, latency: {maxMs: 10}}\n",
            "the name \"m\" is used twice",
        ),
        (
            "    custom:\n    - {name: m, template: \"{answer}\", rails: [{label: a, score: 1}]}\n",
            "rails need at least two labels",
        ),
        (
            "    checks:\n    - {name: c, regex: \"(unclosed\"}\n",
            "spec.metrics.checks \"c\": regex: ",
        ),
        (
            "    retrieval: {k: 5, maxDocuments: 3}\n",
            "maxDocuments (3) must be at least retrieval.k (5)",
        ),
    ];
    for (metrics, expected) in cases {
        let text = task(
            "",
            &format!("{RAG_EXTRACTION}  metrics:\n{metrics}"),
            ALL_OF_2025,
        );
        let (out, judge) = evaluate(&text, &[]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{metrics}: {stderr}");
        assert!(stderr.contains(expected), "{metrics}: {stderr}");
        assert!(judge.seen().is_empty(), "refused before any judge request");
    }
}

/// rag.jsonl with `service.version` on each resource: France v1, Hamlet
/// and the health check v2.
fn versioned_rag(dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(fixture("rag.jsonl")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut doc: Value = serde_json::from_str(line).unwrap();
        let version = if line.contains(FRANCE) { "v1" } else { "v2" };
        let spans = if doc.get("result").is_some() {
            &mut doc["result"]["resourceSpans"]
        } else {
            &mut doc["resourceSpans"]
        };
        for rs in spans.as_array_mut().unwrap() {
            rs["resource"]["attributes"]
                .as_array_mut()
                .unwrap()
                .push(json!({"key": "service.version", "value": {"stringValue": version}}));
        }
        out.push_str(&doc.to_string());
        out.push('\n');
    }
    write(dir, "versioned.jsonl", &out)
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slices_of_two_service_versions() {
    let dir = workdir("metrics_slices");
    let traces = versioned_rag(&dir);
    let by = "  slices: {by: service.version}\n";
    let text = task("", &format!("{RAG_EXTRACTION}{by}"), ALL_OF_2025);
    let (out, _) = evaluate(&text, &["--traces", &traces]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut printed = lines(&out.stdout);
    let summary = printed.pop().unwrap();
    let results = by_trace(&printed);
    assert_eq!(results[FRANCE]["slice"], json!("v1"));
    assert_eq!(results[HAMLET]["slice"], json!("v2"));
    let slices = &summary["slices"];
    assert_eq!(slices["by"], json!("service.version"));
    assert_eq!(
        slices["values"]["v1"]["averages"]["correctness"],
        json!(1.0)
    );
    assert_eq!(
        slices["values"]["v2"]["averages"]["correctness"],
        json!(0.0)
    );
    assert_eq!(slices["values"]["v2"]["evaluated"], json!(1));
    assert_eq!(
        slices["values"]["v1"]["metricCounts"]["retrieval"],
        json!(1)
    );
    assert_eq!(slices["values"].as_object().unwrap().len(), 2, "{slices}");

    // Only v2: France is skipped as not in the slice, without a judge request.
    let filter = "  slices:\n    filter:\n    - {attribute: service.version, values: [v2], scope: resource}\n";
    let text = task("", &format!("{RAG_EXTRACTION}{filter}"), ALL_OF_2025);
    let (out, judge) = evaluate(&text, &["--traces", &traces]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut printed = lines(&out.stdout);
    let summary = printed.pop().unwrap();
    let results = by_trace(&printed);
    assert_eq!(results.keys().collect::<Vec<_>>(), [HAMLET]);
    assert_eq!(
        summary["notEvaluated"],
        json!({"not in slice": 1, "no span matches \"query\" or \"kind:LLM\"": 1}),
        "France is outside the slice; the (v2) health check has no LLM span"
    );
    assert!(judge.seen().iter().all(|s| !s.question.contains("France")));
    assert_eq!(summary.get("slices"), None, "no breakdown without by");
}
