//! Builder tests fed from the examples users start from.

use std::path::PathBuf;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::*;
use crate::api::EvaluationTask;
use crate::api::evaluationtask::JudgeProvider;

fn example(file: &str) -> EvaluationTask {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut task: EvaluationTask =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    task.metadata.namespace = Some("team-a".into());
    task.metadata.uid = Some("uid-1".into());
    task
}

fn validated(file: &str) -> ValidatedTask {
    validate(&example(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn options() -> EvaluationOptions {
    EvaluationOptions {
        image: "registry.example/traceval:1".into(),
        trace_query_url: Some("http://jaeger:16686".into()),
        otlp_endpoint: None,
        ..EvaluationOptions::default()
    }
}

fn cronjob_of(children: &EvaluationChildren) -> &CronJob {
    match &children.workload {
        Workload::CronJob(c) => c,
        Workload::Job(_) => panic!("expected a CronJob"),
    }
}

fn job_of(children: &EvaluationChildren) -> &Job {
    match &children.workload {
        Workload::Job(j) => j,
        Workload::CronJob(_) => panic!("expected a Job"),
    }
}

fn cron_pod(cronjob: &CronJob) -> &PodSpec {
    let spec = cronjob.spec.as_ref().unwrap();
    spec.job_template
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
}

fn container(pod: &PodSpec) -> &Container {
    &pod.containers[0]
}

#[test]
fn online_task_gets_a_forbid_cronjob_running_the_in_cluster_evaluator() {
    let task = validated("evaluationtask-online.yaml");
    let children = build(&task, false, &options());
    let cronjob = cronjob_of(&children);
    assert_eq!(
        cronjob.metadata.name.as_deref(),
        Some("sample-app-online-eval")
    );
    assert_eq!(cronjob.metadata.namespace.as_deref(), Some("team-a"));
    let owner = &cronjob.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("EvaluationTask", "uid-1")
    );
    assert_eq!(owner.controller, Some(true));
    let spec = cronjob.spec.as_ref().unwrap();
    assert_eq!(spec.schedule, "*/10 * * * *");
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    assert_eq!(spec.suspend, Some(false));
    assert_eq!(spec.starting_deadline_seconds, Some(300));
    assert_eq!(spec.successful_jobs_history_limit, Some(3));
    assert_eq!(spec.failed_jobs_history_limit, Some(3));
    let pod = cron_pod(cronjob);
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("sample-app-online-evaluator")
    );
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let c = container(pod);
    assert_eq!(c.image.as_deref(), Some("registry.example/traceval:1"));
    // The spec names its trace store, so the operator's default is not passed.
    assert_eq!(
        c.command.as_deref().unwrap(),
        [
            "traceval",
            "evaluate",
            "--namespace",
            "team-a",
            "--name",
            "sample-app-online"
        ]
    );
    let token = c
        .env
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.name == "TRACEVAL_JUDGE_TOKEN")
        .unwrap();
    assert_eq!(token.value, None, "the token is never a literal value");
    let secret = token
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (secret.name.as_str(), secret.key.as_str()),
        ("judge-token", "token")
    );
}

#[test]
fn evaluator_gets_a_writable_tmp_under_its_read_only_root() {
    let online = build(&validated("evaluationtask-online.yaml"), false, &options());
    let single = build(&validated("evaluationtask-single.yaml"), false, &options());
    let job = job_of(&single);
    let job_pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    for (what, pod) in [("CronJob", cron_pod(cronjob_of(&online))), ("Job", job_pod)] {
        let c = container(pod);
        let read_only = c
            .security_context
            .as_ref()
            .unwrap()
            .read_only_root_filesystem;
        assert_eq!(read_only, Some(true), "{what}: read-only root");
        let mount = c
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path == "/tmp")
            .unwrap_or_else(|| panic!("{what}: no /tmp mount in {:?}", c.volume_mounts));
        assert_ne!(mount.read_only, Some(true), "{what}: /tmp is writable");
        let volume = pod
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == mount.name)
            .unwrap_or_else(|| panic!("{what}: no volume {} in {:?}", mount.name, pod.volumes));
        assert!(volume.empty_dir.is_some(), "{what}: /tmp is an emptyDir");
    }
}

#[test]
fn stopped_or_completed_tasks_suspend_the_cronjob() {
    let mut task = validated("evaluationtask-online.yaml");
    let suspended = |t: &ValidatedTask, completed| {
        cronjob_of(&build(t, completed, &options()))
            .spec
            .as_ref()
            .unwrap()
            .suspend
    };
    assert_eq!(suspended(&task, true), Some(true));
    task.suspend = true;
    assert_eq!(suspended(&task, false), Some(true));
}

#[test]
fn default_trace_store_and_otlp_endpoint_are_passed_on_the_command_line() {
    let mut raw = example("evaluationtask-online.yaml");
    raw.spec.trace_source = None;
    raw.spec.schedule = None;
    let task = validate(&raw).unwrap();
    let mut opts = options();
    opts.otlp_endpoint = Some("http://collector:4318".into());
    let children = build(&task, false, &opts);
    let cronjob = cronjob_of(&children);
    assert_eq!(
        cronjob.spec.as_ref().unwrap().schedule,
        validate::DEFAULT_SCHEDULE
    );
    assert_eq!(
        container(cron_pod(cronjob)).command.as_deref().unwrap()[6..],
        [
            "--jaeger-url",
            "http://jaeger:16686",
            "--otlp-endpoint",
            "http://collector:4318"
        ]
    );
}

#[test]
fn a_judge_without_provider_takes_the_operators_default_preset() {
    let mut raw = example("evaluationtask-single.yaml");
    raw.spec.judge.provider = None;
    // No default: the task is invalid, and the message says how to fix it.
    let err = validate(&raw).unwrap_err();
    assert_eq!(err, InvalidTask::NoJudgeProvider);
    assert!(err.to_string().contains("--default-judge-preset"), "{err}");
    let mut opts = options();
    opts.default_judge_preset = Some(JudgeProvider::QwenMax);
    let task = validate_with(&raw, &opts).unwrap();
    assert_eq!(task.default_judge_preset, Some(JudgeProvider::QwenMax));
    let children = build(&task, false, &opts);
    let spec = job_of(&children).spec.as_ref().unwrap();
    let command = container(spec.template.spec.as_ref().unwrap())
        .command
        .clone();
    assert_eq!(
        command.unwrap()[6..],
        ["--default-judge-preset", "qwen-max"]
    );
    // A task that names its provider keeps it: the default is not passed.
    let named = validate_with(&example("evaluationtask-single.yaml"), &opts).unwrap();
    assert_eq!(named.default_judge_preset, None);
    let children = build(&named, false, &opts);
    let spec = job_of(&children).spec.as_ref().unwrap();
    assert_eq!(
        container(spec.template.spec.as_ref().unwrap())
            .command
            .as_ref()
            .unwrap()
            .len(),
        6
    );
    // The default must fit: openai-compatible needs the spec's baseURL and model.
    opts.default_judge_preset = Some(JudgeProvider::OpenAiCompatible);
    let err = validate_with(&raw, &opts).unwrap_err();
    assert!(
        matches!(
            err,
            InvalidTask::DefaultJudgePreset {
                preset: JudgeProvider::OpenAiCompatible,
                ..
            }
        ),
        "{err:?}"
    );
    raw.spec.judge.base_url = Some("http://judge.internal/v1".into());
    raw.spec.judge.model = Some("judge".into());
    assert!(validate_with(&raw, &opts).is_ok());
}

#[test]
fn default_trace_endpoint_is_passed_for_a_traced_service_target() {
    let task = validated("evaluationtask-single.yaml");
    assert!(task.traced_service.is_some());
    let mut opts = options();
    opts.default_trace_endpoint = Some("http://collector:4318".into());
    let command = |opts: &EvaluationOptions, task: &ValidatedTask| {
        let children = build(task, false, opts);
        let spec = job_of(&children).spec.clone().unwrap();
        container(spec.template.spec.as_ref().unwrap())
            .command
            .clone()
            .unwrap()
    };
    assert_eq!(
        command(&opts, &task)[6..],
        ["--default-trace-endpoint", "http://collector:4318"]
    );
    // An explicit evaluation endpoint wins over anything the target has.
    opts.otlp_endpoint = Some("http://spans:4318".into());
    assert_eq!(
        command(&opts, &task)[6..],
        ["--otlp-endpoint", "http://spans:4318"]
    );
    // Without a TracedService target there is nothing to inherit.
    opts.otlp_endpoint = None;
    let mut raw = example("evaluationtask-single.yaml");
    raw.spec.target.traced_service = None;
    raw.spec.target.service_name = Some("app".into());
    let untargeted = validate(&raw).unwrap();
    assert_eq!(command(&opts, &untargeted).len(), 6);
}

#[test]
fn single_task_gets_one_job_renamed_when_the_spec_changes() {
    let task = validated("evaluationtask-single.yaml");
    let children = build(&task, false, &options());
    let job = job_of(&children);
    let name = job.metadata.name.clone().unwrap();
    assert!(name.starts_with("sample-app-single-"), "{name}");
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.suspend, Some(false));
    assert_eq!(spec.backoff_limit, Some(2));
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(
        container(pod).command.as_deref().unwrap()[..6],
        [
            "traceval",
            "evaluate",
            "--namespace",
            "team-a",
            "--name",
            "sample-app-single"
        ]
    );
    // Suspending keeps the Job (its name does not change) ...
    let mut stopped = task.clone();
    stopped.suspend = true;
    assert_eq!(
        job_of(&build(&stopped, false, &options())).metadata.name,
        Some(name.clone())
    );
    // ... editing the trace list makes a new one.
    let mut raw = example("evaluationtask-single.yaml");
    raw.spec.trace_ids = Some(vec!["0af7651916cd43dd8448eb211c80319c".into()]);
    let edited = validate(&raw).unwrap();
    assert_ne!(
        job_of(&build(&edited, false, &options())).metadata.name,
        Some(name)
    );
}

#[test]
fn role_reads_only_its_task_and_target_and_patches_only_its_status() {
    let task = validated("evaluationtask-online.yaml");
    let children = build(&task, false, &options());
    let rules = children.role.rules.as_ref().unwrap();
    let summary: Vec<(String, String, Vec<String>)> = rules
        .iter()
        .map(|r| {
            (
                r.resources.as_ref().unwrap().join(","),
                r.verbs.join(","),
                r.resource_names.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "evaluationtasks".into(),
                "get".into(),
                vec!["sample-app-online".into()]
            ),
            (
                "evaluationtasks/status".into(),
                "patch".into(),
                vec!["sample-app-online".into()]
            ),
            (
                "tracedservices".into(),
                "get".into(),
                vec!["sample-app".into()]
            ),
        ]
    );
    let binding = &children.role_binding;
    assert_eq!(binding.role_ref.name, "sample-app-online-evaluator");
    let subject = &binding.subjects.as_ref().unwrap()[0];
    assert_eq!(
        subject.name,
        children.service_account.metadata.name.clone().unwrap()
    );
    assert_eq!(subject.namespace.as_deref(), Some("team-a"));
    for meta in [
        &children.service_account.metadata,
        &children.role.metadata,
        &binding.metadata,
    ] {
        assert_eq!(
            meta.labels.as_ref().unwrap()[EVALUATIONTASK_LABEL],
            "sample-app-online"
        );
        assert!(meta.owner_references.is_some());
    }
}

#[test]
fn invalid_tasks_are_rejected_with_the_reason() {
    let mut raw = example("evaluationtask-online.yaml");
    raw.spec.schedule = Some("every ten minutes".into());
    assert!(matches!(validate(&raw), Err(InvalidTask::Schedule(_))));
    let mut raw = example("evaluationtask-online.yaml");
    raw.spec.trace_ids = Some(vec!["f045f401d35eeab246678739cd396e40".into()]);
    assert!(matches!(validate(&raw), Err(InvalidTask::Spec(_))));
    let mut raw = example("evaluationtask-online.yaml");
    raw.metadata.uid = None;
    assert_eq!(validate(&raw), Err(InvalidTask::Metadata("uid")));
}
