//! EvaluationTask's lifecycle and the evaluation pods' permissions, against
//! the real local control plane: Failed while the target or the judge secret
//! is missing, stop and resume, drift repair, a switch of mode, garbage
//! collection on delete, and a ServiceAccount that can read only its task
//! and write only its status.
// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../evaluationtask_support/mod.rs"]
mod evaluationtask_support;
#[path = "../support/mod.rs"]
mod support;

use evaluationtask_support::task::*;
use evaluationtask_support::*;
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};
use serde_json::json;
use support::operator::install_crds;
use support::{DEADLINE, TempNamespace, client, poll};
use traceval::api::evaluationtask::{
    EvaluationConditionReason, EvaluationConditionType, EvaluationPhase,
};
use traceval::api::{EvaluationTask, TracedService};
use traceval::evaluate::cluster::status_writer::StatusWriter;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn single(judge_url: &str) -> serde_json::Value {
    json!({
        "target": {"tracedService": "app"},
        "judge": judge(judge_url, json!({})),
        "extraction": example_extraction(),
        "traceIDs": [TRACE],
    })
}

async fn traced_service(client: &Client, namespace: &str) {
    let services: Api<TracedService> = Api::namespaced(client.clone(), namespace);
    let ts: TracedService = serde_json::from_value(json!({
        "apiVersion": "traceval.dev/v1alpha1", "kind": "TracedService",
        "metadata": {"name": "app"},
        "spec": {"image": "python:3.11-slim", "command": ["python", "app.py"]}
    }))
    .unwrap();
    services.create(&PostParams::default(), &ts).await.unwrap();
}

async fn access(
    client: &Client,
    namespace: &str,
    account: &str,
    verb: &str,
    resource: &str,
    name: Option<&str>,
) -> bool {
    let (resource, subresource) = resource
        .split_once('/')
        .map_or((resource, None), |(r, s)| (r, Some(s)));
    let group = if resource.starts_with("evaluationtasks") || resource == "tracedservices" {
        "traceval.dev"
    } else {
        ""
    };
    let review: SubjectAccessReview = serde_json::from_value(json!({
        "spec": {
            "user": format!("system:serviceaccount:{namespace}:{account}"),
            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{namespace}"), "system:authenticated"],
            "resourceAttributes": {
                "namespace": namespace, "verb": verb, "group": group,
                "resource": resource, "subresource": subresource, "name": name
            }
        }
    }))
    .unwrap();
    let reviews: Api<SubjectAccessReview> = Api::all(client.clone());
    let answer = reviews
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    answer.status.unwrap().allowed
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(status)) if status.code == 403)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evaluator_account_reads_only_its_task_and_writes_only_its_status() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "evaltask-rbac").await;
    let dir = workdir("rbac");
    create_secret(&client, &ns.name, SECRET, TOKEN_KEY, &token_value()).await;
    traced_service(&client, &ns.name).await;
    let _operator = EvalOperator::start(&client, &ns.name, options());
    create_task(&client, &ns.name, "a", single("http://judge.invalid/v1")).await;
    create_task(&client, &ns.name, "b", single("http://judge.invalid/v1")).await;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns.name);
    poll("the evaluators' RoleBindings", DEADLINE, || async {
        let a = bindings.get_opt("a-evaluator").await.ok()??;
        let b = bindings.get_opt("b-evaluator").await.ok()??;
        Some((a, b))
    })
    .await;

    let ns_ = ns.name.as_str();
    let can = |verb, resource, name| access(&client, ns_, "a-evaluator", verb, resource, name);
    assert!(can("get", "evaluationtasks", Some("a")).await);
    assert!(can("patch", "evaluationtasks/status", Some("a")).await);
    assert!(can("get", "tracedservices", Some("app")).await);
    assert!(!can("get", "secrets", Some(SECRET)).await, "no Secrets");
    assert!(!can("list", "secrets", None).await, "no Secrets");
    assert!(
        !can("patch", "evaluationtasks/status", Some("b")).await,
        "not another task's status"
    );
    assert!(
        !can("get", "evaluationtasks", Some("b")).await,
        "not another task"
    );
    assert!(
        !can("patch", "evaluationtasks", Some("a")).await,
        "not its own spec"
    );
    assert!(!can("list", "evaluationtasks", None).await);

    // The same with the account's real token: 403 from the API server.
    let token = service_account_token(&client, &ns.name, "a-evaluator").await;
    let kubeconfig = Kubeconfig::read_from(kubeconfig_with_token(&dir, &token)).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    let evaluator = Client::try_from(config).unwrap();
    let secrets: Api<Secret> = Api::namespaced(evaluator.clone(), &ns.name);
    assert!(
        forbidden(secrets.get(SECRET).await),
        "reading the judge Secret"
    );
    let status = json!({"lastRunResult": "written by a's evaluator"});
    let other = StatusWriter::new(evaluator.clone(), &ns.name, "b");
    let written: Result<(), kube::Error> = other
        .write(&serde_json::from_value(status.clone()).unwrap())
        .await;
    assert!(forbidden(written), "patching b's status");
    let own = StatusWriter::new(evaluator.clone(), &ns.name, "a");
    own.write(&serde_json::from_value(status).unwrap())
        .await
        .expect("its own status");
    let tasks: Api<EvaluationTask> = Api::namespaced(evaluator, &ns.name);
    assert!(tasks.get("a").await.is_ok());
    assert!(forbidden(tasks.get("b").await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_stop_resume_drift_mode_switch_and_delete() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "evaltask-life").await;
    let _operator = EvalOperator::start(&client, &ns.name, options());
    let tasks: Api<EvaluationTask> = Api::namespaced(client.clone(), &ns.name);
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), &ns.name);
    let reason = |status: &traceval::api::evaluationtask::EvaluationTaskStatus| {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == EvaluationConditionType::Degraded)
            .map(|c| c.reason)
    };

    let spec = json!({
        "target": {"tracedService": "app"},
        "judge": judge("http://judge.invalid/v1", json!({})),
        "extraction": example_extraction(),
        "sampling": {
            "start": (Timestamp::now() - SignedDuration::from_hours(1)).to_string(),
            "end": (Timestamp::now() + SignedDuration::from_hours(1)).to_string(),
            "policy": {"timeWindow": {"minutes": 5}}
        }
    });
    create_task(&client, &ns.name, "life", spec).await;
    let failed = phase(&client, &ns.name, "life", EvaluationPhase::Failed).await;
    assert_eq!(
        reason(&failed),
        Some(EvaluationConditionReason::TargetNotFound)
    );
    traced_service(&client, &ns.name).await;
    let failed = poll("JudgeSecretMissing", DEADLINE, || async {
        let status = tasks.get("life").await.ok()?.status?;
        (reason(&status) == Some(EvaluationConditionReason::JudgeSecretMissing)).then_some(status)
    })
    .await;
    assert_eq!(failed.phase, Some(EvaluationPhase::Failed));
    assert!(
        cronjobs.get_opt("life-eval").await.unwrap().is_none(),
        "no runs without a judge token"
    );
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let warned = events.list(&ListParams::default()).await.unwrap().items;
    assert!(
        warned.iter().any(|e| e.type_.as_deref() == Some("Warning")
            && e.reason.as_deref() == Some("TargetNotFound"))
    );
    create_secret(&client, &ns.name, SECRET, TOKEN_KEY, &token_value()).await;
    phase(&client, &ns.name, "life", EvaluationPhase::Running).await;
    let cronjob = cronjobs.get("life-eval").await.unwrap();
    assert_eq!(
        cronjob.spec.as_ref().unwrap().schedule,
        "*/10 * * * *",
        "the default schedule"
    );

    // Stop and resume: the CronJob follows `suspend`.
    for (suspend, want) in [
        (true, EvaluationPhase::Stopped),
        (false, EvaluationPhase::Running),
    ] {
        let patch = Patch::Merge(json!({"spec": {"suspend": suspend}}));
        tasks
            .patch("life", &PatchParams::default(), &patch)
            .await
            .unwrap();
        phase(&client, &ns.name, "life", want).await;
        let cronjob = cronjobs.get("life-eval").await.unwrap();
        assert_eq!(cronjob.spec.unwrap().suspend, Some(suspend));
    }

    // Drift: an edited CronJob is put back, a deleted one recreated.
    let edit = json!({"spec": {"schedule": "0 0 * * *"}});
    cronjobs
        .patch("life-eval", &PatchParams::default(), &Patch::Merge(edit))
        .await
        .unwrap();
    poll("the schedule to be repaired", DEADLINE, || async {
        (cronjobs.get("life-eval").await.ok()?.spec?.schedule == "*/10 * * * *").then_some(())
    })
    .await;
    let uid = cronjobs.get("life-eval").await.unwrap().uid();
    cronjobs
        .delete("life-eval", &DeleteParams::default())
        .await
        .unwrap();
    poll("the CronJob to be recreated", DEADLINE, || async {
        let c = cronjobs.get_opt("life-eval").await.ok()??;
        (c.uid() != uid && c.metadata.deletion_timestamp.is_none()).then_some(())
    })
    .await;

    // Switch to single traces: the CronJob goes, one Job comes.
    let switch = json!({"spec": {"sampling": null, "schedule": null, "traceIDs": [TRACE]}});
    tasks
        .patch("life", &PatchParams::default(), &Patch::Merge(switch))
        .await
        .unwrap();
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    let selector = "traceval.dev/evaluationtask=life";
    poll("the CronJob to go and a Job to come", DEADLINE, || async {
        let gone = cronjobs.get_opt("life-eval").await.ok()?.is_none();
        let jobs = jobs
            .list(&ListParams::default().labels(selector))
            .await
            .ok()?
            .items;
        (gone && jobs.len() == 1).then_some(())
    })
    .await;

    // Delete: owner references collect every child.
    tasks
        .delete("life", &DeleteParams::foreground())
        .await
        .unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns.name);
    let roles: Api<Role> = Api::namespaced(client.clone(), &ns.name);
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns.name);
    poll("the children to be collected", DEADLINE, || async {
        let none = accounts.get_opt("life-evaluator").await.ok()?.is_none()
            && roles.get_opt("life-evaluator").await.ok()?.is_none()
            && bindings.get_opt("life-evaluator").await.ok()?.is_none()
            && jobs
                .list(&ListParams::default().labels(selector))
                .await
                .ok()?
                .items
                .is_empty();
        none.then_some(())
    })
    .await;
}
