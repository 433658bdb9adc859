//! Why a trace that was read was not evaluated: the keys of the
//! `notEvaluated` counts in the offline summary and in the task's status
//! (`status.counts.notEvaluated`). The keys are a bounded set: these
//! phrases, plus one "no span matches ..." per task (its selectors).

use std::collections::BTreeMap;

/// Counts by reason.
pub type Reasons = BTreeMap<String, u64>;

/// The trace started outside `sampling.start`..`sampling.end`.
pub const OUTSIDE_WINDOW: &str = "outside the sampling window";
/// The sampling policy passed the trace over.
pub const NOT_SAMPLED: &str = "not sampled";
/// Spans of a trace that came after the trace was complete (see the
/// streaming rule of `source::assemble`), without the spans the extraction looks for.
pub const SPLIT_TRACE: &str =
    "split trace: spans that arrived after the rest of the trace had been handed on";
/// A span of the trace could not be read (failed).
pub const UNREADABLE: &str = "unreadable spans";
/// A listed trace the trace source does not have (failed).
pub const NOT_FOUND: &str = "not found in the trace source";
/// Spans matched, but the query or answer path found nothing in them (failed).
pub const VALUE_NOT_FOUND: &str = "query or answer not found in the matching spans";
/// A judge request failed or its reply could not be read (failed).
pub const JUDGE: &str = "judge error";

/// Adds `n` traces to `reason`.
pub fn add(reasons: &mut Reasons, reason: &str, n: u64) {
    if n > 0 {
        *reasons.entry(reason.to_owned()).or_default() += n;
    }
}
