//! TracedService against the real local control plane (`tests/cluster/up`):
//! the seed's walkthrough, rollouts on probe changes, repair of deleted
//! children, garbage collection, cleanup of dropped children and rejection
//! of bad manifests at apply time.

#[path = "../support/mod.rs"]
mod support;

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::storage::v1::CSIDriver;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::{Client, ResourceExt};
use serde_json::json;
use support::operator::{Operator, install_crds};
use support::{DEADLINE, TempNamespace, client, poll};
use traceval::api::TracedService;
use traceval::api::tracedservice::{ConditionStatus, ConditionType};

const MANAGER: &str = "traceval-test";

fn fixture_text(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tracedservice")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// A fixture moved into `namespace`.
fn fixture(name: &str, namespace: &str) -> TracedService {
    let mut ts: TracedService =
        serde_yaml::from_str(&fixture_text(&format!("{name}.yaml"))).expect("fixture");
    ts.metadata.namespace = Some(namespace.to_owned());
    ts
}

fn condition(ts: &TracedService, type_: ConditionType) -> Option<(ConditionStatus, String)> {
    ts.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status, c.reason.as_str().to_owned()))
}

/// Waits until the TracedService reports Ready=True for its current generation.
async fn ready(api: &Api<TracedService>, name: &str) -> TracedService {
    poll(
        &format!("TracedService {name} to be Ready"),
        DEADLINE,
        || async {
            let ts = api.get(name).await.ok()?;
            let status = ts.status.as_ref()?;
            let current = status.observed_generation == ts.metadata.generation;
            let is_ready =
                condition(&ts, ConditionType::Ready).map(|c| c.0) == Some(ConditionStatus::True);
            (current && is_ready).then_some(ts)
        },
    )
    .await
}

async fn secret(client: &Client, namespace: &str, name: &str, key: &str) {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": name},
        "stringData": {key: "not-a-real-secret"}
    }))
    .expect("secret");
    api.create(&PostParams::default(), &secret)
        .await
        .expect("create secret");
}

fn pod_hash(deployment: &Deployment) -> Option<String> {
    deployment
        .spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get("traceval.dev/spec-hash")
        .cloned()
}

#[tokio::test]
async fn seed_walkthrough_runs_rolls_repairs_and_is_collected() {
    let client = client().await;
    install_crds(&client).await;
    // The OSS CSI driver is an API object here (kwok runs no node plugin); the
    // operator only checks that the cluster has it.
    let drivers: Api<CSIDriver> = Api::all(client.clone());
    let driver: CSIDriver = serde_json::from_value(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver",
        "metadata": {"name": "ossplugin.csi.alibabacloud.com"},
        "spec": {"attachRequired": false}
    }))
    .expect("driver");
    drivers
        .patch(
            "ossplugin.csi.alibabacloud.com",
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&driver),
        )
        .await
        .expect("CSI driver");
    let ns = TempNamespace::create(&client, "tsvc-seed").await;
    let _operator = Operator::start(&client, &ns.name);
    secret(&client, &ns.name, "dashscope", "apiKey").await;
    secret(&client, &ns.name, "arms-license", "licenseKey").await;
    secret(&client, &ns.name, "oss-credentials", "akId").await;

    let api: Api<TracedService> = Api::namespaced(client.clone(), &ns.name);
    api.create(&PostParams::default(), &fixture("seed-arms", &ns.name))
        .await
        .expect("create");
    let ts = ready(&api, "trace-demo").await;
    let status = ts.status.clone().expect("status");
    assert_eq!(
        status.start_command.as_deref(),
        Some("aliyun-bootstrap -a install && aliyun-instrument python /mnt/data/app.py")
    );
    assert_eq!(
        status.url,
        Some(format!(
            "http://trace-demo.{}.svc.cluster.local:8000",
            ns.name
        ))
    );
    assert_eq!(status.replica_summary.as_deref(), Some("1/1"));

    // The children, as the API server stored them.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let deployment = deployments.get("trace-demo").await.expect("deployment");
    let pod = deployment
        .spec
        .clone()
        .and_then(|s| s.template.spec)
        .expect("pod spec");
    let app = &pod.containers[0];
    assert_eq!(
        app.args.clone().unwrap_or_default(),
        ["python", "/mnt/data/app.py"]
    );
    let env = app.env.clone().unwrap_or_default();
    assert!(
        env.iter()
            .any(|e| e.name == "ARMS_LICENSE_KEY" && e.value_from.is_some())
    );
    assert!(env.iter().any(|e| e.name == "DASHSCOPE_API_KEY"));
    let pip = pod.init_containers.clone().unwrap_or_default();
    assert!(
        pip.iter()
            .any(|c| c.command.clone().unwrap_or_default().ends_with(&[
                "aliyun-bootstrap==1.0.8".into(),
                "flask".into(),
                "dashscope".into()
            ]))
    );
    let services: Api<Service> = Api::namespaced(client.clone(), &ns.name);
    let service = services.get("trace-demo").await.expect("service");
    assert_eq!(
        service.spec.and_then(|s| s.ports).expect("ports")[0].port,
        8000
    );
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns.name);
    let policy = policies.get("trace-demo").await.expect("network policy");
    let egress = policy.spec.and_then(|s| s.egress).expect("egress");
    assert!(
        egress
            .iter()
            .flat_map(|r| r.to.iter().flatten())
            .any(|p| p.ip_block.as_ref().is_some_and(|b| b.cidr == "0.0.0.0/0")),
        "internet access: {egress:?}"
    );

    // Edit the probe: the pod template changes and a new ReplicaSet rolls out.
    let before = pod_hash(&deployment).expect("spec hash");
    let patch = json!({"spec": {"tracing": {"probe": "opentelemetry", "endpoint": "http://jaeger.observability.svc:4318"}}});
    api.patch("trace-demo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("edit probe");
    let rolled = ready(&api, "trace-demo").await;
    assert_eq!(
        rolled.status.as_ref().and_then(|s| s.probe),
        Some(traceval::api::tracedservice::Probe::OpenTelemetry)
    );
    let deployment = deployments.get("trace-demo").await.expect("deployment");
    assert_ne!(pod_hash(&deployment), Some(before));
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns.name);
    let selector = ListParams::default().labels("traceval.dev/tracedservice=trace-demo");
    poll(
        "a second ReplicaSet from the probe change",
        DEADLINE,
        || async { (replica_sets.list(&selector).await.ok()?.items.len() >= 2).then_some(()) },
    )
    .await;

    // Delete a child: the owner watch brings it back.
    let old_uid = services.get("trace-demo").await.expect("service").uid();
    services
        .delete("trace-demo", &DeleteParams::default())
        .await
        .expect("delete service");
    poll("the Service to be recreated", DEADLINE, || async {
        let service = services.get_opt("trace-demo").await.ok()??;
        (service.uid() != old_uid).then_some(())
    })
    .await;

    // Drop the NetworkPolicy from the spec: cleanup deletes it.
    let patch = json!({"spec": {"network": {"enforce": false}}});
    api.patch("trace-demo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("drop policy");
    poll("the NetworkPolicy to be deleted", DEADLINE, || async {
        policies
            .get_opt("trace-demo")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;

    // The OSS volume is cluster-scoped: bound to its claim, guarded by a finalizer.
    let pv_name = format!("traceval-{}-trace-demo-oss-0", ns.name);
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns.name);
    assert!(volumes.get_opt(&pv_name).await.expect("get pv").is_some());
    let claim = claims.get("trace-demo-oss-0").await.expect("claim");
    assert_eq!(
        claim.spec.and_then(|s| s.volume_name),
        Some(pv_name.clone())
    );
    let ts = api.get("trace-demo").await.expect("get");
    assert!(
        ts.finalizers()
            .iter()
            .any(|f| f == "traceval.dev/persistent-volumes")
    );

    // Delete the TracedService: the garbage collector removes the children,
    // the operator the volume.
    api.delete("trace-demo", &DeleteParams::foreground())
        .await
        .expect("delete");
    poll("the PersistentVolume to be deleted", DEADLINE, || async {
        volumes
            .get_opt(&pv_name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    poll("the TracedService to be gone", DEADLINE, || async {
        api.get_opt("trace-demo")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    poll("the Deployment to be collected", DEADLINE, || async {
        deployments
            .get_opt("trace-demo")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    poll("the Service to be collected", DEADLINE, || async {
        services
            .get_opt("trace-demo")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn spec_that_passes_the_schema_but_not_validation_is_degraded() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "tsvc-degraded").await;
    let _operator = Operator::start(&client, &ns.name);
    let api: Api<TracedService> = Api::namespaced(client.clone(), &ns.name);
    // "/data" and "/data/" differ as strings (CEL) but are one directory.
    let mut ts = fixture("minimal", &ns.name);
    ts.spec.mounts = serde_json::from_value(json!([
        {"mountPath": "/data", "emptyDir": {}},
        {"mountPath": "/data/", "configMap": {"name": "cfg"}}
    ]))
    .expect("mounts");
    api.create(&PostParams::default(), &ts)
        .await
        .expect("create");
    let degraded = poll(
        "Degraded=True with reason InvalidSpec",
        DEADLINE,
        || async {
            let ts = api.get("minimal").await.ok()?;
            (condition(&ts, ConditionType::Degraded)
                == Some((ConditionStatus::True, "InvalidSpec".to_owned())))
            .then_some(ts)
        },
    )
    .await;
    assert_eq!(
        condition(&degraded, ConditionType::Ready).map(|c| c.0),
        Some(ConditionStatus::False)
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    assert!(deployments.get_opt("minimal").await.expect("get").is_none());

    // Fixing the spec recovers it.
    let patch = json!({"spec": {"mounts": [{"mountPath": "/data", "emptyDir": {}}]}});
    api.patch("minimal", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("fix");
    ready(&api, "minimal").await;
}

#[tokio::test]
async fn bad_manifests_are_rejected_at_apply_with_clear_messages() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "tsvc-invalid").await;
    let resource = ApiResource::erase::<TracedService>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &resource);
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tracedservice/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("invalid fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .expect("# expect: line");
        let object: DynamicObject = serde_yaml::from_str(&text).expect("YAML");
        let error = api
            .create(&PostParams::default(), &object)
            .await
            .expect_err(&format!("{file:?} must be rejected"));
        let message = match &error {
            kube::Error::Api(status) => status.message.clone(),
            other => panic!("{file:?}: unexpected error {other:?}"),
        };
        assert!(
            message.contains(expect),
            "{file:?}: {message:?} does not contain {expect:?}"
        );
    }
}
