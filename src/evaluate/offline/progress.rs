//! Progress of an offline `traceval evaluate` on stderr (`--progress`):
//! while the run goes, one line redrawn in place (`\r`, then `ESC [K` to
//! clear the rest of the old line), at most once per [`REDRAW_EVERY`]; when
//! the run ends the line is finished with a newline and, when the run
//! succeeded, a summary table follows. Nothing here writes to stdout.
//!
//! Hand-written rather than `indicatif`: one line and one table are a few
//! dozen lines of formatting, and the crate's bars, styles and terminal
//! handling (`console`, `unicode-width`, ...) would be unused weight.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::api::evaluationtask::MetricCounts;
use crate::evaluate::args::ProgressMode;
use crate::evaluate::judge::Judge;
use crate::evaluate::scoring::Summary;

/// The shortest time between two redraws of the line.
pub const REDRAW_EVERY: Duration = Duration::from_millis(250);
/// Back to the start of the line, and clear it.
const CLEAR: &str = "\r\x1b[K";

/// An unfinished progress line is on stderr: a log line clears it first.
static LINE_SHOWN: AtomicBool = AtomicBool::new(false);

/// What the line counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Traces read from the source.
    pub read: u64,
    /// Traces picked by the sampling policy (or found by ID) so far.
    pub sampled: u64,
    /// Traces evaluated.
    pub evaluated: u64,
    /// Traces failed (listed IDs not found included).
    pub failed: u64,
    /// Sampled traces the engine skipped (no span matches the selectors).
    pub skipped: u64,
    /// Sampled traces done: evaluated, failed or skipped.
    pub done: u64,
    /// Judge requests sent, retries included.
    pub judge_requests: u64,
}

/// The progress line, without `\r` or newline. `elapsed` is the time since
/// the run started; `evaluating` the time since the sample was complete
/// (`None` while traces are still read): the judge's rate and the ETA are
/// over that time, the ETA for the sampled traces not yet done (none when
/// every one is).
pub fn line(c: &Counts, elapsed: Duration, evaluating: Option<Duration>) -> String {
    let mut s = format!("read {}, sampled {}", c.read, c.sampled);
    if c.read > c.sampled {
        let _ = write!(s, " ({} passed over)", c.read - c.sampled);
    }
    let _ = write!(
        s,
        " | evaluated {}, failed {}, skipped {}",
        c.evaluated, c.failed, c.skipped
    );
    match evaluating {
        None => s.push_str(" | reading"),
        Some(time) => {
            let secs = time.as_secs_f64();
            let rate = if secs > 0.0 {
                c.judge_requests as f64 / secs
            } else {
                0.0
            };
            let _ = write!(s, " | judge {rate:.1} req/s");
        }
    }
    let _ = write!(s, " | {} elapsed", clock(elapsed));
    let left = c.sampled.saturating_sub(c.done);
    if let Some(time) = evaluating
        && c.done > 0
        && left > 0
    {
        let eta = time.mul_f64(left as f64 / c.done as f64);
        let _ = write!(s, ", ETA {} for {left} sampled traces left", clock(eta));
    }
    s
}

/// The table at the end of a run: counts, reasons, averages, judge usage
/// and wall time, numbers to 3 decimals.
pub fn table(s: &Summary, wall: Duration) -> String {
    let mut t = format!(
        "evaluated {}, failed {}, skipped {}\n",
        s.evaluated, s.failed, s.skipped
    );
    if !s.not_evaluated.is_empty() {
        t.push_str("not evaluated:\n");
        let width = s.not_evaluated.values().map(|n| n.to_string().len()).max();
        for (reason, n) in &s.not_evaluated {
            let _ = writeln!(t, "  {n:>w$}  {reason}", w = width.unwrap_or(1));
        }
    }
    let metrics: Vec<(&str, f64)> = s.averages.named().collect();
    if !metrics.is_empty() {
        let w = metrics
            .iter()
            .map(|(name, _)| name.len())
            .fold(6, usize::max);
        let _ = writeln!(t, "{:<w$}  {:>9}  {:>7}", "metric", "average", "traces");
        for (name, average) in metrics {
            let n = count(&s.metric_counts, name);
            let _ = writeln!(t, "{name:<w$}  {average:>9.3}  {n:>7}");
        }
    }
    if s.with_reference + s.without_reference > 0 {
        let _ = writeln!(
            t,
            "reference answers: {} with, {} without",
            s.with_reference, s.without_reference
        );
    }
    let u = &s.judge_usage;
    let _ = writeln!(
        t,
        "judge: {} requests, {} retries, {} not parsable, {} tokens ({} prompt, {} completion)",
        u.requests, u.retries, u.not_parsable, u.total_tokens, u.prompt_tokens, u.completion_tokens
    );
    let _ = writeln!(t, "wall time: {:.3} s", wall.as_secs_f64());
    t
}

/// How many traces the average of metric `name` is over.
fn count(counts: &MetricCounts, name: &str) -> u64 {
    match name {
        "correctness" => counts.correctness,
        "faithfulness" => counts.faithfulness,
        "answerRelevance" => counts.answer_relevance,
        "ndcg" | "hitRate" | "precisionAtK" | "mrr" | "contextRelevance" => counts.retrieval,
        own => counts.custom.get(own).copied().unwrap_or(0),
    }
}

/// `m:ss`, or `h:mm:ss` from an hour on.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `text` cut to fit a terminal `columns` wide (the `COLUMNS` variable,
/// when the shell exports it), so that `\r` redraws do not wrap.
fn fit(text: &str, columns: Option<usize>) -> &str {
    match columns {
        Some(c) if c > 1 => text
            .char_indices()
            .nth(c - 1)
            .map_or(text, |(at, _)| &text[..at]),
        _ => text,
    }
}

/// stderr for log lines: clears an unfinished progress line first (the
/// next redraw puts it back, under the log line).
pub fn log_writer() -> std::io::Stderr {
    let mut stderr = std::io::stderr();
    if LINE_SHOWN.swap(false, Ordering::Relaxed) {
        let _ = stderr.write_all(CLEAR.as_bytes());
    }
    stderr
}

/// One run's progress; does nothing when off. Shared with the trace
/// source's sink, which may be called from another thread: hence the mutex.
pub struct Progress<'a> {
    on: bool,
    judge: &'a Judge,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    counts: Counts,
    evaluating_since: Option<Instant>,
    drawn: Option<Instant>,
}

impl<'a> Progress<'a> {
    /// On for `always`, and for `auto` when stderr is a terminal.
    pub fn new(mode: ProgressMode, judge: &'a Judge) -> Self {
        let on = match mode {
            ProgressMode::Always => true,
            ProgressMode::Never => false,
            ProgressMode::Auto => std::io::stderr().is_terminal(),
        };
        Self {
            on,
            judge,
            started: Instant::now(),
            state: Mutex::default(),
        }
    }

    /// Changes the counts; redraws when the last redraw is old enough.
    pub fn update(&self, change: impl FnOnce(&mut Counts)) {
        if self.on {
            let mut state = self.state();
            change(&mut state.counts);
            self.draw(&mut state, false);
        }
    }

    /// Every trace is read: the sample is complete, evaluation starts.
    pub fn sample_complete(&self) {
        if self.on {
            let mut state = self.state();
            state.evaluating_since = Some(Instant::now());
            self.draw(&mut state, false);
        }
    }

    /// Runs `work`, redrawing the line also while no count changes (a
    /// judge call being retried), so that elapsed time and rate move on.
    pub async fn drive<F: Future>(&self, work: F) -> F::Output {
        if !self.on {
            return work.await;
        }
        let mut tick = tokio::time::interval(REDRAW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = tick.tick() => self.draw(&mut self.state(), false),
            }
        }
    }

    /// Finishes the line with a newline; with the run's summary, the table.
    pub fn finish(&self, summary: Option<&Summary>) {
        if !self.on {
            return;
        }
        self.draw(&mut self.state(), true);
        LINE_SHOWN.store(false, Ordering::Relaxed);
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(b"\n");
        if let Some(summary) = summary {
            let _ = stderr.write_all(table(summary, self.started.elapsed()).as_bytes());
        }
        let _ = stderr.flush();
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn draw(&self, state: &mut State, always: bool) {
        let now = Instant::now();
        let recent = state
            .drawn
            .is_some_and(|at| now.duration_since(at) < REDRAW_EVERY);
        if recent && !always {
            return;
        }
        state.drawn = Some(now);
        let mut counts = state.counts;
        counts.judge_requests = self.judge.usage().requests;
        let evaluating = state.evaluating_since.map(|at| now.duration_since(at));
        let text = line(&counts, now.duration_since(self.started), evaluating);
        let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "{CLEAR}{}", fit(&text, columns));
        let _ = stderr.flush();
        LINE_SHOWN.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::evaluationtask::{JudgeUsage, Scores};

    const RUNNING: Counts = Counts {
        read: 10_000,
        sampled: 1_000,
        evaluated: 180,
        failed: 15,
        skipped: 5,
        done: 200,
        judge_requests: 1_200,
    };

    #[test]
    fn line_while_reading_has_no_rate_and_no_eta() {
        let c = Counts {
            read: 42,
            sampled: 40,
            ..Counts::default()
        };
        assert_eq!(
            line(&c, Duration::from_secs(3), None),
            "read 42, sampled 40 (2 passed over) | evaluated 0, failed 0, skipped 0 | reading | 0:03 elapsed"
        );
    }

    #[test]
    fn line_while_evaluating_has_the_judge_rate_and_an_eta_for_the_sampled_traces_left() {
        // 200 of 1000 done in 2 minutes: 800 left take 8 minutes more.
        assert_eq!(
            line(
                &RUNNING,
                Duration::from_secs(125),
                Some(Duration::from_secs(120))
            ),
            "read 10000, sampled 1000 (9000 passed over) | evaluated 180, failed 15, skipped 5 \
             | judge 10.0 req/s | 2:05 elapsed, ETA 8:00 for 800 sampled traces left"
        );
    }

    #[test]
    fn line_has_no_eta_before_the_first_trace_is_done() {
        let c = Counts {
            read: 5,
            sampled: 5,
            ..Counts::default()
        };
        let text = line(&c, Duration::from_secs(1), Some(Duration::ZERO));
        assert!(text.ends_with("| judge 0.0 req/s | 0:01 elapsed"), "{text}");
        assert!(!text.contains("passed over"), "{text}");
    }

    #[test]
    fn clock_counts_hours_from_an_hour_on() {
        assert_eq!(clock(Duration::from_millis(59_999)), "0:59");
        assert_eq!(clock(Duration::from_secs(3 * 3600 + 62)), "3:01:02");
    }

    #[test]
    fn fit_cuts_to_the_terminal_width() {
        assert_eq!(fit("abcdef", Some(4)), "abc");
        assert_eq!(fit("abc", Some(80)), "abc");
        assert_eq!(fit("abc", None), "abc");
    }

    #[test]
    fn table_lists_counts_reasons_averages_usage_and_wall_time() {
        let mut custom = std::collections::BTreeMap::new();
        custom.insert("tone".to_owned(), 0.25);
        let summary = Summary {
            evaluated: 2,
            failed: 1,
            skipped: 12,
            not_evaluated: [
                ("not sampled".to_owned(), 12),
                ("judge error".to_owned(), 1),
            ]
            .into_iter()
            .collect(),
            averages: Scores {
                correctness: Some(0.5),
                ndcg: Some(2.0 / 3.0),
                custom,
                ..Scores::default()
            },
            metric_counts: MetricCounts {
                correctness: 3,
                retrieval: 2,
                custom: [("tone".to_owned(), 1)].into_iter().collect(),
                ..MetricCounts::default()
            },
            judge_usage: JudgeUsage {
                requests: 11,
                retries: 1,
                not_parsable: 0,
                prompt_tokens: 1000,
                completion_tokens: 320,
                total_tokens: 1320,
            },
            with_reference: 0,
            without_reference: 0,
            ..Summary::default()
        };
        assert_eq!(
            table(&summary, Duration::from_millis(61_234)),
            "evaluated 2, failed 1, skipped 12\n\
             not evaluated:\n\
             \x20\x20 1  judge error\n\
             \x20\x2012  not sampled\n\
             metric         average   traces\n\
             correctness      0.500        3\n\
             ndcg             0.667        2\n\
             tone             0.250        1\n\
             judge: 11 requests, 1 retries, 0 not parsable, 1320 tokens (1000 prompt, 320 completion)\n\
             wall time: 61.234 s\n"
        );
    }
}
