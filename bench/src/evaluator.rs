//! Rows 6 (engine overhead against arize-phoenix-evals) and 7 (judge-bound
//! throughput against the concurrency / latency ceiling).

use std::time::Duration;

use serde_json::Value;

use crate::Ctx;
use crate::inputs::{self, JudgeKnobs};
use crate::judge::{JudgeOptions, JudgeProcess};
use crate::measure::{self, Stat};
use crate::table::{Met, Row};

fn start_judge(_ctx: &Ctx, options: JudgeOptions) -> Result<JudgeProcess, String> {
    JudgeProcess::start(&options)
}

fn stats(ctx: &Ctx, judge: &JudgeProcess) -> Result<(u64, u64, u64), String> {
    ctx.rt.block_on(judge.stats())
}

/// One `traceval evaluate` over `traces` generated traces; (usage, summary).
fn evaluate(
    ctx: &Ctx,
    tag: &str,
    traces: u64,
    knobs: JudgeKnobs,
    judge: &JudgeProcess,
) -> Result<(measure::Usage, Value), String> {
    let file = ctx.rag_file(traces)?;
    let task = ctx.work.join(format!("{tag}.task.yaml"));
    std::fs::write(&task, inputs::file_task(knobs)).map_err(|e| e.to_string())?;
    let args: Vec<String> = vec![
        "evaluate".into(),
        "--task".into(),
        task.display().to_string(),
        "--traces".into(),
        file.display().to_string(),
        "--judge-url".into(),
        judge.base_url.clone(),
    ];
    let usage = measure::run(
        &ctx.traceval,
        &args,
        &ctx.work,
        tag,
        true,
        &[("RUST_LOG", "warn")],
    )?;
    let out =
        std::fs::read_to_string(ctx.work.join(format!("{tag}.out"))).map_err(|e| e.to_string())?;
    let summary: Value = out
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or("no summary line")?;
    let evaluated = summary["evaluated"].as_u64().unwrap_or(0);
    if evaluated + summary["failed"].as_u64().unwrap_or(0) != traces {
        return Err(format!(
            "{tag}: summary does not cover {traces} traces: {summary}"
        ));
    }
    Ok((usage, summary))
}

/// Row 6: traceval vs Phoenix, traces/s and CPU-seconds per 1,000 traces.
pub fn row6(ctx: &Ctx) -> Vec<Row> {
    match row6_inner(ctx) {
        Ok(rows) => rows,
        Err(e) => vec![Row::not_measured(
            "6",
            "Engine overhead, 10,000 RAG traces",
            "≥ 20× Phoenix",
            &e,
        )],
    }
}

fn row6_inner(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let n = ctx.sizes.rag_traces;
    let pn = ctx.sizes.phoenix_traces;
    let judge = start_judge(ctx, JudgeOptions::default())?;
    // The rate limit out of the way (offline manifests are not range-checked;
    // the CRD caps requestsPerSecond at 1000): engine overhead is measured.
    let knobs = JudgeKnobs {
        concurrency: 256,
        rps: 100_000,
        retries: 4,
    };
    let phoenix = ctx.python.clone();
    let best = match &phoenix {
        Some(_) => Some(phoenix_best_concurrency(ctx, &judge)?),
        None => None,
    };
    let (mut tv_rate, mut tv_cpu, mut ph_rate, mut ph_cpu) = (vec![], vec![], vec![], vec![]);
    let mut ph_note = String::new();
    for rep in 0..ctx.reps {
        let (usage, _) = evaluate(ctx, &format!("row6-tv-{rep}"), n, knobs, &judge)?;
        tv_rate.push(n as f64 / usage.wall);
        tv_cpu.push(usage.cpu / n as f64 * 1000.0);
        eprintln!(
            "row 6 rep {rep}: traceval {:.0} traces/s, {:.2} CPU-s",
            n as f64 / usage.wall,
            usage.cpu
        );
        if let Some(c) = best {
            let (secs, usage, line) = phoenix_run(ctx, &judge, &format!("row6-ph-{rep}"), pn, c)?;
            ph_rate.push(pn as f64 / secs);
            ph_cpu.push(usage.cpu / pn as f64 * 1000.0);
            ph_note = format!("last Phoenix run: {line}");
            eprintln!("row 6 rep {rep}: phoenix {:.1} traces/s", pn as f64 / secs);
        }
    }
    let (ok, throttled, bad) = stats(ctx, &judge)?;
    let tv = Stat::of(&tv_rate);
    let ph = Stat::of(&ph_rate);
    let ratio = tv.median / ph.median;
    let note = format!(
        "traceval: `traceval evaluate` over {n} generated traces (7 judge calls each), whole process \
         timed (parse, extract, judge, metrics, JSON lines), maxConcurrency 256, requestsPerSecond \
         100000 (offline manifests are not range-checked; with the CRD's cap of 1000 the run is \
         rate-bound at ≤ 143 traces/s). Phoenix: arize-phoenix-evals {} (`async_evaluate_dataframe` with \
         its Correctness, Faithfulness and RetrievalRelevance (one row per document) evaluators, OpenAI client pointed at the \
         same stand-in) over the first {pn} of the same traces at its best concurrency {} (swept {:?}); \
         only its classification is timed, not imports or data loading. Stand-in served {ok} OK, \
         {throttled} 429, {bad} bad requests. {ph_note}",
        ctx.phoenix_version(),
        best.map_or("—".into(), |c| c.to_string()),
        PHOENIX_SWEEP,
    );
    let mut rows = vec![Row {
        id: "6".into(),
        what: format!("Engine overhead: traces/s, {n} RAG traces, instant judge"),
        figure: tv.show(0, "traces/s"),
        baseline: if ph.n > 0 {
            format!("Phoenix {}", ph.show(1, "traces/s"))
        } else {
            "Phoenix not run".into()
        },
        ratio: if ph.n > 0 {
            format!("{ratio:.1}×")
        } else {
            "—".into()
        },
        goal: "≥ 20×".into(),
        met: if ph.n > 0 {
            Met::from(ratio >= 20.0)
        } else {
            Met::NotMeasured
        },
        note,
    }];
    let tvc = Stat::of(&tv_cpu);
    let phc = Stat::of(&ph_cpu);
    rows.push(Row {
        id: "6b".into(),
        what: "Engine overhead: CPU-seconds per 1,000 traces".into(),
        figure: tvc.show(2, "CPU-s"),
        baseline: if phc.n > 0 {
            format!("Phoenix {} (whole process)", phc.show(1, "CPU-s"))
        } else {
            "—".into()
        },
        ratio: if phc.n > 0 {
            format!("{:.1}× less", phc.median / tvc.median)
        } else {
            "—".into()
        },
        goal: "report".into(),
        met: Met::Info,
        note: String::new(),
    });
    Ok(rows)
}

const PHOENIX_SWEEP: [u32; 4] = [32, 64, 128, 256];

fn phoenix_run(
    ctx: &Ctx,
    judge: &JudgeProcess,
    tag: &str,
    traces: u64,
    concurrency: u32,
) -> Result<(f64, measure::Usage, String), String> {
    let python = ctx.python.as_ref().ok_or("no Phoenix venv")?;
    let file = ctx.rag_file(ctx.sizes.rag_traces)?;
    let args: Vec<String> = vec![
        ctx.root
            .join("bench/phoenix_baseline.py")
            .display()
            .to_string(),
        "--traces".into(),
        file.display().to_string(),
        "--limit".into(),
        traces.to_string(),
        "--judge-url".into(),
        judge.base_url.clone(),
        "--concurrency".into(),
        concurrency.to_string(),
    ];
    let usage = measure::run(python, &args, &ctx.work, tag, true, &[])?;
    let out =
        std::fs::read_to_string(ctx.work.join(format!("{tag}.out"))).map_err(|e| e.to_string())?;
    let line = out.lines().last().unwrap_or_default().to_owned();
    let v: Value =
        serde_json::from_str(&line).map_err(|e| format!("phoenix output {line:?}: {e}"))?;
    let secs = v["seconds"].as_f64().ok_or("phoenix: no seconds")?;
    if v["errors"].as_u64().unwrap_or(0) > 0 {
        return Err(format!("phoenix reported errors: {line}"));
    }
    Ok((secs, usage, line))
}

fn phoenix_best_concurrency(ctx: &Ctx, judge: &JudgeProcess) -> Result<u32, String> {
    let probe = (ctx.sizes.phoenix_traces / 5).max(10);
    let mut best = (0.0, PHOENIX_SWEEP[0]);
    for c in PHOENIX_SWEEP {
        let (secs, _, _) = phoenix_run(ctx, judge, &format!("row6-sweep-{c}"), probe, c)?;
        let rate = probe as f64 / secs;
        eprintln!("row 6 sweep: phoenix concurrency {c}: {rate:.1} traces/s");
        if rate > best.0 {
            best = (rate, c);
        }
    }
    Ok(best.1)
}

/// Row 7: achieved judge calls/s at 200 ms latency and concurrency 32.
pub fn row7(ctx: &Ctx) -> Vec<Row> {
    match row7_inner(ctx) {
        Ok(rows) => rows,
        Err(e) => vec![Row::not_measured(
            "7",
            "Judge-bound throughput",
            "≥ 0.9 × 160/s",
            &e,
        )],
    }
}

fn row7_inner(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let n = ctx.sizes.judge_bound_traces;
    let latency = Duration::from_millis(200);
    let ceiling = 32.0 / latency.as_secs_f64();
    let knobs = JudgeKnobs {
        concurrency: 32,
        rps: 1000,
        retries: 6,
    };
    let variants = [
        ("7", "no faults", 0.0, None),
        ("7b", "10% 429, no Retry-After", 0.1, None),
        ("7c", "10% 429, Retry-After: 1", 0.1, Some(1)),
    ];
    let mut results: Vec<(Stat, u64, u64, Vec<u64>)> = Vec::new();
    for (i, (_, _, rate, retry_after)) in variants.iter().enumerate() {
        let judge = start_judge(
            ctx,
            JudgeOptions {
                latency,
                fault_rate_429: *rate,
                retry_after: *retry_after,
            },
        )?;
        let mut calls = Vec::new();
        let mut failed = Vec::new();
        for rep in 0..ctx.reps {
            let before = stats(ctx, &judge)?.0;
            let (usage, summary) = evaluate(ctx, &format!("row7-{i}-{rep}"), n, knobs, &judge)?;
            failed.push(summary["failed"].as_u64().unwrap_or(0));
            let done = stats(ctx, &judge)?.0 - before;
            calls.push(done as f64 / usage.wall);
            eprintln!(
                "row 7 {i} rep {rep}: {done} calls in {:.1} s = {:.1}/s",
                usage.wall,
                done as f64 / usage.wall
            );
        }
        let (ok, throttled, _) = stats(ctx, &judge)?;
        results.push((Stat::of(&calls), ok, throttled, failed));
    }
    let clean = results[0].0.median;
    Ok(variants
        .iter()
        .zip(&results)
        .map(|((id, label, _, _), (stat, ok, throttled, failed))| {
            let ratio = stat.median / ceiling;
            let faulty = *throttled > 0;
            Row {
                id: (*id).into(),
                what: format!("Judge-bound calls/s, 200 ms, concurrency 32, {label}"),
                figure: stat.show(1, "calls/s"),
                baseline: format!("ceiling {ceiling:.0}/s"),
                ratio: if faulty {
                    format!("{ratio:.2} (−{:.0}% vs no faults)", (1.0 - stat.median / clean) * 100.0)
                } else {
                    format!("{ratio:.2}")
                },
                goal: if faulty { "report the drop".into() } else { "≥ 0.9".into() },
                met: if faulty { Met::Info } else { Met::from(ratio >= 0.9) },
                note: format!(
                    "{n} traces × 7 calls per run; calls/s = answered (200) calls / wall time of the \
                     whole `traceval evaluate` process; stand-in totals {ok} OK, {throttled} 429. \
                     maxConcurrency 32, requestsPerSecond 1000, maxRetries 6. Failed traces per run: \
                     {failed:?} of {n}."
                ),
            }
        })
        .collect())
}
