//! Server-side apply of every child with one field manager.

use std::collections::BTreeSet;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::Error;
use crate::resources::Children;
use crate::resources::meta::MANAGER;

/// Names of the children that were applied, per kind: everything else
/// labelled for the TracedService is unwanted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Deployment names.
    pub deployments: BTreeSet<String>,
    /// Service names.
    pub services: BTreeSet<String>,
    /// NetworkPolicy names.
    pub network_policies: BTreeSet<String>,
    /// PersistentVolumeClaim names.
    pub persistent_volume_claims: BTreeSet<String>,
    /// PersistentVolume names.
    pub persistent_volumes: BTreeSet<String>,
}

/// What apply observed.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The Deployment as the API server returned it, with its status.
    pub deployment: Deployment,
    /// The children now wanted.
    pub wanted: Wanted,
}

fn params() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

/// Server-side applies one namespaced object with the `traceval` field
/// manager and returns it as the API server stored it.
pub async fn apply_namespaced<K>(client: &Client, object: &K) -> Result<K, Error>
where
    K: k8s_openapi::Resource
        + Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let name = object.name_any();
    let namespace = object.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), &namespace);
    api.patch(&name, &params(), &Patch::Apply(object))
        .await
        .map_err(|source| Error::Apply {
            kind: <K as k8s_openapi::Resource>::KIND,
            name,
            source,
        })
}

async fn apply_volume(client: &Client, object: &PersistentVolume) -> Result<(), Error> {
    let name = object.name_any();
    let api: Api<PersistentVolume> = Api::all(client.clone());
    api.patch(&name, &params(), &Patch::Apply(object))
        .await
        .map(drop)
        .map_err(|source| Error::Apply {
            kind: "PersistentVolume",
            name,
            source,
        })
}

/// Applies every child. Volumes go first so claims bind to them, the
/// Deployment last so its pods find everything they reference.
pub async fn apply(client: &Client, children: Children) -> Result<Applied, Error> {
    let Children {
        deployment,
        service,
        network_policy,
        persistent_volume_claims,
        persistent_volumes,
    } = children;
    let mut wanted = Wanted::default();
    for pv in &persistent_volumes {
        apply_volume(client, pv).await?;
        wanted.persistent_volumes.insert(pv.name_any());
    }
    for pvc in &persistent_volume_claims {
        apply_namespaced(client, pvc).await?;
        wanted.persistent_volume_claims.insert(pvc.name_any());
    }
    if let Some(policy) = &network_policy {
        apply_namespaced(client, policy).await?;
        wanted.network_policies.insert(policy.name_any());
    }
    apply_namespaced(client, &service).await?;
    wanted.services.insert(service.name_any());
    let deployment = apply_namespaced(client, &deployment).await?;
    wanted.deployments.insert(deployment.name_any());
    Ok(Applied { deployment, wanted })
}
