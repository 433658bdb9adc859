//! Reconciles against watch caches: a TracedService whose children are all
//! cached as last applied makes no request at all; a drifted child is the
//! only one applied; cleanup lists only when needed.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::Resource;
use kube::client::Body;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::Event;
use tower_test::mock::{Handle, pair};

use super::ServiceContext;
use super::apply::Wanted;
use super::caches::ServiceCaches;
use super::cleanup::cleanup_needed;
use super::conditions::Observation;
use super::metrics::ServiceMetrics;
use super::reconcile::reconcile;
use super::status::desired_status;
use crate::api::TracedService;
use crate::operator::Context;
use crate::operator::drift::stamp;
use crate::resources::tracedservice::tests::{children, fixture, validated};
use crate::resources::tracedservice::{BuildOptions, Children};

type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// A ready store holding `objects`.
fn store<K>(objects: Vec<K>) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let (reader, mut writer) = reflector::store();
    writer.apply_watcher_event(&Event::Init);
    for object in objects {
        writer.apply_watcher_event(&Event::InitApply(object));
    }
    writer.apply_watcher_event(&Event::InitDone);
    reader
}

fn meta<K: Resource>(object: &K) -> PartialObjectMeta<K> {
    PartialObjectMeta {
        types: None,
        metadata: object.meta().clone(),
        _phantom: std::marker::PhantomData,
    }
}

/// The children as the API server stores them after an apply: stamped,
/// generation 1, resource version 10; the Deployment rolled out.
fn stored(name: &str) -> Children {
    let mut c = children(name);
    stamp(&mut c.deployment);
    stamp(&mut c.service);
    if let Some(policy) = c.network_policy.as_mut() {
        stamp(policy);
        policy.metadata.generation = Some(1);
    }
    c.deployment.metadata.generation = Some(1);
    c.deployment.metadata.resource_version = Some("10".into());
    c.service.metadata.resource_version = Some("10".into());
    // Converged: every desired pod (1 when the spec leaves it unset) is
    // ready, so the reconcile has no reason to look at the pods.
    let replicas = Some(
        c.deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1),
    );
    c.deployment.status = Some(DeploymentStatus {
        observed_generation: Some(1),
        replicas,
        updated_replicas: replicas,
        ready_replicas: replicas,
        available_replicas: replicas,
        ..DeploymentStatus::default()
    });
    c
}

fn caches(c: &Children) -> ServiceCaches {
    ServiceCaches {
        deployments: store(vec![c.deployment.clone()]),
        services: store(vec![meta(&c.service)]),
        network_policies: store(c.network_policy.iter().map(meta).collect()),
        claims: store(Vec::new()),
    }
}

fn context(caches: ServiceCaches) -> (Arc<ServiceContext>, ApiHandle) {
    let (service, handle) = pair::<Request<Body>, Response<Body>>();
    let ctx = ServiceContext::new(
        Arc::new(Context::new(Client::new(service, "default"), None)),
        BuildOptions::default(),
        None,
        Arc::new(ServiceMetrics::default()),
    );
    ctx.service_caches.register(Some("llm"), Arc::new(caches));
    (Arc::new(ctx), handle)
}

/// The TracedService as last reconciled against `deployment`.
fn reconciled(name: &str, deployment: &Deployment) -> TracedService {
    let mut ts = fixture(name);
    let now = Timestamp::from_second(1_000).expect("now");
    let svc = validated(name);
    ts.status = Some(desired_status(
        &ts,
        Some(&svc),
        &Observation::Applied(deployment),
        None,
        now,
    ));
    ts
}

#[tokio::test]
async fn an_unchanged_tracedservice_makes_no_request() {
    let children = stored("opentelemetry");
    let ts = reconciled("opentelemetry", &children.deployment);
    let (ctx, mut handle) = context(caches(&children));
    let object = Arc::new(DeserializeGuard(Ok(ts)));
    let result = tokio::time::timeout(Duration::from_secs(5), reconcile(object, ctx)).await;
    assert!(
        result.is_ok(),
        "the reconcile waited for an API answer: it sent a request"
    );
    result.expect("finished").expect("reconciled");
    assert!(
        futures::FutureExt::now_or_never(handle.next_request()).is_none(),
        "a request was sent"
    );
}

#[tokio::test]
async fn only_the_drifted_deployment_is_applied() {
    // Its spec sets replicas (3), so the operator owns them.
    let mut children = stored("builtin");
    let ts = reconciled("builtin", &children.deployment);
    let status = serde_json::to_value(&children.deployment.status).expect("status");
    // Someone scaled it (and this process never applied it: after a restart).
    if let Some(spec) = children.deployment.spec.as_mut() {
        spec.replicas = Some(7);
    }
    let (ctx, mut handle) = context(caches(&children));
    let server = tokio::spawn(async move {
        let (request, send) = handle.next_request().await.expect("a request");
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        let bytes = request.into_body().collect_bytes().await.expect("body");
        // As stored: the same generation and rollout as before.
        let mut body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        body["metadata"]["generation"] = serde_json::json!(1);
        body["status"] = status;
        let answer = serde_json::to_vec(&body).expect("JSON");
        send.send_response(
            Response::builder()
                .body(Body::from(answer))
                .expect("response"),
        );
        (method, path, body)
    });
    let object = Arc::new(DeserializeGuard(Ok(ts)));
    let result = tokio::time::timeout(Duration::from_secs(5), reconcile(object, ctx)).await;
    let (method, path, body) = server.await.expect("mock server");
    assert_eq!(
        (method, path.as_str()),
        (
            Method::PATCH,
            "/apis/apps/v1/namespaces/llm/deployments/builtin-demo"
        )
    );
    assert_eq!(
        body["spec"]["replicas"], 3,
        "the operator's replicas restored"
    );
    result
        .expect("no request after the Deployment's")
        .expect("reconciled");
}

#[test]
fn cleanup_lists_only_when_needed() {
    let children = stored("opentelemetry");
    let caches = caches(&children);
    let svc = validated("opentelemetry");
    let mut wanted = Wanted::default();
    wanted
        .deployments
        .insert(children.deployment.metadata.name.clone().expect("name"));
    wanted
        .services
        .insert(children.service.metadata.name.clone().expect("name"));
    if let Some(policy) = &children.network_policy {
        wanted
            .network_policies
            .insert(policy.metadata.name.clone().expect("name"));
    }
    let ts = reconciled("opentelemetry", &children.deployment);
    assert!(cleanup_needed(&ts, &svc, None, &wanted, false), "no caches");
    assert!(!cleanup_needed(&ts, &svc, Some(&caches), &wanted, false));
    assert!(
        cleanup_needed(&ts, &svc, Some(&caches), &wanted, true),
        "volumes unchecked"
    );
    let mut fresh = ts.clone();
    fresh.status = None;
    assert!(
        !cleanup_needed(&fresh, &svc, Some(&caches), &wanted, false),
        "a never-reconciled object has nothing to clean up"
    );
    let mut edited = ts.clone();
    edited.metadata.generation = Some(2);
    assert!(
        cleanup_needed(&edited, &svc, Some(&caches), &wanted, false),
        "spec changed"
    );
    let mut fewer = wanted.clone();
    fewer.network_policies.clear();
    assert_eq!(
        cleanup_needed(&ts, &svc, Some(&caches), &fewer, false),
        children.network_policy.is_some(),
        "a cached policy no longer wanted"
    );
}
