//! One round: traces posted to Jaeger, an online EvaluationTask, and runs of
//! `traceval evaluate` (the CronJob's command line, with the task
//! ServiceAccount's token) under judge faults, a trace-store outage and
//! kills, until the task completes; then the ledger is checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::Api;
use serde_json::{Value, json};
use traceval::api::evaluationtask::{EvaluationPhase, EvaluationTaskStatus};

use super::figures::Round;
use super::proxy::CutProxy;
use crate::evaluationtask_support::task::{
    counts, create_task, example_extraction, judge, phase, status,
};
use crate::evaluationtask_support::{
    jaeger_trace_ids, pod_command, post_traces, sample_trace, spawn,
};
use crate::support::procs::standin;
use crate::support::{DEADLINE, poll};

/// Traces per round (at most the 20 recent results status keeps, so every
/// recorded trace can be checked by ID).
pub const TRACES: i64 = 12;
/// Runs after which a round that has not completed fails.
const MAX_RUNS: u64 = 12;
/// Longest single run.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// What a round shares with the others.
pub struct Env<'a> {
    pub client: &'a Client,
    pub namespace: &'a str,
    pub venv: &'a Path,
    pub dir: &'a Path,
    pub proxy: &'a CutProxy,
}

/// The first trace of each round makes the judge answer 500 every time, so
/// it must end failed with a reason (the others are answered in between).
const POISONED: &str = "JUDGE_FAULT=500";

/// The traces of a round: ID → start.
async fn post_round_traces(service: &str, base: Timestamp) -> BTreeMap<String, Timestamp> {
    let mut posted = BTreeMap::new();
    for k in 0..TRACES {
        let id = format!("{:032x}", fastrand::u128(..));
        let start = base + SignedDuration::from_secs(k * 10);
        let marker = if k == 0 { POISONED } else { "" };
        let question = format!("capital of china, take {k} {marker}");
        post_traces(&sample_trace(&id, service, start, &question)).await;
        posted.insert(id, start);
    }
    poll(&format!("{TRACES} traces in Jaeger"), DEADLINE, || async {
        (jaeger_trace_ids(service).await.len() >= TRACES as usize).then_some(())
    })
    .await;
    posted
}

async fn cronjob_pod(client: &Client, namespace: &str, task: &str) -> PodSpec {
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), namespace);
    let cronjob = poll("the CronJob", DEADLINE, || async {
        cronjobs
            .get_opt(&format!("{task}-eval"))
            .await
            .ok()
            .flatten()
    })
    .await;
    cronjob
        .spec
        .and_then(|s| s.job_template.spec)
        .and_then(|s| s.template.spec)
        .expect("the CronJob's pod spec")
}

fn recorded_ids(status: &EvaluationTaskStatus) -> Vec<String> {
    status
        .recent_results
        .iter()
        .map(|r| r.trace_id.clone())
        .collect()
}

/// Watches the task's status while the round runs: no snapshot may show the
/// watermark past a trace it has not recorded, or a trace counted twice.
struct Watcher {
    stop: Arc<AtomicBool>,
    snapshots: Arc<AtomicU64>,
    violations: Arc<std::sync::Mutex<Vec<String>>>,
    handle: tokio::task::JoinHandle<()>,
}

impl Watcher {
    fn start(
        client: &Client,
        namespace: &str,
        task: &str,
        posted: &BTreeMap<String, Timestamp>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let snapshots = Arc::new(AtomicU64::new(0));
        let violations = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (client, namespace, task, posted) = (
            client.clone(),
            namespace.to_owned(),
            task.to_owned(),
            posted.clone(),
        );
        let (s, n, v) = (stop.clone(), snapshots.clone(), violations.clone());
        let handle = tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(100));
            while !s.load(Ordering::SeqCst) {
                interval.tick().await;
                let snapshot = status(&client, &namespace, &task).await;
                n.fetch_add(1, Ordering::SeqCst);
                let problems = check_snapshot(&snapshot, &posted);
                if !problems.is_empty() {
                    v.lock().expect("lock").extend(problems);
                }
            }
        });
        Self {
            stop,
            snapshots,
            violations,
            handle,
        }
    }

    async fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.await.expect("status watcher");
        let violations = self.violations.lock().expect("lock").clone();
        (self.snapshots.load(Ordering::SeqCst), violations)
    }
}

/// The invariants one status snapshot must hold.
fn check_snapshot(
    status: &EvaluationTaskStatus,
    posted: &BTreeMap<String, Timestamp>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let ids = recorded_ids(status);
    let distinct: BTreeSet<&String> = ids.iter().collect();
    if distinct.len() != ids.len() {
        problems.push(format!("a trace recorded twice: {ids:?}"));
    }
    let (sampled, evaluated, failed, _) = counts(status);
    if sampled != ids.len() as u64 || evaluated + failed != sampled {
        problems.push(format!(
            "counts {:?} do not match {} recorded results",
            counts(status),
            ids.len()
        ));
    }
    if let Some(watermark) = status.watermark.as_ref().map(|w| w.0) {
        for (id, start) in posted {
            if *start < watermark && !distinct.contains(id) {
                problems.push(format!(
                    "the watermark {watermark} passed trace {id} (started {start}) unrecorded"
                ));
            }
        }
    }
    problems
}

/// Waits for a run to exit; whether it succeeded.
async fn wait(child: &mut Child) -> bool {
    poll("an evaluation run to end", RUN_DEADLINE, || {
        let exited = child.try_wait().expect("try_wait").map(|s| s.success());
        std::future::ready(exited)
    })
    .await
}

/// Runs one round with `seed`; its figures. Panics on a lost, doubly
/// counted or reasonless trace, or a watermark that passed an unrecorded one.
pub async fn round(env: &Env<'_>, number: u64, seed: u64) -> Round {
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed);
    let task = format!("round-{number}");
    let service = format!("rel-{number}-{}", env.namespace);
    // Whole seconds, so the sampling end is exact at the watermark's microseconds.
    let base = Timestamp::from_second(Timestamp::now().as_second() - 600).expect("base time");
    let posted = post_round_traces(&service, base).await;

    let seed_arg = seed.to_string();
    let (judge_proc, judge_url) = standin(
        env.venv,
        env.dir,
        &[
            "--seed",
            &seed_arg,
            "--latency-ms",
            "150",
            "--fault-rate-429",
            "0.1",
            "--retry-after",
            "1",
            "--fault-rate-500",
            "0.08",
            "--fault-rate-timeout",
            "0.05",
            "--hang-s",
            "3",
            "--fault-rate-malformed",
            "0.05",
            "--fault-rate-truncated",
            "0.05",
            "--fault-rate-nonjson",
            "0.05",
        ],
    );
    let spec = json!({
        "target": {"serviceName": service},
        "judge": judge(&format!("{judge_url}/v1"), json!({
            "timeoutSeconds": 1, "maxRetries": 3, "maxConcurrency": 2
        })),
        "extraction": example_extraction(),
        "delay": "1s",
        "sampling": {
            "start": (base - SignedDuration::from_mins(5)).to_string(),
            "end": (base + SignedDuration::from_mins(5)).to_string(),
            "policy": {"probability": {"ratio": 1.0}}
        }
    });
    create_task(env.client, env.namespace, &task, spec).await;
    let pod = cronjob_pod(env.client, env.namespace, &task).await;
    let watcher = Watcher::start(env.client, env.namespace, &task, &posted);

    let mut figures = Round {
        round: number,
        seed,
        traces: TRACES as u64,
        ..Round::default()
    };
    let end = base + SignedDuration::from_mins(5);
    // Run 1 and 3 are killed, run 2 loses the trace store for a while, then
    // runs go on undisturbed until the window is done.
    loop {
        let done = {
            let s = status(env.client, env.namespace, &task).await;
            s.watermark.is_some_and(|w| w.0 > end)
        };
        if done {
            break;
        }
        assert!(
            figures.runs < MAX_RUNS,
            "round {number} (seed {seed}): not done after {MAX_RUNS} runs"
        );
        figures.runs += 1;
        let name = format!("round-{number}-run-{}", figures.runs);
        let command = pod_command(env.client, env.namespace, &pod, env.dir).await;
        match figures.runs {
            1 | 3 => {
                let mut child = spawn(command, env.dir, &name);
                // The kill point is the fault: a random moment of the run,
                // from start-up through planning and judging to its end.
                tokio::time::sleep(Duration::from_millis(rng.u64(200..4000))).await;
                if child.try_wait().expect("try_wait").is_none() {
                    child.kill().expect("SIGKILL");
                    figures.killed += 1;
                }
                let _ = child.wait();
            }
            2 => {
                figures.store_outages += 1;
                env.proxy.set_cut(true);
                let mut child = spawn(command, env.dir, &name);
                // The outage's length is the fault, not a wait for an event.
                tokio::time::sleep(Duration::from_millis(rng.u64(300..2500))).await;
                env.proxy.set_cut(false);
                if !wait(&mut child).await {
                    figures.runs_failed += 1;
                }
            }
            _ => {
                let mut child = spawn(command, env.dir, &name);
                if !wait(&mut child).await {
                    figures.runs_failed += 1;
                }
            }
        }
    }
    let done = phase(env.client, env.namespace, &task, EvaluationPhase::Completed).await;
    let (snapshots, violations) = watcher.finish().await;
    figures.status_snapshots = snapshots;
    figures.watermark_violations = violations.len() as u64;
    figures.store_refused = env.proxy.refused();

    let stats: Value = reqwest::get(format!("{judge_url}/stats"))
        .await
        .expect("stand-in stats")
        .json()
        .await
        .expect("stats JSON");
    drop(judge_proc);
    figures.judge_requests = stats["judge"].as_u64().unwrap_or(0);
    figures.judge_faults = stats["by_fault"].clone();

    let (sampled, evaluated, failed, _) = counts(&done);
    figures.sampled = sampled;
    figures.evaluated = evaluated;
    figures.failed = failed;
    let ids = recorded_ids(&done);
    let distinct: BTreeSet<String> = ids.iter().cloned().collect();
    let wanted: BTreeSet<String> = posted.keys().cloned().collect();
    figures.lost = wanted.difference(&distinct).count() as u64;
    figures.double_counted =
        (ids.len() - distinct.len()) as u64 + sampled.saturating_sub(TRACES as u64);
    figures.seconds = started.elapsed().as_secs_f64();
    eprintln!("round {number}: {}", figures.json());

    assert!(
        violations.is_empty(),
        "round {number} (seed {seed}): {violations:#?}"
    );
    assert_eq!(
        distinct, wanted,
        "round {number} (seed {seed}): every trace recorded"
    );
    assert_eq!(figures.lost, 0, "round {number}: lost traces");
    assert_eq!(figures.double_counted, 0, "round {number}: double counted");
    assert_eq!(sampled, TRACES as u64, "round {number}: sampled count");
    assert_eq!(evaluated + failed, sampled, "round {number}");
    let poisoned = done
        .recent_results
        .iter()
        .find(|r| posted.get(&r.trace_id) == Some(&base))
        .expect("the poisoned trace's result");
    let reason = poisoned.error.as_deref().unwrap_or_default();
    assert!(
        reason.contains("500"),
        "round {number}: the trace the judge always fails on is failed with the reason: {reason:?}"
    );
    for result in &done.recent_results {
        let reason = result.error.as_deref().unwrap_or_default();
        let scored = result.scores.correctness.is_some();
        assert!(
            scored || !reason.is_empty(),
            "round {number}: trace {} neither scored nor failed with a reason",
            result.trace_id
        );
    }
    assert!(
        figures
            .judge_faults
            .as_object()
            .is_some_and(|m| !m.is_empty()),
        "round {number}: the judge injected no faults: {stats}"
    );
    figures
}
