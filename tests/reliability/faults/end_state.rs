//! The checks of the end state after a load: every object converged
//! (children match the latest spec, status observed the latest
//! generation), exactly one child of each kind per owner, no orphans.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ListParams, ObjectMeta};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use traceval::api::{EvaluationTask, TracedService};

use crate::workload::{Sizes, deleted, final_edit, schedule, service_name, task_name};

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
