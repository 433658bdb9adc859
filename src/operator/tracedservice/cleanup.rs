//! Deletes a TracedService's children the spec no longer wants, found by label.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use super::apply::Wanted;
use super::caches::ServiceCaches;
use crate::api::TracedService;
use crate::operator::cleanup::{delete, delete_unwanted, generation_changed};
use crate::operator::error::Error;
use crate::operator::stores::has_unwanted;
use crate::resources::tracedservice::ValidatedTracedService;
use crate::resources::tracedservice::meta::{NAMESPACE_LABEL, children_selector};

/// Deletes every labelled child of `svc` that is not in `wanted`. Namespaced
/// children must also be controlled by this TracedService (same uid), so a
/// recreated TracedService of the same name never deletes a stranger's object.
pub async fn cleanup(
    client: &Client,
    svc: &ValidatedTracedService,
    wanted: &Wanted,
) -> Result<Vec<String>, Error> {
    let Wanted {
        deployments,
        services,
        network_policies,
        persistent_volume_claims,
        persistent_volumes,
    } = wanted;
    let selector = children_selector(&svc.name);
    let (namespace, uid) = (svc.namespace.as_str(), svc.owner.uid.as_str());
    let mut deleted = Vec::new();
    deleted.extend(
        delete_unwanted::<Deployment>(client, namespace, &selector, uid, deployments).await?,
    );
    deleted.extend(delete_unwanted::<Service>(client, namespace, &selector, uid, services).await?);
    deleted.extend(
        delete_unwanted::<NetworkPolicy>(client, namespace, &selector, uid, network_policies)
            .await?,
    );
    deleted.extend(
        delete_unwanted::<PersistentVolumeClaim>(
            client,
            namespace,
            &selector,
            uid,
            persistent_volume_claims,
        )
        .await?,
    );
    deleted.extend(volumes(client, svc, persistent_volumes).await?);
    Ok(deleted)
}

/// Whether cleanup must list: without caches; when the spec changed; when
/// the volumes (cluster-scoped, not watched) were not checked yet by this
/// process; or when the caches show a controlled child that is not wanted.
pub fn cleanup_needed(
    ts: &TracedService,
    svc: &ValidatedTracedService,
    caches: Option<&ServiceCaches>,
    wanted: &Wanted,
    unchecked_volumes: bool,
) -> bool {
    let Some(caches) = caches else {
        return true;
    };
    let observed = ts.status.as_ref().and_then(|s| s.observed_generation);
    if generation_changed(ts.metadata.generation, observed) || unchecked_volumes {
        return true;
    }
    let (namespace, uid) = (svc.namespace.as_str(), svc.owner.uid.as_str());
    has_unwanted(&caches.deployments, namespace, uid, |n| {
        wanted.deployments.contains(n)
    }) || has_unwanted(&caches.services, namespace, uid, |n| {
        wanted.services.contains(n)
    }) || has_unwanted(&caches.network_policies, namespace, uid, |n| {
        wanted.network_policies.contains(n)
    }) || has_unwanted(&caches.claims, namespace, uid, |n| {
        wanted.persistent_volume_claims.contains(n)
    })
}

async fn volumes(
    client: &Client,
    svc: &ValidatedTracedService,
    wanted: &BTreeSet<String>,
) -> Result<Vec<String>, Error> {
    let api: Api<PersistentVolume> = Api::all(client.clone());
    let selector = format!(
        "{},{NAMESPACE_LABEL}={}",
        children_selector(&svc.name),
        svc.namespace
    );
    let cleanup_error = |source| Error::Cleanup {
        kind: "PersistentVolume",
        source,
    };
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(cleanup_error)?;
    let mut deleted = Vec::new();
    for volume in list.items {
        let name = volume.name_any();
        if !wanted.contains(&name) {
            delete(&api, &name).await.map_err(cleanup_error)?;
            deleted.push(format!("PersistentVolume/{name}"));
        }
    }
    Ok(deleted)
}
