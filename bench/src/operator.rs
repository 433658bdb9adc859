//! Rows 1–5: the operator against the "API floor", a plain client with the
//! same concurrency creating the same TracedServices and, itself, the same
//! children (built by traceval's own pure builders) and status — what any
//! controller must at least send. Both sides are observed by the same
//! watch-based tracker, in fresh namespaces, interleaved per repetition.

use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use traceval::api::{EvaluationTask, TracedService};
use traceval::operator::tracedservice::conditions::Observation;
use traceval::operator::tracedservice::status::desired_status;
use traceval::resources::meta::MANAGER;
use traceval::resources::tracedservice::{BuildOptions, build, validate};

use crate::Ctx;
use crate::cluster::{self, OperatorProcess, Tracker};
use crate::measure::{self, Stat};
use crate::table::{Met, Row};

fn retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(e) => e.code == 429 || e.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Awaits `$call` (re-evaluated per attempt), retrying 429, 5xx and
/// connection errors with exponential backoff, at most 8 times.
macro_rules! with_retry {
    ($call:expr) => {{
        let mut attempt = 0u32;
        loop {
            match $call.await {
                Ok(v) => break Ok::<_, String>(v),
                Err(e) if retryable(&e) && attempt < 8 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50u64 << attempt.min(6))).await;
                }
                Err(e) => break Err(e.to_string()),
            }
        }
    }};
}

/// Requests in flight for creating TracedServices (both sides) and for the
/// floor's per-object work.
pub const CONCURRENCY: usize = 32;

fn stamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() % 100_000)
}

/// The floor's work for one TracedService: create it, apply its children,
/// write its status.
async fn floor_one(client: &Client, ts: TracedService) -> Result<(), String> {
    let ns = ts.namespace().unwrap_or_default();
    let api: Api<TracedService> = Api::namespaced(client.clone(), &ns);
    let created = with_retry!(api.create(&PostParams::default(), &ts))?;
    let svc = validate(&created).map_err(|e| e.to_string())?;
    let children = build(&svc, &BuildOptions::default());
    let params = PatchParams::apply(MANAGER).force();
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), &ns);
    let d = &children.deployment;
    let deployment = with_retry!(deployments.patch(&d.name_any(), &params, &Patch::Apply(d)))?;
    let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), &ns);
    let s = &children.service;
    with_retry!(services.patch(&s.name_any(), &params, &Patch::Apply(s)))?;
    if let Some(np) = &children.network_policy {
        let policies: Api<k8s_openapi::api::networking::v1::NetworkPolicy> =
            Api::namespaced(client.clone(), &ns);
        with_retry!(policies.patch(&np.name_any(), &params, &Patch::Apply(np)))?;
    }
    let status = desired_status(
        &created,
        Some(&svc),
        &Observation::Applied(&deployment),
        None,
        k8s_openapi::jiff::Timestamp::now(),
    );
    let patch = serde_json::json!({
        "apiVersion": TracedService::api_version(&()),
        "kind": TracedService::kind(&()),
        "status": status,
    });
    with_retry!(api.patch_status(&created.name_any(), &params, &Patch::Apply(&patch)))?;
    Ok(())
}

async fn create_ts(client: &Client, ts: TracedService) -> Result<(), String> {
    let api: Api<TracedService> =
        Api::namespaced(client.clone(), &ts.namespace().unwrap_or_default());
    with_retry!(api.create(&PostParams::default(), &ts)).map(drop)
}

/// Which side a run measures.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// `traceval operator`.
    Operator,
    /// The plain client.
    Floor,
}

/// One convergence run; the operator is returned alive when `keep`.
pub struct Run {
    /// Seconds from the first create to the last convergence.
    pub seconds: f64,
    /// Operator peak RSS, MiB (operator side).
    pub rss_mib: f64,
    /// Operator CPU-seconds during the run.
    pub cpu: f64,
    /// The namespace.
    pub ns: String,
    /// The names created.
    pub names: Vec<String>,
    /// The operator, when kept.
    pub operator: Option<OperatorProcess>,
    /// API requests per object during the run (all clients), by verb and resource.
    pub requests: String,
    /// Why the run did not converge, if it did not.
    pub failure: Option<String>,
}

fn port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(38080, |a| a.port())
}

/// Creates `n` TracedServices in a fresh namespace and waits for all to converge.
pub async fn converge(
    ctx: &Ctx,
    client: &Client,
    side: Side,
    n: usize,
    rep: usize,
    keep: bool,
) -> Result<Run, String> {
    let tag = if side == Side::Operator { "op" } else { "fl" };
    let ns = format!("tvb-{tag}-{n}-{rep}-{}", stamp());
    cluster::namespace(client, &ns).await?;
    let tracker = Tracker::start(client, &ns);
    let operator = match side {
        Side::Operator => Some(OperatorProcess::start(
            &ctx.traceval,
            &ns,
            port(),
            &ctx.work.join(format!("{ns}.log")),
        )?),
        Side::Floor => None,
    };
    // A warm-up object: proves the watches (ours and the operator's) are up.
    let warm = cluster::traced_service(&ns, "warmup");
    match side {
        Side::Operator => create_ts(client, warm).await?,
        Side::Floor => floor_one(client, warm).await?,
    }
    tracker
        .wait_all(&["warmup".to_owned()], Duration::from_secs(60))
        .await?;
    let cpu0 = operator
        .as_ref()
        .and_then(|o| measure::proc_cpu_seconds(o.pid()))
        .unwrap_or(0.0);
    let names: Vec<String> = (0..n).map(|i| format!("svc-{i:05}")).collect();
    let requests_before = cluster::request_counts(client).await?;
    let start = Instant::now();
    let results: Vec<Result<(), String>> = futures::stream::iter(names.iter().map(|name| {
        let ts = cluster::traced_service(&ns, name);
        async move {
            match side {
                Side::Operator => create_ts(client, ts).await,
                Side::Floor => floor_one(client, ts).await,
            }
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .collect()
    .await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        return Err(format!("{ns}: {e}"));
    }
    // A run that does not converge in time is reported, not fatal: the
    // other runs and rows still count.
    let (seconds, failure) = match tracker.wait_all(&names, Duration::from_secs(600)).await {
        Ok(last) => (last.duration_since(start).as_secs_f64(), None),
        Err(e) => (
            f64::INFINITY,
            Some(format!("{side:?} N={n} rep {rep}: {e}")),
        ),
    };
    // Requests still in flight after convergence (status echoes) belong to the run.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let requests =
        cluster::per_object(&requests_before, &cluster::request_counts(client).await?, n);
    let (rss_mib, cpu) = match &operator {
        Some(o) => (
            measure::proc_rss_mib(o.pid()).map_or(f64::NAN, |r| r.0),
            measure::proc_cpu_seconds(o.pid()).unwrap_or(f64::NAN) - cpu0,
        ),
        None => (f64::NAN, f64::NAN),
    };
    eprintln!(
        "rows 1/5: {side:?} N={n} rep {rep}: {seconds:.2} s, RSS {rss_mib:.1} MiB, CPU {cpu:.2} s"
    );
    Ok(Run {
        seconds,
        rss_mib,
        cpu,
        ns,
        names,
        operator: if keep { operator } else { None },
        requests,
        failure,
    })
}

/// Row 2: `samples` single creates, each timed to its convergence.
pub async fn latencies(
    ctx: &Ctx,
    client: &Client,
    side: Side,
    samples: usize,
) -> Result<Vec<f64>, String> {
    let tag = if side == Side::Operator { "op" } else { "fl" };
    let ns = format!("tvb-lat-{tag}-{}", stamp());
    cluster::namespace(client, &ns).await?;
    let tracker = Tracker::start(client, &ns);
    let _operator = match side {
        Side::Operator => Some(OperatorProcess::start(
            &ctx.traceval,
            &ns,
            port(),
            &ctx.work.join(format!("{ns}.log")),
        )?),
        Side::Floor => None,
    };
    let warm = cluster::traced_service(&ns, "warmup");
    match side {
        Side::Operator => create_ts(client, warm).await?,
        Side::Floor => floor_one(client, warm).await?,
    }
    tracker
        .wait_all(&["warmup".to_owned()], Duration::from_secs(60))
        .await?;
    let mut out = Vec::new();
    for i in 0..samples {
        let name = format!("lat-{i:04}");
        let ts = cluster::traced_service(&ns, &name);
        let start = Instant::now();
        match side {
            Side::Operator => create_ts(client, ts).await?,
            Side::Floor => floor_one(client, ts).await?,
        }
        let at = tracker
            .wait_all(std::slice::from_ref(&name), Duration::from_secs(60))
            .await?;
        out.push(at.duration_since(start).as_secs_f64() * 1000.0);
        let _ = tracker.at(&name);
    }
    Ok(out)
}

/// Creates an EvaluationTask per TracedService and waits (up to `timeout`)
/// for the operator to have given each a CronJob; returns how many have one.
pub async fn evaluation_tasks(
    client: &Client,
    ns: &str,
    targets: &[String],
    timeout: Duration,
) -> Result<usize, String> {
    let api: Api<EvaluationTask> = Api::namespaced(client.clone(), ns);
    let results: Vec<Result<(), String>> = futures::stream::iter(targets.iter().map(|t| {
        let et = cluster::evaluation_task(ns, &format!("eval-{t}"), t);
        let api = api.clone();
        async move { with_retry!(api.create(&PostParams::default(), &et)).map(drop) }
    }))
    .buffer_unordered(CONCURRENCY)
    .collect()
    .await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        return Err(format!("EvaluationTask: {e}"));
    }
    let cronjobs: Api<k8s_openapi::api::batch::v1::CronJob> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + timeout;
    loop {
        let count = cronjobs
            .list_metadata(&Default::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        if count >= targets.len() || Instant::now() > deadline {
            return Ok(count);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Rows 1–5.
pub fn rows(ctx: &Ctx, wanted: &dyn Fn(&str) -> bool) -> Vec<Row> {
    match ctx.rt.block_on(crate::operator_rows::all(ctx, wanted)) {
        Ok(rows) => rows,
        Err(e) => ["1", "2", "3", "4", "5"]
            .iter()
            .filter(|r| wanted(r))
            .map(|r| Row::not_measured(r, "Operator", "see issue 7", &e))
            .collect(),
    }
}

/// `Stat` of a slice, for the rows.
pub fn stat(v: &[f64]) -> Stat {
    Stat::of(v)
}

/// Met if `ok`, for the rows.
pub fn met(ok: bool) -> Met {
    Met::from(ok)
}
