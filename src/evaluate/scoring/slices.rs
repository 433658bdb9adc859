//! Slices (`spec.slices`): the traces a task evaluates, picked by attribute
//! predicates on their spans or resource, and each run's scores broken down
//! by one attribute's value (what a canary comparison stands on).
//!
//! - A trace is in the slice when every predicate matches: some span (or
//!   span's resource, per `scope`) has the attribute with one of the values.
//!   A trace outside it is skipped (reason `not in slice`) before extraction
//!   and without a judge request; sampling has picked it already, so a
//!   probability applies to all traffic, not to the slice.
//! - A trace's slice value is the `by` attribute of the first span's
//!   resource that has it, else of the first span (in start order) that
//!   has it, else `(none)`.
//! - A breakdown keeps the first [`MAX_SLICES`] values seen; later ones are
//!   summed under `(other)`, so a high-cardinality attribute cannot grow
//!   the status without bound.

use std::collections::BTreeMap;

use serde_json::Value;

use super::retrieval::Totals;
use crate::api::evaluationtask::{
    AttributePredicate, AttributeScope, MAX_SLICES, NO_SLICE, OTHER_SLICE, Scores, SliceBreakdown,
    SliceScores, SlicesSpec,
};
use crate::evaluate::extract::jsonpath::as_text;
use crate::evaluate::extract::selector::lookup;
use crate::evaluate::trace::{Span, Trace};

/// Why a trace outside the slice was skipped.
pub const NOT_IN_SLICE: &str = "not in slice";

/// The compiled `spec.slices`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slicer {
    filter: Vec<AttributePredicate>,
    by: Option<String>,
}

fn resource_attribute<'s>(span: &'s Span, key: &str) -> Option<&'s Value> {
    match span.resource() {
        Value::Object(map) => lookup(map, key),
        _ => None,
    }
}

fn span_attribute<'s>(span: &'s Span, key: &str) -> Option<&'s Value> {
    lookup(span.attributes(), key)
}

impl Slicer {
    /// The slicer of a spec; `None` when it has no slices.
    pub fn new(spec: Option<&SlicesSpec>) -> Option<Self> {
        let spec = spec?;
        Some(Self {
            filter: spec.filter.clone(),
            by: spec.by.clone(),
        })
    }

    /// The attribute scores are broken down by, if any.
    pub fn by(&self) -> Option<&str> {
        self.by.as_deref()
    }

    /// Whether `trace` matches every predicate.
    pub fn admits(&self, trace: &Trace) -> bool {
        self.filter.iter().all(|p| {
            let matches = |value: Option<&Value>| {
                value.is_some_and(|v| {
                    let text = as_text(v);
                    p.values.contains(&text)
                })
            };
            trace.spans.iter().any(|span| match p.scope {
                AttributeScope::Resource => matches(resource_attribute(span, &p.attribute)),
                AttributeScope::Span => matches(span_attribute(span, &p.attribute)),
                AttributeScope::Any => {
                    matches(resource_attribute(span, &p.attribute))
                        || matches(span_attribute(span, &p.attribute))
                }
            })
        })
    }

    /// The trace's value of `by` (`(none)` without it); `None` without `by`.
    pub fn slice_of(&self, trace: &Trace) -> Option<String> {
        let by = self.by.as_deref()?;
        let mut spans: Vec<&Span> = trace.spans.iter().collect();
        spans.sort_by_key(|s| s.start_time_unix_nano);
        let value = spans
            .iter()
            .find_map(|s| resource_attribute(s, by))
            .or_else(|| spans.iter().find_map(|s| span_attribute(s, by)));
        Some(value.map_or_else(|| NO_SLICE.to_owned(), as_text))
    }
}

/// Running counts and sums per slice value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SliceTotals {
    by: String,
    values: BTreeMap<String, (u64, u64, Totals)>,
}

impl SliceTotals {
    /// Empty totals for the attribute `by`.
    pub fn new(by: &str) -> Self {
        Self {
            by: by.to_owned(),
            values: BTreeMap::new(),
        }
    }

    /// Adds one evaluated (or failed) trace under its slice value.
    pub fn add(&mut self, slice: Option<&str>, failed: bool, scores: &Scores) {
        let value = slice.unwrap_or(NO_SLICE);
        let named = self
            .values
            .keys()
            .filter(|k| *k != OTHER_SLICE && *k != NO_SLICE)
            .count();
        let key = if self.values.contains_key(value) || value == NO_SLICE || named < MAX_SLICES {
            value
        } else {
            OTHER_SLICE
        };
        let (evaluated, failed_count, totals) = self.values.entry(key.to_owned()).or_default();
        if failed {
            *failed_count += 1;
        } else {
            *evaluated += 1;
        }
        totals.add(scores);
    }

    /// The breakdown for status and the summary.
    pub fn breakdown(&self) -> SliceBreakdown {
        SliceBreakdown {
            by: self.by.clone(),
            values: self
                .values
                .iter()
                .map(|(value, (evaluated, failed, totals))| {
                    let scores = SliceScores {
                        evaluated: *evaluated,
                        failed: *failed,
                        averages: totals.averages(),
                        metric_counts: totals.counts(),
                    };
                    (value.clone(), scores)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::evaluate::trace::TraceCollector;

    fn attr(key: &str, value: &str) -> Value {
        json!({"key": key, "value": {"stringValue": value}})
    }

    /// One trace: a resource with `resource` attributes, spans with theirs.
    fn trace(resource: Vec<Value>, spans: Vec<(u64, Vec<Value>)>) -> Trace {
        let spans: Vec<Value> = spans
            .into_iter()
            .map(|(start, attributes)| {
                json!({
                    "traceId": "0af7651916cd43dd8448eb211c80319c",
                    "spanId": format!("{start:016x}"),
                    "name": "s",
                    "startTimeUnixNano": start.to_string(),
                    "endTimeUnixNano": (start + 1).to_string(),
                    "attributes": attributes,
                })
            })
            .collect();
        let mut collector = TraceCollector::default();
        collector.add(
            serde_json::from_value(json!({"resourceSpans": [{
                "resource": {"attributes": resource},
                "scopeSpans": [{"spans": spans}]
            }]}))
            .unwrap(),
        );
        collector.finish().remove(0)
    }

    fn slicer(filter: Vec<AttributePredicate>, by: Option<&str>) -> Slicer {
        Slicer::new(Some(&SlicesSpec {
            filter,
            by: by.map(str::to_owned),
        }))
        .unwrap()
    }

    fn predicate(attribute: &str, values: &[&str], scope: AttributeScope) -> AttributePredicate {
        AttributePredicate {
            attribute: attribute.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            scope,
        }
    }

    #[test]
    fn predicates_look_where_their_scope_says() {
        let t = trace(
            vec![attr("service.version", "v2")],
            vec![(2, vec![attr("http.route", "/ask")]), (1, vec![])],
        );
        let admits = |p: AttributePredicate| slicer(vec![p], None).admits(&t);
        assert!(admits(predicate(
            "service.version",
            &["v1", "v2"],
            AttributeScope::Resource
        )));
        assert!(admits(predicate(
            "service.version",
            &["v2"],
            AttributeScope::Any
        )));
        assert!(!admits(predicate(
            "service.version",
            &["v2"],
            AttributeScope::Span
        )));
        assert!(admits(predicate(
            "http.route",
            &["/ask"],
            AttributeScope::Span
        )));
        assert!(!admits(predicate(
            "http.route",
            &["/ask"],
            AttributeScope::Resource
        )));
        assert!(!admits(predicate(
            "service.version",
            &["v1"],
            AttributeScope::Any
        )));
        // Every predicate must match.
        let both = slicer(
            vec![
                predicate("service.version", &["v2"], AttributeScope::Any),
                predicate("http.route", &["/other"], AttributeScope::Any),
            ],
            None,
        );
        assert!(!both.admits(&t));
    }

    #[test]
    fn the_slice_value_comes_from_the_resource_then_the_earliest_span() {
        let by = slicer(vec![], Some("service.version"));
        let t = trace(vec![attr("service.version", "v2")], vec![(1, vec![])]);
        assert_eq!(by.slice_of(&t).as_deref(), Some("v2"));
        let route = slicer(vec![], Some("http.route"));
        let t = trace(
            vec![],
            vec![
                (5, vec![attr("http.route", "/late")]),
                (3, vec![attr("http.route", "/early")]),
            ],
        );
        assert_eq!(route.slice_of(&t).as_deref(), Some("/early"));
        assert_eq!(by.slice_of(&t).as_deref(), Some(NO_SLICE));
        assert_eq!(slicer(vec![], None).slice_of(&t), None);
    }

    struct Result(String, Scores);

    fn result(slice: &str, correctness: f64) -> Result {
        let scores = Scores {
            correctness: Some(correctness),
            ..Scores::default()
        };
        Result(slice.to_owned(), scores)
    }

    impl SliceTotals {
        fn add_result(&mut self, r: &Result) {
            self.add(Some(&r.0), false, &r.1);
        }
    }

    #[test]
    fn breakdown_averages_per_value_and_bounds_the_values() {
        let mut totals = SliceTotals::new("service.version");
        totals.add_result(&result("v1", 1.0));
        totals.add_result(&result("v1", 0.0));
        totals.add_result(&result("v2", 1.0));
        let b = totals.breakdown();
        assert_eq!(b.by, "service.version");
        assert_eq!(b.values["v1"].averages.correctness, Some(0.5));
        assert_eq!(b.values["v1"].evaluated, 2);
        assert_eq!(b.values["v2"].metric_counts.correctness, 1);
        for i in 0..30 {
            totals.add_result(&result(&format!("x{i}"), 1.0));
        }
        totals.add_result(&result(NO_SLICE, 0.0));
        let b = totals.breakdown();
        assert_eq!(b.values.len(), MAX_SLICES + 2, "{:?}", b.values.keys());
        assert_eq!(
            b.values[OTHER_SLICE].evaluated, 12,
            "2 + 30 values, 20 kept"
        );
        assert_eq!(b.values[NO_SLICE].evaluated, 1);
        // A value with a slot keeps it.
        totals.add_result(&result("v1", 1.0));
        assert_eq!(totals.breakdown().values["v1"].evaluated, 3);
    }
}
