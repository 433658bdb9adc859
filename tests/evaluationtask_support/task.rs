//! EvaluationTask manifests and status reads of the tests.

use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use traceval::api::EvaluationTask;
use traceval::api::evaluationtask::{EvaluationPhase, EvaluationTaskStatus};

use crate::support::{DEADLINE, poll};

pub const TOKEN_KEY: &str = "token";
pub const SECRET: &str = "judge-token";

/// The extraction rules of the shipped example (the sample app's LLM span).
pub fn example_extraction() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/evaluationtask-online.yaml"
    ))
    .unwrap();
    let example: EvaluationTask = serde_yaml::from_str(&text).unwrap();
    serde_json::to_value(example.spec.extraction).unwrap()
}

pub fn judge(url: &str, extra: Value) -> Value {
    let mut judge = json!({
        "provider": "openai-compatible",
        "baseURL": url,
        "model": "judge",
        "requestsPerSecond": 100,
        "tokenSecretRef": {"name": SECRET, "key": TOKEN_KEY},
    });
    judge
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    judge
}

pub async fn create_task(
    client: &Client,
    namespace: &str,
    name: &str,
    spec: Value,
) -> EvaluationTask {
    let tasks: Api<EvaluationTask> = Api::namespaced(client.clone(), namespace);
    let task: EvaluationTask = serde_json::from_value(json!({
        "apiVersion": "traceval.dev/v1alpha1",
        "kind": "EvaluationTask",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap();
    tasks
        .create(&PostParams::default(), &task)
        .await
        .expect("create EvaluationTask")
}

pub async fn status(client: &Client, namespace: &str, name: &str) -> EvaluationTaskStatus {
    let tasks: Api<EvaluationTask> = Api::namespaced(client.clone(), namespace);
    tasks.get(name).await.unwrap().status.unwrap_or_default()
}

pub async fn phase(
    client: &Client,
    namespace: &str,
    name: &str,
    want: EvaluationPhase,
) -> EvaluationTaskStatus {
    let tasks: Api<EvaluationTask> = Api::namespaced(client.clone(), namespace);
    poll(&format!("{name} to be {want:?}"), DEADLINE, || async {
        let task = tasks.get(name).await.ok()?;
        let status = task.status?;
        (status.phase == Some(want) && status.observed_generation == task.metadata.generation)
            .then_some(status)
    })
    .await
}

pub fn token_value() -> String {
    format!("sk-traceval-test-{}", fastrand::u64(..))
}

pub fn counts(status: &EvaluationTaskStatus) -> (u64, u64, u64, u64) {
    let c = status.counts.clone().unwrap_or_default();
    (c.sampled, c.evaluated, c.failed, c.skipped)
}

/// Fails when the judge token appears in `text`.
pub fn assert_no_token(what: &str, text: &str, token: &str) {
    assert!(!text.contains(token), "the judge token appears in {what}");
}

/// `kubectl get evaltask` in `namespace`: the header and the rows, each
/// with its columns joined by one space.
pub fn kubectl_get_evaltasks(namespace: &str) -> (String, Vec<String>) {
    let out = std::process::Command::new("kubectl")
        .args(["get", "evaltask", "-n", namespace])
        .output()
        .expect("kubectl (on PATH after tests/cluster/up)");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "));
    let header = lines.next().unwrap_or_default();
    (header, lines.collect())
}
