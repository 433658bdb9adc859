//! The controllers' watch caches of their children, kept small: metadata
//! only, or (Deployments, Jobs, whose status the reconciles read) without the
//! pod template; never `managedFields` or kubectl's last-applied annotation.
//!
//! Every watch stream of both controllers (the main watch, the children
//! caches here, the merged trigger stream) retries with its own
//! [`watch_backoff`]: kube-runtime's exponential backoff and reset timer,
//! with shorter delays than kube's default. That default (client-go's:
//! 0.8 s doubling to 30 s, reset only after 120 s without an error) is
//! shared by *all* the watches of a controller: their streams are merged,
//! and every error of any of them pauses the merged stream. After an API
//! server restart each of a controller's ~6 watches fails once with 410 Gone
//! (the new server's watch cache starts at a newer resourceVersion), so with
//! the default, errors from the outage have already raised the delay to
//! 30 s, and the watches come back one by one at 30-45 s each: minutes
//! without events (measured in tests/reliability/faults.rs). This one
//! doubles from 250 ms to 2 s without jitter and resets after 10 s without
//! an error: still at most one retry round of the watches per 2 s while the
//! server is down, and all of them back within seconds after.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures::Stream;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::utils::ResetTimerBackoff;
use kube::runtime::watcher::ExponentialBackoff;
use kube::runtime::{WatchStreamExt, reflector as reflect, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// kubectl's copy of the whole object; never needed.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// How long a reconcile waits for the caches' first list before it applies
/// without them.
const READY_WAIT: Duration = Duration::from_secs(30);

/// First delay of a watch after an error.
pub const WATCH_BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Largest delay of a watch after errors.
pub const WATCH_BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Time without an error after which a watch's delay starts again from
/// [`WATCH_BACKOFF_MIN`].
pub const WATCH_BACKOFF_RESET: Duration = Duration::from_secs(10);

/// The backoff of one watch stream after an error: doubling from
/// [`WATCH_BACKOFF_MIN`] to [`WATCH_BACKOFF_MAX`], reset after
/// [`WATCH_BACKOFF_RESET`] without errors (see the module docs for why not
/// kube's default).
pub fn watch_backoff() -> ResetTimerBackoff<ExponentialBackoff> {
    let exponential = backon::ExponentialBuilder::default()
        .with_min_delay(WATCH_BACKOFF_MIN)
        .with_max_delay(WATCH_BACKOFF_MAX)
        .with_factor(2.0)
        .without_max_times();
    ResetTimerBackoff::new(exponential.into(), WATCH_BACKOFF_RESET)
}

/// A cached object's metadata only.
pub type Meta<K> = PartialObjectMeta<K>;

/// Drops what no reconcile reads from cached metadata.
pub fn slim(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// [`slim`] for a child: first marks it (in the cache only) when someone
/// other than the operator wrote it after the operator's last apply, which
/// only `managedFields` can tell after a restart (see
/// [`drift::mark_foreign_writes`](super::drift::mark_foreign_writes)).
pub fn slim_child(meta: &mut ObjectMeta) {
    super::drift::mark_foreign_writes(meta);
    slim(meta);
}

/// A metadata-only cache of `K` and the stream that fills it (every change
/// and deletion, for `Controller::owns_stream`).
pub fn metadata_cache<K>(
    api: Api<Meta<K>>,
    config: watcher::Config,
) -> (
    Store<Meta<K>>,
    impl Stream<Item = Result<Meta<K>, watcher::Error>> + Send + 'static,
)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let stream = reflect(
        writer,
        watcher(api, config)
            .backoff(watch_backoff())
            .modify(|object: &mut Meta<K>| slim_child(&mut object.metadata)),
    )
    .touched_objects();
    (reader, stream)
}

/// A cache of `K` with `strip` applied to every object (and [`slim`] to its
/// metadata), and the stream that fills it; `touched`: deletions too.
pub fn object_cache<K>(
    api: Api<K>,
    config: watcher::Config,
    strip: fn(&mut K),
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let stream = reflect(
        writer,
        watcher(api, config)
            .backoff(watch_backoff())
            .modify(move |object: &mut K| {
                slim_child(object.meta_mut());
                strip(object);
            }),
    )
    .touched_objects();
    (reader, stream)
}

/// Whether `store` has finished its first list (waits up to 30 s).
pub async fn ready<K>(store: &Store<K>) -> bool
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    tokio::time::timeout(READY_WAIT, store.wait_until_ready())
        .await
        .is_ok_and(|r| r.is_ok())
}

/// The cached object `name` in `namespace`.
pub fn cached<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<Arc<K>>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    store.get(&ObjectRef::new(name).within(namespace))
}

/// Whether `store` holds an object in `namespace`, controlled by `owner_uid`,
/// that `wanted` does not name.
pub fn has_unwanted<K>(
    store: &Store<K>,
    namespace: &str,
    owner_uid: &str,
    wanted: impl Fn(&str) -> bool,
) -> bool
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    store
        .find(|object| {
            object.namespace().as_deref() == Some(namespace)
                && object
                    .owner_references()
                    .iter()
                    .any(|o| o.controller == Some(true) && o.uid == owner_uid)
                && !wanted(&object.name_any())
        })
        .is_some()
}

/// A boxed trigger stream of child objects.
pub type Trigger<K> = std::pin::Pin<Box<dyn Stream<Item = Result<K, watcher::Error>> + Send>>;

/// Cache sets registered per watched scope (one namespace, or all).
pub struct Scoped<S> {
    scopes: RwLock<Vec<(Option<String>, Arc<S>)>>,
}

impl<S> Default for Scoped<S> {
    fn default() -> Self {
        Self {
            scopes: RwLock::new(Vec::new()),
        }
    }
}

impl<S> Scoped<S> {
    /// Registers the caches of the controller watching `namespace` (all: `None`).
    pub fn register(&self, namespace: Option<&str>, caches: Arc<S>) {
        self.scopes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((namespace.map(str::to_owned), caches));
    }

    /// The caches covering `namespace`, if a controller registered any.
    pub fn get(&self, namespace: &str) -> Option<Arc<S>> {
        self.scopes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(scope, _)| scope.as_deref().is_none_or(|s| s == namespace))
            .map(|(_, caches)| caches.clone())
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::utils::Backoff;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn doubles_to_the_cap_and_resets_after_quiet() {
        let mut backoff = watch_backoff();
        let delays: Vec<u128> = (0..6)
            .filter_map(|_| backoff.next())
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 2000, 2000]);
        tokio::time::advance(WATCH_BACKOFF_RESET + Duration::from_secs(1)).await;
        assert_eq!(backoff.next(), Some(WATCH_BACKOFF_MIN));
        assert_eq!(backoff.next(), Some(WATCH_BACKOFF_MIN * 2));
        backoff.reset();
        assert_eq!(backoff.next(), Some(WATCH_BACKOFF_MIN));
    }
}
