//! Evaluation runs against the real local control plane and Jaeger: a run
//! killed mid-way and its rerun record every sampled trace exactly once, and
//! a run whose judge cannot be reached records nothing and fails, so the
//! next run starts where it did.
//!
//! The traces are the seed's sample-app trace (a real export, in
//! `tests/fixtures/traces/sample-app-trace.json`) re-identified and posted
//! to Jaeger's OTLP/HTTP endpoint: faster than driving the app (which
//! `evaluationtask_cluster` does), same spans. Each run is the CronJob's
//! command line run locally with the evaluation ServiceAccount's token.
// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../evaluate_standin/mod.rs"]
mod evaluate_standin;
#[path = "../evaluationtask_support/mod.rs"]
mod evaluationtask_support;
#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use evaluate_standin::{Faults, JudgeStandIn};
use evaluationtask_support::task::*;
use evaluationtask_support::*;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::Api;
use serde_json::{Value, json};
use support::operator::install_crds;
use support::{DEADLINE, TempNamespace, client, poll};
use traceval::api::evaluationtask::EvaluationPhase;

/// Posts `n` sample-app traces of `service`, ten seconds apart from `base`; their IDs.
async fn post_sample_traces(service: &str, base: Timestamp, n: i64) -> BTreeSet<String> {
    let mut posted = BTreeSet::new();
    for k in 0..n {
        let id = format!("{:032x}", fastrand::u128(..));
        let question = format!("capital of china, take {k}");
        let start = base + SignedDuration::from_secs(k * 10);
        post_traces(&sample_trace(&id, service, start, &question)).await;
        posted.insert(id);
    }
    poll(&format!("{n} traces in Jaeger"), DEADLINE, || async {
        (jaeger_trace_ids(service).await.len() >= n as usize).then_some(())
    })
    .await;
    posted
}

/// An online task over `[base - 5m, base + 5m]` and its CronJob's pod.
async fn online_task(
    client: &Client,
    namespace: &str,
    name: &str,
    service: &str,
    base: Timestamp,
    judge: Value,
) -> PodSpec {
    let spec = json!({
        "target": {"serviceName": service},
        "judge": judge,
        "extraction": example_extraction(),
        "delay": "1s",
        "sampling": {
            "start": (base - SignedDuration::from_mins(5)).to_string(),
            "end": (base + SignedDuration::from_mins(5)).to_string(),
            "policy": {"probability": {"ratio": 1.0}}
        }
    });
    create_task(client, namespace, name, spec).await;
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), namespace);
    let cronjob = poll("the CronJob", DEADLINE, || async {
        cronjobs
            .get_opt(&format!("{name}-eval"))
            .await
            .ok()
            .flatten()
    })
    .await;
    cronjob
        .spec
        .unwrap()
        .job_template
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_and_its_rerun_record_every_sampled_trace_once() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "evaltask-kill").await;
    let dir = workdir("kill");
    create_secret(&client, &ns.name, SECRET, TOKEN_KEY, &token_value()).await;
    let slow = Faults {
        delay: Some(Duration::from_millis(600)),
        ..Faults::default()
    };
    let judge_standin = JudgeStandIn::start(slow).await;
    let _operator = EvalOperator::start(&client, &ns.name, options());

    // Eight traces of the sample app (its real trace, re-identified), posted
    // over OTLP/HTTP: faster than driving the app, same spans.
    let service = format!("kill-{}", ns.name);
    let base = Timestamp::now() - SignedDuration::from_mins(10);
    let mut posted = BTreeSet::new();
    for k in 0..8i64 {
        let id = format!("{:032x}", fastrand::u128(..));
        let question = format!("capital of china, take {k}");
        post_traces(&sample_trace(
            &id,
            &service,
            base + SignedDuration::from_secs(k * 10),
            &question,
        ))
        .await;
        posted.insert(id);
    }
    let judge = judge(&judge_standin.url, json!({"maxConcurrency": 1}));
    let pod = online_task(&client, &ns.name, "kill", &service, base, judge).await;

    let mut first = spawn(
        pod_command(&client, &ns.name, &pod, &dir).await,
        &dir,
        "first",
    );
    poll("the first run to record 3 traces", DEADLINE, || async {
        (counts(&status(&client, &ns.name, "kill").await).1 >= 3).then_some(())
    })
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let recorded = counts(&status(&client, &ns.name, "kill").await).1;
    assert!(recorded < 8, "killed mid-way ({recorded} recorded)");

    let second = run(pod_command(&client, &ns.name, &pod, &dir).await).await;
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let results = lines(&second.stdout);
    assert_eq!(
        results.len() as u64 - 1,
        8 - recorded,
        "the rerun evaluates exactly what was not recorded"
    );

    let done = phase(&client, &ns.name, "kill", EvaluationPhase::Completed).await;
    assert_eq!(
        counts(&done),
        (8, 8, 0, 0),
        "every sampled trace exactly once"
    );
    let ids: Vec<String> = done
        .recent_results
        .iter()
        .map(|r| r.trace_id.clone())
        .collect();
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), posted);
    assert_eq!(ids.len(), 8, "no trace twice");
    let asked: BTreeSet<String> = judge_standin
        .seen()
        .iter()
        .map(|s| s.question.clone())
        .collect();
    assert_eq!(asked.len(), 8, "every trace reached the judge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_its_judge_records_nothing_and_the_next_run_does_it_all() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "evaltask-nojudge").await;
    let dir = workdir("nojudge");
    create_secret(&client, &ns.name, SECRET, TOKEN_KEY, &token_value()).await;
    let _operator = EvalOperator::start(&client, &ns.name, options());
    let service = format!("nojudge-{}", ns.name);
    let base = Timestamp::now() - SignedDuration::from_mins(10);
    let posted = post_sample_traces(&service, base, 3).await;
    // Nothing listens on port 9 of loopback: every request fails at once.
    let down = judge("http://127.0.0.1:9/v1", json!({"maxRetries": 0}));
    let pod = online_task(&client, &ns.name, "nojudge", &service, base, down).await;

    let failed = run(pod_command(&client, &ns.name, &pod, &dir).await).await;
    assert_eq!(
        failed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    let after = status(&client, &ns.name, "nojudge").await;
    assert_eq!(counts(&after), (0, 0, 0, 0), "nothing recorded");
    let watermark = after.watermark.map(|w| w.0);
    assert!(
        watermark.is_none_or(|w| w <= base),
        "the watermark did not pass a trace: {watermark:?}"
    );
    let result = after.last_run_result.unwrap();
    assert!(
        result.starts_with("stopped: the judge could not be reached"),
        "{result}"
    );

    // The judge is back (here: the run is pointed at one that answers).
    let judge_standin = JudgeStandIn::start(Faults::default()).await;
    let mut command = pod_command(&client, &ns.name, &pod, &dir).await;
    command.args(["--judge-url", &judge_standin.url]);
    let ok = run(command).await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let done = phase(&client, &ns.name, "nojudge", EvaluationPhase::Completed).await;
    assert_eq!(counts(&done), (3, 3, 0, 0));
    let ids: BTreeSet<String> = done
        .recent_results
        .iter()
        .map(|r| r.trace_id.clone())
        .collect();
    assert_eq!(ids, posted);
}
