//! Row 9: `traceval evaluate` paging through and sampling traces held by
//! Jaeger (api_v3) over a one-hour window; the baseline is one plain GET of
//! every trace of the window (what the store itself costs to answer).

use std::time::{Duration, Instant};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::Ctx;
use crate::inputs::{self, JudgeKnobs};
use crate::judge::{JudgeOptions, JudgeProcess};
use crate::measure::{self, Stat};
use crate::table::{Met, Row};

/// Row 9.
pub fn row9(ctx: &Ctx) -> Vec<Row> {
    match row9_inner(ctx) {
        Ok(rows) => rows,
        Err(e) => vec![Row::not_measured(
            "9",
            "Live source: 20,000 traces in Jaeger",
            "bounded RSS",
            &e,
        )],
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set (run through `make bench`, which starts Jaeger)"))
}

async fn load(
    otlp: &str,
    service: &str,
    start_ns: u64,
    window_ns: u64,
    n: u64,
) -> Result<(), String> {
    let http = reqwest::Client::new();
    let url = format!("{}/v1/traces", otlp.trim_end_matches('/'));
    let batches: Vec<Vec<u64>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(200)
        .map(<[u64]>::to_vec)
        .collect();
    let sends = batches.into_iter().map(|batch| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let spans: Vec<Value> = batch
                .iter()
                .map(|&i| {
                    let t = inputs::trace(7, i, start_ns + i * (window_ns / n.max(1)), service);
                    t["resourceSpans"][0].clone()
                })
                .collect();
            let body = serde_json::json!({"resourceSpans": spans}).to_string();
            let r = http
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| format!("OTLP {url}: {e}"))?;
            if !r.status().is_success() {
                return Err(format!("OTLP {url}: {}", r.status()));
            }
            Ok::<(), String>(())
        }
    });
    use futures::StreamExt;
    let results: Vec<Result<(), String>> = futures::stream::iter(sends)
        .buffer_unordered(4)
        .collect()
        .await;
    results.into_iter().collect()
}

/// GET every trace of the window at once: (seconds, traces, bytes).
async fn plain_get(
    query: &str,
    service: &str,
    min: Timestamp,
    max: Timestamp,
    n: u64,
) -> Result<(f64, usize, usize), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let r = http
        .get(format!("{}/api/v3/traces", query.trim_end_matches('/')))
        .query(&[
            ("query.service_name", service),
            ("query.start_time_min", &min.to_string()),
            ("query.start_time_max", &max.to_string()),
            ("query.num_traces", &(n + 1000).to_string()),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    // Count distinct trace IDs without building the documents.
    let text = String::from_utf8_lossy(&body);
    let mut ids: Vec<&str> = text
        .match_indices("\"traceId\":\"")
        .filter_map(|(i, m)| text.get(i + m.len()..i + m.len() + 32))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok((seconds, ids.len(), body.len()))
}

fn row9_inner(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let query = env("TRACEVAL_JAEGER_QUERY")?;
    let otlp = env("TRACEVAL_OTLP_ENDPOINT")?;
    let n = ctx.sizes.live_traces;
    let service = format!("tvbench-live-{}", std::process::id());
    let now = Timestamp::now();
    let start = now
        .checked_sub(SignedDuration::from_hours(2))
        .map_err(|e| e.to_string())?;
    let start = Timestamp::from_second(start.as_second() - start.as_second() % 60)
        .map_err(|e| e.to_string())?;
    let end = start
        .checked_add(SignedDuration::from_hours(1))
        .map_err(|e| e.to_string())?;
    let quarter = start
        .checked_add(SignedDuration::from_mins(15))
        .map_err(|e| e.to_string())?;
    let start_ns = u64::try_from(start.as_nanosecond()).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    ctx.rt
        .block_on(load(&otlp, &service, start_ns, 3_600_000_000_000, n))?;
    // Jaeger batches for 200 ms; wait until the store answers with all of them.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, found, _) = ctx
            .rt
            .block_on(plain_get(&query, &service, start, end, n))?;
        if found as u64 >= n {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("Jaeger holds {found} of {n} traces after loading"));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let load_s = t0.elapsed().as_secs_f64();
    let judge = JudgeProcess::start(&JudgeOptions::default())?;
    let knobs = JudgeKnobs {
        concurrency: 256,
        rps: 100_000,
        retries: 4,
    };
    let ratio = 0.01;
    let mut secs = Vec::new();
    let mut rss = Vec::new();
    let mut rss_quarter = Vec::new();
    let mut floor = Vec::new();
    let mut picked = 0u64;
    for rep in 0..ctx.reps {
        for (label, until) in [("full", end), ("quarter", quarter)] {
            let task = ctx.work.join(format!("row9-{label}.task.yaml"));
            std::fs::write(
                &task,
                inputs::jaeger_task(
                    knobs,
                    &query,
                    &service,
                    &start.to_string(),
                    &until.to_string(),
                    ratio,
                ),
            )
            .map_err(|e| e.to_string())?;
            let args: Vec<String> = vec![
                "evaluate".into(),
                "--task".into(),
                task.display().to_string(),
                "--judge-url".into(),
                judge.base_url.clone(),
            ];
            let tag = format!("row9-{label}-{rep}");
            let usage = measure::run(
                &ctx.traceval,
                &args,
                &ctx.work,
                &tag,
                true,
                &[("RUST_LOG", "warn")],
            )?;
            let out = std::fs::read_to_string(ctx.work.join(format!("{tag}.out")))
                .map_err(|e| e.to_string())?;
            let summary: Value = out
                .lines()
                .last()
                .and_then(|l| serde_json::from_str(l).ok())
                .ok_or("no summary")?;
            if label == "full" {
                secs.push(usage.wall);
                rss.push(usage.max_rss_mib);
                picked = summary["evaluated"].as_u64().unwrap_or(0)
                    + summary["failed"].as_u64().unwrap_or(0);
                let skipped = summary["skipped"].as_u64().unwrap_or(0);
                eprintln!(
                    "row 9 rep {rep}: {:.2} s, {:.0} MiB, evaluated+failed {picked}, skipped {skipped}",
                    usage.wall, usage.max_rss_mib
                );
            } else {
                rss_quarter.push(usage.max_rss_mib);
            }
        }
        let (s, found, bytes) = ctx
            .rt
            .block_on(plain_get(&query, &service, start, end, n))?;
        eprintln!(
            "row 9 rep {rep}: plain GET {s:.2} s, {found} traces, {:.1} MB",
            bytes as f64 / 1e6
        );
        floor.push(s);
    }
    let t = Stat::of(&secs);
    let f = Stat::of(&floor);
    let r = Stat::of(&rss);
    let rq = Stat::of(&rss_quarter);
    let growth = r.median / rq.median;
    Ok(vec![Row {
        id: "9".into(),
        what: format!("Live source: page through and sample {n} traces in Jaeger (1 h window)"),
        figure: format!(
            "{}; peak RSS {} (¼ window: {:.0} MiB)",
            t.show(2, "s"),
            r.show(0, "MiB"),
            rq.median
        ),
        baseline: format!("one plain GET of the window {}", f.show(2, "s")),
        ratio: format!(
            "{:.2}× the GET; RSS {growth:.2}× for 4× traces",
            t.median / f.median
        ),
        goal: "bounded RSS".into(),
        met: Met::from(growth <= 1.5),
        note: format!(
            "{n} generated RAG traces sent to Jaeger v2 (in-memory) over OTLP/HTTP JSON ({load_s:.0} s \
             to load and see them all), spread over one hour starting two hours ago. `traceval evaluate` \
             with `traceSource.jaeger` (page size 1000; a sub-window is halved on a full page and widened when \
             sparse; traces sampled while paging), probability sampling \
             {ratio} ({picked} traces judged by the instant stand-in), whole process timed. RSS bounded \
             = grows less than 1.5× when the window holds 4× the traces."
        ),
    }])
}
