//! PersistentVolumes of OSS CSI mounts are cluster-scoped, so a namespaced
//! TracedService cannot own them and the garbage collector never removes
//! them. A finalizer, present only while such volumes may exist, lets the
//! operator delete them when the TracedService goes away.

use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::api::TracedService;
use crate::api::tracedservice::OssMode;
use crate::operator::error::Error;
use crate::resources::tracedservice::meta::{NAMESPACE_LABEL, children_selector};

/// The finalizer guarding the PersistentVolumes.
pub const VOLUMES_FINALIZER: &str = "traceval.dev/persistent-volumes";

/// Whether the spec asks for PersistentVolumes (an `oss` mount in `csi` mode).
pub fn wants_volumes(ts: &TracedService) -> bool {
    ts.spec
        .mounts
        .iter()
        .any(|m| m.oss.as_ref().is_some_and(|o| o.mode == OssMode::Csi))
}

/// Whether the finalizer is set.
pub fn has_finalizer(ts: &TracedService) -> bool {
    ts.finalizers().iter().any(|f| f == VOLUMES_FINALIZER)
}

/// Adds the finalizer (before any volume is created).
pub async fn add(client: &Client, ts: &TracedService) -> Result<(), Error> {
    let mut finalizers = ts.finalizers().to_vec();
    finalizers.push(VOLUMES_FINALIZER.to_owned());
    set(client, ts, finalizers).await
}

/// Removes the finalizer.
pub async fn remove(client: &Client, ts: &TracedService) -> Result<(), Error> {
    let finalizers = ts
        .finalizers()
        .iter()
        .filter(|f| *f != VOLUMES_FINALIZER)
        .cloned()
        .collect();
    set(client, ts, finalizers).await
}

/// Deletes every PersistentVolume of the TracedService, then the finalizer.
pub async fn finalize(client: &Client, ts: &TracedService) -> Result<(), Error> {
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let selector = format!(
        "{},{NAMESPACE_LABEL}={}",
        children_selector(&ts.name_any()),
        ts.namespace().unwrap_or_default()
    );
    let finalizer_error = |source| Error::Finalizer { source };
    let list = volumes
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(finalizer_error)?;
    for volume in list.items {
        match volumes
            .delete(&volume.name_any(), &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => return Err(finalizer_error(source)),
        }
    }
    remove(client, ts).await
}

/// Sets the finalizer list, failing on a concurrent change (resourceVersion).
async fn set(client: &Client, ts: &TracedService, finalizers: Vec<String>) -> Result<(), Error> {
    let api: Api<TracedService> =
        Api::namespaced(client.clone(), &ts.namespace().unwrap_or_default());
    let patch = json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": ts.resource_version(),
        }
    });
    api.patch(
        &ts.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(drop)
    .map_err(|source| Error::Finalizer { source })
}
