//! What the cluster holds for the examples, and waiting until it is quiet.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    PersistentVolume, PersistentVolumeClaim, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DynamicObject, ListParams};
use kube::{Client, Resource, ResourceExt};
use traceval::resources::meta::{MANAGED_BY_LABEL, MANAGER};
use traceval::resources::tracedservice::meta::NAMESPACE_LABEL;

use crate::manifests::{Manifest, dynamic};
use crate::support::{DEADLINE, poll};
use crate::{QUIET, QUIET_CHECKS};

/// The Ready condition is True for the current generation.
pub fn settled(object: &DynamicObject) -> bool {
    let generation = object.metadata.generation;
    let status = &object.data["status"];
    let current = status["observedGeneration"].as_i64() == generation;
    let ready = status["conditions"].as_array().is_some_and(|conditions| {
        conditions
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    });
    current && ready
}

/// Resource versions of every applied object and every child the operator
/// made, and when each CronJob last started a run (runs are the cluster's
/// doing on schedule, not the operator's).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub versions: BTreeMap<String, String>,
    pub runs: BTreeMap<String, Option<String>>,
    pub all_settled: bool,
}

pub async fn versions_of<K>(client: &Client, namespace: &str, into: &mut Snapshot) -> Option<Vec<K>>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{MANAGED_BY_LABEL}={MANAGER}");
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .ok()?;
    for item in &list.items {
        into.versions.insert(
            format!(
                "{} {namespace}/{}",
                K::kind(&Default::default()),
                item.name_any()
            ),
            item.resource_version().unwrap_or_default(),
        );
    }
    Some(list.items)
}

pub async fn snapshot(
    client: &Client,
    namespaces: &[String],
    manifests: &[Manifest],
) -> Option<Snapshot> {
    let mut snapshot = Snapshot {
        all_settled: true,
        ..Snapshot::default()
    };
    for manifest in manifests {
        let namespace = &namespaces[manifest.namespace];
        let object = dynamic(client, namespace, &manifest.resource)
            .get(&manifest.name)
            .await
            .ok()?;
        snapshot.all_settled &= !manifest.is_custom() || settled(&object);
        snapshot.versions.insert(
            format!("{} {namespace}/{}", manifest.kind, manifest.name),
            object.resource_version().unwrap_or_default(),
        );
    }
    for ns in namespaces {
        versions_of::<Deployment>(client, ns, &mut snapshot).await?;
        versions_of::<Service>(client, ns, &mut snapshot).await?;
        versions_of::<NetworkPolicy>(client, ns, &mut snapshot).await?;
        versions_of::<PersistentVolumeClaim>(client, ns, &mut snapshot).await?;
        versions_of::<Job>(client, ns, &mut snapshot).await?;
        versions_of::<ServiceAccount>(client, ns, &mut snapshot).await?;
        versions_of::<Role>(client, ns, &mut snapshot).await?;
        versions_of::<RoleBinding>(client, ns, &mut snapshot).await?;
        for cronjob in versions_of::<CronJob>(client, ns, &mut snapshot).await? {
            let last = cronjob
                .status
                .as_ref()
                .and_then(|s| s.last_schedule_time.as_ref())
                .map(|t| t.0.to_string());
            snapshot
                .runs
                .insert(format!("{ns}/{}", cronjob.name_any()), last);
        }
        let volumes: Api<PersistentVolume> = Api::all(client.clone());
        let selector = format!("{MANAGED_BY_LABEL}={MANAGER},{NAMESPACE_LABEL}={ns}");
        for volume in volumes
            .list(&ListParams::default().labels(&selector))
            .await
            .ok()?
        {
            snapshot.versions.insert(
                format!("PersistentVolume {}", volume.name_any()),
                volume.resource_version().unwrap_or_default(),
            );
        }
    }
    Some(snapshot)
}

/// Waits until every applied object is Ready and nothing at all has changed
/// for `QUIET` over at least `QUIET_CHECKS` observations; returns that state.
pub async fn quiet(client: &Client, namespaces: &[String], manifests: &[Manifest]) -> Snapshot {
    let streak: RefCell<Option<(Snapshot, tokio::time::Instant, u32)>> = RefCell::new(None);
    let last_seen: RefCell<Option<Snapshot>> = RefCell::new(None);
    // The timeout fires before poll's own deadline, to report what changed.
    let result = tokio::time::timeout(
        DEADLINE + QUIET,
        poll("quiet", 2 * (DEADLINE + QUIET), || async {
            let now = snapshot(client, namespaces, manifests).await?;
            *last_seen.borrow_mut() = Some(now.clone());
            let mut streak = streak.borrow_mut();
            match streak.as_mut() {
                Some((seen, since, checks)) if *seen == now && now.all_settled => {
                    *checks += 1;
                    (*checks >= QUIET_CHECKS && since.elapsed() >= QUIET).then(|| now.clone())
                }
                _ => {
                    *streak = Some((now, tokio::time::Instant::now(), 1));
                    None
                }
            }
        }),
    )
    .await;
    result.unwrap_or_else(|_| {
        panic!(
            "the examples were not Ready, or kept changing, for {:?}; last seen {:#?}",
            DEADLINE + QUIET,
            last_seen.borrow()
        )
    })
}

pub fn changed(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let keys: BTreeSet<&String> = before
        .versions
        .keys()
        .chain(after.versions.keys())
        .collect();
    keys.into_iter()
        .filter(|k| before.versions.get(*k) != after.versions.get(*k))
        .map(|k| {
            format!(
                "{k}: {:?} -> {:?}",
                before.versions.get(k),
                after.versions.get(k)
            )
        })
        .collect()
}
