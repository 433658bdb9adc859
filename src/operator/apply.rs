//! Server-side apply of the children with one field manager, each only when
//! it is missing, changed or drifted (see [`super::drift`]).

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::caches::ServiceCaches;
use super::drift::{Cached, Decision, Ledger, decide, key, stamp};
use super::error::Error;
use super::stores::cached;
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
    /// The Deployment as the API server returned it, or as cached (without
    /// its pod template) when it was left alone; with its status.
    pub deployment: Deployment,
    /// The children now wanted.
    pub wanted: Wanted,
    /// How many children were written.
    pub writes: usize,
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

/// Applies `object` (stamped with its hash) when [`decide`] says so, given
/// the `cached` child; returns what the API server stored, or `None` when it
/// was left alone. Records what was seen in `ledger`.
pub async fn apply_if_needed<K>(
    client: &Client,
    ledger: &Ledger,
    mut object: K,
    cached: Option<Cached<'_>>,
) -> Result<Option<K>, Error>
where
    K: k8s_openapi::Resource
        + Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let hash = stamp(&mut object);
    let kind = <K as k8s_openapi::Resource>::KIND;
    let key = key(kind, object.meta());
    match decide(object.meta(), cached, ledger.get(&key).as_ref()) {
        Decision::Skip { adopt } => {
            if let (true, Some(cached)) = (adopt, cached) {
                ledger.record(key, hash, cached.meta);
            }
            Ok(None)
        }
        Decision::Apply(why) => {
            tracing::debug!(kind, name = %object.name_any(), ?why, "applying");
            apply_recorded(client, ledger, &object, hash)
                .await
                .map(Some)
        }
    }
}

/// Applies `object`, already stamped with `hash`, and records what the API
/// server stored in `ledger`.
async fn apply_recorded<K>(
    client: &Client,
    ledger: &Ledger,
    object: &K,
    hash: String,
) -> Result<K, Error>
where
    K: k8s_openapi::Resource
        + Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let stored = apply_namespaced(client, object).await?;
    let key = key(<K as k8s_openapi::Resource>::KIND, stored.meta());
    ledger.record(key, hash, stored.meta());
    Ok(stored)
}

/// Like [`apply_if_needed`] for a child cached whole (`current`): returns
/// the stored object and `true` when applied, else the cached one and `false`.
pub async fn apply_or_cached<K>(
    client: &Client,
    ledger: &Ledger,
    mut object: K,
    current: Option<Arc<K>>,
    fields_differ: bool,
) -> Result<(K, bool), Error>
where
    K: k8s_openapi::Resource
        + Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let Some(current) = current else {
        let hash = stamp(&mut object);
        return Ok((apply_recorded(client, ledger, &object, hash).await?, true));
    };
    let cached = Cached {
        meta: current.meta(),
        fields_differ,
    };
    Ok(
        match apply_if_needed(client, ledger, object, Some(cached)).await? {
            Some(stored) => (stored, true),
            None => (K::clone(&current), false),
        },
    )
}

/// A PersistentVolume is not watched: it is read (a GET, not a write) when
/// this process has not applied this version of it.
async fn apply_volume(
    client: &Client,
    ledger: &Ledger,
    mut object: PersistentVolume,
) -> Result<bool, Error> {
    let name = object.name_any();
    let hash = stamp(&mut object);
    let key = key("PersistentVolume", object.meta());
    let error = |source| Error::Apply {
        kind: "PersistentVolume",
        name: name.clone(),
        source,
    };
    let api: Api<PersistentVolume> = Api::all(client.clone());
    let seen = ledger.get(&key);
    if seen.as_ref().is_some_and(|s| s.hash == hash) {
        return Ok(false);
    }
    let current = api.get_metadata_opt(&name).await.map_err(error)?;
    let cached = current.as_ref().map(|c| Cached {
        meta: &c.metadata,
        fields_differ: false,
    });
    match decide(object.meta(), cached, seen.as_ref()) {
        Decision::Skip { .. } => {
            if let Some(current) = &current {
                ledger.record(key, hash, &current.metadata);
            }
            Ok(false)
        }
        Decision::Apply(_) => {
            let stored = api
                .patch(&name, &params(), &Patch::Apply(&object))
                .await
                .map_err(error)?;
            ledger.record(key, hash, stored.meta());
            Ok(true)
        }
    }
}

/// The cached child `name` as [`Cached`] metadata.
macro_rules! cached_meta {
    ($caches:expr, $field:ident, $object:expr) => {
        $caches.and_then(|c| {
            cached(
                &c.$field,
                &$object.namespace().unwrap_or_default(),
                &$object.name_any(),
            )
        })
    };
}

/// Applies every child that needs it. Volumes go first so claims bind to
/// them, the Deployment last so its pods find everything they reference.
/// Without `caches` (not watching) every child is applied.
pub async fn apply(
    client: &Client,
    ledger: &Ledger,
    caches: Option<&ServiceCaches>,
    children: Children,
) -> Result<Applied, Error> {
    let Children {
        deployment,
        service,
        network_policy,
        persistent_volume_claims,
        persistent_volumes,
    } = children;
    let mut wanted = Wanted::default();
    let mut writes = 0;
    for pv in persistent_volumes {
        wanted.persistent_volumes.insert(pv.name_any());
        writes += usize::from(apply_volume(client, ledger, pv).await?);
    }
    for pvc in persistent_volume_claims {
        wanted.persistent_volume_claims.insert(pvc.name_any());
        let current = cached_meta!(caches, claims, pvc);
        let cached = current.as_deref().map(|c| Cached {
            meta: &c.metadata,
            fields_differ: false,
        });
        let stored = apply_if_needed(client, ledger, pvc, cached).await?;
        writes += usize::from(stored.is_some());
    }
    if let Some(policy) = network_policy {
        wanted.network_policies.insert(policy.name_any());
        let current = cached_meta!(caches, network_policies, policy);
        let cached = current.as_deref().map(|c| Cached {
            meta: &c.metadata,
            fields_differ: false,
        });
        let stored = apply_if_needed(client, ledger, policy, cached).await?;
        writes += usize::from(stored.is_some());
    }
    wanted.services.insert(service.name_any());
    let current = cached_meta!(caches, services, service);
    let cached = current.as_deref().map(|c| Cached {
        meta: &c.metadata,
        fields_differ: false,
    });
    let stored = apply_if_needed(client, ledger, service, cached).await?;
    writes += usize::from(stored.is_some());
    wanted.deployments.insert(deployment.name_any());
    let current = cached_meta!(caches, deployments, deployment);
    let replicas = |d: &Deployment| d.spec.as_ref().and_then(|s| s.replicas);
    let differ = replicas(&deployment)
        .is_some_and(|r| current.as_deref().is_none_or(|c| replicas(c) != Some(r)));
    let (deployment, written) =
        apply_or_cached(client, ledger, deployment, current, differ).await?;
    writes += usize::from(written);
    Ok(Applied {
        deployment,
        wanted,
        writes,
    })
}
