//! Harness of the EvaluationTask cluster tests: the controller in-process,
//! the evaluation pod's command run locally with the pod's ServiceAccount
//! credentials (kwok runs no containers), traces in Jaeger (from the seed's
//! sample app, or posted over OTLP/HTTP from the real trace fixture), and
//! the sample app itself under `opentelemetry-instrument`.
#![allow(dead_code)] // each test uses a different subset

pub mod app;
pub mod task;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{PodSpec, Secret, ServiceAccount};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use traceval::operator::evaluationtask::metrics::EvaluationMetrics;
use traceval::operator::evaluationtask::{EvaluationContext, controller, drive};
use traceval::operator::metrics::Registry;
use traceval::resources::evaluationtask::EvaluationOptions;

use crate::support::operator::context;
use crate::support::procs::required_env;
use crate::support::{DEADLINE, poll};

pub const BIN: &str = env!("CARGO_BIN_EXE_traceval");

pub fn jaeger_query() -> String {
    required_env("TRACEVAL_JAEGER_QUERY")
}

pub fn otlp_endpoint() -> String {
    required_env("TRACEVAL_OTLP_ENDPOINT")
}

/// A fresh directory for one test's files.
pub fn workdir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("evaluationtask_cluster")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The EvaluationTask controller for one namespace, until dropped.
pub struct EvalOperator {
    handle: JoinHandle<()>,
    pub metrics: Arc<EvaluationMetrics>,
}

impl EvalOperator {
    pub fn start(client: &Client, namespace: &str, options: EvaluationOptions) -> Self {
        let shared = context(client);
        let metrics = Arc::new(EvaluationMetrics::new());
        let ctx = Arc::new(EvaluationContext::new(shared, options, metrics.clone()));
        let handle = tokio::spawn(drive(controller(client.clone(), Some(namespace)), ctx));
        Self { handle, metrics }
    }

    /// `/metrics` as the operator serves it (the task gauges come from its cache).
    pub fn scrape(&self) -> String {
        let mut registry = Registry::default();
        registry.register_reconciles(&self.metrics.reconciles, "evaluationtask", "EvaluationTask");
        registry.register_collector(Box::new(self.metrics.clone()));
        registry.encode()
    }
}

impl Drop for EvalOperator {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Operator settings pointing at the local Jaeger.
pub fn options() -> EvaluationOptions {
    EvaluationOptions {
        image: "traceval:test".into(),
        trace_query_url: Some(jaeger_query()),
        otlp_endpoint: None,
        ..EvaluationOptions::default()
    }
}

pub async fn create_secret(client: &Client, namespace: &str, name: &str, key: &str, value: &str) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": name},
        "stringData": {key: value}
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create secret");
}

/// A token of `account` from the TokenRequest API, as a pod would get it.
pub async fn service_account_token(client: &Client, namespace: &str, account: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    poll(&format!("ServiceAccount {account}"), DEADLINE, || async {
        accounts.get_opt(account).await.ok().flatten()
    })
    .await;
    let request: TokenRequest = serde_json::from_value(json!({
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))
    .unwrap();
    let answer: TokenRequest = accounts
        .create_subresource("token", account, &PostParams::default(), &request)
        .await
        .expect("TokenRequest");
    answer.status.expect("token status").token
}

/// A kubeconfig for the test cluster that authenticates with `token`.
pub fn kubeconfig_with_token(dir: &Path, token: &str) -> PathBuf {
    let path = std::env::var("KUBECONFIG").expect("KUBECONFIG");
    let mut config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["users"] =
        serde_yaml::to_value(json!([{"name": "evaluator", "user": {"token": token}}])).unwrap();
    let contexts = config["contexts"].as_sequence_mut().unwrap();
    for context in contexts {
        context["context"]["user"] = "evaluator".into();
    }
    let file = dir.join("evaluator-kubeconfig");
    std::fs::write(&file, serde_yaml::to_string(&config).unwrap()).unwrap();
    file
}

/// The evaluation pod's command line as a local process: the container's
/// command (with the built binary for `traceval`) and env (secretKeyRef
/// values read from their Secrets), authenticated as the pod's
/// ServiceAccount through a kubeconfig holding its token.
pub async fn pod_command(client: &Client, namespace: &str, pod: &PodSpec, dir: &Path) -> Command {
    let container = &pod.containers[0];
    let argv = container.command.clone().expect("command");
    assert_eq!(argv[0], "traceval");
    let account = pod
        .service_account_name
        .clone()
        .expect("serviceAccountName");
    let token = service_account_token(client, namespace, &account).await;
    let mut command = Command::new(BIN);
    command
        .args(&argv[1..])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KUBECONFIG", kubeconfig_with_token(dir, &token))
        .env("RUST_LOG", "debug");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for var in container.env.iter().flatten() {
        if let Some(value) = &var.value {
            command.env(&var.name, value);
        }
        if let Some(selector) = var
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
        {
            let secret = secrets
                .get(&selector.name)
                .await
                .expect("secret of the pod env");
            let bytes = secret.data.unwrap_or_default()[&selector.key].0.clone();
            command.env(&var.name, String::from_utf8(bytes).unwrap());
        }
    }
    command.env("RUST_LOG", "debug");
    command
}

/// Runs the command to its end.
pub async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("run traceval"))
        .await
        .unwrap()
}

/// Starts the command with its output in files (for killing it mid-way).
pub fn spawn(mut command: Command, dir: &Path, name: &str) -> Child {
    let out = std::fs::File::create(dir.join(format!("{name}.out"))).unwrap();
    let err = std::fs::File::create(dir.join(format!("{name}.err"))).unwrap();
    command
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("spawn traceval")
}

/// The JSON lines of an evaluator's stdout.
pub fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// The seed's sample-app trace (a real export) as a new trace: its ID,
/// service name, start time and question replaced.
pub fn sample_trace(trace_id: &str, service: &str, start: Timestamp, question: &str) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/traces/sample-app-trace.json"
    ))
    .unwrap();
    let text = text.replace("capital of china", question);
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    let mut resource_spans = doc["result"]["resourceSpans"].take();
    let nanos = |v: &Value| v.as_str().unwrap().parse::<i128>().unwrap();
    let first = resource_spans
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rs| rs["scopeSpans"].as_array().unwrap())
        .flat_map(|ss| ss["spans"].as_array().unwrap())
        .map(|s| nanos(&s["startTimeUnixNano"]))
        .min()
        .unwrap();
    let shift = start.as_nanosecond() - first;
    for rs in resource_spans.as_array_mut().unwrap() {
        for attribute in rs["resource"]["attributes"].as_array_mut().unwrap() {
            if attribute["key"] == "service.name" {
                attribute["value"] = json!({"stringValue": service});
            }
        }
        for ss in rs["scopeSpans"].as_array_mut().unwrap() {
            for span in ss["spans"].as_array_mut().unwrap() {
                span["traceId"] = json!(trace_id);
                for key in ["startTimeUnixNano", "endTimeUnixNano"] {
                    span[key] = json!((nanos(&span[key]) + shift).to_string());
                }
            }
        }
    }
    json!({"resourceSpans": resource_spans})
}

/// Sends OTLP/JSON to Jaeger's OTLP/HTTP receiver.
pub async fn post_traces(body: &Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/traces", otlp_endpoint()))
        .json(body)
        .send()
        .await
        .expect("OTLP/HTTP export to Jaeger");
    assert!(response.status().is_success(), "{}", response.status());
}

/// The api_v3 document of one trace, once Jaeger has it.
pub async fn jaeger_trace(trace_id: &str) -> Option<Value> {
    let response = reqwest::get(format!("{}/api/v3/traces/{trace_id}", jaeger_query()))
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// Trace IDs Jaeger holds for `service` that started in the last hour.
pub async fn jaeger_trace_ids(service: &str) -> Vec<String> {
    let now = Timestamp::now();
    let hour = k8s_openapi::jiff::SignedDuration::from_hours(1);
    let url = format!("{}/api/v3/traces", jaeger_query());
    let response = reqwest::Client::new()
        .get(url)
        .query(&[
            ("query.service_name", service.to_owned()),
            ("query.start_time_min", (now - hour).to_string()),
            ("query.start_time_max", (now + hour).to_string()),
            ("query.num_traces", "1000".to_owned()),
        ])
        .send()
        .await;
    let Ok(response) = response else {
        return Vec::new();
    };
    let Ok(doc) = response.json::<Value>().await else {
        return Vec::new();
    };
    let mut ids: Vec<String> = doc["result"]["resourceSpans"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rs| rs["scopeSpans"].as_array().into_iter().flatten())
        .flat_map(|ss| ss["spans"].as_array().into_iter().flatten())
        .filter_map(|s| s["traceId"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The spans of a Jaeger api_v3 document whose resource is `service`.
pub fn spans_of_service(doc: &Value, service: &str) -> Vec<Value> {
    doc["result"]["resourceSpans"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|rs| {
            rs["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["key"] == "service.name" && a["value"]["stringValue"] == service)
        })
        .flat_map(|rs| rs["scopeSpans"].as_array().into_iter().flatten())
        .flat_map(|ss| ss["spans"].as_array().into_iter().flatten())
        .cloned()
        .collect()
}
