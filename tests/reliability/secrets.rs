//! Reliability suite (issue 8, item 9): secrets never leak.
//!
//! One run with all four secret kinds — the judge token, the DashScope API
//! key, the ARMS license key and OSS credentials (a CSI and a sync mount) —
//! holding distinctive random values: the operator as a process with
//! `RUST_LOG=trace`, a TracedService and two EvaluationTasks (a CronJob and a
//! Job) reconciled, and both evaluations run as their pods would run them,
//! also at trace level. Then everything the run produced is searched for the
//! values (as is and base64-encoded): the operator's, evaluators' and judge's
//! logs, every status, every Event in the namespace and every rendered object
//! (Deployments, ReplicaSets, Pods, CronJobs, Jobs, PVs, PVCs, ...), and
//! every sensitive variable of every pod spec must be a `secretKeyRef`.
// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../evaluationtask_support/mod.rs"]
mod evaluationtask_support;
#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::Command;

use base64::Engine;
use evaluationtask_support::task::{
    SECRET, TOKEN_KEY, create_task, example_extraction, judge, phase,
};
use evaluationtask_support::{
    BIN, create_secret, jaeger_query, pod_command, post_traces, run, sample_trace, workdir,
};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use support::operator::install_crds;
use support::procs::{Proc, free_port, standin, venv};
use support::{DEADLINE, TempNamespace, client, poll};
use traceval::api::TracedService;
use traceval::api::evaluationtask::EvaluationPhase;

/// Env variables that carry a secret, wherever they appear in a pod spec.
const SENSITIVE: [&str; 5] = [
    "TRACEVAL_JUDGE_TOKEN",
    "DASHSCOPE_API_KEY",
    "ARMS_LICENSE_KEY",
    "RCLONE_CONFIG_OSS_ACCESS_KEY_ID",
    "RCLONE_CONFIG_OSS_SECRET_ACCESS_KEY",
];

fn distinctive(kind: &str) -> String {
    format!("tvleak{kind}{:016x}", fastrand::u64(..))
}

async fn secret(client: &kube::Client, ns: &str, name: &str, data: &[(&str, &str)]) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let data: BTreeMap<&str, &str> = data.iter().copied().collect();
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

/// `kubectl get KINDS -o yaml` in `ns` (or cluster-wide with a selector).
fn kubectl_yaml(args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("get")
        .args(args)
        .args(["-o", "yaml"])
        .output()
        .expect("kubectl (on PATH after tests/cluster/up)");
    assert!(
        out.status.success(),
        "kubectl get {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every `env` entry under `value` (any depth): (name, entry).
fn env_entries<'a>(value: &'a Value, out: &mut Vec<(&'a str, &'a Value)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(env)) = map.get("env") {
                for entry in env {
                    out.push((entry["name"].as_str().unwrap_or_default(), entry));
                }
            }
            map.values().for_each(|v| env_entries(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| env_entries(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_value_appears_in_logs_status_events_or_rendered_objects() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "rel-secrets").await;
    let dir = workdir("reliability-secrets");
    let values: BTreeMap<&str, String> = [
        ("judge token", distinctive("judge")),
        ("DashScope API key", distinctive("dashscope")),
        ("ARMS license key", distinctive("arms")),
        ("OSS AccessKey ID", distinctive("ossid")),
        ("OSS AccessKey secret", distinctive("osssecret")),
    ]
    .into();
    create_secret(&client, &ns.name, SECRET, TOKEN_KEY, &values["judge token"]).await;
    create_secret(
        &client,
        &ns.name,
        "dashscope",
        "apiKey",
        &values["DashScope API key"],
    )
    .await;
    create_secret(
        &client,
        &ns.name,
        "arms",
        "licenseKey",
        &values["ARMS license key"],
    )
    .await;
    secret(
        &client,
        &ns.name,
        "oss-credentials",
        &[
            ("akId", &values["OSS AccessKey ID"]),
            ("akSecret", &values["OSS AccessKey secret"]),
        ],
    )
    .await;

    // The operator as a process, logging at every level.
    let mut operator = Command::new(BIN);
    operator
        .args(["operator", "--namespace", &ns.name])
        .args(["--http-addr", &format!("127.0.0.1:{}", free_port())])
        .args(["--trace-query-url", &jaeger_query()])
        .args(["--evaluator-image", "traceval:test"])
        .env("RUST_LOG", "trace");
    let operator = Proc::spawn(operator, dir.join("operator.log"));

    let services: Api<TracedService> = Api::namespaced(client.clone(), &ns.name);
    let ts: TracedService = serde_json::from_value(json!({
        "apiVersion": "traceval.dev/v1alpha1", "kind": "TracedService",
        "metadata": {"name": "app"},
        "spec": {
            "image": "python:3.11-slim",
            "command": ["python", "/mnt/data/app.py"],
            "pythonPackages": ["flask", "dashscope"],
            "env": [{"name": "DASHSCOPE_API_KEY",
                     "valueFrom": {"secretKeyRef": {"name": "dashscope", "key": "apiKey"}}}],
            "mounts": [
                {"mountPath": "/mnt/data/", "readOnly": true,
                 "oss": {"bucket": "data-bucket", "path": "/apps/", "mode": "csi",
                         "endpoint": "oss-cn-hangzhou-internal.aliyuncs.com",
                         "credentialsSecretRef": {"name": "oss-credentials"}}},
                {"mountPath": "/mnt/code",
                 "oss": {"bucket": "code-bucket", "path": "/code/", "mode": "sync",
                         "endpoint": "https://s3.example.com",
                         "credentialsSecretRef": {"name": "oss-credentials"}}}
            ],
            "tracing": {"probe": "arms",
                        "arms": {"regionId": "cn-hangzhou",
                                 "licenseKeySecretRef": {"name": "arms", "key": "licenseKey"}}}
        }
    }))
    .unwrap();
    services.create(&PostParams::default(), &ts).await.unwrap();

    // A trace to evaluate, and the judge stand-in (it never logs headers).
    let service = format!("secrets-{}", ns.name);
    let trace_id = format!("{:032x}", fastrand::u128(..));
    let base = Timestamp::from_second(Timestamp::now().as_second() - 600).unwrap();
    post_traces(&sample_trace(&trace_id, &service, base, "capital of china")).await;
    let venv = venv();
    let (judge_proc, judge_url) = standin(&venv, &dir, &[]);
    let judge = judge(&format!("{judge_url}/v1"), json!({}));
    let window = json!({
        "start": (base - SignedDuration::from_mins(5)).to_string(),
        "end": (base + SignedDuration::from_mins(5)).to_string(),
        "policy": {"probability": {"ratio": 1.0}}
    });
    let target = json!({"serviceName": service});
    let extraction = example_extraction();
    let online = json!({"target": target, "judge": judge, "extraction": extraction,
                        "delay": "1s", "sampling": window});
    let single = json!({"target": target, "judge": judge, "extraction": extraction,
                        "traceIDs": [trace_id]});
    create_task(&client, &ns.name, "online", online).await;
    create_task(&client, &ns.name, "single", single).await;

    // The pods Kubernetes makes of them (kwok runs no containers).
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    poll("the app's pod and the Job's pod", DEADLINE, || async {
        let items = pods.list(&ListParams::default()).await.ok()?.items;
        let owned_by = |kind: &str| {
            items.iter().any(|p| {
                p.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.kind == kind)
            })
        };
        (owned_by("ReplicaSet") && owned_by("Job")).then_some(())
    })
    .await;

    // Both evaluations as their pods run them, at trace level.
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), &ns.name);
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    let cronjob_pod = poll("the CronJob", DEADLINE, || async {
        cronjobs.get_opt("online-eval").await.ok().flatten()
    })
    .await
    .spec
    .and_then(|s| s.job_template.spec)
    .and_then(|s| s.template.spec)
    .expect("CronJob pod spec");
    let job = jobs
        .list(&ListParams::default().labels("traceval.dev/evaluationtask=single"))
        .await
        .unwrap()
        .items;
    let job_pod = job
        .first()
        .and_then(|j| j.spec.clone())
        .and_then(|s| s.template.spec)
        .expect("the single task's Job");
    let mut produced: Vec<(String, String)> = Vec::new();
    for (name, pod) in [("online", &cronjob_pod), ("single", &job_pod)] {
        let mut command = pod_command(&client, &ns.name, pod, &dir).await;
        command.env("RUST_LOG", "trace");
        let out = run(command).await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{name}: {stderr}");
        produced.push((
            format!("{name} evaluator stdout"),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ));
        produced.push((format!("{name} evaluator log"), stderr));
    }
    phase(&client, &ns.name, "online", EvaluationPhase::Completed).await;
    phase(&client, &ns.name, "single", EvaluationPhase::Completed).await;
    drop(judge_proc);
    drop(operator);
    produced.push((
        "operator log".to_owned(),
        std::fs::read_to_string(dir.join("operator.log")).unwrap(),
    ));
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("standin"))
        {
            produced.push((
                "judge stand-in log".into(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }

    // Every object of the namespace (statuses and Events included) and the PVs.
    let kinds = "deployments,replicasets,pods,services,networkpolicies,cronjobs,jobs,\
                 persistentvolumeclaims,serviceaccounts,roles,rolebindings,configmaps,\
                 events,tracedservices,evaluationtasks";
    let listed = [
        ("namespace objects", kubectl_yaml(&[kinds, "-n", &ns.name])),
        ("PersistentVolumes", kubectl_yaml(&["persistentvolumes"])),
    ];
    let mut objects = 0;
    let mut events = 0;
    let mut env: Vec<(String, Value)> = Vec::new();
    let mut csi_secret_refs = 0;
    for (what, yaml) in &listed {
        let list: Value = serde_yaml::from_str(yaml).unwrap();
        let items = list["items"].as_array().cloned().unwrap_or_default();
        objects += items.len();
        events += items.iter().filter(|i| i["kind"] == "Event").count();
        let mut entries = Vec::new();
        env_entries(&list, &mut entries);
        env.extend(entries.into_iter().map(|(n, e)| (n.to_owned(), e.clone())));
        csi_secret_refs += items
            .iter()
            .filter(|i| i["spec"]["csi"]["nodePublishSecretRef"]["name"] == "oss-credentials")
            .count();
        produced.push(((*what).to_owned(), yaml.clone()));
    }

    let b64 = base64::engine::general_purpose::STANDARD;
    // The control: the scan finds the values where they are meant to be.
    let stored = kubectl_yaml(&["secrets", "-n", &ns.name]);
    for (kind, value) in &values {
        assert!(
            stored.contains(&b64.encode(value)),
            "the scan misses the {kind} in its Secret"
        );
    }
    let mut bytes = 0;
    for (what, text) in &produced {
        bytes += text.len();
        for (kind, value) in &values {
            assert!(
                !text.contains(value.as_str()),
                "the {kind} appears in the {what}"
            );
            let encoded = b64.encode(value);
            assert!(
                !text.contains(&encoded),
                "the {kind} (base64) appears in the {what}"
            );
        }
    }

    // Every sensitive variable is a secretKeyRef, never a value.
    let mut references: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, entry) in &env {
        if let Some(sensitive) = SENSITIVE.iter().find(|s| *s == name) {
            assert!(
                entry.get("value").is_none(),
                "{name} has a literal value: {entry}"
            );
            assert!(
                entry["valueFrom"]["secretKeyRef"]["name"].is_string(),
                "{name} is not a secretKeyRef: {entry}"
            );
            *references.entry(sensitive).or_default() += 1;
        }
    }
    for name in SENSITIVE {
        assert!(
            references.get(name).is_some_and(|n| *n > 0),
            "no {name} reference in any pod spec: {references:?}"
        );
    }
    assert!(
        csi_secret_refs > 0,
        "the OSS CSI volume takes its credentials by secret reference"
    );
    assert!(events > 0, "the run produced Events");
    let operator_lines = produced
        .iter()
        .find(|(w, _)| w == "operator log")
        .map_or(0, |(_, t)| {
            t.lines().filter(|l| l.contains("TRACE")).count()
        });
    assert!(operator_lines > 0, "the operator logged at trace level");
    eprintln!(
        "secrets: {} values x 2 encodings, {} sources, {bytes} bytes scanned, {objects} objects \
         ({events} Events), {} env entries checked, secretKeyRefs {references:?}, \
         {csi_secret_refs} CSI secret refs, {operator_lines} operator TRACE lines",
        values.len(),
        produced.len(),
        env.len()
    );
}
