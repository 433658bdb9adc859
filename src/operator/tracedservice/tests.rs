//! Status logic tests: conditions from Deployment states, transition times,
//! events.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use k8s_openapi::jiff::Timestamp;

use super::conditions::{Observation, Rollout, assess, merge};
use super::status::{desired_status, trace_ui_link, transitions};
use crate::api::tracedservice::{ConditionReason, ConditionStatus, ConditionType, Phase};
use crate::resources::tracedservice::tests::{children, fixture, validated};

fn deployment(desired: i32, updated: i32, available: i32, total: i32) -> Deployment {
    let mut d = children("opentelemetry").deployment;
    d.metadata.generation = Some(2);
    if let Some(spec) = d.spec.as_mut() {
        spec.replicas = Some(desired);
    }
    d.status = Some(DeploymentStatus {
        observed_generation: Some(2),
        replicas: Some(total),
        updated_replicas: Some(updated),
        ready_replicas: Some(available),
        available_replicas: Some(available),
        ..DeploymentStatus::default()
    });
    d
}

fn condition(
    observation: &Observation<'_>,
    t: ConditionType,
) -> (ConditionStatus, ConditionReason) {
    let assessed = assess(observation);
    let (_, status, reason, _) = assessed
        .conditions
        .iter()
        .find(|(ty, ..)| *ty == t)
        .cloned()
        .expect("condition");
    (status, reason)
}

#[test]
fn complete_rollout_is_ready() {
    let d = deployment(2, 2, 2, 2);
    let obs = Observation::Applied(&d);
    assert_eq!(
        condition(&obs, ConditionType::Ready),
        (ConditionStatus::True, ConditionReason::Available)
    );
    assert_eq!(
        condition(&obs, ConditionType::Progressing).0,
        ConditionStatus::False
    );
    assert_eq!(
        condition(&obs, ConditionType::Degraded).0,
        ConditionStatus::False
    );
    assert_eq!(assess(&obs).phase, Phase::Running);
}

#[test]
fn rollout_with_old_pods_left_is_progressing() {
    let d = deployment(2, 2, 2, 3);
    let obs = Observation::Applied(&d);
    assert_eq!(
        condition(&obs, ConditionType::Ready).0,
        ConditionStatus::False
    );
    assert_eq!(
        condition(&obs, ConditionType::Progressing),
        (ConditionStatus::True, ConditionReason::RolloutInProgress)
    );
    assert_eq!(assess(&obs).phase, Phase::Progressing);
}

#[test]
fn unobserved_generation_is_not_ready() {
    let mut d = deployment(1, 1, 1, 1);
    d.metadata.generation = Some(3);
    assert!(!Rollout::of(&d).complete);
}

#[test]
fn progress_deadline_exceeded_is_degraded() {
    let mut d = deployment(1, 1, 0, 1);
    if let Some(status) = d.status.as_mut() {
        status.conditions = Some(vec![DeploymentCondition {
            type_: "Progressing".into(),
            status: "False".into(),
            reason: Some("ProgressDeadlineExceeded".into()),
            message: Some("ReplicaSet has timed out progressing.".into()),
            ..DeploymentCondition::default()
        }]);
    }
    let obs = Observation::Applied(&d);
    assert_eq!(
        condition(&obs, ConditionType::Degraded),
        (ConditionStatus::True, ConditionReason::RolloutFailed)
    );
    assert_eq!(assess(&obs).phase, Phase::Degraded);
}

#[test]
fn invalid_spec_is_degraded_and_not_ready() {
    let obs = Observation::InvalidSpec("port must be between 1 and 65535".into());
    assert_eq!(
        condition(&obs, ConditionType::Degraded),
        (ConditionStatus::True, ConditionReason::InvalidSpec)
    );
    assert_eq!(
        condition(&obs, ConditionType::Ready).0,
        ConditionStatus::False
    );
}

#[test]
fn transition_time_moves_only_when_status_flips() {
    let t0 = Timestamp::from_second(1_000).expect("t0");
    let t1 = Timestamp::from_second(2_000).expect("t1");
    let progressing = deployment(1, 0, 0, 0);
    let first = merge(
        &[],
        &assess(&Observation::Applied(&progressing)),
        Some(1),
        t0,
    );
    assert!(first.iter().all(|c| c.last_transition_time.0 == t0));
    let ready = deployment(1, 1, 1, 1);
    let second = merge(&first, &assess(&Observation::Applied(&ready)), Some(1), t1);
    let time = |t: ConditionType| {
        second
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| c.last_transition_time.0)
            .expect("condition")
    };
    assert_eq!(time(ConditionType::Ready), t1, "False -> True");
    assert_eq!(time(ConditionType::Progressing), t1, "True -> False");
    assert_eq!(
        time(ConditionType::Degraded),
        t0,
        "False -> False keeps its time"
    );
    assert!(second.iter().all(|c| c.observed_generation == Some(1)));
}

#[test]
fn status_reports_url_command_replicas_and_link() {
    let ts = fixture("opentelemetry");
    let svc = validated("opentelemetry");
    let d = deployment(1, 1, 1, 1);
    let now = Timestamp::from_second(1_000).expect("now");
    let status = desired_status(
        &ts,
        Some(&svc),
        &Observation::Applied(&d),
        Some("http://jaeger.example.com/search?service={service}&ns={namespace}"),
        now,
    );
    assert_eq!(
        status.url.as_deref(),
        Some("http://otel-demo.llm.svc.cluster.local:8000")
    );
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.phase, Some(Phase::Running));
    assert_eq!(status.replica_summary.as_deref(), Some("1/1"));
    assert!(
        status
            .start_command
            .as_deref()
            .is_some_and(|c| c.starts_with(
                "opentelemetry-bootstrap -a install && opentelemetry-instrument python app.py"
            ))
    );
    assert_eq!(
        status.trace_ui_link.as_deref(),
        Some("http://jaeger.example.com/search?service=otel-demo&ns=llm")
    );
    assert_eq!(
        status.probe,
        Some(crate::api::tracedservice::Probe::OpenTelemetry)
    );
}

#[test]
fn events_on_ready_and_degraded_transitions() {
    let ts = fixture("opentelemetry");
    let svc = validated("opentelemetry");
    let now = Timestamp::from_second(1_000).expect("now");
    let d = deployment(1, 1, 1, 1);
    let ready = desired_status(&ts, Some(&svc), &Observation::Applied(&d), None, now);
    let events = transitions(&Default::default(), &ready);
    assert_eq!(
        events.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
        ["Ready"]
    );
    assert!(
        transitions(&ready, &ready).is_empty(),
        "no event without a change"
    );
    let invalid = desired_status(
        &ts,
        None,
        &Observation::InvalidSpec("bad".into()),
        None,
        now,
    );
    let events = transitions(&ready, &invalid);
    assert_eq!(
        events.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
        ["InvalidSpec"]
    );
}

#[test]
fn trace_ui_link_encodes_values() {
    assert_eq!(
        trace_ui_link("http://ui/?s={service}", "my service&x", "ns", "n"),
        "http://ui/?s=my+service%26x"
    );
}
