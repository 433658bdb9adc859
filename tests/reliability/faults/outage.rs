//! Item 2, on a private control plane: the kube-apiserver is SIGKILLed,
//! kept down for `TRACEVAL_FAULTS_DOWN_SECONDS` (20) and started again with
//! its original command line (`tests/cluster/up` restarts exactly the dead
//! component); then etcd is paused (SIGSTOP) as long and resumed. The same
//! operator process must converge what is created and edited after each
//! fault, and count (in its own /metrics) only a bounded number of requests
//! while the server is unusable: it backs off instead of spinning.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::cluster::PrivateCluster;
use crate::figures::{env_or, record};
use crate::support::operator::install_crds;
use crate::support::operator_proc::{Metrics, OperatorProc};
use crate::support::procs::log_dir;
use crate::support::{DEADLINE, poll};
use crate::workload::{self, Op, Sizes};

/// Requests per second of outage the operator may make at most. By
/// construction: its 12 watches (5 of the TracedService controller, 7 of
/// the EvaluationTask one) retry at most once per 2 s (`stores::WATCH_BACKOFF_MAX`),
/// 6/s, plus failed reconciles retried with the operator's own backoff from
/// 1 s, doubling. Measured: 38 requests in 20 s (1.9/s) with the API server
/// down, 0 with etcd paused (the open watches just hang). A client that
/// spins makes hundreds per second.
const MAX_REQUESTS_PER_SECOND: f64 = 8.0;

async fn namespace(client: &Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("Namespace");
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create the namespace");
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
    poll("the default ServiceAccount", DEADLINE, || async {
        accounts.get_opt("default").await.ok().flatten()
    })
    .await;
}

/// Creates service `new`, edits every object to `edit`, and waits until
/// all `new + 1` services and the tasks converged; returns the seconds.
async fn load_and_converge(client: &Client, ns: &str, new: usize, tasks: usize, edit: u32) -> f64 {
    let sizes = Sizes {
        services: new + 1,
        tasks,
    };
    let mut ops = vec![Op::CreateService(new)];
    if edit == 0 {
        ops = workload::plan(sizes, 0);
    } else {
        ops.extend((0..sizes.services).map(|i| Op::EditService(i, edit)));
        ops.extend((0..tasks).map(|j| Op::EditTask(j, edit)));
    }
    workload::run(client, ns, sizes, ops, 4, |_| {}).await;
    let (_, took) =
        crate::end_state::converge(client, ns, sizes, edit, crate::deadline(sizes)).await;
    took.as_secs_f64()
}

fn requests(metrics: &Metrics) -> u64 {
    metrics.requests(|_, _| true)
}

pub async fn run() {
    let down = Duration::from_secs(env_or("TRACEVAL_FAULTS_DOWN_SECONDS", 20));
    let logs = log_dir("faults-outage");
    let cluster = tokio::task::block_in_place(|| PrivateCluster::start(&logs));
    let client = cluster.client().await;
    install_crds(&client).await;
    let ns = "faults-outage";
    namespace(&client, ns).await;
    workload::create_secret(&client, ns).await;
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let mut operator =
        OperatorProc::start("outage", ns, &[], &[("KUBECONFIG", &kubeconfig)], &logs);
    let pid = operator.pid();
    let tasks = 2;
    let initial = load_and_converge(&client, ns, 4, tasks, 0).await;

    // The API server killed, down for `down`, restarted.
    let before = requests(&operator.scrape().await);
    let killed = tokio::time::Instant::now();
    tokio::task::block_in_place(|| cluster.kill("kube-apiserver"));
    tokio::time::sleep(down).await; // the outage itself
    let during_restart = requests(&operator.scrape().await) - before;
    let restarting = tokio::time::Instant::now();
    tokio::task::block_in_place(|| cluster.up());
    let restart_seconds = restarting.elapsed().as_secs_f64();
    let apiserver_down_seconds = killed.elapsed().as_secs_f64();
    let after_restart = load_and_converge(&client, ns, 5, tasks, 1).await;
    assert!(
        operator.running(),
        "the operator exited: {}",
        operator.log_text()
    );

    // etcd paused for `down`: the API server is up but cannot answer.
    let before = requests(&operator.scrape().await);
    cluster.signal("etcd", "STOP");
    tokio::time::sleep(down).await; // the pause itself
    let during_pause = requests(&operator.scrape().await) - before;
    cluster.signal("etcd", "CONT");
    let after_pause = load_and_converge(&client, ns, 6, tasks, 2).await;
    assert!(
        operator.running(),
        "the operator exited: {}",
        operator.log_text()
    );
    assert_eq!(operator.pid(), pid, "the operator was restarted");

    let down_secs = down.as_secs_f64();
    record(
        "outage",
        json!({"down_seconds": down.as_secs(), "apiserver_down_seconds": apiserver_down_seconds,
               "apiserver_restart_seconds": restart_seconds,
               "requests_while_apiserver_down": during_restart,
               "requests_while_etcd_paused": during_pause,
               "converge_seconds_initial": initial,
               "converge_seconds_after_restart": after_restart,
               "converge_seconds_after_pause": after_pause,
               "operator_restarts": 0, "objects": 7 + tasks}),
    );
    for (what, count) in [
        ("the API server was down", during_restart),
        ("etcd was paused", during_pause),
    ] {
        let rate = count as f64 / down_secs;
        assert!(
            rate <= MAX_REQUESTS_PER_SECOND,
            "{count} requests in {down_secs} s while {what}: {rate:.1}/s > {MAX_REQUESTS_PER_SECOND}/s (log: {})",
            operator.log.display()
        );
    }
}
