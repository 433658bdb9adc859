//! Names, labels and metadata shared by the children of every kind.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// Field manager of every server-side apply, and the managed-by label value.
pub const MANAGER: &str = "traceval";
/// Standard managed-by label.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Standard name label.
pub const NAME_LABEL: &str = "app.kubernetes.io/name";

/// Metadata of a namespaced child of any owner: name, namespace, labels and
/// the owner's controller reference.
pub fn owned_object_meta(
    name: impl Into<String>,
    namespace: &str,
    labels: BTreeMap<String, String>,
    owner: &OwnerReference,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

/// Annotation on every child the operator applies: the hash of the desired
/// object as applied, so an unchanged child is not applied again.
pub const APPLIED_HASH_ANNOTATION: &str = "traceval.dev/applied-hash";
