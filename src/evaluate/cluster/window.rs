//! Which traces one online run reads, and how far it got: the watermark.
//!
//! A run reads `[watermark, min(now - delay, end)]`, cut back to whole
//! time-window buckets (see [`Sampler::complete_until`]). The window is
//! half-open, `[from, until)`, except when it reaches the sampling end, which
//! is inclusive as in the spec. Sampling runs over the whole buckets the
//! window touches (read from the bucket start), so a rerun that starts
//! mid-bucket picks the same trace as the run before it, and only then are
//! traces that started before the watermark dropped.
//!
//! Traces in the window are taken in start order (trace ID on ties); the
//! watermark after a run that finished the first `done` of them is the start
//! of the next one, or the window's end when all are done. So a killed run
//! loses nothing and a rerun repeats nothing that was recorded (the trace IDs
//! of recent results guard the rare trace that shares its start with the
//! watermark).

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::evaluate::sampling::Sampler;
use crate::evaluate::trace::Trace;

/// The window of one online run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Where reading starts: `from`, moved back to its bucket's start.
    pub read_from: Timestamp,
    /// Traces that started at or after this are new (the watermark).
    pub from: Timestamp,
    /// Traces that started before this (at or before, when `inclusive`) are in the window.
    pub until: Timestamp,
    /// `until` is the sampling end, which is inclusive.
    pub inclusive: bool,
}

impl Window {
    /// The window of a run at `settled` (now minus the delay), or `None` when
    /// there is nothing new: the sampling window is done or not yet started.
    pub fn plan(
        sampler: &Sampler,
        watermark: Option<Timestamp>,
        settled: Timestamp,
    ) -> Option<Self> {
        let end = sampler.end();
        let from = watermark.map_or(sampler.start(), |w| w.max(sampler.start()));
        if from > end {
            return None;
        }
        let until = sampler.complete_until(settled.min(end)).min(end);
        let inclusive = until >= end;
        // Microseconds, as the watermark is stored, so a run's end is exact.
        let until = if inclusive { until } else { micros(until) };
        if from > until || (from == until && !inclusive) {
            return None;
        }
        Some(Self {
            read_from: sampler.complete_until(from).min(from),
            from,
            until,
            inclusive,
        })
    }

    /// Whether a trace that started at `start` belongs to this window.
    pub fn contains(&self, start: Timestamp) -> bool {
        start >= self.from && (start < self.until || (self.inclusive && start == self.until))
    }

    /// The watermark once every trace in the window is done: past the
    /// sampling end when the window reached it, so the task is complete.
    pub fn done_watermark(&self) -> Timestamp {
        if self.inclusive {
            micros(self.until)
                .checked_add(SignedDuration::from_micros(1))
                .unwrap_or(self.until)
        } else {
            self.until
        }
    }
}

/// `t` cut to whole microseconds, the precision of the stored watermark.
/// A watermark cut down only makes a run read a little more; what it reads
/// twice is recognised by trace ID (see the module documentation).
pub fn micros(t: Timestamp) -> Timestamp {
    Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t)
}

/// The start of a trace as a timestamp.
pub fn trace_start(trace: &Trace) -> Timestamp {
    Timestamp::from_nanosecond(i128::from(trace.start_time_unix_nano()))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::evaluationtask::progress::sampling_done;
    use crate::evaluate::sampling::Policy;

    const MINUTE: i128 = 60 * 1_000_000_000;

    fn at(minutes: i128) -> Timestamp {
        Timestamp::from_nanosecond(minutes * MINUTE).unwrap()
    }

    #[test]
    fn first_run_reads_from_the_start_up_to_the_settled_bucket() {
        let sampler = Sampler::new(0, 60 * MINUTE, Policy::TimeWindow(10 * MINUTE));
        let w = Window::plan(&sampler, None, at(25)).unwrap();
        assert_eq!(
            (w.read_from, w.from, w.until, w.inclusive),
            (at(0), at(0), at(20), false)
        );
        assert!(w.contains(at(0)) && w.contains(at(19)) && !w.contains(at(20)));
        assert_eq!(w.done_watermark(), at(20));
    }

    #[test]
    fn a_rerun_mid_bucket_reads_the_whole_bucket_but_keeps_the_watermark() {
        let sampler = Sampler::new(0, 60 * MINUTE, Policy::TimeWindow(10 * MINUTE));
        let w = Window::plan(&sampler, Some(at(13)), at(45)).unwrap();
        assert_eq!((w.read_from, w.from, w.until), (at(10), at(13), at(40)));
        assert!(!w.contains(at(12)));
    }

    #[test]
    fn the_last_window_includes_the_end_and_then_nothing_is_left() {
        let sampler = Sampler::new(0, 60 * MINUTE, Policy::Probability(0.5));
        let w = Window::plan(&sampler, Some(at(50)), at(90)).unwrap();
        assert!(w.inclusive && w.contains(at(60)));
        assert!(sampling_done(Some(w.done_watermark()), at(60)));
        assert!(!sampling_done(Some(at(60)), at(60)));
        assert_eq!(
            Window::plan(&sampler, Some(w.done_watermark()), at(90)),
            None
        );
    }

    #[test]
    fn an_end_with_nanoseconds_is_passed_by_the_stored_watermark() {
        let end = at(60) + SignedDuration::from_nanos(123_456_789);
        let sampler = Sampler::new(0, end.as_nanosecond(), Policy::Probability(1.0));
        let w = Window::plan(&sampler, Some(at(50)), at(90)).unwrap();
        assert!(w.inclusive && w.contains(end));
        let stored = micros(w.done_watermark());
        assert!(sampling_done(Some(stored), end), "{stored} > {end}");
        assert_eq!(Window::plan(&sampler, Some(stored), at(90)), None);
        // Before the end, the window stops at a whole microsecond.
        let w = Window::plan(&sampler, None, at(30) + SignedDuration::from_nanos(1500)).unwrap();
        assert_eq!(w.until, at(30) + SignedDuration::from_micros(1));
    }

    #[test]
    fn nothing_to_do_before_anything_settled() {
        let sampler = Sampler::new(10 * MINUTE, 60 * MINUTE, Policy::Probability(1.0));
        assert_eq!(Window::plan(&sampler, None, at(5)), None);
        assert_eq!(Window::plan(&sampler, None, at(10)), None);
        let w = Window::plan(&sampler, Some(at(20)), at(30)).unwrap();
        assert_eq!((w.from, w.until), (at(20), at(30)));
        assert_eq!(Window::plan(&sampler, Some(at(30)), at(30)), None);
    }
}
