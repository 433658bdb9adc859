//! The load of the fault tests: many TracedServices and EvaluationTasks
//! created, edited and some deleted concurrently, and the checks of the end
//! state: every object converged (children match the latest spec, status
//! observed the latest generation), exactly one child of each kind per
//! owner, no orphans, and no status regression seen by a watch.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::task::JoinHandle;
use traceval::api::{EvaluationTask, TracedService};

use crate::support::procs::required_env;

/// How many objects one round creates.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub services: usize,
    pub tasks: usize,
}

pub fn service_name(i: usize) -> String {
    format!("ts-{i}")
}

pub fn task_name(j: usize) -> String {
    format!("et-{j}")
}

/// The TracedServices the load deletes: every tenth, none an EvaluationTask targets.
pub fn deleted(sizes: Sizes, i: usize) -> bool {
    i >= sizes.tasks && i % 10 == 9
}

/// A realistic TracedService (the shape of examples/tracedservice.yaml without
/// the secrets and OSS mount): probe, port, env, network policy.
pub fn service(name: &str, edit: &str, enforce: bool) -> TracedService {
    serde_json::from_value(json!({
        "apiVersion": "traceval.dev/v1alpha1", "kind": "TracedService",
        "metadata": {"name": name},
        "spec": {
            "image": "docker.io/library/python:3.11-slim",
            "command": ["python", "/mnt/data/app.py"],
            "replicas": 1,
            "port": 8000,
            "pythonPackages": ["flask", "dashscope"],
            "env": [{"name": "EDIT", "value": edit}],
            "tracing": {"probe": "opentelemetry", "endpoint": required_env("TRACEVAL_OTLP_ENDPOINT"),
                        "serviceName": name},
            "network": {"enforce": enforce, "internetAccess": true}
        }
    }))
    .expect("TracedService manifest")
}

/// An online EvaluationTask like examples/evaluationtask-online.yaml, targeting `target`.
pub fn task(name: &str, target: &str, minutes: u32) -> EvaluationTask {
    let example: EvaluationTask = serde_yaml::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/evaluationtask-online.yaml"
        ))
        .expect("examples/evaluationtask-online.yaml"),
    )
    .expect("the online example");
    let mut spec = serde_json::to_value(&example.spec).expect("example spec");
    spec["target"] = json!({"tracedService": target});
    spec["traceSource"] = json!({"jaeger": {"url": required_env("TRACEVAL_JAEGER_QUERY")}});
    spec["judge"] = json!({"provider": "openai-compatible", "baseURL": "http://127.0.0.1:9/v1",
        "model": "judge", "tokenSecretRef": {"name": "judge-token", "key": "token"}});
    spec["schedule"] = json!(schedule(minutes));
    serde_json::from_value(json!({
        "apiVersion": "traceval.dev/v1alpha1", "kind": "EvaluationTask",
        "metadata": {"name": name}, "spec": spec
    }))
    .expect("EvaluationTask manifest")
}

fn schedule(minutes: u32) -> String {
    format!("*/{minutes} * * * *")
}

/// The judge token Secret the tasks name.
pub async fn create_secret(client: &Client, namespace: &str) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "judge-token"},
        "stringData": {"token": format!("sk-faults-{}", fastrand::u64(..))}
    }))
    .expect("Secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the judge token Secret");
}

/// One step of the load.
#[derive(Clone, Debug)]
pub enum Op {
    CreateService(usize),
    CreateTask(usize),
    EditService(usize, u32),
    EditTask(usize, u32),
    DeleteService(usize),
}

/// Creates, then edits every object `edits` times (each edit of a
/// TracedService changes its env and flips its NetworkPolicy), then deletes
/// some TracedServices: in that order per object, interleaved across objects.
pub fn plan(sizes: Sizes, edits: u32) -> Vec<Op> {
    let mut ops: Vec<Op> = (0..sizes.services).map(Op::CreateService).collect();
    ops.extend((0..sizes.tasks).map(Op::CreateTask));
    for edit in 1..=edits {
        ops.extend((0..sizes.services).map(|i| Op::EditService(i, edit)));
        ops.extend((0..sizes.tasks).map(|j| Op::EditTask(j, edit)));
    }
    ops.extend(
        (0..sizes.services)
            .filter(|&i| deleted(sizes, i))
            .map(Op::DeleteService),
    );
    ops
}

/// The wanted end state after `edits` edits.
pub fn final_edit(edits: u32) -> (String, bool, u32) {
    (format!("edit-{edits}"), edits.is_multiple_of(2), 5 + edits)
}

/// Runs `ops` with `concurrency` in flight; calls `after(k)` when op `k` is done
/// (in completion order, k counts completions).
pub async fn run(
    client: &Client,
    namespace: &str,
    sizes: Sizes,
    ops: Vec<Op>,
    concurrency: usize,
    mut after: impl FnMut(usize),
) {
    let services: Api<TracedService> = Api::namespaced(client.clone(), namespace);
    let tasks: Api<EvaluationTask> = Api::namespaced(client.clone(), namespace);
    // Ops on one object run in order: one lane per object.
    let mut lanes: BTreeMap<String, Vec<Op>> = BTreeMap::new();
    for op in ops {
        let key = match &op {
            Op::CreateService(i) | Op::EditService(i, _) | Op::DeleteService(i) => service_name(*i),
            Op::CreateTask(j) | Op::EditTask(j, _) => task_name(*j),
        };
        lanes.entry(key).or_default().push(op);
    }
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let lanes: Vec<_> = lanes
        .into_values()
        .map(|lane| {
            let (services, tasks, done) = (services.clone(), tasks.clone(), done_tx.clone());
            async move {
                for op in lane {
                    apply(&services, &tasks, sizes, &op).await;
                    let _ = done.send(());
                }
            }
        })
        .collect();
    drop(done_tx);
    let lanes = futures::stream::iter(lanes)
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>();
    let counter = async {
        let mut k = 0;
        while done_rx.recv().await.is_some() {
            after(k);
            k += 1;
        }
    };
    futures::future::join(lanes, counter).await;
}

async fn apply(services: &Api<TracedService>, tasks: &Api<EvaluationTask>, sizes: Sizes, op: &Op) {
    let pp = PostParams::default();
    let merge = PatchParams::default();
    let result = match op {
        Op::CreateService(i) => services
            .create(&pp, &service(&service_name(*i), "edit-0", true))
            .await
            .map(drop),
        Op::CreateTask(j) => tasks
            .create(
                &pp,
                &task(&task_name(*j), &service_name(*j % sizes.services), 5),
            )
            .await
            .map(drop),
        Op::EditService(i, edit) => {
            let (value, enforce, _) = final_edit(*edit);
            let patch = json!({"spec": {"env": [{"name": "EDIT", "value": value}],
                "network": {"enforce": enforce, "internetAccess": true}}});
            services
                .patch(&service_name(*i), &merge, &Patch::Merge(&patch))
                .await
                .map(drop)
        }
        Op::EditTask(j, edit) => {
            let (_, _, minutes) = final_edit(*edit);
            let patch = json!({"spec": {"schedule": schedule(minutes)}});
            tasks
                .patch(&task_name(*j), &merge, &Patch::Merge(&patch))
                .await
                .map(drop)
        }
        Op::DeleteService(i) => services
            .delete(&service_name(*i), &DeleteParams::background())
            .await
            .map(drop),
    };
    result.unwrap_or_else(|e| panic!("{op:?}: {e}"));
}

/// What the end-state check found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EndState {
    /// Objects whose children and status match their latest spec.
    pub converged: usize,
    /// Objects that do not (yet), with the first reason.
    pub pending: Vec<String>,
    /// Children beyond one of each kind per owner.
    pub duplicates: usize,
    /// Children whose owner is gone, or that their owner's spec does not want.
    pub orphans: Vec<String>,
}

impl EndState {
    pub fn done(&self) -> bool {
        self.pending.is_empty() && self.duplicates == 0 && self.orphans.is_empty()
    }
}

async fn list<K>(client: &Client, namespace: &str) -> Vec<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    Api::<K>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

/// The controller owner's uid of `meta`, if any.
fn owner(meta: &ObjectMeta) -> Option<(String, String)> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| (r.kind.clone(), r.uid.clone()))
}

/// Checks the end state of the objects `plan(sizes, edits)` leaves.
pub async fn check(client: &Client, namespace: &str, sizes: Sizes, edits: u32) -> EndState {
    let (value, enforce, minutes) = final_edit(edits);
    let services: Vec<TracedService> = list(client, namespace).await;
    let tasks: Vec<EvaluationTask> = list(client, namespace).await;
    let deployments: Vec<Deployment> = list(client, namespace).await;
    let svcs: Vec<Service> = list(client, namespace).await;
    let policies: Vec<NetworkPolicy> = list(client, namespace).await;
    let cronjobs: Vec<CronJob> = list(client, namespace).await;
    let accounts: Vec<ServiceAccount> = list(client, namespace).await;
    let roles: Vec<Role> = list(client, namespace).await;
    let bindings: Vec<RoleBinding> = list(client, namespace).await;
    let mut state = EndState::default();

    // Children per (kind of child, owner uid), and who is an owner.
    let mut children: HashMap<(&str, String), Vec<String>> = HashMap::new();
    let mut metas: Vec<(&str, &ObjectMeta)> = Vec::new();
    metas.extend(deployments.iter().map(|o| ("Deployment", &o.metadata)));
    metas.extend(svcs.iter().map(|o| ("Service", &o.metadata)));
    metas.extend(policies.iter().map(|o| ("NetworkPolicy", &o.metadata)));
    metas.extend(cronjobs.iter().map(|o| ("CronJob", &o.metadata)));
    metas.extend(accounts.iter().map(|o| ("ServiceAccount", &o.metadata)));
    metas.extend(roles.iter().map(|o| ("Role", &o.metadata)));
    metas.extend(bindings.iter().map(|o| ("RoleBinding", &o.metadata)));
    let live: HashMap<String, (&str, String)> = services
        .iter()
        .map(|s| (s.uid().unwrap_or_default(), ("TracedService", s.name_any())))
        .chain(tasks.iter().map(|t| {
            (
                t.uid().unwrap_or_default(),
                ("EvaluationTask", t.name_any()),
            )
        }))
        .collect();
    let enforced: HashMap<String, bool> = services
        .iter()
        .map(|s| (s.uid().unwrap_or_default(), s.spec.network.enforce))
        .collect();
    for (kind, meta) in metas {
        let name = format!("{kind}/{}", meta.name.clone().unwrap_or_default());
        match owner(meta) {
            Some((owner_kind, uid))
                if owner_kind == "TracedService" || owner_kind == "EvaluationTask" =>
            {
                if !live.contains_key(&uid) {
                    state.orphans.push(format!("{name} (owner gone)"));
                } else if kind == "NetworkPolicy" && enforced.get(&uid) == Some(&false) {
                    state.orphans.push(format!("{name} (not wanted)"));
                }
                children.entry((kind, uid)).or_default().push(name);
            }
            _ => {
                let managed = meta
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("app.kubernetes.io/managed-by"))
                    .is_some_and(|m| m == "traceval");
                if managed {
                    state.orphans.push(format!("{name} (no owner)"));
                }
            }
        }
    }
    state.duplicates = children.values().map(|v| v.len().saturating_sub(1)).sum();

    for i in 0..sizes.services {
        let name = service_name(i);
        let found = services.iter().find(|s| s.name_any() == name);
        if deleted(sizes, i) {
            if found.is_some() {
                state.pending.push(format!("{name} not deleted yet"));
            }
            continue;
        }
        let reason = match found {
            None => Some("missing".to_owned()),
            Some(s) => service_reason(s, &deployments, &children, &value, enforce),
        };
        match reason {
            None => state.converged += 1,
            Some(r) => state.pending.push(format!("{name}: {r}")),
        }
    }
    for j in 0..sizes.tasks {
        let name = task_name(j);
        let reason = match tasks.iter().find(|t| t.name_any() == name) {
            None => Some("missing".to_owned()),
            Some(t) => task_reason(t, &cronjobs, &children, minutes),
        };
        match reason {
            None => state.converged += 1,
            Some(r) => state.pending.push(format!("{name}: {r}")),
        }
    }
    state
}

fn service_reason(
    s: &TracedService,
    deployments: &[Deployment],
    children: &HashMap<(&str, String), Vec<String>>,
    value: &str,
    enforce: bool,
) -> Option<String> {
    let uid = s.uid().unwrap_or_default();
    let observed = s.status.as_ref().and_then(|st| st.observed_generation);
    if observed != s.metadata.generation {
        return Some(format!(
            "observedGeneration {observed:?} != {:?}",
            s.metadata.generation
        ));
    }
    let count = |kind: &str| children.get(&(kind, uid.clone())).map_or(0, Vec::len);
    if count("Deployment") != 1 || count("Service") != 1 {
        return Some("no Deployment or Service".into());
    }
    if count("NetworkPolicy") != usize::from(enforce) {
        return Some(format!("NetworkPolicy present != {enforce}"));
    }
    let deployment = deployments
        .iter()
        .find(|d| owner(&d.metadata).is_some_and(|(_, u)| u == uid))?;
    let env = deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.template.spec.as_ref())
        .and_then(|pod| pod.containers.first())
        .and_then(|c| c.env.as_ref())
        .and_then(|env| env.iter().find(|e| e.name == "EDIT"))
        .and_then(|e| e.value.clone());
    (env.as_deref() != Some(value)).then(|| format!("Deployment env EDIT={env:?}, want {value}"))
}

fn task_reason(
    t: &EvaluationTask,
    cronjobs: &[CronJob],
    children: &HashMap<(&str, String), Vec<String>>,
    minutes: u32,
) -> Option<String> {
    let uid = t.uid().unwrap_or_default();
    let observed = t.status.as_ref().and_then(|st| st.observed_generation);
    if observed != t.metadata.generation {
        return Some(format!(
            "observedGeneration {observed:?} != {:?}",
            t.metadata.generation
        ));
    }
    for kind in ["CronJob", "ServiceAccount", "Role", "RoleBinding"] {
        if children.get(&(kind, uid.clone())).map_or(0, Vec::len) != 1 {
            return Some(format!("no {kind}"));
        }
    }
    let cronjob = cronjobs
        .iter()
        .find(|c| owner(&c.metadata).is_some_and(|(_, u)| u == uid))?;
    let got = cronjob.spec.as_ref().map(|s| s.schedule.clone());
    (got.as_deref() != Some(schedule(minutes).as_str()))
        .then(|| format!("CronJob schedule {got:?}, want {}", schedule(minutes)))
}

/// Polls [`check`] until everything converged; returns the last state and
/// how long it took. Fails the test at `deadline` with what is pending.
pub async fn converge(
    client: &Client,
    namespace: &str,
    sizes: Sizes,
    edits: u32,
    deadline: Duration,
) -> (EndState, Duration) {
    let start = tokio::time::Instant::now();
    loop {
        let state = check(client, namespace, sizes, edits).await;
        if state.done() {
            return (state, start.elapsed());
        }
        assert!(
            start.elapsed() < deadline,
            "not converged after {deadline:?}: {} converged, pending {:?}, {} duplicates, orphans {:?}",
            state.converged,
            &state.pending[..state.pending.len().min(10)],
            state.duplicates,
            &state.orphans[..state.orphans.len().min(10)],
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

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
