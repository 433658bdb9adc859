//! Item 5: two `traceval operator --leader-elect` replicas; while a burst of
//! `TRACEVAL_FAULTS_BURST` TracedServices (20) and a quarter as many
//! EvaluationTasks is created, the leader is SIGKILLed. A monitor reads
//! each replica's own write counters (from /metrics, Lease and Event writes
//! aside) and then the Lease, every 200 ms: a replica that has written while
//! the Lease names the other is a second leader. The Events each replica
//! published (reportingInstance) must not overlap in time either, and every
//! object converges under the new leader.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use serde_json::json;

use crate::figures::{env_or, record};
use crate::support::operator::install_crds;
use crate::support::operator_proc::OperatorProc;
use crate::support::procs::log_dir;
use crate::support::{DEADLINE, TempNamespace, client, poll};
use crate::workload::{self, Sizes};

const LEASE: &str = "traceval-faults";

fn holder(lease: &Lease) -> Option<String> {
    lease.spec.as_ref()?.holder_identity.clone()
}

pub async fn run() {
    let burst = env_or("TRACEVAL_FAULTS_BURST", 20) as usize;
    let sizes = Sizes {
        services: burst,
        tasks: burst.div_ceil(4),
    };
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "faults-failover").await;
    workload::create_secret(&client, &ns.name).await;
    let logs = log_dir("faults-failover");
    let args = [
        "--leader-elect",
        "--lease-name",
        LEASE,
        "--lease-namespace",
        ns.name.as_str(),
    ];
    let mut replicas = [
        OperatorProc::start("replica-a", &ns.name, &args, &[], &logs),
        OperatorProc::start("replica-b", &ns.name, &args, &[], &logs),
    ];
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns.name);
    let first = poll("a replica to hold the Lease", DEADLINE, || async {
        holder(&leases.get_opt(LEASE).await.ok()??).filter(|h| !h.is_empty())
    })
    .await;
    let leader = replicas
        .iter()
        .position(|r| r.identity == first)
        .unwrap_or_else(|| panic!("the Lease is held by a stranger: {first}"));
    let follower = 1 - leader;
    let transitions_before = leases
        .get(LEASE)
        .await
        .ok()
        .and_then(|l| l.spec?.lease_transitions)
        .unwrap_or(0);

    // The monitor: the follower's writes (scraped first) against the Lease
    // holder (read after), so a write seen always follows its acquisition.
    let stop = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (leases, stop) = (leases.clone(), stop.clone());
        let base_url = replicas[follower].base_url.clone();
        let identity = replicas[follower].identity.clone();
        tokio::spawn(async move {
            let (mut samples, mut overlaps) = (0u64, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let page = reqwest::get(format!("{base_url}/metrics")).await;
                let text = match page {
                    Ok(r) => r.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                let writes = crate::support::operator_proc::Metrics(text).leader_writes();
                if let Ok(lease) = leases.get(LEASE).await {
                    samples += 1;
                    if writes > 0 && holder(&lease).as_deref() != Some(identity.as_str()) {
                        overlaps.push(format!(
                            "{writes} writes while the Lease names {:?}",
                            holder(&lease)
                        ));
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (samples, overlaps)
        })
    };

    // The burst, and the leader killed when half of it is in.
    let ops = workload::plan(sizes, 0);
    let half = ops.len() / 2;
    let mut killed_at = None;
    let leader_writes_before_kill = std::cell::Cell::new(0u64);
    {
        let replicas = &mut replicas;
        let killed_at = &mut killed_at;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut tx = Some(tx);
        let load = workload::run(&client, &ns.name, sizes, ops, 8, |k| {
            if k == half
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(());
            }
        });
        let killer = async {
            let _ = rx.await;
            // Killed mid-work: the burst is half in and the leader has
            // written (on a loaded machine its caches may still be filling
            // when half of the burst is in; seen in CI).
            let writes = poll("the leader's first write", DEADLINE, || async {
                let writes = replicas[leader].scrape().await.leader_writes();
                (writes > 0).then_some(writes)
            })
            .await;
            leader_writes_before_kill.set(writes);
            replicas[leader].kill();
            *killed_at = Some(Timestamp::now());
        };
        futures::future::join(load, killer).await;
    }
    let killed_at = killed_at.expect("the leader was killed");
    let new_identity = replicas[follower].identity.clone();
    let taken = poll(
        "the follower to take the Lease over",
        DEADLINE + Duration::from_secs(30),
        || async {
            let lease = leases.get(LEASE).await.ok()?;
            (holder(&lease).as_deref() == Some(new_identity.as_str())).then_some(lease)
        },
    )
    .await;
    let spec = taken.spec.clone().unwrap_or_default();
    let acquired = spec.acquire_time.clone().expect("acquireTime").0;
    let (_, took) =
        crate::end_state::converge(&client, &ns.name, sizes, 0, crate::deadline(sizes)).await;
    stop.store(true, Ordering::Relaxed);
    let (samples, overlaps) = monitor.await.expect("the monitor");

    // Events by instance: the old leader's all before the new one acquired.
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let events = events
        .list(&ListParams::default())
        .await
        .expect("Events")
        .items;
    let time = |e: &Event| e.event_time.as_ref().map(|t| t.0);
    let old = replicas[leader].identity.clone();
    let late_old: Vec<_> = events
        .iter()
        .filter(|e| e.reporting_instance.as_deref() == Some(old.as_str()))
        .filter(|e| time(e).is_some_and(|t| t >= acquired))
        .map(|e| e.note.clone().unwrap_or_default())
        .collect();
    let early_new: Vec<_> = events
        .iter()
        .filter(|e| e.reporting_instance.as_deref() == Some(new_identity.as_str()))
        .filter(|e| time(e).is_some_and(|t| t < acquired))
        .map(|e| e.note.clone().unwrap_or_default())
        .collect();
    let new_writes = replicas[follower].scrape().await.leader_writes();
    record(
        "failover",
        json!({"burst_services": sizes.services, "burst_tasks": sizes.tasks, "failovers": 1,
               "takeover_seconds": acquired.duration_since(killed_at).as_secs_f64(),
               "old_leader_writes": leader_writes_before_kill.get(), "new_leader_writes": new_writes,
               "monitor_samples": samples, "overlapping_writes": overlaps.len(),
               "old_leader_events_after_takeover": late_old.len(),
               "new_leader_events_before_takeover": early_new.len(),
               "lease_transitions": spec.lease_transitions.unwrap_or(0) - transitions_before,
               "converge_seconds": took.as_secs_f64()}),
    );
    assert!(
        acquired >= killed_at,
        "the new leader acquired before the old one died"
    );
    assert!(
        overlaps.is_empty(),
        "two leaders wrote at once: {overlaps:?}"
    );
    assert!(samples > 0, "the monitor never read the Lease");
    assert!(
        late_old.is_empty(),
        "old leader events after takeover: {late_old:?}"
    );
    assert!(
        early_new.is_empty(),
        "new leader events before takeover: {early_new:?}"
    );
    assert!(
        leader_writes_before_kill.get() > 0,
        "the leader wrote nothing before the kill"
    );
    assert!(new_writes > 0, "the new leader wrote nothing");
    assert_eq!(spec.lease_transitions, Some(transitions_before + 1));
}
