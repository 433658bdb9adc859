//! Reconcile call-sequence tests: the client talks to a mock API server
//! (`tower_test::mock::pair`) that checks every request in order.

use std::sync::Arc;

use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use tower_test::mock::{Handle, pair};

use super::ServiceContext;
use super::metrics::ServiceMetrics;
use super::reconcile::{error_policy, reconcile};
use crate::api::TracedService;
use crate::operator::Context;
use crate::operator::error::ErrorClass;
use crate::resources::tracedservice::BuildOptions;
use crate::resources::tracedservice::tests::fixture;

type ApiHandle = Handle<Request<Body>, Response<Body>>;

fn context() -> (Arc<ServiceContext>, ApiHandle) {
    let (service, handle) = pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let ctx = ServiceContext::new(
        Arc::new(Context::new(client, None)),
        BuildOptions::default(),
        None,
        Arc::new(ServiceMetrics::default()),
    );
    (Arc::new(ctx), handle)
}

/// One expected request: method, path, and the JSON to answer with
/// (computed from the request body).
struct Step {
    method: Method,
    path: String,
    respond: fn(Value) -> Value,
}

fn step(method: Method, path: impl Into<String>, respond: fn(Value) -> Value) -> Step {
    Step {
        method,
        path: path.into(),
        respond,
    }
}

fn echo(body: Value) -> Value {
    body
}

/// A status apply answered with the object the API server would store.
fn stored_status(mut body: Value) -> Value {
    body["metadata"] = json!({"name": "builtin-demo", "namespace": "llm"});
    body["spec"] = json!({"image": "registry.example.com/llm-app-with-tracing:1.0"});
    body
}

fn empty_list(_: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": []})
}

/// Serves `steps` in order, checking method, path and the field manager of
/// applies; returns the request bodies.
async fn serve(mut handle: ApiHandle, steps: Vec<Step>) -> Vec<Value> {
    let mut bodies = Vec::new();
    for expected in steps {
        let (request, send) = handle.next_request().await.expect("a request");
        assert_eq!(
            (request.method().clone(), request.uri().path().to_owned()),
            (expected.method.clone(), expected.path.clone()),
            "unexpected request {}",
            request.uri()
        );
        if expected.method == Method::PATCH {
            let query = request.uri().query().unwrap_or_default().to_owned();
            if query.contains("fieldManager") {
                assert!(query.contains("fieldManager=traceval"), "{query}");
                assert!(query.contains("force=true"), "{query}");
            }
        }
        let bytes = request.into_body().collect_bytes().await.expect("body");
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        let answer = (expected.respond)(body.clone());
        bodies.push(body);
        send.send_response(
            Response::builder()
                .body(Body::from(serde_json::to_vec(&answer).expect("JSON")))
                .expect("response"),
        );
    }
    bodies
}

fn guard(ts: TracedService) -> Arc<DeserializeGuard<TracedService>> {
    Arc::new(DeserializeGuard(Ok(ts)))
}

#[tokio::test]
async fn invalid_spec_writes_degraded_status_and_waits_for_a_change() {
    let (ctx, handle) = context();
    let mut ts = fixture("builtin");
    // Passes the schema (CEL compares strings) but is one directory twice.
    ts.spec.mounts = serde_json::from_value(json!([
        {"mountPath": "/data", "emptyDir": {}},
        {"mountPath": "/data/", "emptyDir": {}}
    ]))
    .expect("mounts");
    let server = tokio::spawn(serve(
        handle,
        vec![
            step(
                Method::PATCH,
                "/apis/traceval.dev/v1alpha1/namespaces/llm/tracedservices/builtin-demo/status",
                stored_status,
            ),
            step(
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/llm/events",
                echo,
            ),
        ],
    ));
    let result = reconcile(guard(ts.clone()), ctx.clone()).await;
    let bodies = server.await.expect("mock server");
    let error = result.expect_err("invalid spec");
    assert_eq!(error.class(), ErrorClass::InvalidSpec);
    assert_eq!(error_policy(guard(ts), &error, ctx), Action::await_change());
    let conditions = bodies[0]["status"]["conditions"]
        .as_array()
        .expect("conditions");
    let degraded = conditions
        .iter()
        .find(|c| c["type"] == "Degraded")
        .expect("Degraded");
    assert_eq!(degraded["status"], "True");
    assert_eq!(degraded["reason"], "InvalidSpec");
    assert!(
        degraded["message"]
            .as_str()
            .is_some_and(|m| m.contains("/data/"))
    );
    assert_eq!(bodies[1]["reason"], "InvalidSpec");
    assert_eq!(bodies[1]["type"], "Warning");
}

fn deployment_with_status(mut body: Value) -> Value {
    body["metadata"]["generation"] = json!(1);
    body["status"] = json!({
        "observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
        "readyReplicas": 3, "availableReplicas": 3
    });
    body
}

fn stale_policy(_: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": [{
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "builtin-demo", "namespace": "llm", "ownerReferences": [{
            "apiVersion": "traceval.dev/v1alpha1", "kind": "TracedService",
            "name": "builtin-demo", "uid": "uid-builtin", "controller": true
        }]},
        "spec": {"podSelector": {}}
    }]})
}

/// A child's metadata as stored: controlled by the fixture's TracedService
/// (what the operator reads before creating a child its cache has not seen).
fn owned_metadata(_: Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": {
        "name": "builtin-demo", "namespace": "llm", "ownerReferences": [{
            "apiVersion": "traceval.dev/v1alpha1", "kind": "TracedService",
            "name": "builtin-demo", "uid": "uid-builtin", "controller": true
        }]
    }})
}

fn status_object(_: Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "Status", "status": "Success", "metadata": {}})
}

#[tokio::test]
async fn reconcile_applies_children_deletes_dropped_ones_and_reports_ready() {
    let (ctx, handle) = context();
    let mut ts = fixture("builtin");
    ts.spec.network.enforce = false;
    let ns = "/namespaces/llm";
    let server = tokio::spawn(serve(
        handle,
        vec![
            step(
                Method::GET,
                format!("/api/v1{ns}/services/builtin-demo"),
                owned_metadata,
            ),
            step(
                Method::PATCH,
                format!("/api/v1{ns}/services/builtin-demo"),
                echo,
            ),
            step(
                Method::GET,
                format!("/apis/apps/v1{ns}/deployments/builtin-demo"),
                owned_metadata,
            ),
            step(
                Method::PATCH,
                format!("/apis/apps/v1{ns}/deployments/builtin-demo"),
                deployment_with_status,
            ),
            step(
                Method::GET,
                format!("/apis/apps/v1{ns}/deployments"),
                empty_list,
            ),
            step(Method::GET, format!("/api/v1{ns}/services"), empty_list),
            step(
                Method::GET,
                format!("/apis/networking.k8s.io/v1{ns}/networkpolicies"),
                stale_policy,
            ),
            step(
                Method::DELETE,
                format!("/apis/networking.k8s.io/v1{ns}/networkpolicies/builtin-demo"),
                status_object,
            ),
            step(
                Method::GET,
                format!("/api/v1{ns}/persistentvolumeclaims"),
                empty_list,
            ),
            step(Method::GET, "/api/v1/persistentvolumes", empty_list),
            step(
                Method::POST,
                format!("/apis/events.k8s.io/v1{ns}/events"),
                echo,
            ),
            step(
                Method::PATCH,
                format!("/apis/traceval.dev/v1alpha1{ns}/tracedservices/builtin-demo/status"),
                stored_status,
            ),
            step(
                Method::POST,
                format!("/apis/events.k8s.io/v1{ns}/events"),
                echo,
            ),
        ],
    ));
    let action = reconcile(guard(ts), ctx).await.expect("reconciled");
    let bodies = server.await.expect("mock server");
    assert_eq!(action, Action::requeue(std::time::Duration::from_secs(300)));
    assert_eq!(bodies[3]["spec"]["replicas"], 3);
    assert_eq!(bodies[10]["reason"], "Cleanup");
    let status = &bodies[11]["status"];
    assert_eq!(status["phase"], "Running");
    assert_eq!(status["replicaSummary"], "3/3");
    assert_eq!(status["startCommand"], "python -m app");
    assert_eq!(bodies[12]["reason"], "Ready");
}
