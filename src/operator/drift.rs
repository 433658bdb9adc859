//! Whether a child needs applying: it is missing, the desired object changed
//! since it was last applied, or someone else changed what the operator owns
//! (drift). Everything else is left alone, so a no-op reconcile writes nothing.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Serialize;

use crate::api::hash::short_hash;
use crate::resources::meta::{APPLIED_HASH_ANNOTATION, MANAGER};

/// Annotation put on a *cached* child (never written to the API) when a
/// field manager other than the operator wrote the object itself (not a
/// subresource) at or after the operator's last apply.
pub const FOREIGN_WRITE_MARK: &str = "traceval.dev/foreign-write-after-apply";

/// Managers whose writes of a child's main resource are the cluster's own
/// bookkeeping, not edits of what the operator owns (the Deployment
/// controller's revision annotation, the PV binder's claim annotations).
const SYSTEM_MANAGERS: &[&str] = &["kube-controller-manager"];

/// Marks `meta` with [`FOREIGN_WRITE_MARK`] when its `managedFields` show
/// an `Update` or `Apply` of the object by another manager no earlier than
/// the operator's own last `Apply` (times have one-second resolution, so a
/// tie counts as foreign). Edits made while no operator ran are visible
/// this way after a restart, when this process has seen no apply of its own.
pub fn mark_foreign_writes(meta: &mut ObjectMeta) {
    let Some(entries) = meta.managed_fields.as_ref() else {
        return;
    };
    let main = |e: &&k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry| {
        e.subresource.as_deref().unwrap_or_default().is_empty()
    };
    let ours = entries
        .iter()
        .filter(main)
        .filter(|e| {
            e.manager.as_deref() == Some(MANAGER) && e.operation.as_deref() == Some("Apply")
        })
        .filter_map(|e| e.time.as_ref().map(|t| t.0))
        .max();
    let Some(ours) = ours else {
        return;
    };
    let foreign = entries.iter().filter(main).any(|e| {
        let manager = e.manager.as_deref().unwrap_or_default();
        manager != MANAGER
            && !SYSTEM_MANAGERS.contains(&manager)
            && matches!(e.operation.as_deref(), Some("Update" | "Apply"))
            && e.time.as_ref().is_some_and(|t| t.0 >= ours)
    });
    if foreign {
        meta.annotations
            .get_or_insert_with(Default::default)
            .insert(FOREIGN_WRITE_MARK.to_owned(), "true".to_owned());
    }
}

/// How far a child has been changed: its `metadata.generation` (bumped by
/// spec changes only) when the kind has one, else its `resourceVersion`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Version {
    /// `metadata.generation`.
    Generation(i64),
    /// `metadata.resourceVersion` (kinds without a generation).
    Resource(String),
}

impl Version {
    /// The version of an object's metadata.
    pub fn of(meta: &ObjectMeta) -> Option<Self> {
        match (meta.generation, &meta.resource_version) {
            (Some(generation), _) => Some(Self::Generation(generation)),
            (None, Some(rv)) => Some(Self::Resource(rv.clone())),
            (None, None) => None,
        }
    }

    /// `self` against `other`; resource versions compare as etcd revisions
    /// when both are numbers, else unequal ones count as newer.
    fn compare(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Generation(a), Self::Generation(b)) => a.cmp(b),
            (Self::Resource(a), Self::Resource(b)) => match (a.parse::<u64>(), b.parse::<u64>()) {
                (Ok(a), Ok(b)) => a.cmp(&b),
                _ if a == b => Ordering::Equal,
                _ => Ordering::Greater,
            },
            _ => Ordering::Greater,
        }
    }
}

/// What this process saw of a child right after its own last apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Hash of the desired object applied.
    pub hash: String,
    /// The child's version in the apply response.
    pub version: Option<Version>,
}

/// The child as the operator's watch cache has it.
#[derive(Clone, Copy, Debug)]
pub struct Cached<'a> {
    /// Its metadata.
    pub meta: &'a ObjectMeta,
    /// A field the operator owns differs from the desired object and the
    /// metadata cannot show it (e.g. a Deployment's replicas).
    pub fields_differ: bool,
}

/// Why a child is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// Not in the cache (or no cache).
    Missing,
    /// The desired object differs from what was last applied.
    Changed,
    /// Someone else changed what the operator owns.
    Drifted,
}

/// The decision for one child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Apply it.
    Apply(Why),
    /// Leave it; `adopt`: this process had not seen it after an apply of
    /// its own, so its current version becomes the one to compare with.
    Skip {
        /// Record the cached version as seen.
        adopt: bool,
    },
}

/// Decides for the `desired` object's metadata (stamped with
/// [`APPLIED_HASH_ANNOTATION`]), the `cached` child, and what this process
/// `seen` after its last apply of it.
pub fn decide(desired: &ObjectMeta, cached: Option<Cached<'_>>, seen: Option<&Seen>) -> Decision {
    let Some(cached) = cached else {
        return Decision::Apply(Why::Missing);
    };
    let annotation = |meta: &ObjectMeta| {
        meta.annotations
            .as_ref()
            .and_then(|a| a.get(APPLIED_HASH_ANNOTATION))
            .cloned()
    };
    let wanted_hash = annotation(desired);
    let version = Version::of(cached.meta);
    let compared = |seen: &Seen| match (&version, &seen.version) {
        (Some(cached), Some(applied)) => cached.compare(applied),
        _ => Ordering::Greater,
    };
    let seen_current = seen.filter(|s| Some(&s.hash) == wanted_hash.as_ref());
    if annotation(cached.meta) != wanted_hash {
        // Applied by this process but not yet in the cache: its watch event
        // comes and triggers another reconcile.
        if seen_current.is_some_and(|s| compared(s) == Ordering::Less) {
            return Decision::Skip { adopt: false };
        }
        return Decision::Apply(Why::Changed);
    }
    if !contains(cached.meta.labels.as_ref(), desired.labels.as_ref())
        || !contains(
            cached.meta.annotations.as_ref(),
            desired.annotations.as_ref(),
        )
        || !owned_by(cached.meta, desired)
        || cached.fields_differ
    {
        return Decision::Apply(Why::Drifted);
    }
    let foreign_write = cached
        .meta
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(FOREIGN_WRITE_MARK));
    match seen_current {
        Some(seen) if compared(seen) == Ordering::Greater => Decision::Apply(Why::Drifted),
        Some(_) => Decision::Skip { adopt: false },
        // First sight in this process (e.g. after a restart): adopt it as
        // it is unless someone else wrote it after the operator's last apply.
        None if foreign_write => Decision::Apply(Why::Drifted),
        None => Decision::Skip { adopt: true },
    }
}

fn contains(
    actual: Option<&std::collections::BTreeMap<String, String>>,
    wanted: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    wanted
        .into_iter()
        .flatten()
        .all(|(k, v)| actual.and_then(|a| a.get(k)) == Some(v))
}

/// The desired controller owner reference is on the cached child.
fn owned_by(cached: &ObjectMeta, desired: &ObjectMeta) -> bool {
    desired.owner_references.iter().flatten().all(|wanted| {
        cached
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == wanted.uid && o.controller == wanted.controller)
    })
}

/// Puts the hash of `object` (as built, before the annotation) in its
/// [`APPLIED_HASH_ANNOTATION`] and returns it.
pub fn stamp<K: Resource + Serialize>(object: &mut K) -> String {
    // Serialising API structs (BTreeMaps, no floats as keys) is
    // deterministic and cannot fail.
    let json = serde_json::to_vec(&*object).unwrap_or_default();
    let hash = short_hash(&json, 8);
    object
        .meta_mut()
        .annotations
        .get_or_insert_with(Default::default)
        .insert(APPLIED_HASH_ANNOTATION.to_owned(), hash.clone());
    hash
}

/// What this process saw after its own applies, per child (`Kind/ns/name`).
#[derive(Debug, Default)]
pub struct SeenAfterApply {
    seen: Mutex<HashMap<String, Seen>>,
}

impl SeenAfterApply {
    /// What was seen of `key`.
    pub fn get(&self, key: &str) -> Option<Seen> {
        self.lock().get(key).cloned()
    }

    /// Records `hash` and the version in `meta` for `key`.
    pub fn record(&self, key: String, hash: String, meta: &ObjectMeta) {
        let seen = Seen {
            hash,
            version: Version::of(meta),
        };
        self.lock().insert(key, seen);
    }

    /// Forgets every child of one owner (`Kind/ns/` prefix and names).
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Number of children recorded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Nothing recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The key of a child in [`SeenAfterApply`]: `Kind/namespace/name`.
pub fn key(kind: &str, meta: &ObjectMeta) -> String {
    format!(
        "{kind}/{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}
