//! Unit tests of the EvaluationTask controller's pure parts: phases and
//! conditions, events, run failures and the metrics collector.

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::core::DeserializeGuard;
use kube::runtime::events::EventType;
use kube::runtime::{reflector, watcher};

use super::apply::{Applied, latest_failures};
use super::conditions::{Observation, assess, merge};
use super::metrics::EvaluationMetrics;
use super::status::transition;
use crate::api::EvaluationTask;
use crate::api::evaluationtask::progress::list_hash;
use crate::api::evaluationtask::{
    EvaluationConditionReason as Reason, EvaluationConditionType as Type, EvaluationPhase,
    EvaluationTaskStatus, Scores, TraceCounts, TraceListProgress,
};
use crate::api::tracedservice::ConditionStatus;
use crate::operator::metrics::Registry;
use crate::resources::evaluationtask::{ValidatedTask, validate};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn task(mode: &str) -> EvaluationTask {
    let spec = match mode {
        "online" => serde_json::json!({
            "sampling": {"start": at(0).to_string(), "end": at(3600).to_string(),
                         "policy": {"probability": {"ratio": 0.5}}}
        }),
        _ => serde_json::json!({"traceIDs": ["0af7651916cd43dd8448eb211c80319c"]}),
    };
    let mut spec = spec;
    spec["target"] = serde_json::json!({"tracedService": "app"});
    spec["judge"] = serde_json::json!({"provider": "qwen-max"});
    spec["extraction"] = serde_json::json!({
        "query": {"spanName": "LLM", "jsonPathInSpan": "attributes.input.value"},
        "answer": {"spanName": "LLM", "jsonPathInSpan": "attributes.output.value"}
    });
    serde_json::from_value(serde_json::json!({
        "apiVersion": "traceval.dev/v1alpha1", "kind": "EvaluationTask",
        "metadata": {"name": "qa", "namespace": "ns", "uid": "uid-1", "generation": 3},
        "spec": spec
    }))
    .unwrap()
}

fn validated(task: &EvaluationTask) -> ValidatedTask {
    validate(task).unwrap()
}

fn applied() -> Applied {
    Applied {
        cronjob: Some("qa-eval".into()),
        ..Applied::default()
    }
}

fn reasons(assessed: &super::conditions::Assessment) -> Vec<(Type, ConditionStatus, Reason)> {
    assessed
        .conditions
        .iter()
        .map(|(t, s, r, _)| (*t, *s, *r))
        .collect()
}

#[test]
fn online_phases_follow_the_window_the_watermark_and_suspend() {
    use ConditionStatus::{False, True};
    let raw = task("online");
    let t = validated(&raw);
    let none = EvaluationTaskStatus::default();
    let a = applied();
    let observed = Observation::Applied(&a);
    let before = assess(Some(&t), &none, &observed, at(-10));
    assert_eq!(before.phase, EvaluationPhase::Pending);
    assert_eq!(
        reasons(&before)[1],
        (Type::Completed, False, Reason::WaitingForWindow)
    );
    let running = assess(Some(&t), &none, &observed, at(10));
    assert_eq!(running.phase, EvaluationPhase::Running);
    assert_eq!(
        reasons(&running),
        [
            (Type::Ready, True, Reason::Scheduled),
            (Type::Completed, False, Reason::InProgress),
            (Type::Degraded, False, Reason::AsExpected)
        ]
    );
    let mut stopped = t.clone();
    stopped.suspend = true;
    assert_eq!(
        assess(Some(&stopped), &none, &observed, at(10)).phase,
        EvaluationPhase::Stopped
    );
    // The watermark at the end is not past it; one microsecond later it is.
    let mut status = EvaluationTaskStatus {
        watermark: Some(MicroTime(at(3600))),
        ..EvaluationTaskStatus::default()
    };
    assert_eq!(
        assess(Some(&t), &status, &observed, at(9000)).phase,
        EvaluationPhase::Running
    );
    status.watermark = Some(MicroTime(at(3600) + SignedDuration::from_micros(1)));
    let done = assess(Some(&t), &status, &observed, at(9000));
    assert_eq!(done.phase, EvaluationPhase::Completed);
    assert_eq!(
        reasons(&done)[1],
        (Type::Completed, True, Reason::SamplingEnded)
    );
    assert!(super::conditions::completed(&t, &status));
}

#[test]
fn failures_make_the_task_failed_with_the_reason() {
    let raw = task("online");
    let t = validated(&raw);
    let none = EvaluationTaskStatus::default();
    for (observation, reason) in [
        (
            Observation::TargetNotFound("gone".into()),
            Reason::TargetNotFound,
        ),
        (
            Observation::JudgeSecretMissing("no key".into()),
            Reason::JudgeSecretMissing,
        ),
        (Observation::InvalidSpec("bad".into()), Reason::InvalidSpec),
        (Observation::ApplyFailed("422".into()), Reason::ApplyFailed),
    ] {
        let assessed = assess(Some(&t), &none, &observation, at(10));
        assert_eq!(assessed.phase, EvaluationPhase::Failed);
        assert_eq!(
            reasons(&assessed)[2],
            (Type::Degraded, ConditionStatus::True, reason)
        );
    }
    let failing = Applied {
        failing: Some("evaluation Job qa-eval-1 failed: BackoffLimitExceeded".into()),
        ..applied()
    };
    let assessed = assess(Some(&t), &none, &Observation::Applied(&failing), at(10));
    assert_eq!(assessed.phase, EvaluationPhase::Failed);
    assert_eq!(assessed.conditions[2].2, Reason::RunsFailing);
    assert!(assessed.conditions[2].3.contains("BackoffLimitExceeded"));
}

#[test]
fn single_traces_complete_when_the_listed_traces_are_done() {
    let raw = task("single");
    let t = validated(&raw);
    let job = Applied {
        job: Some("qa-1234".into()),
        job_started: true,
        ..Applied::default()
    };
    let observed = Observation::Applied(&job);
    let list = vec!["0af7651916cd43dd8448eb211c80319c".to_owned()];
    let mut status = EvaluationTaskStatus::default();
    assert_eq!(
        assess(Some(&t), &status, &observed, at(0)).phase,
        EvaluationPhase::Running
    );
    status.trace_list_progress = Some(TraceListProgress {
        list_hash: "another list".into(),
        done: 1,
    });
    assert_eq!(
        assess(Some(&t), &status, &observed, at(0)).phase,
        EvaluationPhase::Running
    );
    status.trace_list_progress = Some(TraceListProgress {
        list_hash: list_hash(&list),
        done: 1,
    });
    let done = assess(Some(&t), &status, &observed, at(0));
    assert_eq!(done.phase, EvaluationPhase::Completed);
    assert_eq!(done.conditions[0].2, Reason::TracesDone);
}

#[test]
fn transition_times_move_only_on_flips_and_phase_changes_are_events() {
    let raw = task("online");
    let t = validated(&raw);
    let a = applied();
    let none = EvaluationTaskStatus::default();
    let running = assess(Some(&t), &none, &Observation::Applied(&a), at(10));
    let first = merge(&[], &running, Some(3), at(10));
    let again = merge(&first, &running, Some(3), at(20));
    assert_eq!(first, again, "nothing flipped: times kept");
    let failed = assess(
        Some(&t),
        &none,
        &Observation::TargetNotFound("gone".into()),
        at(30),
    );
    let later = merge(&first, &failed, Some(3), at(30));
    assert_eq!(later[2].last_transition_time, Time(at(30)));

    let before = EvaluationTaskStatus {
        phase: Some(EvaluationPhase::Running),
        conditions: first,
        ..EvaluationTaskStatus::default()
    };
    let after = EvaluationTaskStatus {
        phase: Some(EvaluationPhase::Failed),
        conditions: later,
        ..EvaluationTaskStatus::default()
    };
    assert!(transition(&before, &before).is_none());
    let event = transition(&before, &after).unwrap();
    assert_eq!(event.type_, EventType::Warning);
    assert_eq!(event.reason, "TargetNotFound");
}

fn job(minute: i64, failed: bool) -> Job {
    let mut job = Job::default();
    job.metadata.name = Some(format!("qa-eval-{minute}"));
    job.metadata.creation_timestamp = Some(Time(at(minute * 60)));
    job.status = Some(JobStatus {
        conditions: Some(vec![JobCondition {
            type_: if failed { "Failed" } else { "Complete" }.into(),
            status: "True".into(),
            reason: Some("BackoffLimitExceeded".into()),
            ..JobCondition::default()
        }]),
        ..JobStatus::default()
    });
    job
}

#[test]
fn three_failed_runs_in_a_row_are_failing() {
    assert!(
        latest_failures(vec![job(1, true), job(2, true), job(3, true)])
            .unwrap()
            .contains("qa-eval-3")
    );
    assert_eq!(
        latest_failures(vec![job(1, true), job(2, true), job(3, false)]),
        None
    );
    assert_eq!(
        latest_failures(vec![job(1, false), job(2, true), job(3, true)]),
        None
    );
    assert!(
        latest_failures(vec![
            job(1, false),
            job(2, true),
            job(3, true),
            job(4, true)
        ])
        .is_some()
    );
    assert_eq!(latest_failures(vec![job(1, true), job(2, true)]), None);
}

#[test]
fn gauges_come_from_the_status_of_cached_tasks() {
    let (reader, mut writer) = reflector::store::<DeserializeGuard<EvaluationTask>>();
    let mut raw = task("online");
    raw.status = Some(EvaluationTaskStatus {
        phase: Some(EvaluationPhase::Running),
        averages: Some(Scores {
            correctness: Some(0.75),
            ..Scores::default()
        }),
        counts: Some(TraceCounts {
            sampled: 4,
            evaluated: 4,
            failed: 0,
            skipped: 2,
            ..TraceCounts::default()
        }),
        ..EvaluationTaskStatus::default()
    });
    writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(raw))));
    let gauges = std::sync::Arc::new(EvaluationMetrics::new());
    gauges.watch(reader);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(gauges.clone()));
    let text = registry.encode();
    for line in [
        r#"traceval_evaluation_score{namespace="ns",task="qa",metric="correctness"} 0.75"#,
        r#"traceval_evaluation_traces_total{namespace="ns",task="qa",outcome="skipped"} 2"#,
        r#"traceval_evaluation_phase{namespace="ns",task="qa",phase="Running"} 1"#,
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
    assert!(
        !text.contains("metric=\"faithfulness\""),
        "absent metrics have no series"
    );
}
