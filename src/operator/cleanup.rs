//! Deletion of children the spec no longer wants, found by label; both
//! controllers' cleanup steps are built from these.

use std::collections::BTreeSet;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, ListParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::error::Error;

/// Whether the spec changed since the last reconcile that finished
/// (`metadata.generation` ≠ `status.observedGeneration`; a never-reconciled
/// object has nothing to clean up).
pub fn generation_changed(generation: Option<i64>, observed: Option<i64>) -> bool {
    observed.is_some_and(|observed| Some(observed) != generation)
}

/// The event announcing what cleanup deleted, if it deleted anything.
pub fn cleanup_event(deleted: &[String]) -> Option<Event> {
    (!deleted.is_empty()).then(|| Event {
        type_: EventType::Normal,
        reason: "Cleanup".to_owned(),
        note: Some(format!(
            "deleted children the spec no longer wants: {}",
            deleted.join(", ")
        )),
        action: "Delete".to_owned(),
        secondary: None,
    })
}

/// Deletes the objects of kind `K` in `namespace` that match `selector`, are
/// controlled by the owner with uid `owner_uid` and are not in `wanted`;
/// returns `Kind/name` of each one deleted.
pub async fn delete_unwanted<K>(
    client: &Client,
    namespace: &str,
    selector: &str,
    owner_uid: &str,
    wanted: &BTreeSet<String>,
) -> Result<Vec<String>, Error>
where
    K: k8s_openapi::Resource
        + Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let cleanup_error = |source| Error::Cleanup {
        kind: <K as k8s_openapi::Resource>::KIND,
        source,
    };
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(cleanup_error)?;
    let mut deleted = Vec::new();
    for object in list.items {
        let ours = object
            .owner_references()
            .iter()
            .any(|o| o.controller == Some(true) && o.uid == owner_uid);
        let name = object.name_any();
        if ours && !wanted.contains(&name) {
            delete(&api, &name).await.map_err(cleanup_error)?;
            deleted.push(format!("{}/{name}", <K as k8s_openapi::Resource>::KIND));
        }
    }
    Ok(deleted)
}

/// Deletes `name` in the background; one already gone is deleted.
pub async fn delete<K>(api: &Api<K>, name: &str) -> Result<(), kube::Error>
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
