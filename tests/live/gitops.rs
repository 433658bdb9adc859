//! GitOps: every manifest in `examples/` applied the way Argo CD applies it
//! (server-side apply, its own field manager, no force), twice, against the
//! real local control plane with the operator (`operator::run`, both
//! controllers) running in-process. The second apply and
//! `kubectl diff --server-side` find nothing to change; the
//! operator's writes never touch `spec` (it owns only `status` and
//! finalizers, the stored spec is what was applied plus schema defaults);
//! and once settled, neither the running operator nor a full resync (a fresh
//! operator reconciling everything again) writes anything: no churned
//! annotations, status or children.

#[path = "../support/mod.rs"]
mod support;

#[path = "gitops/manifests.rs"]
mod manifests;
#[path = "gitops/operator.rs"]
mod operator;
#[path = "gitops/ownership.rs"]
mod ownership;
#[path = "gitops/snapshot.rs"]
mod snapshot;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::storage::v1::CSIDriver;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use support::operator::install_crds;
use support::{DEADLINE, TempNamespace, client, poll};

use manifests::{apply, assert_kubectl_diff_empty, dynamic, manifests, secret_refs};
use operator::Operator;
use ownership::{assert_applied_plus_defaults, assert_operator_leaves_spec_alone, spec_schema};
use snapshot::{changed, quiet};

/// Argo CD's field manager for server-side apply.
const GITOPS: &str = "argocd-controller";
/// How long nothing may change for the cluster to count as settled.
const QUIET: Duration = Duration::from_secs(5);
/// ...and in at least this many consecutive observations.
const QUIET_CHECKS: u32 = 10;

#[tokio::test]
async fn examples_apply_twice_without_change_and_the_operator_never_writes_spec() {
    let client = client().await;
    install_crds(&client).await;
    // tracedservice-arms.yaml mounts OSS through the CSI driver; the operator
    // only checks that the cluster has it (kwok runs no node plugin).
    let driver: CSIDriver = serde_json::from_value(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver",
        "metadata": {"name": "ossplugin.csi.alibabacloud.com"},
        "spec": {"attachRequired": false}
    }))
    .expect("CSIDriver");
    Api::<CSIDriver>::all(client.clone())
        .patch(
            "ossplugin.csi.alibabacloud.com",
            &PatchParams::apply("traceval-test").force(),
            &Patch::Apply(&driver),
        )
        .await
        .expect("CSIDriver");

    let (manifests, namespace_count) = manifests(&client).await;
    let mut temp = Vec::new();
    for _ in 0..namespace_count {
        temp.push(TempNamespace::create(&client, "gitops").await);
    }
    let namespaces: Vec<String> = temp.iter().map(|ns| ns.name.clone()).collect();
    for (index, ns) in namespaces.iter().enumerate() {
        let mut refs = BTreeMap::new();
        manifests
            .iter()
            .filter(|m| m.namespace == index)
            .for_each(|m| secret_refs(&m.body, &mut refs));
        let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
        let defined = |name: &String| {
            manifests
                .iter()
                .any(|m| m.namespace == index && m.kind == "Secret" && &m.name == name)
        };
        for (name, keys) in refs.into_iter().filter(|(name, _)| !defined(name)) {
            let data: BTreeMap<String, String> = keys
                .into_iter()
                .map(|k| (k, "not-a-real-secret".to_owned()))
                .collect();
            let secret: Secret =
                serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data}))
                    .expect("Secret");
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .expect("create referenced Secret");
        }
    }
    let operator = Operator::start(&namespaces);

    // First apply, then wait until everything is Ready and quiet.
    for manifest in &manifests {
        apply(&client, &namespaces[manifest.namespace], manifest).await;
    }
    let settled = quiet(&client, &namespaces, &manifests).await;
    println!(
        "settled: {} objects quiet for {QUIET:?}",
        settled.versions.len()
    );

    // Second apply: the server finds nothing to change.
    for manifest in &manifests {
        let namespace = &namespaces[manifest.namespace];
        let key = format!("{} {namespace}/{}", manifest.kind, manifest.name);
        let again = apply(&client, namespace, manifest).await;
        assert_eq!(
            again.resource_version().as_ref(),
            settled.versions.get(&key),
            "the second apply of {} changed it",
            manifest.describe()
        );
        assert_kubectl_diff_empty(namespace, manifest);
    }

    // The operator never wrote spec: generation 1, its field-manager entries
    // cover status and finalizers only, and the stored spec is exactly what
    // was applied plus schema defaults.
    for manifest in manifests.iter().filter(|m| m.is_custom()) {
        let namespace = &namespaces[manifest.namespace];
        let what = manifest.describe();
        let object = dynamic(&client, namespace, &manifest.resource)
            .get(&manifest.name)
            .await
            .expect("applied object");
        assert_eq!(object.metadata.generation, Some(1), "{what}: spec changed");
        assert_operator_leaves_spec_alone(&what, &object);
        assert_eq!(
            object
                .metadata
                .annotations
                .as_ref()
                .map(BTreeMap::len)
                .unwrap_or(0),
            0,
            "{what}: annotations were added: {:?}",
            object.metadata.annotations
        );
        assert_applied_plus_defaults(
            &what,
            "spec",
            &manifest.body["spec"],
            &object.data["spec"],
            &spec_schema(&manifest.kind),
        );
    }

    // A full resync writes nothing: a fresh operator reconciles every object
    // again and every resource version stays. A CronJob run the cluster
    // starts on schedule meanwhile legitimately changes things; then measure again.
    let expected = (
        manifests
            .iter()
            .filter(|m| m.kind == "TracedService")
            .count() as u64,
        manifests
            .iter()
            .filter(|m| m.kind == "EvaluationTask")
            .count() as u64,
    );
    let mut operator = operator;
    let mut before = quiet(&client, &namespaces, &manifests).await;
    for attempt in 1.. {
        drop(operator);
        operator = Operator::start(&namespaces);
        let fresh = &operator;
        let reconciled = tokio::time::timeout(
            DEADLINE,
            poll("the fresh operator's reconciles", 2 * DEADLINE, || async {
                let (services, tasks) = fresh.successes().await?;
                (services >= expected.0 && tasks >= expected.1).then_some(())
            }),
        )
        .await;
        assert!(
            reconciled.is_ok(),
            "the fresh operator did not reconcile {expected:?} (TracedService, EvaluationTask) \
             within {DEADLINE:?}; its metrics:\n{}",
            fresh.scrape().await.unwrap_or_default()
        );
        let after = quiet(&client, &namespaces, &manifests).await;
        if after.runs != before.runs && attempt < 3 {
            before = after;
            continue;
        }
        let diff = changed(&before, &after);
        assert!(diff.is_empty(), "the resync wrote:\n{}", diff.join("\n"));
        println!(
            "resync: {:?} reconciles, {} objects unchanged",
            operator.successes().await,
            after.versions.len()
        );
        break;
    }
}
