//! The start command the operator generates for `probe: opentelemetry`
//! really starts the seed's sample app under the probe: the operator
//! reconciles a TracedService on the real control plane, this test takes the
//! app container's command, args and env from the Deployment it applied, runs
//! them as a local process (the venv from `tests/cluster/pyenv` plays the
//! image with its packages installed; the OSS mount `/mnt/data` is
//! `examples/sample-app`), sends the seed's request and finds the trace in
//! Jaeger.

#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Secret};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use support::operator::{Operator, install_crds};
use support::procs::{
    Proc, free_port, jaeger_spans, log_dir, repo, required_env, rfc3339, standin, venv,
};
use support::{DEADLINE, TempNamespace, client, poll};
use traceval::api::TracedService;

/// The container's env as a kubelet would resolve it: literal values with
/// `$(VAR)` references expanded, downward-API fields and secrets supplied.
fn resolve_env(
    container: &Container,
    fields: &BTreeMap<&str, &str>,
    secrets: &BTreeMap<&str, &str>,
) -> Vec<(String, String)> {
    let mut resolved: Vec<(String, String)> = Vec::new();
    for var in container.env.iter().flatten() {
        let value = if let Some(value) = &var.value {
            let mut expanded = value.clone();
            for (name, earlier) in &resolved {
                expanded = expanded.replace(&format!("$({name})"), earlier);
            }
            expanded
        } else if let Some(from) = &var.value_from {
            if let Some(field) = &from.field_ref {
                fields
                    .get(field.field_path.as_str())
                    .expect("known field")
                    .to_string()
            } else if let Some(secret) = &from.secret_key_ref {
                secrets
                    .get(secret.key.as_str())
                    .expect("known secret key")
                    .to_string()
            } else {
                panic!("unexpected env source in {var:?}")
            }
        } else {
            String::new()
        };
        resolved.push((var.name.clone(), value));
    }
    resolved
}

fn attributes(span: &Value) -> BTreeMap<String, String> {
    span["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            let v = &kv["value"];
            let text = v["stringValue"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            (kv["key"].as_str().unwrap_or_default().to_owned(), text)
        })
        .collect()
}

#[tokio::test]
async fn generated_opentelemetry_command_starts_the_traced_app() {
    let otlp = required_env("TRACEVAL_OTLP_ENDPOINT");
    let jaeger = required_env("TRACEVAL_JAEGER_QUERY");
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "probe-e2e").await;
    let _operator = Operator::start(&client, &ns.name);

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "dashscope"},
        "stringData": {"api-key": "sk-test-not-a-real-key"}
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create secret");

    let service_name = format!("probe-e2e-{}", &ns.name[ns.name.len() - 5..]);
    let tsvc: TracedService = serde_json::from_value(json!({
        "apiVersion": "traceval.dev/v1alpha1", "kind": "TracedService",
        "metadata": {"name": "sample-app", "namespace": ns.name},
        "spec": {
            "image": "python:3.11-slim",
            "command": ["python", "/mnt/data/app.py"],
            "pythonPackages": ["flask", "dashscope"],
            "env": [{"name": "DASHSCOPE_API_KEY",
                     "valueFrom": {"secretKeyRef": {"name": "dashscope", "key": "api-key"}}}],
            "mounts": [{"mountPath": "/mnt/data", "emptyDir": {}}],
            "tracing": {"probe": "opentelemetry", "endpoint": otlp, "serviceName": service_name}
        }
    }))
    .expect("TracedService");
    let services: Api<TracedService> = Api::namespaced(client.clone(), &ns.name);
    services
        .create(&PostParams::default(), &tsvc)
        .await
        .expect("create TracedService");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let deployment = poll("the operator to apply the Deployment", DEADLINE, || async {
        deployments.get_opt("sample-app").await.ok().flatten()
    })
    .await;
    let pod = deployment
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod spec");
    let app = pod.containers.first().expect("app container").clone();
    let mut argv: Vec<String> = app.command.clone().unwrap_or_default();
    argv.extend(app.args.clone().unwrap_or_default());
    let shown = services
        .get("sample-app")
        .await
        .ok()
        .and_then(|s| s.status?.start_command);
    assert!(
        argv.len() > 2,
        "expected a probe-wrapped command, got {argv:?} (status: {shown:?})"
    );

    // The mount is the app's folder here; the rest of argv runs as generated.
    let app_dir = repo().join("examples/sample-app");
    let argv: Vec<String> = argv
        .into_iter()
        .map(|a| a.replace("/mnt/data", &app_dir.to_string_lossy()))
        .collect();

    let venv = venv();
    let logs = log_dir("probe-e2e");
    let (_standin, standin_url) = standin(&venv, &logs, &[]);
    let port = free_port();
    let fields = BTreeMap::from([
        ("metadata.name", "sample-app-7d9f-abcde"),
        ("metadata.namespace", ns.name.as_str()),
        ("spec.nodeName", "kwok-node-0"),
        ("status.podIP", "127.0.0.1"),
    ]);
    let secret_values = BTreeMap::from([("api-key", "sk-test-not-a-real-key")]);
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).env_clear();
    command.env(
        "PATH",
        format!("{}:/usr/bin:/bin", venv.join("bin").display()),
    );
    command.env("HOME", std::env::var("HOME").unwrap_or_default());
    for (name, value) in resolve_env(&app, &fields, &secret_values) {
        command.env(name, value);
    }
    // The pod's packages volume (PYTHONPATH, and PIP_TARGET for the
    // bootstrap step) is the venv itself here, which has the packages.
    assert_eq!(
        app.env
            .iter()
            .flatten()
            .find(|e| e.name == "PIP_TARGET")
            .and_then(|e| e.value.as_deref()),
        Some("/opt/traceval/python"),
        "the bootstrap step installs into the packages volume (read-only root)"
    );
    command.env_remove("PIP_TARGET");
    // What differs from the pod: where the LLM API is and which port to bind.
    command
        .env("DASHSCOPE_HTTP_BASE_URL", format!("{standin_url}/api/v1"))
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("PYTHONPATH", "")
        .stdout(Stdio::null());
    let app_proc = Proc::spawn(command, logs.join("app.log"));

    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/trace_demo");
    let answer = poll(
        "the app to answer (probe bootstrap may take a while)",
        Duration::from_secs(180),
        || async {
            let response = http
                .post(&url)
                .json(&json!({"query": "capital of china"}))
                .send()
                .await
                .ok()?;
            response.status().is_success().then_some(())?;
            response.text().await.ok()
        },
    )
    .await;
    assert!(
        answer.contains("Beijing"),
        "answer {answer:?}; app log:\n{}",
        app_proc.log_tail()
    );

    let now = rfc3339("+1 minute");
    let trace = poll("the trace in Jaeger", DEADLINE, || async {
        let spans = jaeger_spans(&http, &jaeger, &service_name, &now).await?;
        let has_llm = spans
            .iter()
            .any(|(_, s)| attributes(s).get("gen_ai.span.kind").map(String::as_str) == Some("LLM"));
        has_llm.then_some(spans)
    })
    .await;

    let server = trace
        .iter()
        .find(|(_, s)| s["kind"] == json!(2) || s["kind"] == json!("SPAN_KIND_SERVER"))
        .expect("an HTTP server span");
    let (resource, llm) = trace
        .iter()
        .find(|(_, s)| attributes(s).get("gen_ai.span.kind").map(String::as_str) == Some("LLM"))
        .expect("an LLM span");
    assert_eq!(
        server.1["traceId"], llm["traceId"],
        "server and LLM spans in one trace"
    );
    let llm_attributes = attributes(llm);
    let input = llm_attributes
        .get("gen_ai.input.messages")
        .cloned()
        .unwrap_or_default();
    let output = llm_attributes
        .get("gen_ai.output.messages")
        .cloned()
        .unwrap_or_default();
    assert!(input.contains("capital of china"), "input: {input}");
    assert!(output.contains("Beijing"), "output: {output}");
    // The operator's OTEL_RESOURCE_ATTRIBUTES reached the exporter, expanded.
    let resource_attributes = attributes(resource);
    assert_eq!(
        resource_attributes.get("k8s.namespace.name"),
        Some(&ns.name)
    );
    assert_eq!(
        resource_attributes.get("k8s.pod.name").map(String::as_str),
        Some("sample-app-7d9f-abcde")
    );
    assert_eq!(resource_attributes.get("service.name"), Some(&service_name));
}
