//! Deletes children the spec no longer wants, found by label.

use std::collections::BTreeSet;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::apply::Wanted;
use super::error::Error;
use crate::resources::ValidatedTracedService;
use crate::resources::meta::{NAMESPACE_LABEL, children_selector};

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
    let mut deleted = Vec::new();
    deleted.extend(namespaced::<Deployment>(client, svc, deployments).await?);
    deleted.extend(namespaced::<Service>(client, svc, services).await?);
    deleted.extend(namespaced::<NetworkPolicy>(client, svc, network_policies).await?);
    deleted
        .extend(namespaced::<PersistentVolumeClaim>(client, svc, persistent_volume_claims).await?);
    deleted.extend(volumes(client, svc, persistent_volumes).await?);
    Ok(deleted)
}

async fn namespaced<K>(
    client: &Client,
    svc: &ValidatedTracedService,
    wanted: &BTreeSet<String>,
) -> Result<Vec<String>, Error>
where
    K: k8s_openapi::Resource
        + Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), &svc.namespace);
    let cleanup_error = |source| Error::Cleanup {
        kind: <K as k8s_openapi::Resource>::KIND,
        source,
    };
    let list = api
        .list(&ListParams::default().labels(&children_selector(&svc.name)))
        .await
        .map_err(cleanup_error)?;
    let mut deleted = Vec::new();
    for object in list.items {
        let ours = object
            .owner_references()
            .iter()
            .any(|o| o.controller == Some(true) && o.uid == svc.owner.uid);
        let name = object.name_any();
        if ours && !wanted.contains(&name) {
            delete(&api, &name).await.map_err(cleanup_error)?;
            deleted.push(format!("{}/{name}", <K as k8s_openapi::Resource>::KIND));
        }
    }
    Ok(deleted)
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

async fn delete<K>(api: &Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        // Already gone: what we wanted.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
