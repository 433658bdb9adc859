//! What each round measured: one JSON line per round in
//! `$TRACEVAL_RELIABILITY_OUT`, and (in soak runs) the "Evaluation faults"
//! section of `bench/RELIABILITY.md`, rewritten in place; other sections of
//! that file are left alone.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

/// One round's figures.
#[derive(Clone, Debug, Default)]
pub struct Round {
    pub round: u64,
    pub seed: u64,
    pub traces: u64,
    pub sampled: u64,
    pub evaluated: u64,
    pub failed: u64,
    pub lost: u64,
    pub double_counted: u64,
    pub runs: u64,
    pub killed: u64,
    pub runs_failed: u64,
    pub store_outages: u64,
    pub store_refused: u64,
    pub judge_requests: u64,
    /// Injected judge faults by kind (429, 500, timeout, malformed, truncated, nonjson).
    pub judge_faults: Value,
    pub status_snapshots: u64,
    pub watermark_violations: u64,
    pub seconds: f64,
}

impl Round {
    pub fn json(&self) -> Value {
        json!({
            "suite": "reliability_evaluation",
            "round": self.round, "seed": self.seed, "traces": self.traces,
            "sampled": self.sampled, "evaluated": self.evaluated, "failed": self.failed,
            "lost": self.lost, "double_counted": self.double_counted,
            "runs": self.runs, "killed": self.killed, "runs_failed": self.runs_failed,
            "store_outages": self.store_outages, "store_refused": self.store_refused,
            "judge_requests": self.judge_requests, "judge_faults": self.judge_faults,
            "status_snapshots": self.status_snapshots,
            "watermark_violations": self.watermark_violations,
            "seconds": (self.seconds * 10.0).round() / 10.0,
        })
    }

    fn faults_total(&self) -> u64 {
        self.judge_faults
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0)
    }
}

/// Appends the round to `$TRACEVAL_RELIABILITY_OUT`, if set.
pub fn append_json_line(round: &Round) {
    let Ok(path) = std::env::var("TRACEVAL_RELIABILITY_OUT") else {
        return;
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    writeln!(file, "{}", round.json()).expect("write figures");
}

const HEADING: &str = "## Evaluation faults";

/// The section's Markdown.
pub fn section(rounds: &[Round], when: &str) -> String {
    let sum = |f: fn(&Round) -> u64| rounds.iter().map(f).sum::<u64>();
    let mut out = format!(
        "{HEADING}\n\n\
         Written by `tests/reliability/evaluation.rs` (`TRACEVAL_SOAK=1 cargo test --test \
         reliability_evaluation`), last run {when}. Each round: 12 sample-app traces in \
         Jaeger, an online EvaluationTask on the real apiserver, `traceval evaluate` run as \
         the CronJob runs it, against the DashScope/OpenAI stand-in injecting 429 with \
         Retry-After, 500, hangs past the 1 s client timeout, truncated JSON, replies cut \
         in transit and HTML pages (seeded); the trace store cut by a proxy for part of a \
         run; runs SIGKILLed at random points and rerun until the task completes. The task \
         status is read every 100 ms during the round: no snapshot may show a watermark past \
         an unrecorded trace.\n\n\
         | round | seed | traces | sampled | evaluated | failed (with reason) | lost | double counted | runs | killed | failed runs | store outages | judge requests | judge faults | watermark violations / snapshots | seconds |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in rounds {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {:.1} |\n",
            r.round,
            r.seed,
            r.traces,
            r.sampled,
            r.evaluated,
            r.failed,
            r.lost,
            r.double_counted,
            r.runs,
            r.killed,
            r.runs_failed,
            r.store_outages,
            r.judge_requests,
            r.faults_total(),
            r.watermark_violations,
            r.status_snapshots,
            r.seconds
        ));
    }
    out.push_str(&format!(
        "| **all {}** | | {} | {} | {} | {} | **{}** | **{}** | {} | {} | {} | {} | {} | {} | **{}** / {} | {:.1} |\n",
        rounds.len(),
        sum(|r| r.traces),
        sum(|r| r.sampled),
        sum(|r| r.evaluated),
        sum(|r| r.failed),
        sum(|r| r.lost),
        sum(|r| r.double_counted),
        sum(|r| r.runs),
        sum(|r| r.killed),
        sum(|r| r.runs_failed),
        sum(|r| r.store_outages),
        sum(|r| r.judge_requests),
        sum(|r| r.faults_total()),
        sum(|r| r.watermark_violations),
        sum(|r| r.status_snapshots),
        rounds.iter().map(|r| r.seconds).sum::<f64>()
    ));
    out
}

/// Replaces the section in `file` (or appends it), keeping every other section.
pub fn write_section(file: &Path, section: &str) {
    let text =
        std::fs::read_to_string(file).unwrap_or_else(|_| "# Reliability (issue 8)\n\n".to_owned());
    let (before, after) = match text.find(HEADING) {
        Some(start) => {
            let rest = &text[start + HEADING.len()..];
            let end = rest
                .find("\n## ")
                .map_or(text.len(), |i| start + HEADING.len() + i + 1);
            (&text[..start], &text[end..])
        }
        None => (text.as_str(), ""),
    };
    let mut out = before.trim_end().to_owned();
    out.push_str("\n\n");
    out.push_str(section.trim_end());
    out.push('\n');
    if !after.is_empty() {
        out.push('\n');
        out.push_str(after);
    }
    std::fs::write(file, out).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
}

#[test]
fn the_section_replaces_only_itself() {
    let dir = std::env::temp_dir().join(format!("reliability-md-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("RELIABILITY.md");
    std::fs::write(
        &file,
        "# R\n\n## Other\n\nkeep\n\n## Evaluation faults\n\nold\n\n## Last\n\nkeep too\n",
    )
    .expect("write");
    let round = Round {
        round: 1,
        traces: 12,
        ..Round::default()
    };
    write_section(&file, &section(&[round], "now"));
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(text.contains("## Other\n\nkeep\n") && text.contains("## Last\n\nkeep too\n"));
    assert!(
        !text.contains("old") && text.matches(HEADING).count() == 1,
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
