//! Leader election with two real `traceval operator --leader-elect`
//! processes against the real local control plane (`tests/cluster/up`):
//! exactly one holds the Lease and reconciles, the other stands by (serving
//! /healthz and /readyz, reconciling nothing); when the leader is killed
//! (SIGKILL, so it cannot release the Lease) the other takes over once the
//! Lease expires and reconciles new objects.

#[path = "../support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};
use support::operator::install_crds;
use support::operator_proc::{Metrics, OperatorProc};
use support::{DEADLINE, TempNamespace, client, poll};
use traceval::api::TracedService;
use traceval::api::tracedservice::{ConditionStatus, ConditionType};
use traceval::operator::leader::{LEASE_DURATION, RETRY};
use traceval::resources::meta::MANAGER;

const LEASE: &str = "traceval-leader-test";

/// One `traceval operator --leader-elect` process, killed when dropped.
fn replica(identity: &str, namespace: &str, logs: &Path) -> OperatorProc {
    let args = [
        "--leader-elect",
        "--lease-name",
        LEASE,
        "--lease-namespace",
        namespace,
    ];
    OperatorProc::start(identity, namespace, &args, &[], logs)
}

/// Reconciles counted in `/metrics`, TracedService and EvaluationTask, all outcomes.
async fn reconciles(replica: &OperatorProc) -> u64 {
    replica.scrape().await.reconciles()
}

#[test]
fn reconcile_count_sums_the_counters() {
    let text = "# HELP x\n\
        traceval_tracedservice_reconciles_total{outcome=\"Success\"} 3\n\
        traceval_evaluationtask_reconciles_total{outcome=\"Transient\"} 2\n\
        traceval_tracedservice_reconcile_duration_seconds_count 5\n";
    assert_eq!(Metrics(text.to_owned()).reconciles(), 5);
    assert_eq!(Metrics("# EOF\n".to_owned()).reconciles(), 0);
}

fn holder(lease: &Lease) -> Option<&str> {
    lease.spec.as_ref()?.holder_identity.as_deref()
}

/// Creates a minimal TracedService and waits until it is Ready; returns its Deployment.
async fn reconciled(client: &Client, namespace: &str, name: &str) -> Deployment {
    let services: Api<TracedService> = Api::namespaced(client.clone(), namespace);
    let service: TracedService = serde_json::from_value(serde_json::json!({
        "apiVersion": "traceval.dev/v1alpha1",
        "kind": "TracedService",
        "metadata": {"name": name},
        "spec": {"image": "python:3.12-slim"}
    }))
    .expect("TracedService");
    services
        .create(&PostParams::default(), &service)
        .await
        .expect("create TracedService");
    poll(
        &format!("TracedService {name} to be Ready"),
        DEADLINE,
        || async {
            let ts = services.get(name).await.ok()?;
            let status = ts.status.as_ref()?;
            let ready = status.conditions.iter().any(|c| {
                c.type_ == ConditionType::Ready
                    && c.status == ConditionStatus::True
                    && c.observed_generation == ts.metadata.generation
            });
            ready.then_some(())
        },
    )
    .await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let deployment = deployments.get(name).await.expect("the Deployment");
    let managers: Vec<_> = deployment
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|entry| entry.manager.as_deref())
        .collect();
    assert!(
        managers.contains(&MANAGER),
        "Deployment {name} is not applied by {MANAGER}: managers {managers:?}"
    );
    deployment
}

#[tokio::test]
async fn one_replica_reconciles_and_the_other_takes_over_when_it_dies() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "leader").await;
    let logs = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("leader_election")
        .join(&ns.name);
    std::fs::create_dir_all(&logs).expect("log directory");
    let mut replicas = [
        replica("replica-a", &ns.name, &logs),
        replica("replica-b", &ns.name, &logs),
    ];
    for replica in &replicas {
        let healthz = poll(
            &format!(
                "{} to serve /healthz (log: {})",
                replica.identity,
                replica.log.display()
            ),
            DEADLINE,
            || replica.status_of("/healthz"),
        )
        .await;
        assert_eq!(healthz, 200, "{} /healthz", replica.identity);
    }

    // Exactly one holds the Lease: its holderIdentity is one of the two.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns.name);
    let first = poll("a replica to hold the Lease", DEADLINE, || async {
        let lease = leases.get_opt(LEASE).await.ok()??;
        holder(&lease)
            .is_some_and(|h| !h.is_empty())
            .then_some(lease)
    })
    .await;
    let leader = replicas
        .iter()
        .position(|r| Some(r.identity.as_str()) == holder(&first))
        .unwrap_or_else(|| panic!("the Lease is held by a stranger: {:?}", first.spec));
    let follower = 1 - leader;
    assert_eq!(
        first.spec.as_ref().and_then(|s| s.lease_duration_seconds),
        Some(LEASE_DURATION.as_secs() as i32)
    );

    // Only the leader reconciles; the follower is a ready hot standby that
    // does not count a single reconcile.
    reconciled(&client, &ns.name, "before-failover").await;
    let leader_count = reconciles(&replicas[leader]).await;
    assert!(
        leader_count > 0,
        "the leader {} counted no reconcile",
        replicas[leader].identity
    );
    assert_eq!(
        reconciles(&replicas[follower]).await,
        0,
        "the follower {} reconciled (log: {})",
        replicas[follower].identity,
        replicas[follower].log.display()
    );
    assert_eq!(replicas[follower].status_of("/readyz").await, Some(200));
    let lease = leases.get(LEASE).await.expect("the Lease");
    assert_eq!(
        holder(&lease),
        Some(replicas[leader].identity.as_str()),
        "the Lease changed hands while both replicas were alive"
    );
    assert!(replicas[leader].log_text().contains("became the leader"));
    assert!(
        !replicas[follower].log_text().contains("became the leader"),
        "{}",
        replicas[follower].log_text()
    );

    // Kill the leader: it cannot release the Lease, so the follower must
    // wait for it to expire, and then take it over.
    replicas[leader].kill();
    assert!(!replicas[leader].running(), "the leader survived SIGKILL");
    let killed = tokio::time::Instant::now();
    let last_renewal = leases
        .get(LEASE)
        .await
        .expect("the Lease")
        .spec
        .and_then(|s| s.renew_time)
        .expect("renewTime of the dead leader")
        .0;
    let transitions = lease
        .spec
        .as_ref()
        .and_then(|s| s.lease_transitions)
        .unwrap_or(0);
    let new_identity = replicas[follower].identity.clone();
    let taken = poll(
        "the follower to take the Lease over",
        LEASE_DURATION + DEADLINE,
        || async {
            let lease = leases.get(LEASE).await.ok()?;
            (holder(&lease) == Some(new_identity.as_str())).then_some(lease)
        },
    )
    .await;
    let takeover = killed.elapsed();
    println!(
        "takeover {:.1} s after SIGKILL (lease duration {} s, retry {} s)",
        takeover.as_secs_f64(),
        LEASE_DURATION.as_secs(),
        RETRY.as_secs()
    );
    let bound = LEASE_DURATION + RETRY + Duration::from_secs(5);
    assert!(
        takeover <= bound,
        "takeover took {takeover:?}, more than {bound:?} (log: {})",
        replicas[follower].log.display()
    );
    let spec = taken.spec.as_ref().expect("Lease spec");
    let acquired = spec.acquire_time.as_ref().expect("acquireTime").0;
    let waited = acquired.duration_since(last_renewal);
    assert!(
        waited
            >= SignedDuration::try_from(LEASE_DURATION).expect("duration")
                - SignedDuration::from_millis(1),
        "the follower took a live Lease: acquired {waited:?} after the last renewal"
    );
    assert!(acquired <= Timestamp::now());
    assert_eq!(spec.lease_transitions, Some(transitions + 1));

    // The new leader reconciles what is created now.
    let before = reconciles(&replicas[follower]).await;
    reconciled(&client, &ns.name, "after-failover").await;
    let after = reconciles(&replicas[follower]).await;
    assert!(
        after > before,
        "the new leader {} counted no reconcile ({before} -> {after})",
        replicas[follower].identity
    );
    assert!(replicas[follower].log_text().contains("became the leader"));
}
