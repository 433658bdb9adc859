//! Helpers of the extraction tests (`tests/offline/extraction_*.rs`): the
//! fixtures of tests/fixtures/extraction (made by generate.py there, with
//! what the stand-in exchanged in expected.json), task manifests and the
//! built binary.
#![allow(dead_code)] // each test uses a different subset

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_traceval");

/// The seed's rules for the LangChain chain: the root RunnableSequence's
/// input and output (a sub-chain of the same name holds the joined documents).
pub const SEED_RULES: &str = r#"    query: {spanName: RunnableSequence, jsonPathInSpan: attributes.input.value}
    answer: {spanName: RunnableSequence, jsonPathInSpan: attributes.output.value}
    context: {spanName: "kind:RETRIEVER", jsonPathInSpan: "attributes.retrieval.documents[*].document.content"}
"#;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/extraction")
        .join(name)
}

pub fn workdir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("extraction")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A task file with these extraction settings (indented under `extraction:`).
pub fn task(dir: &Path, extraction: &str, mode: &str) -> PathBuf {
    let text = format!(
        "apiVersion: traceval.dev/v1alpha1\nkind: EvaluationTask\nmetadata: {{name: t, namespace: default}}\nspec:\n  target: {{serviceName: app}}\n  judge: {{provider: openai-compatible, baseURL: 'http://judge.invalid/v1', model: judge}}\n  extraction:\n{extraction}{mode}"
    );
    let path = dir.join("task.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

pub const LISTED: &str = "  traceIDs: [\"370ac364553d0bf9ed70e7c6d4eb7ac1\"]\n";

pub fn traceval(args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .args(args)
        .env("TRACEVAL_JUDGE_TOKEN", "sk-standin")
        .output()
        .unwrap()
}

pub fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

pub fn extract(task: &Path, traces: &Path, spans: bool) -> Vec<Value> {
    let mut args = vec![
        "extract",
        "--task",
        task.to_str().unwrap(),
        "--traces",
        traces.to_str().unwrap(),
    ];
    if spans {
        args.push("--spans");
    }
    let out = traceval(&args);
    assert!(
        out.status.success(),
        "{}: {}",
        traces.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    lines(&out.stdout)
}

/// What the stand-in exchanged in `scenario` (written by generate.py).
pub fn expected(scenario: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    all[scenario].as_array().unwrap().clone()
}
