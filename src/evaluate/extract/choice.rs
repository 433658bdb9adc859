//! Which span a single value (query, answer) is taken from when several
//! spans match its selector. The rule:
//!
//! 1. the **shallowest** matching spans first (fewest ancestors within the
//!    trace): the outermost operation, so a LangChain sub-chain named like
//!    its root (`RunnableSequence`) never stands in for the root;
//! 2. among equally deep spans, the **earliest** start for the query and the
//!    **latest** for the answer (then end time, then input order);
//! 3. spans where the path finds nothing are passed over.
//!
//! When the matching spans hold differing values, the choice is recorded
//! ([`Choice`]) so that `extract` and `evaluate` can show it.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use crate::api::evaluationtask::{SpanChoice, SpanChoices};
use crate::evaluate::trace::{Span, Trace};

/// The rule of the module documentation, as shown in a [`Choice`].
pub const QUERY_RULE: &str = "the shallowest matching span, the earliest of those";
/// See [`QUERY_RULE`].
pub const ANSWER_RULE: &str = "the shallowest matching span, the latest of those";

/// The span a value was taken from, when matching spans disagreed (the
/// API's type: the in-cluster run keeps it in status).
pub type Choice = SpanChoice;
/// The choices made for one trace.
pub type Choices = SpanChoices;

/// A trace's spans in start order, with span IDs and depths computed on
/// first use (most traces never need them).
pub struct View<'t> {
    /// Spans by (start, end), input order among equals.
    pub ordered: Vec<&'t Span>,
    by_id: OnceLock<HashMap<&'t str, &'t Span>>,
}

impl<'t> View<'t> {
    /// The view of `trace`.
    pub fn new(trace: &'t Trace) -> Self {
        let mut ordered: Vec<&Span> = trace.spans.iter().collect();
        // A stable sort keeps input order among equal times.
        ordered.sort_by_key(|s| (s.start_time_unix_nano, s.end_time_unix_nano));
        Self {
            ordered,
            by_id: OnceLock::new(),
        }
    }

    fn by_id(&self) -> &HashMap<&'t str, &'t Span> {
        self.by_id.get_or_init(|| {
            self.ordered
                .iter()
                .map(|s| (s.span_id.as_str(), *s))
                .collect()
        })
    }

    /// Whether a span with this ID is in the trace.
    pub fn contains(&self, span_id: &str) -> bool {
        self.by_id().contains_key(span_id)
    }

    /// The number of `span`'s ancestors within the trace (a parent cycle
    /// stops the count).
    pub fn depth(&self, span: &Span) -> usize {
        let by_id = self.by_id();
        let mut seen = HashSet::new();
        let mut depth = 0;
        let mut parent = span.parent_span_id();
        while let Some(id) = parent {
            let Some(next) = by_id.get(id) else { break };
            if !seen.insert(id) {
                break;
            }
            depth += 1;
            parent = next.parent_span_id();
        }
        depth
    }
}

/// Picks one value among the matching spans (in start order) by the rule
/// of the module documentation; `value` reads a span's value.
pub fn pick(
    view: &View<'_>,
    matching: &[&Span],
    latest: bool,
    value: impl Fn(&Span) -> Option<String>,
) -> Option<(String, Option<Box<Choice>>)> {
    if let [only] = matching {
        return value(only).map(|v| (v, None));
    }
    let mut ranked: Vec<(usize, usize, &Span)> = matching
        .iter()
        .enumerate()
        .map(|(i, s)| (view.depth(s), i, *s))
        .collect();
    ranked.sort_by(|a, b| {
        let order = if latest { b.1.cmp(&a.1) } else { a.1.cmp(&b.1) };
        a.0.cmp(&b.0).then(order)
    });
    let found: Vec<(usize, &Span, String)> = ranked
        .into_iter()
        .filter_map(|(depth, _, span)| value(span).map(|v| (depth, span, v)))
        .collect();
    let (depth, span, first) = found.first()?;
    let distinct: HashSet<&str> = found.iter().map(|(_, _, v)| v.as_str()).collect();
    let choice = (distinct.len() > 1).then(|| {
        Box::new(Choice {
            span_id: span.span_id.clone(),
            span_name: span.name.clone(),
            depth: *depth as u64,
            matching: matching.len() as u64,
            distinct_values: distinct.len() as u64,
            rule: if latest { ANSWER_RULE } else { QUERY_RULE }.to_owned(),
        })
    });
    Some((first.clone(), choice))
}
