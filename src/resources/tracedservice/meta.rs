//! Labels and metadata of a TracedService's children.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::ValidatedTracedService;
use crate::resources::meta::{MANAGED_BY_LABEL, MANAGER, NAME_LABEL, owned_object_meta};

/// Label naming the TracedService a child belongs to; also the pod selector.
pub const TRACEDSERVICE_LABEL: &str = "traceval.dev/tracedservice";
/// Label with the TracedService's namespace, on cluster-scoped children (PVs).
pub const NAMESPACE_LABEL: &str = "traceval.dev/namespace";

/// Labels every child carries.
pub fn labels(svc: &ValidatedTracedService) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned()),
        (NAME_LABEL.to_owned(), svc.name.clone()),
        (TRACEDSERVICE_LABEL.to_owned(), svc.name.clone()),
    ])
}

/// Labels that select the pods (immutable in the Deployment, so minimal).
pub fn selector_labels(svc: &ValidatedTracedService) -> BTreeMap<String, String> {
    BTreeMap::from([(TRACEDSERVICE_LABEL.to_owned(), svc.name.clone())])
}

/// Label selector string that finds every child of a TracedService.
pub fn children_selector(name: &str) -> String {
    format!("{MANAGED_BY_LABEL}={MANAGER},{TRACEDSERVICE_LABEL}={name}")
}

/// Metadata of a namespaced child: name, namespace, labels and the controller owner reference.
pub fn object_meta(svc: &ValidatedTracedService, name: impl Into<String>) -> ObjectMeta {
    owned_object_meta(name, &svc.namespace, labels(svc), &svc.owner)
}

/// Metadata of a cluster-scoped child: it cannot be owned by a namespaced
/// object, so it is found by labels (name and namespace) instead.
pub fn cluster_object_meta(svc: &ValidatedTracedService, name: impl Into<String>) -> ObjectMeta {
    let mut labels = labels(svc);
    labels.insert(NAMESPACE_LABEL.to_owned(), svc.namespace.clone());
    ObjectMeta {
        name: Some(name.into()),
        labels: Some(labels),
        ..ObjectMeta::default()
    }
}
