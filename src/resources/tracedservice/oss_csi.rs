//! PersistentVolume and PersistentVolumeClaim of each `oss` mount in `csi` mode,
//! a static volume of the `ossplugin.csi.alibabacloud.com` driver.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    CSIPersistentVolumeSource, ObjectReference, PersistentVolume, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeSpec, SecretReference, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::meta::{cluster_object_meta, object_meta};
use super::validate::{MountSource, ValidMount, ValidatedTracedService};

/// CSI driver of Alibaba Cloud OSS volumes.
pub const OSS_CSI_DRIVER: &str = "ossplugin.csi.alibabacloud.com";
/// Nominal size: OSS has none, but PVs and PVCs must state one and match.
const NOMINAL_SIZE: &str = "20Gi";

/// Name of the claim of an OSS CSI mount.
pub fn claim_name(svc: &ValidatedTracedService, mount: &ValidMount) -> String {
    format!("{}-oss-{}", svc.name, mount.index)
}

/// Name of the (cluster-scoped) volume of an OSS CSI mount.
pub fn volume_name(svc: &ValidatedTracedService, mount: &ValidMount) -> String {
    format!(
        "traceval-{}-{}-oss-{}",
        svc.namespace, svc.name, mount.index
    )
}

fn access_modes(mount: &ValidMount) -> Vec<String> {
    let mode = if mount.read_only {
        "ReadOnlyMany"
    } else {
        "ReadWriteMany"
    };
    vec![mode.to_owned()]
}

fn size() -> BTreeMap<String, Quantity> {
    BTreeMap::from([("storage".to_owned(), Quantity(NOMINAL_SIZE.to_owned()))])
}

/// The claims of the OSS CSI mounts.
pub fn persistent_volume_claims(svc: &ValidatedTracedService) -> Vec<PersistentVolumeClaim> {
    csi_mounts(svc)
        .map(|m| PersistentVolumeClaim {
            metadata: object_meta(svc, claim_name(svc, m)),
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(access_modes(m)),
                storage_class_name: Some(String::new()),
                volume_name: Some(volume_name(svc, m)),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(size()),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            status: None,
        })
        .collect()
}

/// The static volumes of the OSS CSI mounts, each bound to its claim.
pub fn persistent_volumes(svc: &ValidatedTracedService) -> Vec<PersistentVolume> {
    csi_mounts(svc)
        .filter_map(|m| match &m.source {
            MountSource::OssCsi(oss) => Some((m, oss)),
            _ => None,
        })
        .map(|(m, oss)| {
            let name = volume_name(svc, m);
            let mut other_opts = String::from("-o allow_other");
            if m.read_only {
                other_opts.push_str(" -o ro");
            }
            let attributes = BTreeMap::from([
                ("bucket".to_owned(), oss.bucket.clone()),
                ("url".to_owned(), oss.endpoint.clone()),
                ("path".to_owned(), oss.path.clone()),
                ("otherOpts".to_owned(), other_opts),
            ]);
            PersistentVolume {
                metadata: cluster_object_meta(svc, name.clone()),
                spec: Some(PersistentVolumeSpec {
                    access_modes: Some(access_modes(m)),
                    capacity: Some(size()),
                    storage_class_name: Some(String::new()),
                    persistent_volume_reclaim_policy: Some("Retain".to_owned()),
                    claim_ref: Some(ObjectReference {
                        namespace: Some(svc.namespace.clone()),
                        name: Some(claim_name(svc, m)),
                        ..ObjectReference::default()
                    }),
                    csi: Some(CSIPersistentVolumeSource {
                        driver: OSS_CSI_DRIVER.to_owned(),
                        volume_handle: name,
                        volume_attributes: Some(attributes),
                        node_publish_secret_ref: oss.credentials_secret_ref.as_ref().map(|s| {
                            SecretReference {
                                name: Some(s.name.clone()),
                                namespace: Some(svc.namespace.clone()),
                            }
                        }),
                        ..CSIPersistentVolumeSource::default()
                    }),
                    ..PersistentVolumeSpec::default()
                }),
                status: None,
            }
        })
        .collect()
}

fn csi_mounts(svc: &ValidatedTracedService) -> impl Iterator<Item = &ValidMount> {
    svc.mounts
        .iter()
        .filter(|m| matches!(m.source, MountSource::OssCsi(_)))
}
