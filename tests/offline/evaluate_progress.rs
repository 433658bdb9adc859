//! `traceval evaluate --progress`: the progress line and the summary table
//! on stderr, and stdout the same JSON lines with or without them. The
//! built binary against the stand-in judge (see `evaluate_standin`), on
//! `rag.jsonl` (two traces evaluated, a health check skipped); stderr is a
//! pipe here, and a pseudo-terminal (python3's `pty`) in the last test.
// Test code: a panic with its message is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../evaluate_standin/mod.rs"]
mod evaluate_standin;

use std::path::Path;
use std::process::Output;

use evaluate_standin::cli::*;
use evaluate_standin::{Faults, JudgeStandIn};
use serde_json::Value;

/// Back to the start of the line and clear it: how the line is redrawn.
const REDRAW: &str = "\r\x1b[K";

async fn evaluate(dir: &Path, judge: &JudgeStandIn, progress: Option<&str>) -> Output {
    let t = write(dir, "task.yaml", &task("", RAG_EXTRACTION, ALL_OF_2025));
    let mut list = args(&[
        "evaluate",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &fixture("rag.jsonl"),
        "--judge-url",
        &judge.url,
    ]);
    if let Some(when) = progress {
        list.extend(args(&["--progress", when]));
    }
    let out = run(list).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The rows of the table's metric section: name → (average, traces).
fn metric_rows(stderr: &str) -> Vec<(String, String, u64)> {
    stderr
        .lines()
        .skip_while(|l| !l.starts_with("metric "))
        .skip(1)
        .take_while(|l| !l.starts_with("judge: "))
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cells.len(), 3, "{l:?}");
            (
                cells[0].to_owned(),
                cells[1].to_owned(),
                cells[2].parse().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_always_ends_with_a_table_of_what_the_summary_line_says() {
    let dir = workdir("progress_always");
    let judge = JudgeStandIn::start(Faults::default()).await;
    let out = evaluate(&dir, &judge, Some("always")).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = lines(&out.stdout).pop().unwrap();

    // The line: redrawn in place, finished with a newline before the table.
    assert!(stderr.starts_with(REDRAW), "{stderr:?}");
    let last = stderr.rsplit(REDRAW).next().unwrap();
    let (final_line, table) = last.split_once('\n').unwrap();
    assert!(
        final_line.starts_with("read 3, sampled 3 | evaluated 2, failed 0, skipped 1 | judge "),
        "{final_line:?}"
    );
    assert!(
        final_line.ends_with(" elapsed"),
        "no ETA once every sampled trace is done: {final_line:?}"
    );

    // The table: the summary line's counts, reasons, averages, usage.
    let mut expected = format!(
        "evaluated {}, failed {}, skipped {}\nnot evaluated:\n",
        summary["evaluated"], summary["failed"], summary["skipped"]
    );
    for (reason, n) in summary["notEvaluated"].as_object().unwrap() {
        expected += &format!("  {n}  {reason}\n");
    }
    assert!(table.starts_with(&expected), "{table}");
    let rows = metric_rows(table);
    let averages = summary["averages"].as_object().unwrap();
    assert_eq!(rows.len(), averages.len(), "{table}");
    let counts = &summary["metricCounts"];
    for (name, average, traces) in &rows {
        let value = averages[name.as_str()].as_f64().unwrap();
        assert_eq!(average, &format!("{value:.3}"), "{name} in {table}");
        let count = match name.as_str() {
            "correctness" | "faithfulness" => &counts[name.as_str()],
            _ => &counts["retrieval"],
        };
        assert_eq!(Value::from(*traces), *count, "{name} in {table}");
    }
    let usage = &summary["judgeUsage"];
    let judge_row = format!(
        "judge: {} requests, {} retries, {} not parsable, {} tokens ({} prompt, {} completion)\n",
        usage["requests"],
        usage["retries"],
        usage["notParsable"],
        usage["totalTokens"],
        usage["promptTokens"],
        usage["completionTokens"]
    );
    assert!(table.contains(&judge_row), "{table}");
    let wall = table.lines().last().unwrap();
    let seconds = wall
        .strip_prefix("wall time: ")
        .and_then(|w| w.strip_suffix(" s"))
        .unwrap_or_else(|| panic!("{wall:?}"));
    assert_eq!(seconds.split_once('.').unwrap().1.len(), 3, "{wall:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_leaves_stdout_alone_and_auto_prints_nothing_into_a_pipe() {
    let dir = workdir("progress_auto");
    let judge = JudgeStandIn::start(Faults::default()).await;
    let always = evaluate(&dir, &judge, Some("always")).await;
    for when in [Some("auto"), None, Some("never")] {
        let out = evaluate(&dir, &judge, when).await;
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&always.stdout),
            "--progress {when:?}: stdout is the same JSON lines"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains('\r') && !stderr.contains('\x1b'),
            "--progress {when:?}: {stderr:?}"
        );
        for table_text in ["evaluated 2", "wall time", "judge: "] {
            assert!(
                !stderr.contains(table_text),
                "--progress {when:?}: {stderr:?}"
            );
        }
    }
}

/// Runs the binary with stderr on a pseudo-terminal (stdout to a file):
/// what a person at a terminal sees on stderr.
const ON_A_TERMINAL: &str = r#"
import os, pty, sys
out = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    o = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(o, 1)
    os.execv(sys.argv[2], sys.argv[2:])
seen = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_auto_shows_on_a_terminal() {
    let dir = workdir("progress_terminal");
    let t = write(&dir, "task.yaml", &task("", RAG_EXTRACTION, ALL_OF_2025));
    let stdout_file = dir.join("stdout.jsonl");
    let judge = JudgeStandIn::start(Faults::default()).await;
    let list = args(&[
        "-c",
        ON_A_TERMINAL,
        stdout_file.to_str().unwrap(),
        BIN,
        "evaluate",
        "--task",
        t.to_str().unwrap(),
        "--traces",
        &fixture("rag.jsonl"),
        "--judge-url",
        &judge.url,
    ]);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("/usr/bin/python3")
            .args(&list)
            .env("TRACEVAL_JUDGE_TOKEN", TOKEN)
            .env_remove("TRACEVAL_JUDGE_TOKEN_FILE")
            .env_remove("COLUMNS")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{terminal}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(terminal.contains(REDRAW), "{terminal:?}");
    assert!(
        terminal.contains("evaluated 2, failed 0, skipped 1"),
        "{terminal:?}"
    );
    assert!(terminal.contains("wall time: "), "{terminal:?}");
    let printed = lines(&std::fs::read(&stdout_file).unwrap());
    assert_eq!(printed.len(), 3, "two results and the summary on stdout");
}
