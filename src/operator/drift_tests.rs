//! The "should apply?" decision: missing, changed, drifted, unchanged.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ManagedFieldsEntry, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::jiff::Timestamp;

use super::drift::{
    Cached, Decision, FOREIGN_WRITE_MARK, Seen, Version, Why, decide, mark_foreign_writes, stamp,
};
use crate::resources::meta::APPLIED_HASH_ANNOTATION;

fn desired() -> (ObjectMeta, String) {
    let mut service = Service {
        metadata: ObjectMeta {
            name: Some("demo".into()),
            namespace: Some("llm".into()),
            labels: Some(BTreeMap::from([("app".into(), "demo".into())])),
            owner_references: Some(vec![OwnerReference {
                uid: "uid-1".into(),
                controller: Some(true),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
        ..Service::default()
    };
    let hash = stamp(&mut service);
    (service.metadata, hash)
}

/// The child as stored after an apply of `desired`, at `generation`.
fn stored(desired: &ObjectMeta, generation: i64) -> ObjectMeta {
    let mut meta = desired.clone();
    meta.generation = Some(generation);
    meta.resource_version = Some("100".into());
    meta.labels
        .get_or_insert_with(Default::default)
        .insert("foreign".into(), "label".into());
    meta
}

fn cached(meta: &ObjectMeta) -> Option<Cached<'_>> {
    Some(Cached {
        meta,
        fields_differ: false,
    })
}

fn seen(hash: &str, generation: i64) -> Seen {
    Seen {
        hash: hash.to_owned(),
        version: Some(Version::Generation(generation)),
    }
}

#[test]
fn a_missing_child_is_applied() {
    let (desired, hash) = desired();
    assert_eq!(decide(&desired, None, None), Decision::Apply(Why::Missing));
    assert_eq!(
        decide(&desired, None, Some(&seen(&hash, 1))),
        Decision::Apply(Why::Missing)
    );
}

#[test]
fn an_unchanged_child_is_left_alone_and_adopted_once() {
    let (desired, hash) = desired();
    let child = stored(&desired, 1);
    assert_eq!(
        decide(&desired, cached(&child), None),
        Decision::Skip { adopt: true },
        "first sight after a restart: nothing written"
    );
    assert_eq!(
        decide(&desired, cached(&child), Some(&seen(&hash, 1))),
        Decision::Skip { adopt: false }
    );
}

#[test]
fn a_changed_desired_object_is_applied() {
    let (desired, hash) = desired();
    let mut child = stored(&desired, 1);
    child
        .annotations
        .get_or_insert_with(Default::default)
        .insert(APPLIED_HASH_ANNOTATION.into(), "0123456789abcdef".into());
    assert_eq!(
        decide(&desired, cached(&child), Some(&seen("0123456789abcdef", 1))),
        Decision::Apply(Why::Changed)
    );
    assert_eq!(
        decide(&desired, cached(&child), None),
        Decision::Apply(Why::Changed)
    );
    // Applied by this process (generation 2), cache still at 1: wait for its event.
    assert_eq!(
        decide(&desired, cached(&child), Some(&seen(&hash, 2))),
        Decision::Skip { adopt: false }
    );
}

#[test]
fn a_child_someone_else_changed_is_applied_again() {
    let (desired, hash) = desired();
    // Another writer changed the spec: generation moved past the applied one.
    let child = stored(&desired, 3);
    assert_eq!(
        decide(&desired, cached(&child), Some(&seen(&hash, 2))),
        Decision::Apply(Why::Drifted)
    );
    // It removed a label the operator sets.
    let mut unlabelled = stored(&desired, 2);
    unlabelled.labels = Some(BTreeMap::from([("foreign".into(), "label".into())]));
    assert_eq!(
        decide(&desired, cached(&unlabelled), Some(&seen(&hash, 2))),
        Decision::Apply(Why::Drifted)
    );
    // It dropped the owner reference.
    let mut orphan = stored(&desired, 2);
    orphan.owner_references = None;
    assert_eq!(
        decide(&desired, cached(&orphan), None),
        Decision::Apply(Why::Drifted)
    );
    // A field outside the metadata differs (a Deployment's replicas).
    let scaled = stored(&desired, 2);
    let differing = Some(Cached {
        meta: &scaled,
        fields_differ: true,
    });
    assert_eq!(
        decide(&desired, differing, None),
        Decision::Apply(Why::Drifted)
    );
}

#[test]
fn kinds_without_generation_compare_resource_versions() {
    let (desired, hash) = desired();
    let mut child = stored(&desired, 1);
    child.generation = None;
    let at = |rv: &str| Seen {
        hash: hash.clone(),
        version: Some(Version::Resource(rv.into())),
    };
    assert_eq!(
        decide(&desired, cached(&child), Some(&at("100"))),
        Decision::Skip { adopt: false }
    );
    assert_eq!(
        decide(&desired, cached(&child), Some(&at("90"))),
        Decision::Apply(Why::Drifted)
    );
    assert_eq!(
        decide(&desired, cached(&child), Some(&at("120"))),
        Decision::Skip { adopt: false },
        "the cache lags behind this process's own apply"
    );
}

#[test]
fn the_hash_is_stable_and_follows_the_object() {
    let (first, hash) = desired();
    let (second, again) = desired();
    assert_eq!(hash, again);
    assert_eq!(first, second);
    assert_eq!(hash.len(), 16);
    let mut other = Service::default();
    other.metadata.name = Some("other".into());
    assert_ne!(stamp(&mut other), hash);
}

fn entry(manager: &str, operation: &str, subresource: &str, second: i64) -> ManagedFieldsEntry {
    ManagedFieldsEntry {
        manager: Some(manager.into()),
        operation: Some(operation.into()),
        subresource: (!subresource.is_empty()).then(|| subresource.into()),
        time: Some(Time(
            Timestamp::from_second(1_800_000_000 + second).expect("a timestamp"),
        )),
        ..ManagedFieldsEntry::default()
    }
}

/// What the cache holds after [`mark_foreign_writes`] and `slim`.
fn marked(desired: &ObjectMeta, entries: Vec<ManagedFieldsEntry>) -> ObjectMeta {
    let mut meta = stored(desired, 2);
    meta.managed_fields = Some(entries);
    mark_foreign_writes(&mut meta);
    meta.managed_fields = None;
    meta
}

#[test]
fn after_a_restart_a_child_written_by_someone_else_since_the_last_apply_is_applied() {
    let (desired, _) = desired();
    let edited = marked(
        &desired,
        vec![
            entry("traceval", "Apply", "", 10),
            entry("kubectl-edit", "Update", "", 20),
        ],
    );
    assert_eq!(
        decide(&desired, cached(&edited), None),
        Decision::Apply(Why::Drifted)
    );
    // The cluster's own writes and status updates are not edits; older
    // foreign writes were overwritten by the operator's last apply.
    let untouched = marked(
        &desired,
        vec![
            entry("kubectl-create", "Update", "", 5),
            entry("traceval", "Apply", "", 10),
            entry("kube-controller-manager", "Update", "", 20),
            entry("kube-controller-manager", "Update", "status", 30),
            entry("kubectl-scale", "Update", "scale", 40),
        ],
    );
    assert!(
        untouched
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key(FOREIGN_WRITE_MARK))
    );
    assert_eq!(
        decide(&desired, cached(&untouched), None),
        Decision::Skip { adopt: true }
    );
}
