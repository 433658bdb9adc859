//! The seed's two sampling policies, deterministic so that a rerun picks
//! the same traces:
//! - `timeWindow: {minutes: x}`: the window `[start, end]` is cut into
//!   x-minute buckets counted from `start`; in each bucket the trace with the
//!   lowest [`trace_hash`] is picked (trace ID breaks ties).
//! - `probability: {ratio: p}`: a trace is kept when
//!   `trace_hash / 2^64 < p`, so a 10% sample is a subset of a 20% one.
//!
//! The hash is part of the contract: changing it changes which traces every
//! existing task samples. It is FNV-1a over the lowercase hex trace ID,
//! finished with the SplitMix64 mixer so that IDs differing in one digit
//! land far apart.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use k8s_openapi::jiff::Timestamp;

use super::trace::Trace;
use crate::api::evaluationtask::SamplingSpec;

/// The sampling hash of a trace ID (lowercase hex).
pub fn trace_hash(trace_id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in trace_id.bytes() {
        hash ^= u64::from(byte.to_ascii_lowercase());
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // SplitMix64 finaliser.
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// The hash as a number in [0, 1).
pub fn trace_unit(trace_id: &str) -> f64 {
    // The top 53 bits fit an f64 exactly.
    (trace_hash(trace_id) >> 11) as f64 / (1u64 << 53) as f64
}

/// A sampling policy with its window, in nanoseconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampler {
    start: i128,
    end: i128,
    policy: Policy,
}

/// How traces in the window are picked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// One trace per bucket of this many nanoseconds.
    TimeWindow(i128),
    /// Traces whose [`trace_unit`] is below this ratio.
    Probability(f64),
}

/// Traces picked and how many were passed over.
#[derive(Debug)]
pub struct Selection {
    /// Picked traces, in input order.
    pub selected: Vec<Trace>,
    /// Traces in the input that were not picked (`outside_window` included).
    pub skipped: usize,
    /// Of those, traces that started outside the window.
    pub outside_window: usize,
}

impl Sampler {
    /// The sampler of a task's `sampling`; `None` when it has no policy.
    pub fn from_spec(spec: &SamplingSpec) -> Option<Self> {
        let policy = match (&spec.policy.time_window, &spec.policy.probability) {
            (Some(window), None) => {
                Policy::TimeWindow(i128::from(window.minutes.max(1)) * 60 * 1_000_000_000)
            }
            (None, Some(probability)) => Policy::Probability(probability.ratio),
            _ => return None,
        };
        Some(Self {
            start: spec.start.0.as_nanosecond(),
            end: spec.end.0.as_nanosecond(),
            policy,
        })
    }

    /// A sampler over `[start, end]` (nanoseconds since the epoch).
    pub fn new(start: i128, end: i128, policy: Policy) -> Self {
        Self { start, end, policy }
    }

    /// The sampling window's start.
    pub fn start(&self) -> Timestamp {
        Timestamp::from_nanosecond(self.start).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// The sampling window's end.
    pub fn end(&self) -> Timestamp {
        Timestamp::from_nanosecond(self.end).unwrap_or(Timestamp::MAX)
    }

    /// The latest time up to which buckets are complete at `until`: reading
    /// only up to here, a later run never finds a second trace in a bucket
    /// it already picked from. For the probability policy, `until` itself.
    pub fn complete_until(&self, until: Timestamp) -> Timestamp {
        let t = until.as_nanosecond().min(self.end);
        match self.policy {
            Policy::Probability(_) => Timestamp::from_nanosecond(t).unwrap_or(until),
            Policy::TimeWindow(bucket) if t < self.end => {
                let aligned = self.start + (t - self.start).div_euclid(bucket) * bucket;
                Timestamp::from_nanosecond(aligned.max(self.start)).unwrap_or(until)
            }
            Policy::TimeWindow(_) => Timestamp::from_nanosecond(self.end).unwrap_or(until),
        }
    }

    /// Picks traces by the policy among those that started within the window.
    pub fn select(&self, traces: Vec<Trace>) -> Selection {
        let mut picker = self.picker();
        for trace in traces {
            picker.offer(trace);
        }
        picker.finish()
    }

    /// A [`Picker`]: the same selection as [`Sampler::select`], fed one
    /// trace at a time.
    pub fn picker(&self) -> Picker<'_> {
        Picker {
            sampler: self,
            offered: 0,
            outside: 0,
            kept: Vec::new(),
            best: HashMap::new(),
        }
    }

    fn in_window(&self, trace: &Trace) -> bool {
        (self.start..=self.end).contains(&i128::from(trace.start_time_unix_nano()))
    }
}

/// Sampling while reading: keeps only what may still be picked, so memory
/// is bounded by the sample (one trace per bucket, or the traces under the
/// ratio), not by the traces offered.
#[derive(Debug)]
pub struct Picker<'s> {
    sampler: &'s Sampler,
    offered: usize,
    /// Offered traces outside the window.
    outside: usize,
    /// Probability policy: picked traces with their offer number.
    kept: Vec<(usize, Trace)>,
    /// Time-window policy: per bucket, the best (hash, ID) so far with its
    /// offer number and trace.
    best: HashMap<i128, ((u64, String), usize, Trace)>,
}

impl Picker<'_> {
    /// Considers one trace.
    pub fn offer(&mut self, trace: Trace) {
        let n = self.offered;
        self.offered += 1;
        if !self.sampler.in_window(&trace) {
            self.outside += 1;
            return;
        }
        match self.sampler.policy {
            Policy::Probability(ratio) => {
                if trace_unit(&trace.trace_id) < ratio {
                    self.kept.push((n, trace));
                }
            }
            Policy::TimeWindow(bucket) => {
                let index =
                    (i128::from(trace.start_time_unix_nano()) - self.sampler.start) / bucket;
                let key = (trace_hash(&trace.trace_id), trace.trace_id.clone());
                match self.best.entry(index) {
                    Entry::Occupied(mut slot) if key < slot.get().0 => {
                        slot.insert((key, n, trace));
                    }
                    Entry::Occupied(_) => {}
                    Entry::Vacant(slot) => {
                        slot.insert((key, n, trace));
                    }
                }
            }
        }
    }

    /// Traces offered so far, and how many of them are picked so far.
    pub fn counts(&self) -> (usize, usize) {
        (self.offered, self.kept.len() + self.best.len())
    }

    /// The picked traces, in the order they were offered.
    pub fn finish(self) -> Selection {
        let mut kept = self.kept;
        kept.extend(self.best.into_values().map(|(_, n, trace)| (n, trace)));
        kept.sort_by_key(|(n, _)| *n);
        Selection {
            skipped: self.offered - kept.len(),
            outside_window: self.outside,
            selected: kept.into_iter().map(|(_, trace)| trace).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::trace::TraceCollector;
    use serde_json::json;

    const MINUTE: i128 = 60 * 1_000_000_000;

    /// Traces with IDs derived from `i`, starting `minute_of(i)` minutes after 0.
    fn traces(n: u64, minute_of: impl Fn(u64) -> u64) -> Vec<Trace> {
        let spans: Vec<_> = (0..n)
            .map(|i| {
                json!({
                    "traceId": format!("{:032x}", i * 0x9e37_79b9 + 1),
                    "spanId": "0000000000000001",
                    "startTimeUnixNano": (minute_of(i) * 60_000_000_000).to_string()
                })
            })
            .collect();
        let mut collector = TraceCollector::default();
        collector.add(
            serde_json::from_value(json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}))
                .unwrap(),
        );
        collector.finish()
    }

    fn ids(selection: &Selection) -> Vec<String> {
        selection
            .selected
            .iter()
            .map(|t| t.trace_id.clone())
            .collect()
    }

    #[test]
    fn hash_is_stable_and_case_insensitive() {
        // Pinned: a change here changes every task's samples.
        assert_eq!(
            trace_hash("0af7651916cd43dd8448eb211c80319c"),
            0x24db_16c1_ba93_640b
        );
        assert_eq!(
            trace_hash("0af7651916cd43dd8448eb211c80319c"),
            trace_hash("0AF7651916CD43DD8448EB211C80319C")
        );
        let u = trace_unit("0af7651916cd43dd8448eb211c80319c");
        assert!((0.0..1.0).contains(&u));
    }

    #[test]
    fn probability_is_deterministic_and_nested() {
        let all = traces(2000, |_| 1);
        let sample =
            |ratio| Sampler::new(0, 10 * MINUTE, Policy::Probability(ratio)).select(all.clone());
        let ten = sample(0.1);
        let twenty = sample(0.2);
        assert_eq!(
            ids(&ten),
            ids(&sample(0.1)),
            "a rerun picks the same traces"
        );
        let twenty_ids = ids(&twenty);
        assert!(
            ids(&ten).iter().all(|id| twenty_ids.contains(id)),
            "10% within 20%"
        );
        let share = ten.selected.len() as f64 / 2000.0;
        assert!((0.07..0.13).contains(&share), "about 10%: {share}");
        assert_eq!(ten.skipped, 2000 - ten.selected.len());
        assert_eq!(ten.outside_window, 0);
        let late = Sampler::new(0, MINUTE / 2, Policy::Probability(1.0)).select(all.clone());
        assert_eq!(
            (late.selected.len(), late.skipped, late.outside_window),
            (0, 2000, 2000),
            "every trace starts at minute 1, after the window"
        );
        assert_eq!(sample(1.0).selected.len(), 2000);
    }

    #[test]
    fn time_window_picks_one_per_bucket_deterministically() {
        // 60 traces over minutes 0..30 (two per minute), 5-minute buckets → 6 picks.
        let all = traces(60, |i| i / 2);
        let sampler = Sampler::new(0, 29 * MINUTE, Policy::TimeWindow(5 * MINUTE));
        let first = sampler.select(all.clone());
        assert_eq!(first.selected.len(), 6);
        assert_eq!(first.skipped, 54);
        let mut reversed = all.clone();
        reversed.reverse();
        let mut again = ids(&sampler.select(reversed));
        again.sort();
        let mut expected = ids(&first);
        expected.sort();
        assert_eq!(again, expected, "input order does not change the picks");
        for trace in &first.selected {
            let bucket = i128::from(trace.start_time_unix_nano()) / (5 * MINUTE);
            let lowest = all
                .iter()
                .filter(|t| i128::from(t.start_time_unix_nano()) / (5 * MINUTE) == bucket)
                .map(|t| trace_hash(&t.trace_id))
                .min()
                .unwrap();
            assert_eq!(trace_hash(&trace.trace_id), lowest);
        }
    }

    #[test]
    fn window_bounds_are_inclusive_and_outside_is_skipped() {
        let all = traces(10, |i| i);
        let sampler = Sampler::new(2 * MINUTE, 4 * MINUTE, Policy::Probability(1.0));
        let selection = sampler.select(all);
        assert_eq!(selection.selected.len(), 3);
        assert_eq!(selection.skipped, 7);
    }

    #[test]
    fn complete_until_aligns_to_buckets() {
        let sampler = Sampler::new(0, 60 * MINUTE, Policy::TimeWindow(10 * MINUTE));
        let at = |m: i128| Timestamp::from_nanosecond(m * MINUTE).unwrap();
        assert_eq!(sampler.complete_until(at(25)), at(20));
        assert_eq!(sampler.complete_until(at(90)), at(60));
        let p = Sampler::new(0, 60 * MINUTE, Policy::Probability(0.5));
        assert_eq!(p.complete_until(at(25)), at(25));
    }
}
