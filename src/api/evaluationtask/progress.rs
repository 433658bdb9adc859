//! How far a task's runs got, as the operator and the evaluator both read
//! it: the trace list of a single-traces task and its hash in
//! `status.traceListProgress`, and when a task is done.

use k8s_openapi::jiff::Timestamp;

use super::TraceListProgress;
use crate::api::hash::short_hash;

/// The trace IDs of a single-traces task as runs read them: lowercase,
/// without repeats, in spec order.
pub fn trace_list(ids: &[String]) -> Vec<String> {
    let mut list: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids.iter().map(|id| id.to_ascii_lowercase()) {
        if !list.contains(&id) {
            list.push(id);
        }
    }
    list
}

/// The hash naming a trace list in `status.traceListProgress`.
pub fn list_hash(list: &[String]) -> String {
    short_hash(list.join(",").as_bytes(), 8)
}

/// Whether every trace of a single-traces task's list has a recorded outcome.
pub fn list_done(list: &[String], progress: Option<&TraceListProgress>) -> bool {
    progress.is_some_and(|p| p.list_hash == list_hash(list) && p.done >= list.len() as u64)
}

/// Whether the sampling window is done: the watermark went past its end.
pub fn sampling_done(watermark: Option<Timestamp>, end: Timestamp) -> bool {
    watermark.is_some_and(|w| w > end)
}
