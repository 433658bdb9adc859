//! Item 3: another writer (field manager `kubectl-edit`, a strategic merge
//! patch as `kubectl edit` makes) changes the replicas, a container env var
//! and a label the operator applies, and adds a label and an annotation of
//! its own. The operator must take its fields back (server-side apply with
//! force), leave the foreign ones alone, and then stop: its writes to the
//! Deployment are counted over `TRACEVAL_FAULTS_CONFLICT_WINDOW` seconds (60).

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use traceval::api::TracedService;
use traceval::resources::meta::{MANAGER, NAME_LABEL};

use crate::figures::{env_or, record};
use crate::support::operator::install_crds;
use crate::support::operator_proc::OperatorProc;
use crate::support::procs::log_dir;
use crate::support::{DEADLINE, TempNamespace, client, poll};
use crate::workload;

const FOREIGN: &str = "kubectl-edit";

/// What the test compares: replicas, the EDIT env var, the name label, the
/// foreign label and annotation.
#[derive(Debug, PartialEq)]
struct Fields {
    replicas: Option<i32>,
    env: Option<String>,
    name_label: Option<String>,
    foreign_label: Option<String>,
    foreign_annotation: Option<String>,
}

fn fields(d: &Deployment) -> Fields {
    let labels = d.metadata.labels.clone().unwrap_or_default();
    let annotations = d.metadata.annotations.clone().unwrap_or_default();
    let spec = d.spec.as_ref();
    Fields {
        replicas: spec.and_then(|s| s.replicas),
        env: spec
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| p.containers.first())
            .and_then(|c| c.env.as_ref())
            .and_then(|env| env.iter().find(|e| e.name == "EDIT"))
            .and_then(|e| e.value.clone()),
        name_label: labels.get(NAME_LABEL).cloned(),
        foreign_label: labels.get("example.com/team").cloned(),
        foreign_annotation: annotations.get("example.com/note").cloned(),
    }
}

async fn deployment_of(client: &Client, namespace: &str, name: &str) -> Deployment {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    poll(&format!("the Deployment of {name}"), DEADLINE, || async {
        deployments.get_opt(name).await.ok().flatten()
    })
    .await
}

pub async fn run() {
    let window = Duration::from_secs(env_or("TRACEVAL_FAULTS_CONFLICT_WINDOW", 60));
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "faults-conflict").await;
    let logs = log_dir("faults-conflict");
    let operator = OperatorProc::start("conflict", &ns.name, &[], &[], &logs);
    let services: Api<TracedService> = Api::namespaced(client.clone(), &ns.name);
    let name = "contested";
    services
        .create(
            &PostParams::default(),
            &workload::service(name, "operator-value", true),
        )
        .await
        .expect("create the TracedService");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let mine = poll("the operator's Deployment", DEADLINE, || async {
        let d = deployments.get_opt(name).await.ok()??;
        let f = fields(&d);
        (f.env.as_deref() == Some("operator-value")).then_some(f)
    })
    .await;
    let before = deployment_of(&client, &ns.name, name).await;
    let container = before
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .map(|c| c.name.clone())
        .expect("a container");

    // The foreign edit.
    let tampered_replicas = mine.replicas.unwrap_or(1) + 2;
    let patch = json!({
        "metadata": {
            "labels": {NAME_LABEL: "tampered", "example.com/team": "foreign"},
            "annotations": {"example.com/note": "foreign"}
        },
        "spec": {
            "replicas": tampered_replicas,
            "template": {"spec": {"containers": [
                {"name": container, "env": [{"name": "EDIT", "value": "tampered"}]}
            ]}}
        }
    });
    let params = PatchParams {
        field_manager: Some(FOREIGN.to_owned()),
        ..PatchParams::default()
    };
    let edited = deployments
        .patch(name, &params, &Patch::Strategic(&patch))
        .await
        .expect("the foreign edit");
    assert_eq!(fields(&edited).replicas, Some(tampered_replicas));
    let edited_at = tokio::time::Instant::now();

    // Restored: the operator's values back, the foreign ones kept.
    let want = Fields {
        foreign_label: Some("foreign".into()),
        foreign_annotation: Some("foreign".into()),
        ..mine
    };
    let restored = poll("the operator to restore its fields", DEADLINE, || async {
        let d = deployments.get(name).await.ok()?;
        (fields(&d) == want).then_some(d)
    })
    .await;
    let restore_seconds = edited_at.elapsed().as_secs_f64();
    let managers: Vec<String> = restored
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(managers.iter().any(|m| m == MANAGER), "{managers:?}");
    assert!(
        managers.iter().any(|m| m == FOREIGN),
        "the foreign manager lost its own fields: {managers:?}"
    );

    // The window: count the operator's writes to Deployments (from its own
    // metrics) and every change of the Deployment (resourceVersion, and
    // generation for spec changes), sampled every 200 ms.
    let patches = |m: &crate::support::operator_proc::Metrics| {
        m.requests(|verb, resource| {
            crate::support::operator_proc::is_write(verb) && resource == "deployments"
        })
    };
    let writes_before = patches(&operator.scrape().await);
    let (mut versions, mut generations) = (0u64, 0u64);
    let (mut version, mut generation) = (
        restored.metadata.resource_version.clone(),
        restored.metadata.generation,
    );
    let start = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    while start.elapsed() < window {
        tick.tick().await;
        let Ok(d) = deployments.get(name).await else {
            continue;
        };
        if d.metadata.resource_version != version {
            versions += 1;
            version = d.metadata.resource_version.clone();
        }
        if d.metadata.generation != generation {
            generations += 1;
            generation = d.metadata.generation;
        }
        assert_eq!(
            fields(&d),
            want,
            "the Deployment changed again in the window"
        );
    }
    let writes = patches(&operator.scrape().await) - writes_before;
    record(
        "conflict",
        json!({"restore_seconds": restore_seconds, "window_seconds": window.as_secs(),
               "operator_writes_in_window": writes, "spec_changes_in_window": generations,
               "resource_versions_in_window": versions}),
    );
    // No fight: no spec change at all after the restore, and at most a
    // handful of (no-op) applies, from reconciles of the Deployment's status
    // settling after the rollout; a fight loop makes one every few ms.
    assert_eq!(generations, 0, "the Deployment's spec kept changing");
    assert!(
        writes <= 10,
        "{writes} writes to Deployments in {window:?}: a fight loop? (log: {})",
        operator.log.display()
    );
}
