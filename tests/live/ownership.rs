//! Never adopt what it does not own (issue 14): an object with a child's
//! name that this TracedService does not control is left untouched — not
//! rewritten, no owner reference added, not deleted with the TracedService
//! — and the TracedService reports `Degraded` with reason
//! `OwnershipConflict`, naming the object. Real API server, in-process
//! operator (kwok nodes: no pod needs to run).
// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../support/mod.rs"]
mod support;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use support::operator::{Operator, install_crds};
use support::{DEADLINE, TempNamespace, client, poll};
use traceval::api::TracedService;
use traceval::api::tracedservice::{ConditionStatus, ConditionType};

fn degraded(ts: &TracedService) -> Option<(String, String)> {
    ts.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == ConditionType::Degraded && c.status == ConditionStatus::True)
        .map(|c| (c.reason.as_str().to_owned(), c.message.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracedservice_named_like_a_foreign_object_leaves_it_alone() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "owner").await;
    let _operator = Operator::start(&client, &ns.name);
    let services: Api<Service> = Api::namespaced(client.clone(), &ns.name);
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns.name);
    let traced: Api<TracedService> = Api::namespaced(client.clone(), &ns.name);

    // The admin's objects: a Service selecting the real backend, and a
    // default-deny NetworkPolicy for every pod of the namespace.
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "default-deny"},
        "spec": {"selector": {"app": "real-backend"}, "ports": [{"port": 80}]}
    }))
    .unwrap();
    services
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    let policy: NetworkPolicy = serde_json::from_value(json!({
        "metadata": {"name": "default-deny"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    }))
    .unwrap();
    policies
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
    let before = (
        services.get("default-deny").await.unwrap(),
        policies.get("default-deny").await.unwrap(),
    );

    // A tenant's TracedService with the same name.
    let ts: TracedService = serde_json::from_value(json!({
        "apiVersion": "traceval.dev/v1alpha1", "kind": "TracedService",
        "metadata": {"name": "default-deny", "namespace": ns.name},
        "spec": {"image": "python:3.12-slim", "network": {"egress": [{"cidrs": ["10.0.0.0/8"]}]}}
    }))
    .unwrap();
    traced.create(&PostParams::default(), &ts).await.unwrap();
    let (reason, message) = poll("OwnershipConflict", DEADLINE, || async {
        degraded(&traced.get("default-deny").await.ok()?)
            .filter(|(reason, _)| reason == "OwnershipConflict")
    })
    .await;
    assert_eq!(reason, "OwnershipConflict");
    assert!(
        message.contains("default-deny already exists and is not managed by this object")
            && message.contains("it has no controller"),
        "{message}"
    );

    // Nothing written: same resourceVersion, no owner reference.
    let after = (
        services.get("default-deny").await.unwrap(),
        policies.get("default-deny").await.unwrap(),
    );
    assert_eq!(
        before.0.metadata.resource_version, after.0.metadata.resource_version,
        "Service rewritten"
    );
    assert_eq!(
        before.1.metadata.resource_version, after.1.metadata.resource_version,
        "NetworkPolicy rewritten"
    );
    assert!(
        after.0.metadata.owner_references.is_none() && after.1.metadata.owner_references.is_none()
    );
    assert_eq!(after.0.spec, before.0.spec);

    // Nothing deleted with the TracedService.
    traced
        .delete("default-deny", &DeleteParams::default())
        .await
        .unwrap();
    poll("the TracedService gone", DEADLINE, || async {
        traced
            .get_opt("default-deny")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(
        services
            .get("default-deny")
            .await
            .unwrap()
            .metadata
            .resource_version,
        before.0.metadata.resource_version
    );
    assert_eq!(
        policies
            .get("default-deny")
            .await
            .unwrap()
            .metadata
            .resource_version,
        before.1.metadata.resource_version
    );
}
