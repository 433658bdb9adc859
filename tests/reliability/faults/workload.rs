//! The load of the fault tests: many TracedServices and EvaluationTasks
//! (shaped like the examples) created, edited and some deleted
//! concurrently, each object's steps in order.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use traceval::api::{EvaluationTask, TracedService};

use crate::support::procs::required_env;

/// How many objects one round creates.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub services: usize,
    pub tasks: usize,
}

pub fn service_name(i: usize) -> String {
    format!("ts-{i}")
}

pub fn task_name(j: usize) -> String {
    format!("et-{j}")
}

/// The TracedServices the load deletes: every tenth, none an EvaluationTask targets.
pub fn deleted(sizes: Sizes, i: usize) -> bool {
    i >= sizes.tasks && i % 10 == 9
}

/// A realistic TracedService (the shape of examples/tracedservice.yaml without
/// the secrets and OSS mount): probe, port, env, network policy.
pub fn service(name: &str, edit: &str, enforce: bool) -> TracedService {
    serde_json::from_value(json!({
        "apiVersion": "traceval.dev/v1alpha1", "kind": "TracedService",
        "metadata": {"name": name},
        "spec": {
            "image": "docker.io/library/python:3.11-slim",
            "command": ["python", "/mnt/data/app.py"],
            "replicas": 1,
            "port": 8000,
            "pythonPackages": ["flask", "dashscope"],
            "env": [{"name": "EDIT", "value": edit}],
            "tracing": {"probe": "opentelemetry", "endpoint": required_env("TRACEVAL_OTLP_ENDPOINT"),
                        "serviceName": name},
            "network": {"enforce": enforce, "internetAccess": true}
        }
    }))
    .expect("TracedService manifest")
}

/// An online EvaluationTask like examples/evaluationtask-online.yaml, targeting `target`.
pub fn task(name: &str, target: &str, minutes: u32) -> EvaluationTask {
    let example: EvaluationTask = serde_yaml::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/evaluationtask-online.yaml"
        ))
        .expect("examples/evaluationtask-online.yaml"),
    )
    .expect("the online example");
    let mut spec = serde_json::to_value(&example.spec).expect("example spec");
    spec["target"] = json!({"tracedService": target});
    spec["traceSource"] = json!({"jaeger": {"url": required_env("TRACEVAL_JAEGER_QUERY")}});
    spec["judge"] = json!({"provider": "openai-compatible", "baseURL": "http://127.0.0.1:9/v1",
        "model": "judge", "tokenSecretRef": {"name": "judge-token", "key": "token"}});
    spec["schedule"] = json!(schedule(minutes));
    serde_json::from_value(json!({
        "apiVersion": "traceval.dev/v1alpha1", "kind": "EvaluationTask",
        "metadata": {"name": name}, "spec": spec
    }))
    .expect("EvaluationTask manifest")
}

pub fn schedule(minutes: u32) -> String {
    format!("*/{minutes} * * * *")
}

/// The judge token Secret the tasks name.
pub async fn create_secret(client: &Client, namespace: &str) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "judge-token"},
        "stringData": {"token": format!("sk-faults-{}", fastrand::u64(..))}
    }))
    .expect("Secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the judge token Secret");
}

/// One step of the load.
#[derive(Clone, Debug)]
pub enum Op {
    CreateService(usize),
    CreateTask(usize),
    EditService(usize, u32),
    EditTask(usize, u32),
    DeleteService(usize),
}

/// Creates, then edits every object `edits` times (each edit of a
/// TracedService changes its env and flips its NetworkPolicy), then deletes
/// some TracedServices: in that order per object, interleaved across objects.
pub fn plan(sizes: Sizes, edits: u32) -> Vec<Op> {
    let mut ops: Vec<Op> = (0..sizes.services).map(Op::CreateService).collect();
    ops.extend((0..sizes.tasks).map(Op::CreateTask));
    for edit in 1..=edits {
        ops.extend((0..sizes.services).map(|i| Op::EditService(i, edit)));
        ops.extend((0..sizes.tasks).map(|j| Op::EditTask(j, edit)));
    }
    ops.extend(
        (0..sizes.services)
            .filter(|&i| deleted(sizes, i))
            .map(Op::DeleteService),
    );
    ops
}

/// The wanted end state after `edits` edits.
pub fn final_edit(edits: u32) -> (String, bool, u32) {
    (format!("edit-{edits}"), edits.is_multiple_of(2), 5 + edits)
}

/// Runs `ops` with `concurrency` in flight; calls `after(k)` when op `k` is done
/// (in completion order, k counts completions).
pub async fn run(
    client: &Client,
    namespace: &str,
    sizes: Sizes,
    ops: Vec<Op>,
    concurrency: usize,
    mut after: impl FnMut(usize),
) {
    let services: Api<TracedService> = Api::namespaced(client.clone(), namespace);
    let tasks: Api<EvaluationTask> = Api::namespaced(client.clone(), namespace);
    // Ops on one object run in order: one lane per object.
    let mut lanes: BTreeMap<String, Vec<Op>> = BTreeMap::new();
    for op in ops {
        let key = match &op {
            Op::CreateService(i) | Op::EditService(i, _) | Op::DeleteService(i) => service_name(*i),
            Op::CreateTask(j) | Op::EditTask(j, _) => task_name(*j),
        };
        lanes.entry(key).or_default().push(op);
    }
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let lanes: Vec<_> = lanes
        .into_values()
        .map(|lane| {
            let (services, tasks, done) = (services.clone(), tasks.clone(), done_tx.clone());
            async move {
                for op in lane {
                    apply(&services, &tasks, sizes, &op).await;
                    let _ = done.send(());
                }
            }
        })
        .collect();
    drop(done_tx);
    let lanes = futures::stream::iter(lanes)
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>();
    let counter = async {
        let mut k = 0;
        while done_rx.recv().await.is_some() {
            after(k);
            k += 1;
        }
    };
    futures::future::join(lanes, counter).await;
}

async fn apply(services: &Api<TracedService>, tasks: &Api<EvaluationTask>, sizes: Sizes, op: &Op) {
    let pp = PostParams::default();
    let merge = PatchParams::default();
    let result = match op {
        Op::CreateService(i) => services
            .create(&pp, &service(&service_name(*i), "edit-0", true))
            .await
            .map(drop),
        Op::CreateTask(j) => tasks
            .create(
                &pp,
                &task(&task_name(*j), &service_name(*j % sizes.services), 5),
            )
            .await
            .map(drop),
        Op::EditService(i, edit) => {
            let (value, enforce, _) = final_edit(*edit);
            let patch = json!({"spec": {"env": [{"name": "EDIT", "value": value}],
                "network": {"enforce": enforce, "internetAccess": true}}});
            services
                .patch(&service_name(*i), &merge, &Patch::Merge(&patch))
                .await
                .map(drop)
        }
        Op::EditTask(j, edit) => {
            let (_, _, minutes) = final_edit(*edit);
            let patch = json!({"spec": {"schedule": schedule(minutes)}});
            tasks
                .patch(&task_name(*j), &merge, &Patch::Merge(&patch))
                .await
                .map(drop)
        }
        Op::DeleteService(i) => services
            .delete(&service_name(*i), &DeleteParams::background())
            .await
            .map(drop),
    };
    result.unwrap_or_else(|e| panic!("{op:?}: {e}"));
}
