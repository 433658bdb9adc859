//! A watch on the status of the objects of a load: observedGeneration
//! must never go down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use traceval::api::{EvaluationTask, TracedService};

/// Watches the status of every TracedService and EvaluationTask of a
/// namespace and counts each time an object's observedGeneration went
/// down (a regression); stops when dropped.
pub struct StatusWatch {
    pub regressions: Arc<Mutex<Vec<String>>>,
    handles: Vec<JoinHandle<()>>,
}

impl StatusWatch {
    pub fn start(client: &Client, namespace: &str) -> Self {
        let regressions = Arc::new(Mutex::new(Vec::new()));
        let handles = vec![
            tokio::spawn(watch_generations::<TracedService>(
                Api::namespaced(client.clone(), namespace),
                regressions.clone(),
                |s| s.status.as_ref().and_then(|st| st.observed_generation),
            )),
            tokio::spawn(watch_generations::<EvaluationTask>(
                Api::namespaced(client.clone(), namespace),
                regressions.clone(),
                |t| t.status.as_ref().and_then(|st| st.observed_generation),
            )),
        ];
        Self {
            regressions,
            handles,
        }
    }

    pub fn regressions(&self) -> Vec<String> {
        self.regressions
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl Drop for StatusWatch {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

async fn watch_generations<K>(
    api: Api<K>,
    regressions: Arc<Mutex<Vec<String>>>,
    observed: fn(&K) -> Option<i64>,
) where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    <K as Resource>::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let mut seen: HashMap<String, i64> = HashMap::new();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .touched_objects();
    let mut stream = std::pin::pin!(stream);
    while let Ok(Some(object)) = stream.try_next().await {
        let Some(generation) = observed(&object) else {
            continue;
        };
        let uid = object.uid().unwrap_or_default();
        let best = seen.entry(uid).or_insert(generation);
        if generation < *best {
            if let Ok(mut r) = regressions.lock() {
                r.push(format!(
                    "{}: observedGeneration {} -> {generation}",
                    object.name_any(),
                    *best
                ));
            }
        } else {
            *best = generation;
        }
    }
}
