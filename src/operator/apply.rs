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

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::drift::{Cached, Decision, SeenAfterApply, Why, decide, key, stamp};
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
/// was left alone. Records what was seen in `seen_after_apply`. `watched`:
/// whether a synced cache of every object of the kind was consulted (then
/// a missing child has no namesake; without one, the name is read first).
pub async fn apply_if_needed<K>(
    client: &Client,
    seen_after_apply: &SeenAfterApply,
    mut object: K,
    cached: Option<Cached<'_>>,
    watched: bool,
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
    if let Some(cached) = &cached {
        check_owned(kind, object.meta(), cached.meta)?;
    }
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
            if why == Why::Missing && !watched {
                check_not_foreign(client, &object).await?;
            }
            apply_recorded(client, seen_after_apply, &object, hash)
                .await
                .map(Some)
        }
    }
}

/// An object's controller reference, if it has one.
fn controller(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// Refuses to write over `existing` unless the desired child's controller
/// (its owner) is its controller too: a child is never adopted.
fn check_owned(
    kind: &'static str,
    desired: &ObjectMeta,
    existing: &ObjectMeta,
) -> Result<(), Error> {
    let ours = controller(desired).map(|r| r.uid.as_str());
    let theirs = controller(existing);
    if ours.is_some() && theirs.map(|r| r.uid.as_str()) == ours {
        return Ok(());
    }
    let holder = theirs.map_or_else(
        || "it has no controller".to_owned(),
        |r| format!("controlled by {} {}", r.kind, r.name),
    );
    Err(Error::NotOwned {
        kind,
        name: existing.name.clone().unwrap_or_default(),
        holder,
    })
}

/// Before creating a child without a cache to consult: an object of that
/// name that is not this owner's stops the apply. (The caches watch every
/// object of a child kind, so with one a namesake is [`Cached`] and checked
/// by [`check_owned`]; this read needs `get`, which the chart does not grant.)
async fn check_not_foreign<K>(client: &Client, object: &K) -> Result<(), Error>
where
    K: k8s_openapi::Resource
        + Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned,
{
    let name = object.name_any();
    let api: Api<K> = Api::namespaced(client.clone(), &object.namespace().unwrap_or_default());
    let kind = <K as k8s_openapi::Resource>::KIND;
    let existing = api
        .get_metadata_opt(&name)
        .await
        .map_err(|source| Error::Dereference {
            kind,
            name: name.clone(),
            source,
        })?;
    match existing {
        Some(existing) => check_owned(kind, object.meta(), &existing.metadata),
        None => Ok(()),
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
    watched: bool,
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
        if !watched {
            check_not_foreign(client, &object).await?;
        }
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
        match apply_if_needed(client, seen_after_apply, object, Some(cached), watched).await? {
            Some(stored) => (stored, true),
            None => (K::clone(&current), false),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(controller: Option<(&str, &str)>) -> ObjectMeta {
        ObjectMeta {
            name: Some("app".into()),
            owner_references: controller.map(|(kind, uid)| {
                vec![OwnerReference {
                    api_version: "traceval.dev/v1alpha1".into(),
                    kind: kind.into(),
                    name: "owner".into(),
                    uid: uid.into(),
                    controller: Some(true),
                    block_owner_deletion: None,
                }]
            }),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn only_a_child_of_the_same_controller_is_written_over() {
        let desired = meta(Some(("TracedService", "uid-1")));
        assert!(check_owned("Service", &desired, &meta(Some(("TracedService", "uid-1")))).is_ok());
        let foreign = check_owned("Service", &desired, &meta(None)).unwrap_err();
        assert_eq!(
            foreign.to_string(),
            "Service app already exists and is not managed by this object (it has no controller); traceval leaves it untouched: rename this object or remove that Service"
        );
        // Another TracedService's (or a re-created one's, until the garbage
        // collector removes the old child).
        let other = check_owned("Service", &desired, &meta(Some(("TracedService", "uid-2"))));
        assert!(
            other
                .unwrap_err()
                .to_string()
                .contains("controlled by TracedService owner")
        );
        // A desired object without a controller never writes over anything.
        assert!(check_owned("Service", &meta(None), &meta(None)).is_err());
    }
}
