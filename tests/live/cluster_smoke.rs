//! The local control plane (`tests/cluster/`) behaves like a real cluster for
//! everything the operator relies on: scheduling onto kwok nodes, workload
//! controllers, garbage collection, and CRDs with status and CEL validation.

#[path = "../support/mod.rs"]
mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;
use support::{DEADLINE, TempNamespace, client, poll};

fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("valid object literal")
}

fn pod_template(app: &str) -> serde_json::Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "main", "image": "example.invalid/app:1"}]}
    })
}

#[tokio::test]
async fn deployment_of_two_replicas_becomes_available() {
    let client = client().await;
    let ns = TempNamespace::create(&client, "smoke-deploy").await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let deployment: Deployment = from_json(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": pod_template("web")
        }
    }));
    api.create(&PostParams::default(), &deployment)
        .await
        .expect("create deployment");

    let available = poll(
        "deployment web to have 2 available replicas",
        DEADLINE,
        || async {
            let d = api.get("web").await.ok()?;
            let status = d.status?;
            (status.available_replicas == Some(2)).then_some(status)
        },
    )
    .await;
    assert_eq!(available.ready_replicas, Some(2));

    // The scheduler bound every pod to a kwok node, and kwok made it Ready.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list pods");
    assert_eq!(listed.items.len(), 2);
    for pod in listed.items {
        let node = pod.spec.and_then(|s| s.node_name).unwrap_or_default();
        assert!(node.starts_with("kwok-node-"), "pod bound to {node:?}");
        assert_eq!(pod.status.and_then(|s| s.phase).as_deref(), Some("Running"));
    }
}

#[tokio::test]
async fn job_pod_succeeds_and_job_completes() {
    let client = client().await;
    let ns = TempNamespace::create(&client, "smoke-job").await;
    let api: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    let mut template = pod_template("once");
    template["spec"]["restartPolicy"] = json!("Never");
    let job: Job = from_json(json!({
        "metadata": {"name": "once"},
        "spec": {"backoffLimit": 0, "template": template}
    }));
    api.create(&PostParams::default(), &job)
        .await
        .expect("create job");

    let status = poll("job once to complete", DEADLINE, || async {
        let status = api.get("once").await.ok()?.status?;
        let complete = status
            .conditions
            .as_ref()?
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True");
        complete.then_some(status)
    })
    .await;
    assert_eq!(status.succeeded, Some(1));

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let listed = pods
        .list(&ListParams::default().labels("job-name=once"))
        .await
        .expect("pods");
    let phases: Vec<_> = listed
        .items
        .iter()
        .filter_map(|p| p.status.as_ref()?.phase.clone())
        .collect();
    assert_eq!(phases, vec!["Succeeded".to_string()]);
}

#[tokio::test]
async fn cronjob_creates_jobs() {
    let client = client().await;
    let ns = TempNamespace::create(&client, "smoke-cron").await;
    let api: Api<CronJob> = Api::namespaced(client.clone(), &ns.name);
    let mut template = pod_template("tick");
    template["spec"]["restartPolicy"] = json!("Never");
    let cronjob: CronJob = from_json(json!({
        "metadata": {"name": "tick"},
        "spec": {
            "schedule": "* * * * *",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"template": template}}
        }
    }));
    api.create(&PostParams::default(), &cronjob)
        .await
        .expect("create cronjob");

    // The first run is due at the next minute boundary.
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    let job = poll(
        "the cronjob to create a job",
        std::time::Duration::from_secs(150),
        || async {
            jobs.list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .next()
        },
    )
    .await;
    let owner = job.metadata.owner_references.unwrap_or_default();
    assert_eq!(owner.first().map(|o| o.name.as_str()), Some("tick"));
    assert_eq!(owner.first().and_then(|o| o.controller), Some(true));
}

#[tokio::test]
async fn deleting_an_owner_collects_its_children() {
    let client = client().await;
    let ns = TempNamespace::create(&client, "smoke-gc").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let owner = api
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "owner"}})),
        )
        .await
        .expect("create owner");
    let uid = owner.metadata.uid.expect("owner uid");
    let child: ConfigMap = from_json(json!({
        "metadata": {
            "name": "child",
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                "uid": uid, "controller": true, "blockOwnerDeletion": true
            }]
        }
    }));
    api.create(&PostParams::default(), &child)
        .await
        .expect("create child");

    // Foreground deletion: the garbage collector deletes the child first,
    // then removes the owner.
    api.delete("owner", &DeleteParams::foreground())
        .await
        .expect("delete owner");
    poll(
        "the garbage collector to delete child and owner",
        DEADLINE,
        || async {
            let child = api.get_opt("child").await.ok()?;
            let owner = api.get_opt("owner").await.ok()?;
            (child.is_none() && owner.is_none()).then_some(())
        },
    )
    .await;
}

const SMOKE_GROUP: &str = "smoke.traceval.dev";

fn widget_crd() -> CustomResourceDefinition {
    from_json(json!({
        "metadata": {"name": format!("widgets.{SMOKE_GROUP}")},
        "spec": {
            "group": SMOKE_GROUP,
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "properties": {
                                "min": {"type": "integer"},
                                "max": {"type": "integer"}
                            },
                            "x-kubernetes-validations": [{
                                "rule": "self.min <= self.max",
                                "message": "min must not exceed max"
                            }]
                        },
                        "status": {
                            "type": "object",
                            "properties": {"seen": {"type": "integer"}}
                        }
                    }
                }}
            }]
        }
    }))
}

#[tokio::test]
async fn crd_with_status_and_cel_rejects_a_bad_object() {
    let client = client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = format!("widgets.{SMOKE_GROUP}");
    crds.patch(
        &name,
        &PatchParams::apply("traceval-smoke").force(),
        &Patch::Apply(widget_crd()),
    )
    .await
    .expect("apply CRD");
    poll("the Widget CRD to be established", DEADLINE, || async {
        let crd = crds.get(&name).await.ok()?;
        let established = crd
            .status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        established.then_some(())
    })
    .await;

    let ns = TempNamespace::create(&client, "smoke-crd").await;
    let gvk = GroupVersionKind::gvk(SMOKE_GROUP, "v1", "Widget");
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns.name, &ApiResource::from_gvk(&gvk));
    let widget = |name: &str, min: i64, max: i64| -> DynamicObject {
        from_json(json!({
            "apiVersion": format!("{SMOKE_GROUP}/v1"), "kind": "Widget",
            "metadata": {"name": name},
            "spec": {"min": min, "max": max}
        }))
    };

    // The discovery of a just-established CRD can lag; retry only "not found".
    let bad = poll("the Widget API to be served", DEADLINE, || async {
        match widgets
            .create(&PostParams::default(), &widget("bad", 5, 1))
            .await
        {
            Err(kube::Error::Api(e)) if e.code == 404 => None,
            other => Some(other),
        }
    })
    .await;
    match bad {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 422, "unexpected rejection: {e:?}");
            assert!(
                e.message.contains("min must not exceed max"),
                "message: {}",
                e.message
            );
        }
        other => panic!("a Widget with min > max was not rejected: {other:?}"),
    }

    widgets
        .create(&PostParams::default(), &widget("good", 1, 5))
        .await
        .expect("create good widget");
    // Status is a subresource: writing it does not touch spec, and vice versa.
    let status =
        json!({"apiVersion": format!("{SMOKE_GROUP}/v1"), "kind": "Widget", "status": {"seen": 3}});
    widgets
        .patch_status(
            "good",
            &PatchParams::apply("traceval-smoke"),
            &Patch::Apply(status),
        )
        .await
        .expect("patch status");
    let spec_with_status = json!({"spec": {"min": 2, "max": 5}, "status": {"seen": 99}});
    widgets
        .patch(
            "good",
            &PatchParams::default(),
            &Patch::Merge(spec_with_status),
        )
        .await
        .expect("patch spec");
    let got = widgets.get("good").await.expect("get widget");
    assert_eq!(
        got.data["status"]["seen"],
        json!(3),
        "main resource must ignore status"
    );
    assert_eq!(got.data["spec"]["min"], json!(2));
}
