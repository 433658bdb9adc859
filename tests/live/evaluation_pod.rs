//! Evaluation in pods, on the real node (issue 13, item 4): the
//! EvaluationTask controller (in-process) builds the CronJob with the image
//! of this build's `traceval` (tests/cluster/image); the real CronJob
//! controller creates a Job, whose pod runs `traceval evaluate` under the
//! `restricted` Pod Security Standard with its own projected ServiceAccount
//! token, reads the traces from the in-cluster Jaeger and asks the in-cluster
//! judge stand-in by their Service DNS names, and patches the task's status;
//! `kubectl get evaltask` shows the scores. The single-trace Job too.
//!
//! The traces are the seed's sample-app trace (a real export)
//! re-identified and posted to Jaeger over OTLP/HTTP.
// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../evaluationtask_support/mod.rs"]
mod evaluationtask_support;
#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use evaluationtask_support::task::*;
use evaluationtask_support::*;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, ListParams, LogParams, PostParams};
use serde_json::json;
use support::operator::install_crds;
use support::procs::required_env;
use support::{DEADLINE, TempNamespace, client, poll, real_node, traceval_image};
use traceval::api::evaluationtask::{
    EvaluationConditionReason, EvaluationConditionType, EvaluationTaskStatus,
};
use traceval::resources::evaluationtask::EvaluationOptions;

/// A scheduled run starts at the next full minute, then its pod starts.
const RUN_DEADLINE: Duration = Duration::from_secs(180);

/// The in-cluster Jaeger query API, by its Service DNS name.
const JAEGER_IN_CLUSTER: &str = "http://jaeger.traceval-system.svc.cluster.local:16686";

/// The evaluation pods of `task` that ran to the end, with their logs.
async fn finished_pods(client: &Client, namespace: &str, task: &str) -> Vec<(Pod, String)> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let listed = pods
        .list(&ListParams::default().labels(&format!("traceval.dev/evaluationtask={task}")))
        .await
        .unwrap();
    let mut done = Vec::new();
    for pod in listed.items {
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        if matches!(phase.as_deref(), Some("Succeeded" | "Failed")) {
            let name = pod.metadata.name.clone().unwrap();
            let log = pods
                .logs(&name, &LogParams::default())
                .await
                .unwrap_or_default();
            done.push((pod, log));
        }
    }
    done
}

async fn wait_for_status(
    client: &Client,
    namespace: &str,
    name: &str,
    what: &str,
    done: impl Fn(&EvaluationTaskStatus) -> bool,
) -> EvaluationTaskStatus {
    let started = tokio::time::Instant::now();
    loop {
        let now = status(client, namespace, name).await;
        if done(&now) {
            return now;
        }
        if started.elapsed() > RUN_DEADLINE {
            let pods = finished_pods(client, namespace, name).await;
            let logs: Vec<String> = pods.iter().map(|(_, log)| log.clone()).collect();
            panic!(
                "{name}: {what} not reached after {RUN_DEADLINE:?}; status:\n{}\nfinished pods' logs:\n{}",
                serde_json::to_string_pretty(&now).unwrap(),
                logs.join("\n---\n")
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Checks a finished evaluation pod: on the real node, succeeded, its
/// ServiceAccount token projected, no judge token in its log.
fn assert_ran_in_pod(pod: &Pod, log: &str, token: &str) {
    let spec = pod.spec.as_ref().unwrap();
    let name = pod.metadata.name.as_deref().unwrap();
    assert_eq!(
        spec.node_name.as_deref(),
        Some(real_node().as_str()),
        "{name} ran elsewhere"
    );
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Succeeded"),
        "{name} failed:\n{log}"
    );
    let projected = spec.volumes.iter().flatten().any(|v| {
        v.projected.as_ref().is_some_and(|p| {
            p.sources
                .iter()
                .flatten()
                .any(|s| s.service_account_token.is_some())
        })
    });
    assert!(projected, "{name} has no projected ServiceAccount token");
    assert!(
        spec.service_account_name
            .as_deref()
            .is_some_and(|a| a.ends_with("-evaluator")),
        "{name} runs as {:?}, not the task's evaluator ServiceAccount",
        spec.service_account_name
    );
    assert_no_token(&format!("the log of {name}"), log, token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cronjob_and_the_single_trace_job_evaluate_in_pods_on_the_real_node() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create_on_real_node(&client, "eval-pod").await;
    let token = token_value();
    create_secret(&client, &ns.name, SECRET, TOKEN_KEY, &token).await;
    let options = EvaluationOptions {
        image: traceval_image(),
        trace_query_url: Some(JAEGER_IN_CLUSTER.to_owned()),
        ..EvaluationOptions::default()
    };
    let _operator = EvalOperator::start(&client, &ns.name, options);

    let service = format!("evalpod-{}", ns.name);
    let base = Timestamp::now() - SignedDuration::from_mins(10);
    let mut posted = BTreeSet::new();
    for k in 0..3i64 {
        let id = format!("{:032x}", fastrand::u128(..));
        let start = base + SignedDuration::from_secs(k * 10);
        // The judge stand-in scores what the marker says: 1, 1, 0.
        let question = format!("capital of china EXPECT_CORRECT={}", u8::from(k < 2));
        post_traces(&sample_trace(&id, &service, start, &question)).await;
        posted.insert(id);
    }
    poll("3 traces in Jaeger", DEADLINE, || async {
        (jaeger_trace_ids(&service).await.len() >= 3).then_some(())
    })
    .await;
    let judge_url = format!("{}/v1", required_env("TRACEVAL_LLM_STANDIN_URL"));

    // Online: the CronJob, every minute, over a window that has ended.
    create_task(
        &client,
        &ns.name,
        "online",
        json!({
            "target": {"serviceName": service},
            "judge": judge(&judge_url, json!({})),
            "extraction": example_extraction(),
            "schedule": "* * * * *",
            "delay": "1s",
            "sampling": {
                "start": (base - SignedDuration::from_mins(5)).to_string(),
                "end": (base + SignedDuration::from_mins(5)).to_string(),
                "policy": {"probability": {"ratio": 1.0}}
            }
        }),
    )
    .await;
    let online = wait_for_status(&client, &ns.name, "online", "3 evaluated", |s| {
        counts(s).1 >= 3
    })
    .await;
    assert_eq!(
        counts(&online),
        (3, 3, 0, 0),
        "every trace once, none failed"
    );
    let recorded: BTreeSet<String> = online
        .recent_results
        .iter()
        .map(|r| r.trace_id.clone())
        .collect();
    assert_eq!(recorded, posted, "the pod evaluated the posted traces");
    let correctness = online.averages.as_ref().and_then(|a| a.correctness);
    assert!(
        correctness.is_some_and(|c| (c - 2.0 / 3.0).abs() < 1e-9),
        "correctness from the in-cluster judge should be (1 + 1 + 0) / 3: {:?}",
        online.averages
    );
    let pods = poll("the online run's pod to finish", DEADLINE, || async {
        let pods = finished_pods(&client, &ns.name, "online").await;
        (!pods.is_empty()).then_some(pods)
    })
    .await;
    for (pod, log) in &pods {
        assert_ran_in_pod(pod, log, &token);
        let owner = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .next()
            .unwrap();
        assert_eq!(owner.kind, "Job", "the pod belongs to a Job of the CronJob");
    }
    // The printer columns (an empty Target column collapses in the
    // whitespace split, so look for the score among the row's fields).
    let (header, rows) = kubectl_get_evaltasks(&ns.name);
    let row = rows.iter().find(|r| r.starts_with("online ")).unwrap();
    assert!(
        header.contains("CORRECTNESS")
            && row
                .split(' ')
                .filter_map(|v| v.parse::<f64>().ok())
                .any(|v| (v - 2.0 / 3.0).abs() < 1e-3),
        "kubectl get evaltask shows no correctness score: {header}\n{row}"
    );

    // The evaluator's sandbox: the CronJob's own pod template, its command
    // replaced by a check (the image has python3): `/` is read-only, `/tmp`
    // writable, the uid the declared one.
    sandbox_of_the_evaluator(&client, &ns.name, "online").await;

    // Single traces: a Job, once.
    let one = posted.iter().next().unwrap().clone();
    create_task(
        &client,
        &ns.name,
        "single",
        json!({
            "target": {"serviceName": service},
            "judge": judge(&judge_url, json!({})),
            "extraction": example_extraction(),
            "traceIDs": [one],
        }),
    )
    .await;
    let single = wait_for_status(&client, &ns.name, "single", "the trace done", |s| {
        s.trace_list_progress.as_ref().is_some_and(|p| p.done == 1)
    })
    .await;
    assert_eq!(counts(&single).1, 1, "the single trace evaluated");
    assert_eq!(single.recent_results[0].trace_id, one);
    let pods = poll("the single-trace Job's pod to finish", DEADLINE, || async {
        let pods = finished_pods(&client, &ns.name, "single").await;
        (!pods.is_empty()).then_some(pods)
    })
    .await;
    for (pod, log) in &pods {
        assert_ran_in_pod(pod, log, &token);
    }
}

/// The task's own metrics and reference answers, in the evaluation pod:
/// the dataset's ConfigMap missing holds the task at `DatasetMissing`
/// (no Job); once it exists the Job's pod mounts it, correctness is judged
/// against the reference (the stand-in scores what the reference's marker
/// says, overruling the question's `EXPECT_SCORE=1`), and the custom
/// metric's and the check's labels and explanations reach the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_metrics_and_reference_answers_evaluate_in_a_pod() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create_on_real_node(&client, "eval-metrics").await;
    let token = token_value();
    create_secret(&client, &ns.name, SECRET, TOKEN_KEY, &token).await;
    let options = EvaluationOptions {
        image: traceval_image(),
        trace_query_url: Some(JAEGER_IN_CLUSTER.to_owned()),
        ..EvaluationOptions::default()
    };
    let _operator = EvalOperator::start(&client, &ns.name, options);
    let service = format!("evalmetrics-{}", ns.name);
    let id = format!("{:032x}", fastrand::u128(..));
    let question = "capital of china EXPECT_SCORE=1";
    let start = Timestamp::now() - SignedDuration::from_mins(5);
    post_traces(&sample_trace(&id, &service, start, question)).await;
    poll("the trace in Jaeger", DEADLINE, || async {
        (!jaeger_trace_ids(&service).await.is_empty()).then_some(())
    })
    .await;
    let judge_url = format!("{}/v1", required_env("TRACEVAL_LLM_STANDIN_URL"));
    create_task(
        &client,
        &ns.name,
        "refs",
        json!({
            "target": {"serviceName": service},
            "judge": judge(&judge_url, json!({})),
            "extraction": example_extraction(),
            "traceIDs": [id],
            "metrics": {
                "faithfulness": false,
                "custom": [{
                    "name": "concise",
                    "template": "Is the answer concise? EXPECT_CONCISE=1\n{answer}",
                    "rails": [{"label": "concise", "score": 1}, {"label": "verbose", "score": 0}]
                }],
                "checks": [{"name": "namesBeijing", "regex": "Beijing"}]
            },
            "dataset": {"configMapRef": {"name": "refs", "key": "rows.jsonl"}},
            "slices": {"by": "service.name"}
        }),
    )
    .await;
    let degraded = |s: &EvaluationTaskStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == EvaluationConditionType::Degraded)
            .map(|c| (c.reason, c.message.clone()))
    };
    let (reason, message) = poll("DatasetMissing", DEADLINE, || async {
        degraded(&status(&client, &ns.name, "refs").await)
            .filter(|(r, _)| *r == EvaluationConditionReason::DatasetMissing)
    })
    .await;
    assert_eq!(reason, EvaluationConditionReason::DatasetMissing);
    assert!(message.contains("ConfigMap refs not found"), "{message}");
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    assert!(
        jobs.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "no run without its dataset"
    );

    // A row without a query: InvalidSpec naming the ConfigMap key and the line.
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let map = |rows: String| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": "refs"}, "data": {"rows.jsonl": rows}}))
            .unwrap()
    };
    let bad = format!("{}\n", json!({"reference": "Nanjing."}));
    maps.create(&PostParams::default(), &map(bad))
        .await
        .unwrap();
    let (_, message) = poll("InvalidSpec for the bad row", DEADLINE, || async {
        degraded(&status(&client, &ns.name, "refs").await)
            .filter(|(r, _)| *r == EvaluationConditionReason::InvalidSpec)
    })
    .await;
    assert!(
        message.contains("spec.dataset: ConfigMap refs key rows.jsonl: line 1: ")
            && message.contains("query"),
        "{message}"
    );
    assert!(
        jobs.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "no run with a bad dataset"
    );

    let rows = format!(
        "{}\n",
        json!({"query": question, "reference": "Nanjing. EXPECT_CORRECT=0"})
    );
    maps.replace("refs", &PostParams::default(), &map(rows))
        .await
        .unwrap();
    let done = wait_for_status(&client, &ns.name, "refs", "the trace done", |s| {
        s.trace_list_progress.as_ref().is_some_and(|p| p.done == 1)
    })
    .await;
    let counts = done.counts.clone().unwrap();
    assert_eq!(
        (
            counts.evaluated,
            counts.with_reference,
            counts.without_reference
        ),
        (1, 1, 0),
        "{counts:?}"
    );
    let result = &done.recent_results[0];
    assert_eq!(
        result.scores.correctness,
        Some(0.0),
        "judged against the reference: {result:?}"
    );
    assert_eq!(
        result.scores.custom.get("concise"),
        Some(&1.0),
        "{result:?}"
    );
    assert_eq!(
        result.scores.custom.get("namesBeijing"),
        Some(&1.0),
        "{result:?}"
    );
    let concise = &result.judgements["concise"];
    assert_eq!(concise.label.as_deref(), Some("concise"));
    assert_eq!(
        concise.explanation.as_deref(),
        Some("stand-in verdict (marker)")
    );
    assert_eq!(
        result.judgements["correctness"].label.as_deref(),
        Some("incorrect")
    );
    assert_eq!(
        result.judgements["namesBeijing"].label.as_deref(),
        Some("pass")
    );
    let averages = done.averages.clone().unwrap();
    assert_eq!(averages.custom.get("concise"), Some(&1.0));
    assert_eq!(result.slice.as_deref(), Some(service.as_str()));
    let slices = done.slices.clone().expect("status.slices");
    assert_eq!(slices.by, "service.name");
    assert_eq!(slices.values[&service].evaluated, 1, "{slices:?}");
    assert_eq!(
        slices.values[&service].averages.custom.get("concise"),
        Some(&1.0)
    );
    let pods = poll("the Job's pod to finish", DEADLINE, || async {
        let pods = finished_pods(&client, &ns.name, "refs").await;
        (!pods.is_empty()).then_some(pods)
    })
    .await;
    for (pod, log) in &pods {
        assert_ran_in_pod(pod, log, &token);
        let mounted = pod
            .spec
            .as_ref()
            .unwrap()
            .volumes
            .iter()
            .flatten()
            .any(|v| v.config_map.as_ref().is_some_and(|c| c.name == "refs"));
        assert!(mounted, "the dataset ConfigMap is a volume of the pod");
    }
}

async fn sandbox_of_the_evaluator(client: &Client, namespace: &str, task: &str) {
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), namespace);
    let cronjob = cronjobs.get(&format!("{task}-eval")).await.unwrap();
    let mut template = cronjob.spec.unwrap().job_template.spec.unwrap().template;
    let spec = template.spec.as_mut().unwrap();
    let declared = spec
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_user)
        .expect("the evaluator pod declares its uid");
    spec.containers[0].command = Some(
        [
            "python3",
            "-c",
            "import os\ntry:\n    open('/written', 'w')\n    print('root writable')\nexcept OSError:\n    print('root read-only')\nopen('/tmp/written', 'w').write('x')\nprint('tmp writable')\nprint('uid', os.getuid())",
        ]
        .map(str::to_owned)
        .to_vec(),
    );
    spec.containers[0].args = None;
    let mut pod = Pod {
        metadata: template.metadata.unwrap_or_default(),
        spec: template.spec,
        status: None,
    };
    pod.metadata.name = Some("evaluator-sandbox".to_owned());
    pod.metadata.labels.get_or_insert_default().insert(
        "traceval.dev/evaluationtask".to_owned(),
        "sandbox-check".to_owned(),
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("the evaluator's pod spec is admitted under `restricted`");
    let phase = poll("the sandbox check pod to finish", RUN_DEADLINE, || async {
        let phase = pods.get("evaluator-sandbox").await.ok()?.status?.phase?;
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    })
    .await;
    let log = pods
        .logs("evaluator-sandbox", &LogParams::default())
        .await
        .unwrap_or_default();
    assert_eq!(phase, "Succeeded", "{log}");
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["root read-only", "tmp writable", &format!("uid {declared}")],
        "inside the evaluator container"
    );
}
