//! Server-side apply of a TracedService's children with one field manager,
//! each only when it is missing, changed or drifted (see
//! [`crate::operator::drift`]).

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::Patch;
use kube::{Api, Client, Resource, ResourceExt};

use super::caches::ServiceCaches;
use crate::operator::apply::{apply_if_needed, apply_or_cached, params};
use crate::operator::drift::{Cached, Decision, SeenAfterApply, decide, key, stamp};
use crate::operator::error::Error;
use crate::operator::stores::cached;
use crate::resources::tracedservice::Children;

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

/// A PersistentVolume is not watched: it is read (a GET, not a write) when
/// this process has not applied this version of it.
async fn apply_volume(
    client: &Client,
    seen_after_apply: &SeenAfterApply,
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
    let seen = seen_after_apply.get(&key);
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
                seen_after_apply.record(key, hash, &current.metadata);
            }
            Ok(false)
        }
        Decision::Apply(_) => {
            let stored = api
                .patch(&name, &params(), &Patch::Apply(&object))
                .await
                .map_err(error)?;
            seen_after_apply.record(key, hash, stored.meta());
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
    seen_after_apply: &SeenAfterApply,
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
        writes += usize::from(apply_volume(client, seen_after_apply, pv).await?);
    }
    for pvc in persistent_volume_claims {
        wanted.persistent_volume_claims.insert(pvc.name_any());
        let current = cached_meta!(caches, claims, pvc);
        let cached = current.as_deref().map(|c| Cached {
            meta: &c.metadata,
            fields_differ: false,
        });
        let stored =
            apply_if_needed(client, seen_after_apply, pvc, cached, caches.is_some()).await?;
        writes += usize::from(stored.is_some());
    }
    if let Some(policy) = network_policy {
        wanted.network_policies.insert(policy.name_any());
        let current = cached_meta!(caches, network_policies, policy);
        let cached = current.as_deref().map(|c| Cached {
            meta: &c.metadata,
            fields_differ: false,
        });
        let stored =
            apply_if_needed(client, seen_after_apply, policy, cached, caches.is_some()).await?;
        writes += usize::from(stored.is_some());
    }
    wanted.services.insert(service.name_any());
    let current = cached_meta!(caches, services, service);
    let cached = current.as_deref().map(|c| Cached {
        meta: &c.metadata,
        fields_differ: false,
    });
    let stored =
        apply_if_needed(client, seen_after_apply, service, cached, caches.is_some()).await?;
    writes += usize::from(stored.is_some());
    wanted.deployments.insert(deployment.name_any());
    let current = cached_meta!(caches, deployments, deployment);
    let replicas = |d: &Deployment| d.spec.as_ref().and_then(|s| s.replicas);
    let differ = replicas(&deployment)
        .is_some_and(|r| current.as_deref().is_none_or(|c| replicas(c) != Some(r)));
    let (deployment, written) = apply_or_cached(
        client,
        seen_after_apply,
        deployment,
        current,
        differ,
        caches.is_some(),
    )
    .await?;
    writes += usize::from(written);
    Ok(Applied {
        deployment,
        wanted,
        writes,
    })
}
