//! Helpers of the front-door tests: fixtures, task manifests, running the
//! built binary, reading its JSON lines, and the expected scores of `rag.jsonl`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_traceval");
pub const FRANCE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub const HAMLET: &str = "4bf92f3577b34da6a3ce929d0e0e4737";
pub const CHINA: &str = "5b8efff798038103d269b633813fc60c";
pub const TOKEN: &str = "sk-standin-4b1d-secret";

pub fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/traces/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A fresh directory for one test's files.
pub fn workdir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("evaluate_cli")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub const RAG_EXTRACTION: &str = r#"
  extraction:
    query: {spanName: query, jsonPathInSpan: attributes.input.value}
    answer: {spanName: "kind:LLM", jsonPathInSpan: attributes.output.value}
    context: {spanName: retrieve, jsonPathInSpan: "attributes.retrieval.documents[*].document.content"}
"#;

pub const DASHSCOPE_EXTRACTION: &str = r#"
  extraction:
    query: {spanName: LLM, jsonPathInSpan: "attributes.gen_ai.prompts[1].message.content"}
    answer: {spanName: LLM, jsonPathInSpan: "attributes.gen_ai.completions[0].message.content"}
"#;

/// A task manifest: the given judge settings, extraction and mode.
pub fn task(judge_extra: &str, extraction: &str, mode: &str) -> String {
    format!(
        "apiVersion: traceval.dev/v1alpha1\nkind: EvaluationTask\nmetadata:\n  name: t\n  namespace: default\nspec:\n  target: {{serviceName: rag-app}}\n  judge:\n    provider: openai-compatible\n    baseURL: http://judge.invalid/v1\n    model: judge\n    requestsPerSecond: 100\n{judge_extra}{extraction}{mode}"
    )
}

pub const ALL_OF_2025: &str = "  sampling:\n    start: \"2025-01-01T00:00:00Z\"\n    end: \"2025-12-31T00:00:00Z\"\n    policy: {probability: {ratio: 1.0}}\n";

pub async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .args(&args)
            .env("TRACEVAL_JUDGE_TOKEN", TOKEN)
            .env_remove("TRACEVAL_JUDGE_TOKEN_FILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

pub fn lines(text: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

pub fn assert_close(actual: &Value, expected: f64, what: &str) {
    let a = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {actual}"));
    assert!((a - expected).abs() < 1e-6, "{what}: {a} != {expected}");
}

/// Per-trace lines by trace ID, asserting each trace appears exactly once.
pub fn by_trace(results: &[Value]) -> HashMap<String, Value> {
    let mut map = HashMap::new();
    for line in results {
        let id = line["traceId"].as_str().unwrap().to_owned();
        assert!(map.insert(id.clone(), line.clone()).is_none(), "{id} twice");
    }
    map
}

pub fn assert_france(line: &Value, retrieval: bool) {
    let s = &line["scores"];
    assert_eq!(s["correctness"], json!(1.0));
    assert_eq!(s["faithfulness"], json!(1.0));
    if retrieval {
        assert_close(&s["ndcg"], 0.693_426_403_6, "France nDCG");
        assert_eq!(s["hitRate"], json!(1.0));
        assert_close(&s["precisionAtK"], 0.4, "France P@5");
        assert_eq!(s["mrr"], json!(0.5));
    }
    assert_eq!(line["query"], json!("What is the capital of France?"));
    assert_eq!(line["answer"], json!("Paris is the capital of France."));
    assert_eq!(line["contexts"].as_array().unwrap().len(), 4);
}

pub fn assert_hamlet(line: &Value) {
    let s = &line["scores"];
    assert_eq!(s["correctness"], json!(0.0));
    assert_eq!(s["faithfulness"], json!(0.0));
    assert_close(&s["ndcg"], 1.5 / (1.0 + 1.0 / 3f64.log2()), "Hamlet nDCG");
    assert_eq!(s["hitRate"], json!(1.0));
    assert_close(&s["precisionAtK"], 0.4, "Hamlet P@5");
    assert_eq!(s["mrr"], json!(1.0));
    assert_eq!(line["error"], Value::Null);
}
