//! The seed's extraction settings applied to a trace: query from the
//! earliest matching span, answer from the latest, contexts from all
//! matching spans in start order.
//!
//! A span selector (`spanName`) is one of:
//! - `NAME` — spans whose name is exactly NAME (the seed's form);
//! - `kind:KIND` — spans whose `openinference.span.kind` or
//!   `gen_ai.span.kind` attribute equals KIND, ignoring case
//!   (`kind:RETRIEVER`, `kind:LLM`);
//! - `name:NAME` — spans named NAME, for a name that itself starts with `kind:`.
//!
//! "Earliest" and "latest" are by start time (then end time, then input
//! order); spans where the path finds nothing are passed over, so the query
//! is the first value found going forward and the answer the first found
//! going backward.

use serde_json::Value;

pub mod jsonpath;
pub mod pyrepr;

use self::jsonpath::Path;
use super::trace::{Span, Trace};
use crate::api::evaluationtask::{ExtractionRule, ExtractionSpec};

/// An invalid extraction setting.
#[derive(Debug, thiserror::Error)]
#[error("extraction.{field}: {message}")]
pub struct ExtractError {
    /// `query`, `answer` or `context`.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Which spans a rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanSelector {
    /// Spans with this exact name.
    Name(String),
    /// Spans whose semantic kind attribute is this (compared ignoring case).
    Kind(String),
}

/// Attribute paths (in unflattened attributes) that hold a span's semantic kind.
const KIND_ATTRIBUTES: [[&str; 3]; 2] = [
    ["openinference", "span", "kind"],
    ["gen_ai", "span", "kind"],
];

impl SpanSelector {
    /// Reads the `spanName` syntax (see the module documentation).
    pub fn parse(text: &str) -> Self {
        if let Some(kind) = text.strip_prefix("kind:") {
            Self::Kind(kind.trim().to_owned())
        } else if let Some(name) = text.strip_prefix("name:") {
            Self::Name(name.to_owned())
        } else {
            Self::Name(text.to_owned())
        }
    }

    /// Whether `span` is selected.
    pub fn matches(&self, span: &Span) -> bool {
        match self {
            Self::Name(name) => span.name == *name,
            Self::Kind(kind) => KIND_ATTRIBUTES.iter().any(|path| {
                let attributes = span.attributes();
                let mut nested = attributes.get(path[0]);
                for key in &path[1..] {
                    nested = nested.and_then(|v| v.get(key));
                }
                let flat = attributes.get(&path.join("."));
                nested
                    .or(flat)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(kind))
            }),
        }
    }
}

/// One compiled extraction setting.
#[derive(Debug, Clone)]
pub struct Rule {
    selector: SpanSelector,
    path: Path,
    value_path: Option<Path>,
}

impl Rule {
    fn compile(
        field: &'static str,
        rule: &ExtractionRule,
        single: bool,
    ) -> Result<Self, ExtractError> {
        let error = |message: String| ExtractError { field, message };
        if rule.span_name.trim().is_empty() {
            return Err(error("spanName must not be empty".into()));
        }
        if rule.json_path_in_span.trim().is_empty() {
            return Err(error("jsonPathInSpan must not be empty".into()));
        }
        let paths = std::iter::once(&rule.json_path_in_span).chain(&rule.json_path_in_span_value);
        for path in paths {
            if single && jsonpath::has_wildcard(path) {
                return Err(error(format!(
                    "{path:?} has a wildcard or a descendant segment (..); only context paths may select several values"
                )));
            }
        }
        Ok(Self {
            selector: SpanSelector::parse(&rule.span_name),
            path: Path::parse(&rule.json_path_in_span).map_err(error)?,
            value_path: rule
                .json_path_in_span_value
                .as_deref()
                .map(Path::parse)
                .transpose()
                .map_err(error)?,
        })
    }

    /// The values this rule finds in one span, as text.
    fn values(&self, span: &Span) -> Vec<String> {
        let whole;
        let object = if self.path.reaches_resource() {
            whole = span.to_json();
            &whole
        } else {
            span.without_resource()
        };
        let found = self.path.select(object);
        let Some(value_path) = &self.value_path else {
            return found.into_iter().map(jsonpath::as_text).collect();
        };
        let mut out = Vec::new();
        for value in found {
            let decoded = jsonpath::decode_embedded(value);
            let inner = decoded.as_ref().unwrap_or(value);
            out.extend(value_path.select(inner).into_iter().map(jsonpath::as_text));
        }
        out
    }
}

/// What extraction found in one trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The trace.
    pub trace_id: String,
    /// The query, when found.
    pub query: Option<String>,
    /// The answer, when found.
    pub answer: Option<String>,
    /// The contexts, in retrieval order (empty without a context setting).
    pub contexts: Vec<String>,
    /// Whether any span matched the query selector.
    pub query_span_found: bool,
    /// Whether any span matched the answer selector.
    pub answer_span_found: bool,
}

impl Extracted {
    /// Why query or answer is missing, for a failed trace; `None` when both were found.
    pub fn missing(&self, extractor: &Extractor) -> Option<String> {
        let mut reasons = Vec::new();
        for (name, value, span_found, rule) in [
            (
                "query",
                &self.query,
                self.query_span_found,
                &extractor.query,
            ),
            (
                "answer",
                &self.answer,
                self.answer_span_found,
                &extractor.answer,
            ),
        ] {
            if value.is_some() {
                continue;
            }
            reasons.push(if span_found {
                format!(
                    "{name}: {} found nothing in the matching spans",
                    rule.describe()
                )
            } else {
                format!("{name}: no span matches {:?}", rule.selector_text())
            });
        }
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }
}

impl Rule {
    fn describe(&self) -> String {
        match &self.value_path {
            Some(v) => format!("{:?} then {:?}", self.path.as_str(), v.as_str()),
            None => format!("{:?}", self.path.as_str()),
        }
    }

    fn selector_text(&self) -> String {
        match &self.selector {
            SpanSelector::Name(n) => n.clone(),
            SpanSelector::Kind(k) => format!("kind:{k}"),
        }
    }
}

/// The three compiled settings of a task.
#[derive(Debug, Clone)]
pub struct Extractor {
    query: Rule,
    answer: Rule,
    context: Option<Rule>,
}

impl Extractor {
    /// Compiles a task's extraction settings.
    pub fn new(spec: &ExtractionSpec) -> Result<Self, ExtractError> {
        Ok(Self {
            query: Rule::compile("query", &spec.query, true)?,
            answer: Rule::compile("answer", &spec.answer, true)?,
            context: spec
                .context
                .as_ref()
                .map(|c| Rule::compile("context", c, false))
                .transpose()?,
        })
    }

    /// Whether a context setting exists (faithfulness and retrieval metrics apply).
    pub fn has_context(&self) -> bool {
        self.context.is_some()
    }

    /// Applies the settings to one trace.
    pub fn extract(&self, trace: &Trace) -> Extracted {
        let mut ordered: Vec<&Span> = trace.spans.iter().collect();
        // A stable sort keeps input order among equal times.
        ordered.sort_by_key(|s| (s.start_time_unix_nano, s.end_time_unix_nano));
        let matching = |rule: &Rule| -> Vec<&Span> {
            ordered
                .iter()
                .copied()
                .filter(|s| rule.selector.matches(s))
                .collect()
        };
        let query_spans = matching(&self.query);
        let answer_spans = matching(&self.answer);
        let query = query_spans
            .iter()
            .find_map(|s| self.query.values(s).into_iter().next());
        let answer = answer_spans
            .iter()
            .rev()
            .find_map(|s| self.answer.values(s).into_iter().next());
        let contexts = self.context.as_ref().map_or_else(Vec::new, |rule| {
            matching(rule)
                .into_iter()
                .flat_map(|s| rule.values(s))
                .collect()
        });
        Extracted {
            trace_id: trace.trace_id.clone(),
            query,
            answer,
            contexts,
            query_span_found: !query_spans.is_empty(),
            answer_span_found: !answer_spans.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests;
