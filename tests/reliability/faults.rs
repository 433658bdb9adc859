//! Reliability suite (issue 8): operator faults against the real control
//! plane, each reported as figures (printed as `FIGURES {json}` lines, and
//! appended to `TRACEVAL_RELIABILITY_OUT` for bench/RELIABILITY.md):
//!
//! 1. the operator SIGKILLed at a random point of a create/edit/delete load
//!    and restarted: everything converges, no duplicate or orphaned child,
//!    no observedGeneration regression;
//! 2. the kube-apiserver killed and restarted, and etcd paused (SIGSTOP) for
//!    20 s, on a private control plane: the same operator process converges
//!    afterwards, with a bounded number of requests while the server is down;
//! 3. another writer edits a Deployment the operator owns: its fields are
//!    restored, foreign fields stay, and it does not fight;
//! 4. leader failover under load: never two leaders writing at once.
//!
//! Sizes come from the environment (`TRACEVAL_FAULTS_*`, see each test);
//! the defaults are CI-sized, `make soak` sets the issue's.

#[path = "faults/cluster.rs"]
mod cluster;
#[path = "faults/conflict.rs"]
mod conflict;
#[path = "faults/end_state.rs"]
mod end_state;
#[path = "faults/failover.rs"]
mod failover;
#[path = "faults/figures.rs"]
mod figures;
#[path = "faults/outage.rs"]
mod outage;
#[path = "faults/status_watch.rs"]
mod status_watch;
#[path = "../support/mod.rs"]
mod support;
#[path = "faults/workload.rs"]
mod workload;

use std::time::Duration;

use serde_json::json;
use status_watch::StatusWatch;
use support::operator::install_crds;
use support::operator_proc::{Metrics, OperatorProc};
use support::procs::log_dir;
use support::{DEADLINE, TempNamespace, client};
use workload::Sizes;

use figures::{env_or, record};

/// Convergence deadline for a load of `sizes`: the usual deadline plus a
/// second per object (on a loaded 2-core machine etcd times out requests
/// under the soak sizes, and the operator retries those with its backoff),
/// or `TRACEVAL_FAULTS_DEADLINE_SECONDS`.
pub fn deadline(sizes: Sizes) -> Duration {
    let scaled = DEADLINE + Duration::from_secs((sizes.services + sizes.tasks) as u64);
    Duration::from_secs(env_or("TRACEVAL_FAULTS_DEADLINE_SECONDS", scaled.as_secs()))
}

/// Item 1: `TRACEVAL_FAULTS_ROUNDS` rounds (default 2), each with
/// `TRACEVAL_FAULTS_SERVICES` TracedServices (30) and `TRACEVAL_FAULTS_TASKS`
/// EvaluationTasks (10) created, edited `TRACEVAL_FAULTS_EDITS` times (2) and
/// a tenth of the services deleted, while the operator is SIGKILLed once at
/// a random point (seed `TRACEVAL_FAULTS_SEED`, printed) and restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_killed_at_random_points_converges() {
    let rounds = env_or("TRACEVAL_FAULTS_ROUNDS", 2);
    let sizes = Sizes {
        services: env_or("TRACEVAL_FAULTS_SERVICES", 30) as usize,
        tasks: env_or("TRACEVAL_FAULTS_TASKS", 10) as usize,
    };
    let edits = env_or("TRACEVAL_FAULTS_EDITS", 2) as u32;
    let seed = env_or("TRACEVAL_FAULTS_SEED", fastrand::u64(..));
    println!("seed {seed} (rerun with TRACEVAL_FAULTS_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let client = client().await;
    install_crds(&client).await;
    let logs = log_dir("faults-kill");
    for round in 0..rounds {
        let ns = TempNamespace::create(&client, "faults-kill").await;
        workload::create_secret(&client, &ns.name).await;
        let watch = StatusWatch::start(&client, &ns.name);
        let ops = workload::plan(sizes, edits);
        let total = ops.len();
        let kill_after = rng.usize(..total);
        let kill_delay = Duration::from_millis(rng.u64(..2000));
        let identity = format!("round-{round}");
        let mut operator = OperatorProc::start(&identity, &ns.name, &[], &[], &logs);
        let (killed_tx, killed_rx) = tokio::sync::oneshot::channel::<()>();
        let mut killed_tx = Some(killed_tx);
        let load = workload::run(&client, &ns.name, sizes, ops, 8, |k| {
            if k == kill_after
                && let Some(tx) = killed_tx.take()
            {
                let _ = tx.send(());
            }
        });
        let killer = async {
            let _ = killed_rx.await;
            tokio::time::sleep(kill_delay).await; // the kill point, not a wait for state
            let before = operator.metrics().await.map(Metrics).unwrap_or_default();
            operator.kill();
            let restarted = OperatorProc::start(&identity, &ns.name, &[], &[], &logs);
            (restarted, before.reconciles())
        };
        let ((), (restarted, reconciles_before_kill)) = futures::future::join(load, killer).await;
        operator = restarted;
        let (state, took) =
            end_state::converge(&client, &ns.name, sizes, edits, deadline(sizes)).await;
        let regressions = watch.regressions();
        let expected = sizes.services
            - (0..sizes.services)
                .filter(|&i| workload::deleted(sizes, i))
                .count()
            + sizes.tasks;
        record(
            "kill",
            json!({"round": round, "seed": seed, "ops": total, "kill_after_op": kill_after,
                   "kill_delay_ms": kill_delay.as_millis() as u64,
                   "reconciles_before_kill": reconciles_before_kill,
                   "services": sizes.services, "tasks": sizes.tasks, "edits": edits,
                   "expected": expected, "converged": state.converged,
                   "duplicates": state.duplicates, "orphans": state.orphans.len(),
                   "regressions": regressions.len(), "converge_seconds": took.as_secs_f64()}),
        );
        assert_eq!(state.converged, expected, "round {round}: {state:?}");
        assert!(
            regressions.is_empty(),
            "round {round}: status regressions {regressions:?}"
        );
        drop(operator);
    }
}

/// Item 2, on a private control plane: the kube-apiserver SIGKILLed and
/// restarted after `TRACEVAL_FAULTS_DOWN_SECONDS` (20), then etcd paused for
/// as long; the operator (the same process) converges afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_restart_and_etcd_pause_are_survived() {
    outage::run().await;
}

/// Item 3: a foreign writer's edits of a Deployment are undone where the
/// operator owns the field, kept where it does not, with no fight after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_edits_are_restored_without_a_fight() {
    conflict::run().await;
}

/// Item 5: two `--leader-elect` replicas, the leader SIGKILLed during a burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_under_load_never_has_two_writers() {
    failover::run().await;
}

#[test]
fn metrics_pages_are_parsed() {
    let page = Metrics(
        "# HELP x\n\
         traceval_tracedservice_reconciles_total{outcome=\"Success\"} 3\n\
         traceval_evaluationtask_reconciles_total{outcome=\"Transient\"} 2\n\
         traceval_kube_requests_total{verb=\"patch\",resource=\"deployments\"} 4\n\
         traceval_kube_requests_total{verb=\"update\",resource=\"leases\"} 7\n\
         traceval_kube_requests_total{verb=\"watch\",resource=\"deployments\"} 1\n"
            .to_owned(),
    );
    assert_eq!(page.reconciles(), 5);
    assert_eq!(page.requests(|_, _| true), 12);
    assert_eq!(page.requests(|_, r| r == "deployments"), 5);
    assert_eq!(page.leader_writes(), 4);
}

#[test]
fn the_plan_orders_each_objects_ops() {
    let sizes = Sizes {
        services: 20,
        tasks: 5,
    };
    let ops = workload::plan(sizes, 2);
    // 20 + 5 creates, 2 × 25 edits, services 9 and 19 deleted.
    assert_eq!(ops.len(), 25 + 50 + 2);
    assert!(workload::deleted(sizes, 19) && !workload::deleted(sizes, 4));
    assert_eq!(workload::final_edit(2), ("edit-2".to_owned(), true, 7));
}
