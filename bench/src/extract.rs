//! Row 8: `traceval extract` against `jq` doing the same extraction on the
//! same OTLP/JSON lines: MB/s, and peak RSS at two file sizes.

use std::path::Path;

use crate::Ctx;
use crate::inputs;
use crate::measure::{self, Stat};
use crate::table::{Met, Row};

/// jq's version of the task's extraction rules, per document (one trace a
/// line): the `query` span's `input.value`, the LLM span's `output.value`,
/// the `retrieve` span's document contents in index order.
pub const JQ_FILTER: &str = r#"[.resourceSpans[].scopeSpans[].spans[]] as $s
| { traceId: $s[0].traceId,
    query: ([$s[] | select(.name == "query") | .attributes[] | select(.key == "input.value") | .value.stringValue] | first),
    answer: ([$s[] | select(any(.attributes[]; .key == "openinference.span.kind" and .value.stringValue == "LLM"))
              | .attributes[] | select(.key == "output.value") | .value.stringValue] | first),
    contexts: [$s[] | select(.name == "retrieve") | .attributes[]
               | select(.key | test("^retrieval\\.documents\\.[0-9]+\\.document\\.content$"))
               | {i: (.key | split(".")[2] | tonumber), v: .value.stringValue}] | sort_by(.i) | map(.v) }"#;

struct Sample {
    mb_per_s: Vec<f64>,
    rss: Vec<f64>,
}

fn once(
    ctx: &Ctx,
    tag: &str,
    program: &Path,
    args: &[String],
    mb: f64,
) -> Result<(f64, f64), String> {
    let usage = measure::run(
        program,
        args,
        &ctx.work,
        tag,
        false,
        &[("RUST_LOG", "warn")],
    )?;
    Ok((mb / usage.wall, usage.max_rss_mib))
}

/// Row 8 (two rows: throughput at the largest size, RSS growth).
pub fn row8(ctx: &Ctx) -> Vec<Row> {
    match row8_inner(ctx) {
        Ok(rows) => rows,
        Err(e) => vec![Row::not_measured(
            "8",
            "Extraction MB/s vs jq",
            "≥ 5× jq",
            &e,
        )],
    }
}

fn row8_inner(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let jq = which("jq").ok_or("jq not found (apt-get install jq)")?;
    let task = ctx.work.join("row8.task.yaml");
    let knobs = inputs::JudgeKnobs {
        concurrency: 1,
        rps: 1,
        retries: 0,
    };
    std::fs::write(&task, inputs::file_task(knobs)).map_err(|e| e.to_string())?;
    let sizes = ctx.sizes.extract_mb;
    let mut tv: Vec<Sample> = Vec::new();
    let mut jqs: Vec<Sample> = Vec::new();
    let mut traces_at = Vec::new();
    for mb in sizes {
        let (file, traces, bytes) = ctx.big_file(mb)?;
        traces_at.push(traces);
        let real_mb = bytes as f64 / 1e6;
        let mut t = Sample {
            mb_per_s: vec![],
            rss: vec![],
        };
        let mut j = Sample {
            mb_per_s: vec![],
            rss: vec![],
        };
        for rep in 0..ctx.reps {
            let args = vec![
                "extract".into(),
                "--task".into(),
                task.display().to_string(),
                "--traces".into(),
                file.display().to_string(),
            ];
            let (rate, rss) = once(
                ctx,
                &format!("row8-tv-{mb}-{rep}"),
                &ctx.traceval,
                &args,
                real_mb,
            )?;
            eprintln!("row 8 {mb} MB rep {rep}: traceval {rate:.1} MB/s, {rss:.0} MiB");
            t.mb_per_s.push(rate);
            t.rss.push(rss);
            let args = vec!["-c".into(), JQ_FILTER.into(), file.display().to_string()];
            let (rate, rss) = once(ctx, &format!("row8-jq-{mb}-{rep}"), &jq, &args, real_mb)?;
            eprintln!("row 8 {mb} MB rep {rep}: jq {rate:.1} MB/s, {rss:.0} MiB");
            j.mb_per_s.push(rate);
            j.rss.push(rss);
        }
        tv.push(t);
        jqs.push(j);
    }
    let big = sizes.len() - 1;
    let tv_rate = Stat::of(&tv[big].mb_per_s);
    let jq_rate = Stat::of(&jqs[big].mb_per_s);
    let ratio = tv_rate.median / jq_rate.median;
    let rss_small = Stat::of(&tv[0].rss);
    let rss_big = Stat::of(&tv[big].rss);
    let growth = rss_big.median / rss_small.median;
    let jq_small = Stat::of(&jqs[0].rss);
    let jq_big = Stat::of(&jqs[big].rss);
    Ok(vec![
        Row {
            id: "8".into(),
            what: format!("Extraction throughput, {} MB OTLP/JSON", sizes[big]),
            figure: tv_rate.show(1, "MB/s"),
            baseline: format!("jq {}", jq_rate.show(1, "MB/s")),
            ratio: format!("{ratio:.1}×"),
            goal: "≥ 5× jq".into(),
            met: Met::from(ratio >= 5.0),
            note: format!(
                "`traceval extract --task T --traces F > /dev/null` vs `jq -c FILTER F > /dev/null` \
                 (the same query/answer/contexts rules written in jq, per line); files of one trace \
                 per line ({} and {} traces), generated in /tmp; MB = 10^6 bytes of input. traceval \
                 reads the file streaming (line by line into a reused buffer, each trace printed once \
                 complete); the earlier row 8c measured that as a prototype in bench/, now the product.",
                traces_at[0], traces_at[big]
            ),
        },
        Row {
            id: "8b".into(),
            what: format!("Extraction peak RSS, {} MB → {} MB", sizes[0], sizes[big]),
            figure: format!("{} → {}", rss_small.show(0, "MiB"), rss_big.show(0, "MiB")),
            baseline: format!("jq {:.0} → {:.0} MiB", jq_small.median, jq_big.median),
            ratio: format!("{growth:.2}× growth"),
            goal: "does not grow with size".into(),
            met: Met::from(growth <= 1.25),
            note: String::new(),
        },
    ])
}

/// The first `name` on PATH.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}
