//! Assembles rows 1–5 from convergence runs, latency samples, and the
//! memory / idle / no-op checks on the operator kept from the last run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use traceval::api::TracedService;

use crate::Ctx;
use crate::cluster::{self, OperatorProcess};
use crate::measure::{self, percentile};
use crate::operator::{self, CONCURRENCY, Side, met, stat};
use crate::table::{Met, Row};

/// Per (N, side): seconds, RSS, CPU of each repetition.
type Runs = BTreeMap<(usize, bool), Vec<(f64, f64, f64)>>;

/// Rows 1–5, those `wanted`.
pub async fn all(ctx: &Ctx, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<Row>, String> {
    let client = Client::try_default()
        .await
        .map_err(|e| format!("no cluster (run through `make bench`, which starts one): {e}"))?;
    cluster::install_crds(&client).await?;
    let mut sizes = ctx.sizes.operator.clone();
    sizes.sort_unstable();
    let largest = *sizes.last().ok_or("no operator sizes")?;
    let keep_wanted = wanted("3") || wanted("4");
    let mut runs: Runs = BTreeMap::new();
    let mut requests: BTreeMap<(usize, bool), String> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    let mut kept = None;
    if wanted("1") || wanted("5") || keep_wanted {
        for &n in &sizes {
            for rep in 0..ctx.reps {
                let order = if rep % 2 == 0 {
                    [Side::Operator, Side::Floor]
                } else {
                    [Side::Floor, Side::Operator]
                };
                for side in order {
                    let keep = keep_wanted
                        && side == Side::Operator
                        && n == largest
                        && rep + 1 == ctx.reps;
                    let run = operator::converge(ctx, &client, side, n, rep, keep).await?;
                    runs.entry((n, side == Side::Operator)).or_default().push((
                        run.seconds,
                        run.rss_mib,
                        run.cpu,
                    ));
                    requests.insert((n, side == Side::Operator), run.requests.clone());
                    failures.extend(run.failure.clone());
                    if run.operator.is_some() {
                        kept = Some(run);
                    }
                }
            }
        }
    }
    let mut rows = Vec::new();
    if wanted("1") {
        rows.extend(row1(&runs, &sizes, &requests));
        if !failures.is_empty()
            && let Some(first) = rows.iter_mut().find(|r| r.id == "1")
        {
            first.note.push_str(&format!(
                " Runs that did not converge within 600 s (left out of the medians): {}.",
                failures.join("; ")
            ));
        }
    }
    if wanted("2") {
        rows.push(row2(ctx, &client).await?);
    }
    if let Some(run) = kept {
        let ns = run.ns.clone();
        let names = run.names.clone();
        let mut op = run.operator.ok_or("operator not kept")?;
        if wanted("3") {
            rows.extend(row3(ctx, &client, &ns, &names, &op).await?);
        }
        if wanted("4") {
            let (row, restarted) = row4(ctx, &client, &ns, &names, op).await?;
            rows.push(row);
            op = restarted;
        }
        drop(op);
    }
    if wanted("5") {
        rows.push(row5(&runs, &sizes));
    }
    Ok(rows)
}

fn side(runs: &Runs, n: usize, op: bool, i: usize) -> Vec<f64> {
    runs.get(&(n, op))
        .map(|v| v.iter().map(|r| [r.0, r.1, r.2][i]).collect())
        .unwrap_or_default()
}

fn row1(runs: &Runs, sizes: &[usize], requests: &BTreeMap<(usize, bool), String>) -> Vec<Row> {
    sizes
        .iter()
        .map(|&n| {
            let op = stat(&side(runs, n, true, 0));
            let fl = stat(&side(runs, n, false, 0));
            let ratio = op.median / fl.median;
            let official = n == 1000;
            let traffic = format!(
                " API traffic at N = {n} (last run, API server counts, all clients incl. the \
                 tracker's and the controller-manager's): operator side {}; floor side {}.",
                requests.get(&(n, true)).map_or("—", String::as_str),
                requests.get(&(n, false)).map_or("—", String::as_str)
            );
            Row {
                id: "1".into(),
                what: format!("Convergence, N = {n} TracedServices created at once"),
                figure: op.show(2, "s"),
                baseline: format!("API floor {}", fl.show(2, "s")),
                ratio: format!("{ratio:.2}"),
                goal: if official { "≤ 1.3 at N = 1000".into() } else { "(≤ 1.3 at N = 1000)".into() },
                met: if official { met(ratio <= 1.3) } else { Met::Info },
                note: if n == sizes[0] {
                    format!(
                        "Time from the first create to the last TracedService having its Deployment, \
                         Service and NetworkPolicy and `status.observedGeneration` = generation, as seen \
                         by one watch-based tracker for both sides. Creates go {CONCURRENCY} at a time on \
                         both sides; the floor (a plain kube-rs client, {CONCURRENCY} in flight) creates \
                         each TracedService, server-side applies the children built by traceval's own \
                         builders and applies the same status. Fresh namespace and fresh operator process \
                         (watching only that namespace) per run, after one warm-up object. `replicas: 0`, \
                         so no pods are made.{traffic}"
                    )
                } else {
                    traffic.trim_start().to_owned()
                },
            }
        })
        .collect()
}

async fn row2(ctx: &Ctx, client: &Client) -> Result<Row, String> {
    let samples = ctx.sizes.latency_samples;
    let op = operator::latencies(ctx, client, Side::Operator, samples).await?;
    let fl = operator::latencies(ctx, client, Side::Floor, samples).await?;
    let (op50, op95) = (percentile(&op, 50.0), percentile(&op, 95.0));
    let (fl50, fl95) = (percentile(&fl, 50.0), percentile(&fl, 95.0));
    Ok(Row {
        id: "2".into(),
        what: format!("Latency, one create → converged, {samples} samples"),
        figure: format!("p50 {op50:.0} ms, p95 {op95:.0} ms"),
        baseline: format!("API floor p50 {fl50:.0} ms, p95 {fl95:.0} ms"),
        ratio: format!("p50 {:.2}, p95 {:.2}", op50 / fl50, op95 / fl95),
        goal: "report against the floor".into(),
        met: Met::Info,
        note:
            "Sequential creates in one namespace, each timed from the create call to the tracker \
               seeing it converged; the floor's time includes its own child and status writes."
                .into(),
    })
}

async fn row3(
    ctx: &Ctx,
    client: &Client,
    ns: &str,
    names: &[String],
    op: &OperatorProcess,
) -> Result<Vec<Row>, String> {
    let n = names.len();
    let with_cron = operator::evaluation_tasks(client, ns, names, Duration::from_secs(300)).await?;
    // Settle (no child/status writes for 5 s, at most 3 minutes), then idle.
    let settled = quiet(client, Duration::from_secs(180)).await?;
    let before = cluster::write_counts(client).await?;
    let cpu0 = measure::proc_cpu_seconds(op.pid()).ok_or("operator gone")?;
    tokio::time::sleep(ctx.sizes.idle).await;
    let cpu1 = measure::proc_cpu_seconds(op.pid()).ok_or("operator gone")?;
    let after = cluster::write_counts(client).await?;
    let (writes, detail) = cluster::diff(&before, &after);
    let (peak, now) = measure::proc_rss_mib(op.pid()).ok_or("operator gone")?;
    let idle_cpu = cpu1 - cpu0;
    let official = n >= 1000;
    let cpu_ok = idle_cpu <= 0.05 * ctx.sizes.idle.as_secs_f64() / 60.0;
    let smaller = if official {
        ""
    } else {
        " Goal applies at 1,000 + 1,000; this run was smaller."
    };
    Ok(vec![
        Row {
            id: "3".into(),
            what: format!("Operator peak RSS, {n} TracedServices + {n} EvaluationTasks + children"),
            figure: format!("{peak:.1} MiB (current {now:.1})"),
            baseline: "—".into(),
            ratio: "—".into(),
            goal: "≤ 64 MiB".into(),
            met: if official {
                met(peak <= 64.0)
            } else {
                Met::Info
            },
            note: format!(
                "One run, on the operator kept from the last N = {n} convergence run; {with_cron} of {n} \
                 EvaluationTasks had a CronJob when measured (yearly schedule, so no Job runs). RSS is \
                 VmHWM from /proc.{smaller}"
            ),
        },
        Row {
            id: "3b".into(),
            what: format!(
                "Operator idle CPU over {} s afterwards",
                ctx.sizes.idle.as_secs()
            ),
            figure: format!("{idle_cpu:.3} CPU-s"),
            baseline: "—".into(),
            ratio: "—".into(),
            goal: "≈ 0".into(),
            met: if official { met(cpu_ok) } else { Met::Info },
            note: format!(
                "Child/status writes had {settled} before the idle window; during it the API server \
                 counted {:.0} writes to children (main resource) and CRD status ({detail}).{smaller}",
                writes + 0.0
            ),
        },
    ])
}

/// Waits until 5 s pass without child/status writes; says how it ended.
async fn quiet(client: &Client, max: Duration) -> Result<String, String> {
    let start = Instant::now();
    let mut before = cluster::write_counts(client).await?;
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let after = cluster::write_counts(client).await?;
        let (writes, _) = cluster::diff(&before, &after);
        if writes == 0.0 {
            return Ok(format!(
                "stopped after {:.0} s",
                start.elapsed().as_secs_f64()
            ));
        }
        if start.elapsed() > max {
            return Ok(format!(
                "not stopped after {:.0} s ({writes:.0} in the last 5 s)",
                max.as_secs_f64()
            ));
        }
        before = after;
    }
}

async fn settle(op: &OperatorProcess, target: f64, timeout: Duration) -> f64 {
    let deadline = Instant::now() + timeout;
    let mut last = op.reconciles().await;
    while (last.is_nan() || last < target) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        last = op.reconciles().await;
    }
    // Let requeues and status echoes finish.
    tokio::time::sleep(Duration::from_secs(5)).await;
    op.reconciles().await
}

async fn row4(
    ctx: &Ctx,
    client: &Client,
    ns: &str,
    names: &[String],
    op: OperatorProcess,
) -> Result<(Row, OperatorProcess), String> {
    let n = names.len();
    // (a) Resync: a restarted operator reconciles every object once.
    drop(op);
    let before = cluster::write_counts(client).await?;
    let log = ctx.work.join(format!("{ns}-restart.log"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(38081, |a| a.port());
    let op = OperatorProcess::start(&ctx.traceval, ns, port, &log)?;
    let resync_reconciles = settle(&op, (n + 1) as f64, Duration::from_secs(300)).await;
    let after = cluster::write_counts(client).await?;
    let (resync_writes, resync_detail) = cluster::diff(&before, &after);
    // (b) Re-apply: a metadata-only change (same spec) to every TracedService.
    let api: Api<TracedService> = Api::namespaced(client.clone(), ns);
    let base = op.reconciles().await;
    let before = cluster::write_counts(client).await?;
    for name in names {
        let patch = serde_json::json!({"metadata": {"annotations": {"tvbench/touched": "1"}}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| e.to_string())?;
    }
    let touch_reconciles = settle(&op, base + n as f64, Duration::from_secs(300)).await - base;
    let after = cluster::write_counts(client).await?;
    let (touch_writes, touch_detail) = cluster::diff(&before, &after);
    // `+ 0.0` turns a difference of -0 into 0 for printing.
    let (resync_writes, touch_writes) = (resync_writes + 0.0, touch_writes + 0.0);
    let total = resync_writes + touch_writes;
    Ok((
        Row {
            id: "4".into(),
            what: format!("No-op reconcile writes, N = {n} (+ {n} EvaluationTasks)"),
            figure: format!(
                "resync {resync_writes:.0} writes; same-spec touch {touch_writes:.0} writes"
            ),
            baseline: "0".into(),
            ratio: format!(
                "{:.2} writes/reconcile",
                total / (resync_reconciles + touch_reconciles).max(1.0)
            ),
            goal: "0 writes".into(),
            met: met(total == 0.0),
            note: format!(
                "Counted as the API server's apiserver_request_total (verbs other than GET/LIST/WATCH) on \
                 children kinds and the CRDs' status subresource — the operator's /metrics has reconcile \
                 counters but no client request counts. Resync: the operator restarted, {resync_reconciles:.0} \
                 TracedService reconciles: {resync_detail}. Touch: an annotation merged into every \
                 TracedService (spec unchanged), {touch_reconciles:.0} reconciles: {touch_detail}."
            ),
        },
        op,
    ))
}

fn exponent(sizes: &[usize], values: &[f64]) -> f64 {
    let (n0, n1) = (sizes[0] as f64, sizes[sizes.len() - 1] as f64);
    (values[values.len() - 1] / values[0]).ln() / (n1 / n0).ln()
}

fn row5(runs: &Runs, sizes: &[usize]) -> Row {
    let med = |n: usize, op: bool, i: usize| stat(&side(runs, n, op, i)).median;
    let t_op: Vec<f64> = sizes.iter().map(|&n| med(n, true, 0)).collect();
    let t_fl: Vec<f64> = sizes.iter().map(|&n| med(n, false, 0)).collect();
    let rss: Vec<f64> = sizes.iter().map(|&n| med(n, true, 1)).collect();
    let cpu: Vec<f64> = sizes.iter().map(|&n| med(n, true, 2)).collect();
    let (bt, bf, br) = if sizes.len() > 1 {
        (
            exponent(sizes, &t_op),
            exponent(sizes, &t_fl),
            exponent(sizes, &rss),
        )
    } else {
        (f64::NAN, f64::NAN, f64::NAN)
    };
    let shape = |b: f64| {
        if b.is_nan() {
            "one size only"
        } else if b <= 1.1 {
            "linear or better"
        } else {
            "worse than linear"
        }
    };
    let points = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "N={n}: {:.1} s, {:.0} MiB, {:.1} CPU-s",
                t_op[i], rss[i], cpu[i]
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Row {
        id: "5".into(),
        what: "Scaling: time and memory against N".into(),
        figure: points,
        baseline: format!(
            "floor: {}",
            sizes
                .iter()
                .zip(&t_fl)
                .map(|(n, t)| format!("N={n}: {t:.1} s"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        ratio: format!("time ∝ N^{bt:.2} (floor N^{bf:.2}); RSS ∝ N^{br:.2}"),
        goal: "linear or better".into(),
        met: if bt.is_nan() {
            Met::Info
        } else {
            met(bt <= 1.1 && br <= 1.1)
        },
        note: format!(
            "Medians of row 1's runs; exponent b from the smallest to the largest N (t₁/t₀ = (N₁/N₀)^b). \
             Time: {}; memory: {}. RSS is the operator's peak (VmHWM) at the end of each run.",
            shape(bt),
            shape(br)
        ),
    }
}
