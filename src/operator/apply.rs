//! Server-side apply of one child with one field manager, only when it is
//! missing, changed or drifted (see [`super::drift`]); both controllers'
//! apply steps are built from these.

use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::drift::{Cached, Decision, SeenAfterApply, decide, key, stamp};
use super::error::Error;
use crate::resources::meta::MANAGER;

/// Server-side apply with the `traceval` field manager, taking over
/// conflicting fields.
pub fn params() -> PatchParams {
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
/// was left alone. Records what was seen in `seen_after_apply`.
pub async fn apply_if_needed<K>(
    client: &Client,
    seen_after_apply: &SeenAfterApply,
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
    match decide(object.meta(), cached, seen_after_apply.get(&key).as_ref()) {
        Decision::Skip { adopt } => {
            if let (true, Some(cached)) = (adopt, cached) {
                seen_after_apply.record(key, hash, cached.meta);
            }
            Ok(None)
        }
        Decision::Apply(why) => {
            tracing::debug!(kind, name = %object.name_any(), ?why, "applying");
            apply_recorded(client, seen_after_apply, &object, hash)
                .await
                .map(Some)
        }
    }
}

/// Applies `object`, already stamped with `hash`, and records what the API
/// server stored in `seen_after_apply`.
async fn apply_recorded<K>(
    client: &Client,
    seen_after_apply: &SeenAfterApply,
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
    seen_after_apply.record(key, hash, stored.meta());
    Ok(stored)
}

/// Like [`apply_if_needed`] for a child cached whole (`current`): returns
/// the stored object and `true` when applied, else the cached one and `false`.
pub async fn apply_or_cached<K>(
    client: &Client,
    seen_after_apply: &SeenAfterApply,
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
        return Ok((
            apply_recorded(client, seen_after_apply, &object, hash).await?,
            true,
        ));
    };
    let cached = Cached {
        meta: current.meta(),
        fields_differ,
    };
    Ok(
        match apply_if_needed(client, seen_after_apply, object, Some(cached)).await? {
            Some(stored) => (stored, true),
            None => (K::clone(&current), false),
        },
    )
}
