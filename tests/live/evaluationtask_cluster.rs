//! EvaluationTask against the real local control plane (`tests/cluster/up`)
//! and Jaeger: the seed's two evaluation methods end to end.
//!
//! kwok runs no containers, so each evaluation run is the evaluation pod's
//! exact command line (from the CronJob or Job the operator applied) run
//! locally with the pod's ServiceAccount token from the TokenRequest API.
//! The judge is the in-process stand-in of `evaluate_standin` (correct when
//! the answer holds the fact the question asks for: "capital of china" →
//! "Beijing"); the sample app's LLM is `tests/cluster/llm_standin.py`, which
//! answers "The capital of China is Beijing." and "Stand-in answer to: ..."
//! otherwise.
// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../evaluate_standin/mod.rs"]
mod evaluate_standin;
#[path = "../evaluationtask_support/mod.rs"]
mod evaluationtask_support;
#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeSet;

use evaluate_standin::{Faults, JudgeStandIn};
use evaluationtask_support::app::SampleApp;
use evaluationtask_support::task::*;
use evaluationtask_support::*;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::operator::install_crds;
use support::{DEADLINE, TempNamespace, client, poll};
use traceval::api::evaluationtask::EvaluationPhase;
use traceval::api::{EvaluationTask, TracedService};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_batch_over_the_sample_app_fills_status_and_completes() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "evaltask-online").await;
    let dir = workdir("online");
    let token = token_value();
    create_secret(&client, &ns.name, SECRET, TOKEN_KEY, &token).await;
    let judge_standin = JudgeStandIn::start(Faults::default()).await;
    let operator = EvalOperator::start(&client, &ns.name, options());

    // The target: a TracedService whose traces go to the local Jaeger.
    let service = format!("sample-app-{}", ns.name);
    let services: Api<TracedService> = Api::namespaced(client.clone(), &ns.name);
    let ts: TracedService = serde_json::from_value(json!({
        "apiVersion": "traceval.dev/v1alpha1", "kind": "TracedService",
        "metadata": {"name": "sample-app"},
        "spec": {"image": "python:3.11-slim", "command": ["python", "/mnt/data/app.py"],
                 "tracing": {"probe": "opentelemetry", "endpoint": otlp_endpoint(), "serviceName": service}}
    }))
    .unwrap();
    services.create(&PostParams::default(), &ts).await.unwrap();

    let start = Timestamp::now() - SignedDuration::from_mins(1);
    let far = Timestamp::now() + SignedDuration::from_hours(1);
    let spec = json!({
        "target": {"tracedService": "sample-app"},
        "judge": judge(&judge_standin.url, json!({})),
        "extraction": example_extraction(),
        "schedule": "*/5 * * * *",
        "delay": "1s",
        "sampling": {"start": start.to_string(), "end": far.to_string(), "policy": {"probability": {"ratio": 1.0}}}
    });
    create_task(&client, &ns.name, "qa", spec).await;

    // The CronJob: right command, service account and env.
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), &ns.name);
    let cronjob = poll("the CronJob", DEADLINE, || async {
        cronjobs.get_opt("qa-eval").await.ok().flatten()
    })
    .await;
    let cron_spec = cronjob.spec.clone().unwrap();
    assert_eq!(cron_spec.concurrency_policy.as_deref(), Some("Forbid"));
    assert_eq!(cron_spec.schedule, "*/5 * * * *");
    assert!(
        cron_spec.starting_deadline_seconds.is_some()
            && cron_spec.failed_jobs_history_limit.is_some()
    );
    let pod = cron_spec.job_template.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("qa-evaluator"));
    let container = &pod.containers[0];
    assert_eq!(
        container.command.clone().unwrap(),
        [
            "traceval",
            "evaluate",
            "--namespace",
            &ns.name,
            "--name",
            "qa",
            "--jaeger-url",
            &jaeger_query()
        ]
    );
    let env = container.env.clone().unwrap();
    let token_env = env
        .iter()
        .find(|e| e.name == "TRACEVAL_JUDGE_TOKEN")
        .unwrap();
    assert_eq!(token_env.value, None);
    assert_eq!(
        token_env
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap()
            .name,
        SECRET
    );
    phase(&client, &ns.name, "qa", EvaluationPhase::Running).await;

    // Traffic, first part: one right answer, one wrong.
    let app = SampleApp::start(&service, &dir).await;
    assert_eq!(
        app.ask("capital of china").await,
        "The capital of China is Beijing."
    );
    assert_eq!(
        app.ask("capital of france").await,
        "Stand-in answer to: capital of france"
    );
    let sent = Timestamp::now();
    poll("2 traces in Jaeger", DEADLINE, || async {
        (jaeger_trace_ids(&service).await.len() >= 2).then_some(())
    })
    .await;
    poll("the delay to pass", DEADLINE, || async {
        (Timestamp::now() > sent + SignedDuration::from_millis(1500)).then_some(())
    })
    .await;
    let mut outputs = Vec::new();
    let first = run(pod_command(&client, &ns.name, &pod, &dir).await).await;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let after_first = status(&client, &ns.name, "qa").await;
    assert_eq!(counts(&after_first), (2, 2, 0, 0));
    assert_eq!(
        after_first.averages.as_ref().unwrap().correctness,
        Some(0.5)
    );
    assert_eq!(
        after_first.phase,
        Some(EvaluationPhase::Running),
        "the operator's phase survives the evaluator's writes"
    );
    assert!(after_first.watermark.is_some());
    outputs.push(first);

    // Second part, then the window is closed by an edit (the next run uses it).
    app.ask("capital of china").await;
    app.ask("what is the capital of china?").await;
    poll("4 traces in Jaeger", DEADLINE, || async {
        (jaeger_trace_ids(&service).await.len() >= 4).then_some(())
    })
    .await;
    let end = Timestamp::now();
    let tasks: Api<EvaluationTask> = Api::namespaced(client.clone(), &ns.name);
    tasks
        .patch(
            "qa",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"sampling": {"end": end.to_string()}}})),
        )
        .await
        .unwrap();
    poll("the delay to pass the end", DEADLINE, || async {
        (Timestamp::now() > end + SignedDuration::from_millis(1500)).then_some(())
    })
    .await;
    let second = run(pod_command(&client, &ns.name, &pod, &dir).await).await;
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(
        lines(&second.stdout).len(),
        3,
        "two results and the summary"
    );
    outputs.push(second);

    // Completed: every trace up to the end is done, the CronJob is suspended.
    let done = phase(&client, &ns.name, "qa", EvaluationPhase::Completed).await;
    assert_eq!(counts(&done), (4, 4, 0, 0));
    assert_eq!(done.averages.as_ref().unwrap().correctness, Some(0.75));
    assert_eq!(done.metric_counts.as_ref().unwrap().correctness, 4);
    assert!(
        done.averages.as_ref().unwrap().faithfulness.is_none(),
        "no contexts: absent, not 0"
    );
    assert!(done.judge_usage.as_ref().unwrap().total_tokens >= 4 * 120);
    let ids: BTreeSet<String> = done
        .recent_results
        .iter()
        .map(|r| r.trace_id.clone())
        .collect();
    assert_eq!(ids.len(), 4, "each trace once");
    let link = done.recent_results[0].link.clone().unwrap();
    assert_eq!(
        link,
        format!(
            "{}/trace/{}",
            jaeger_query(),
            done.recent_results[0].trace_id
        )
    );
    let performance = done.performance.clone().unwrap();
    assert_eq!(
        (performance.requests, performance.errors),
        (2, 0),
        "the last run's window"
    );
    assert!(performance.p50_latency_ms.unwrap() > 0.0 && performance.p95_latency_ms.is_some());
    let totals = done.performance_totals.clone().unwrap();
    assert_eq!(totals.requests, 4);
    assert!(
        totals.prompt_tokens > 0 && totals.completion_tokens > 0,
        "{totals:?}"
    );
    poll("the CronJob to be suspended", DEADLINE, || async {
        let c = cronjobs.get("qa-eval").await.ok()?;
        (c.spec?.suspend == Some(true)).then_some(())
    })
    .await;

    // Nothing more runs: a run after the end changes no result.
    let third = run(pod_command(&client, &ns.name, &pod, &dir).await).await;
    assert!(
        third.status.success(),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
    let after = status(&client, &ns.name, "qa").await;
    assert_eq!(counts(&after), (4, 4, 0, 0));
    assert_eq!(after.recent_results, done.recent_results);
    outputs.push(third);

    // kubectl shows the columns.
    let (header, rows) = kubectl_get_evaltasks(&ns.name);
    assert_eq!(
        header,
        "NAME TARGET PHASE EVALUATED CORRECTNESS FAITHFULNESS NDCG LAST RUN AGE"
    );
    assert!(
        rows[0].starts_with("qa sample-app Completed 4 0.75 "),
        "{rows:?}"
    );

    // Prometheus gauges from status.
    let scrape = operator.scrape();
    let gauge = format!(
        "traceval_evaluation_score{{namespace=\"{}\",task=\"qa\",metric=\"correctness\"}} 0.75",
        ns.name
    );
    assert!(scrape.contains(&gauge), "{scrape}");
    assert!(
        scrape.contains("traceval_evaluationtask_reconciles_total{outcome=\"Success\"}"),
        "{scrape}"
    );

    // Evaluation spans, in the evaluated traces, through the TracedService's OTLP endpoint.
    let evaluated = &done.recent_results[0].trace_id;
    let span = poll("the evaluation span in Jaeger", DEADLINE, || async {
        let doc = jaeger_trace(evaluated).await?;
        spans_of_service(&doc, "traceval-evaluator")
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(span["traceId"], json!(evaluated));
    assert!(span["parentSpanId"].as_str().is_some_and(|p| !p.is_empty()));
    assert!(
        span["attributes"]
            .to_string()
            .contains("traceval.score.correctness")
    );

    // The token never shows: status, events, logs.
    assert_no_token(
        "the status",
        &serde_json::to_string(&after).unwrap(),
        &token,
    );
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let events = events.list(&ListParams::default()).await.unwrap();
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("SamplingEnded")),
        "a Completed event"
    );
    assert_no_token(
        "events",
        &serde_json::to_string(&events.items).unwrap(),
        &token,
    );
    for (i, out) in outputs.iter().enumerate() {
        assert_no_token(
            &format!("run {i}'s stdout"),
            &String::from_utf8_lossy(&out.stdout),
            &token,
        );
        assert_no_token(
            &format!("run {i}'s log"),
            &String::from_utf8_lossy(&out.stderr),
            &token,
        );
    }
    assert!(
        judge_standin
            .seen()
            .iter()
            .all(|s| s.authorization.as_deref() == Some(&*format!("Bearer {token}"))),
        "the pod's secretKeyRef token reached the judge"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_trace_task_runs_one_job_and_shows_its_scores() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "evaltask-single").await;
    let dir = workdir("single");
    create_secret(&client, &ns.name, SECRET, TOKEN_KEY, &token_value()).await;
    let judge_standin = JudgeStandIn::start(Faults::default()).await;
    let _operator = EvalOperator::start(&client, &ns.name, options());

    let service = format!("single-{}", ns.name);
    let trace_id = format!("{:032x}", fastrand::u128(..));
    let started = Timestamp::now() - SignedDuration::from_mins(2);
    post_traces(&sample_trace(
        &trace_id,
        &service,
        started,
        "capital of china",
    ))
    .await;
    poll("the trace in Jaeger", DEADLINE, || async {
        jaeger_trace(&trace_id).await.map(drop)
    })
    .await;

    let spec = json!({
        "target": {"serviceName": service},
        "judge": judge(&judge_standin.url, json!({})),
        "extraction": example_extraction(),
        "traceIDs": [trace_id.to_uppercase()],
    });
    create_task(&client, &ns.name, "one", spec).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    let selector = "traceval.dev/evaluationtask=one";
    let job = poll("the Job", DEADLINE, || async {
        jobs.list(&ListParams::default().labels(selector))
            .await
            .ok()?
            .items
            .into_iter()
            .next()
    })
    .await;
    let pod = job.spec.clone().unwrap().template.spec.unwrap();
    assert_eq!(
        pod.containers[0].command.clone().unwrap()[..6],
        [
            "traceval",
            "evaluate",
            "--namespace",
            &ns.name,
            "--name",
            "one"
        ]
    );
    let out = run(pod_command(&client, &ns.name, &pod, &dir).await).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let done = phase(&client, &ns.name, "one", EvaluationPhase::Completed).await;
    assert_eq!(counts(&done), (1, 1, 0, 0));
    let result = &done.recent_results[0];
    assert_eq!(result.trace_id, trace_id);
    assert_eq!(result.scores.correctness, Some(1.0));
    assert_eq!(
        result.link.clone().unwrap(),
        format!("{}/trace/{trace_id}", jaeger_query())
    );
    let jobs_now = jobs
        .list(&ListParams::default().labels(selector))
        .await
        .unwrap()
        .items;
    assert_eq!(
        jobs_now.iter().map(|j| j.name_any()).collect::<Vec<_>>(),
        [job.name_any()],
        "one Job"
    );
    // A rerun of the Job's command finds every listed trace done.
    let again = run(pod_command(&client, &ns.name, &pod, &dir).await).await;
    assert!(again.status.success());
    assert_eq!(
        counts(&status(&client, &ns.name, "one").await),
        (1, 1, 0, 0)
    );
}
